"""Telemetry queries: latest values (device and fleet), raw points (ranges with absolute and
relative bounds, limit, order, cursor paging), time ordering of out-of-order writes, overwrite
of a repeated (device, metric, ts), bucketed aggregates checked against hand-computed figures
(device and fleet, grouped by device, type and location), CSV/NDJSON export, purge on delete,
and the 404/400 answers of every query endpoint."""

import csv
import io
import json
import random
import time

import pytest

from fleetpulse_harness import (RFC3339_MS_UTC, assert_error, epoch_to_rfc3339, rfc3339_to_epoch,
                                urlquote, wait_until)

T0 = 1767225600000  # 2026-01-01T00:00:00.000Z
MIN = 60_000
HOUR = 3_600_000
WIDE = "start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z"
ALL_AGGS = "min,max,avg,sum,count,first,last"


def to_ms(text: str) -> int:
    return int(round(rfc3339_to_epoch(text) * 1000))


def rfc(ms: int) -> str:
    return epoch_to_rfc3339(ms / 1000)


def await_registry(server, device_ids) -> None:
    """Waits until devices registered on the fly by telemetry are listed. (That they should be
    listed as soon as the write is acknowledged is checked by test_telemetry_ingest; here it
    must not hide what the query under test does.)"""
    wait_until(lambda: set(device_ids) <= set(server.device_ids()), timeout=3,
               message=f"{sorted(device_ids)} in GET /api/v1/devices")


def ingest(server, readings) -> None:
    resp = server.post("/api/v1/telemetry", readings)
    assert resp.status == 200, resp
    assert resp.json == {"accepted": len(readings) if isinstance(readings, list) else 1}, resp


def series(device_id: str, metric: str, pairs) -> list[dict]:
    return [{"device_id": device_id, "ts": ts, metric: value} for ts, value in pairs]


def get_points(server, device_id: str, query: str):
    """The parsed answer of GET /devices/{id}/telemetry?{query}; asserts 200 and the shape."""
    resp = server.get(f"/api/v1/devices/{urlquote(device_id)}/telemetry?{query}")
    assert resp.status == 200, resp
    body = resp.json
    assert body["device_id"] == device_id, body
    assert "next_cursor" in body, body
    for p in body["points"]:
        assert RFC3339_MS_UTC.match(p["ts"]), p
    return body


def pairs_of(body) -> list[tuple[int, float]]:
    return [(to_ms(p["ts"]), p["value"]) for p in body["points"]]


def walk(server, device_id: str, query: str, limit: int) -> tuple[list, int]:
    """Every point of a cursor walk, and the number of pages it took."""
    seen, cursor, pages = [], None, 0
    for _ in range(1000):
        q = f"{query}&limit={limit}" + (f"&cursor={urlquote(cursor)}" if cursor else "")
        body = get_points(server, device_id, q)
        pages += 1
        assert len(body["points"]) <= limit, body
        seen += pairs_of(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, pages
        assert isinstance(cursor, str) and cursor, body
    raise AssertionError("the cursor walk never ended")


def buckets_by_ts(buckets: list[dict]) -> dict[str, dict]:
    """Non-empty buckets keyed by their start time (an empty bucket, if listed, has count 0)."""
    out = {}
    for b in buckets:
        assert RFC3339_MS_UTC.match(b["ts"]), b
        if b.get("count", 1) == 0:
            continue
        out[b["ts"]] = {k: v for k, v in b.items() if k != "ts"}
    return out


def expected_bucket(values_in_time_order: list[float]) -> dict:
    v = values_in_time_order
    return {"min": min(v), "max": max(v), "avg": pytest.approx(sum(v) / len(v)),
            "sum": pytest.approx(sum(v)), "count": len(v), "first": v[0], "last": v[-1]}


# -- latest --------------------------------------------------------------------------------------

def test_device_latest_gives_each_metrics_newest_value_and_time(shared_server):
    ingest(shared_server, [
        {"device_id": "lat-1", "ts": T0, "temperature": 20.0, "humidity": 40},
        {"device_id": "lat-1", "ts": T0 + 2000, "temperature": 22.5},
        {"device_id": "lat-1", "ts": T0 + 1000, "humidity": 41, "voltage": 3.3},
    ])
    resp = shared_server.get("/api/v1/devices/lat-1/latest")
    assert resp.status == 200, resp
    assert resp.json == {"device_id": "lat-1", "values": {
        "temperature": {"value": 22.5, "ts": "2026-01-01T00:00:02.000Z"},
        "humidity": {"value": 41, "ts": "2026-01-01T00:00:01.000Z"},
        "voltage": {"value": 3.3, "ts": "2026-01-01T00:00:01.000Z"}}}


def test_latest_is_the_newest_by_time_not_the_last_written(shared_server):
    ingest(shared_server, series("lat-order", "t", [(T0 + 5000, 5)]))
    ingest(shared_server, series("lat-order", "t", [(T0 + 1000, 1)]))
    values = shared_server.get("/api/v1/devices/lat-order/latest").json["values"]
    assert values == {"t": {"value": 5, "ts": "2026-01-01T00:00:05.000Z"}}


def test_latest_of_a_registered_device_without_data_is_empty(shared_server):
    shared_server.create_device("lat-empty")
    resp = shared_server.get("/api/v1/devices/lat-empty/latest")
    assert resp.status == 200, resp
    assert resp.json == {"device_id": "lat-empty", "values": {}}


def test_fleet_latest_lists_every_device_with_filters_and_metric(server):
    for device_id, type_, location in [("fl-1", "thermo", "hall"), ("fl-2", "thermo", "roof"),
                                       ("fl-3", "pump", "roof")]:
        server.create_device(device_id, type=type_, location=location)
    ingest(server, [
        {"device_id": "fl-1", "ts": T0, "temperature": 20, "battery": 90},
        {"device_id": "fl-2", "ts": T0 + 1000, "temperature": 21},
        {"device_id": "fl-3", "ts": T0 + 2000, "flow": 3.5},
    ])

    def fleet(query=""):
        resp = server.get("/api/v1/latest" + (f"?{query}" if query else ""))
        assert resp.status == 200, resp
        return {d["device_id"]: d["values"] for d in resp.json["devices"]}

    everything = fleet()
    assert everything == {
        "fl-1": {"temperature": {"value": 20, "ts": rfc(T0)},
                 "battery": {"value": 90, "ts": rfc(T0)}},
        "fl-2": {"temperature": {"value": 21, "ts": rfc(T0 + 1000)}},
        "fl-3": {"flow": {"value": 3.5, "ts": rfc(T0 + 2000)}}}
    assert set(fleet("type=thermo")) == {"fl-1", "fl-2"}
    assert set(fleet("location=roof")) == {"fl-2", "fl-3"}
    assert set(fleet("type=thermo&location=roof")) == {"fl-2"}
    only_temp = fleet("metric=temperature")
    assert only_temp.get("fl-1") == {"temperature": {"value": 20, "ts": rfc(T0)}}
    assert only_temp.get("fl-2") == {"temperature": {"value": 21, "ts": rfc(T0 + 1000)}}
    assert not only_temp.get("fl-3"), only_temp


def walk_fleet_latest(server, query: str, limit: int) -> list[dict]:
    """Every device object of a cursor walk of GET /api/v1/latest?{query}&limit={limit}."""
    seen, cursor = [], None
    for _ in range(1000):
        q = f"{query}&limit={limit}" + (f"&cursor={urlquote(cursor)}" if cursor else "")
        resp = server.get(f"/api/v1/latest?{q}")
        assert resp.status == 200, resp
        page = resp.json["devices"]
        assert len(page) <= limit, resp
        seen += page
        cursor = resp.json["next_cursor"]
        if cursor is None:
            return seen
        assert page and cursor == page[-1]["device_id"], resp
    raise AssertionError("the cursor walk never ended")


@pytest.fixture
def latest_fleet(server):
    """Seven devices of two types, one registered without data, one whose only metric is
    "flow"; ids chosen so device_id order differs from registration order."""
    fleet = {"lp-5": "thermo", "lp-1": "thermo", "lp-7": "pump", "lp-3": "thermo",
             "lp-2": "pump", "lp-6": "thermo", "lp-4": "pump"}
    for device_id, type_ in fleet.items():
        server.create_device(device_id, type=type_, location="site")
    ingest(server, [{"device_id": d, "ts": T0 + i * 1000, "temperature": i, "battery": 50 + i}
                    for i, d in enumerate(sorted(fleet)) if d not in ("lp-4", "lp-6")])
    ingest(server, [{"device_id": "lp-6", "ts": T0 + 123, "flow": 2.5}])
    return server


@pytest.mark.parametrize("limit", [1, 2, 3, 100])
def test_fleet_latest_cursor_walk_lists_each_device_once_in_id_order(latest_fleet, limit):
    got = walk_fleet_latest(latest_fleet, "location=site", limit)
    assert [d["device_id"] for d in got] == [f"lp-{i}" for i in range(1, 8)]
    by_id = {d["device_id"]: d["values"] for d in got}
    assert by_id["lp-4"] == {}  # registered, never reported: listed with no values
    assert by_id["lp-6"] == {"flow": {"value": 2.5, "ts": rfc(T0 + 123)}}
    assert by_id["lp-1"] == {"temperature": {"value": 0, "ts": rfc(T0)},
                             "battery": {"value": 50, "ts": rfc(T0)}}
    assert by_id["lp-7"]["temperature"] == {"value": 6, "ts": rfc(T0 + 6000)}


@pytest.mark.parametrize("limit", [1, 2, 100])
def test_fleet_latest_cursor_walk_with_a_filter_and_metric(latest_fleet, limit):
    got = walk_fleet_latest(latest_fleet, "type=pump&metric=temperature", limit)
    assert {d["device_id"]: d["values"] for d in got} == {
        "lp-2": {"temperature": {"value": 1, "ts": rfc(T0 + 1000)}},
        "lp-4": {},
        "lp-7": {"temperature": {"value": 6, "ts": rfc(T0 + 6000)}}}
    assert [d["device_id"] for d in got] == ["lp-2", "lp-4", "lp-7"]


def test_fleet_latest_from_a_cursor_that_is_no_device_id(latest_fleet):
    resp = latest_fleet.get("/api/v1/latest?location=site&cursor=lp-35&limit=2")
    assert resp.status == 200, resp
    assert [d["device_id"] for d in resp.json["devices"]] == ["lp-4", "lp-5"]
    assert resp.json["next_cursor"] == "lp-5"
    last = latest_fleet.get("/api/v1/latest?location=site&cursor=lp-7")
    assert last.status == 200, last
    assert last.json == {"devices": [], "next_cursor": None}


def test_fleet_latest_with_device_ids_and_another_sort_order(latest_fleet):
    resp = latest_fleet.get("/api/v1/latest?device_id=lp-3,lp-1&metric=battery")
    assert resp.status == 200, resp
    assert {d["device_id"]: d["values"] for d in resp.json["devices"]} == {
        "lp-1": {"battery": {"value": 50, "ts": rfc(T0)}},
        "lp-3": {"battery": {"value": 52, "ts": rfc(T0 + 2000)}}}
    by_type = latest_fleet.get("/api/v1/latest?location=site&sort=type&limit=100")
    assert by_type.status == 200, by_type
    types = [latest_fleet.device(d["device_id"])["type"] for d in by_type.json["devices"]]
    assert types == sorted(types) and len(types) == 7, by_type


def test_fleet_latest_writes_values_and_times_as_the_device_endpoint(latest_fleet):
    ingest(latest_fleet, [{"device_id": "lp-1", "ts": "2026-03-04T05:06:07.089Z", "x": -0.1},
                          {"device_id": "lp-1", "ts": "1999-12-31T23:59:59.999Z", "y": 1e300},
                          {"device_id": "lp-1", "ts": T0 + 86_400_000 - 1, "z": 123456789012}])
    one = latest_fleet.get("/api/v1/devices/lp-1/latest")
    assert one.status == 200, one
    assert one.json["values"]["x"] == {"value": -0.1, "ts": "2026-03-04T05:06:07.089Z"}
    assert one.json["values"]["y"] == {"value": 1e300, "ts": "1999-12-31T23:59:59.999Z"}
    assert one.json["values"]["z"] == {"value": 123456789012, "ts": "2026-01-01T23:59:59.999Z"}
    fleet = latest_fleet.get("/api/v1/latest?location=site")
    assert fleet.status == 200, fleet
    assert [d for d in fleet.json["devices"] if d["device_id"] == "lp-1"] == [one.json]


# -- raw points ----------------------------------------------------------------------------------

def test_raw_points_shape_and_range(shared_server):
    ingest(shared_server, series("raw-1", "t", [(T0 + i * MIN, float(i)) for i in range(10)]))
    body = get_points(shared_server, "raw-1", f"metric=t&{WIDE}")
    assert set(body) >= {"device_id", "metric", "points", "next_cursor"}
    assert body["metric"] == "t"
    assert body["next_cursor"] is None
    assert body["points"][0] == {"ts": "2026-01-01T00:00:00.000Z", "value": 0}
    assert pairs_of(body) == [(T0 + i * MIN, i) for i in range(10)]
    # Bounds strictly between points: only the points inside come back.
    inside = get_points(shared_server, "raw-1",
                        f"metric=t&start={rfc(T0 + 2 * MIN + 500)}&end={rfc(T0 + 6 * MIN + 500)}")
    assert pairs_of(inside) == [(T0 + i * MIN, i) for i in range(3, 7)]
    # Epoch-millisecond bounds work as well.
    numeric = get_points(shared_server, "raw-1",
                         f"metric=t&start={T0 + 2 * MIN + 500}&end={T0 + 6 * MIN + 500}")
    assert pairs_of(numeric) == pairs_of(inside)


def test_raw_points_of_an_unknown_metric_are_empty(shared_server):
    ingest(shared_server, series("raw-nometric", "t", [(T0, 1)]))
    body = get_points(shared_server, "raw-nometric", f"metric=nope&{WIDE}")
    assert body["points"] == [] and body["next_cursor"] is None


def test_raw_points_relative_bounds(shared_server):
    now = int(time.time() * 1000)
    stamps = {"2h": now - 2 * HOUR, "30m": now - 30 * MIN, "1m": now - MIN, "future": now + 30 * MIN}
    ingest(shared_server, [{"device_id": "rel-1", "ts": ts, "v": i}
                           for i, ts in enumerate(stamps.values())])
    last_hour = get_points(shared_server, "rel-1", "metric=v&start=-1h&end=now")
    assert pairs_of(last_hour) == [(stamps["30m"], 1), (stamps["1m"], 2)]
    window = get_points(shared_server, "rel-1", "metric=v&start=-3h&end=-45m")
    assert pairs_of(window) == [(stamps["2h"], 0)]
    week = get_points(shared_server, "rel-1", "metric=v&start=-7d&end=now")
    assert [v for _, v in pairs_of(week)] == [0, 1, 2]
    minutes = get_points(shared_server, "rel-1", "metric=v&start=-90m&end=now")
    assert [v for _, v in pairs_of(minutes)] == [1, 2]


def test_raw_points_limit_and_order(shared_server):
    ingest(shared_server, series("ord-1", "t", [(T0 + i * 1000, i) for i in range(6)]))
    asc = get_points(shared_server, "ord-1", f"metric=t&{WIDE}&order=asc")
    assert [v for _, v in pairs_of(asc)] == [0, 1, 2, 3, 4, 5]
    desc = get_points(shared_server, "ord-1", f"metric=t&{WIDE}&order=desc")
    assert [v for _, v in pairs_of(desc)] == [5, 4, 3, 2, 1, 0]
    first2 = get_points(shared_server, "ord-1", f"metric=t&{WIDE}&limit=2")
    assert [v for _, v in pairs_of(first2)] == [0, 1]
    assert first2["next_cursor"] is not None
    last2 = get_points(shared_server, "ord-1", f"metric=t&{WIDE}&limit=2&order=desc")
    assert [v for _, v in pairs_of(last2)] == [5, 4]
    assert last2["next_cursor"] is not None
    exact = get_points(shared_server, "ord-1", f"metric=t&{WIDE}&limit=6")
    assert len(exact["points"]) == 6 and exact["next_cursor"] is None


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 4, 7, 25])
def test_cursor_paging_walks_every_point_exactly_once(shared_server, order, limit):
    device_id = f"page-{order}-{limit}"
    expected = [(T0 + i * 1000 + (i % 3), float(i)) for i in range(25)]
    ingest(shared_server, series(device_id, "t", expected))
    seen, pages = walk(shared_server, device_id, f"metric=t&{WIDE}&order={order}", limit)
    want = expected if order == "asc" else expected[::-1]
    assert seen == want
    assert pages in (-(-25 // limit), -(-25 // limit) + 1), pages


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_cursor_paging_stays_inside_the_range(shared_server, order):
    device_id = f"page-range-{order}"
    ingest(shared_server, series(device_id, "t", [(T0 + i * 1000, i) for i in range(30)]))
    query = f"metric=t&start={rfc(T0 + 4500)}&end={rfc(T0 + 20500)}&order={order}"
    seen, _ = walk(shared_server, device_id, query, 3)
    want = list(range(5, 21))
    assert [v for _, v in seen] == (want if order == "asc" else want[::-1])


def test_out_of_order_writes_come_back_in_time_order(shared_server):
    stamps = [T0 + i * 1000 for i in range(40)]
    shuffled = stamps[:]
    random.Random(7).shuffle(shuffled)
    # Several requests, each itself out of order.
    for chunk in range(0, 40, 10):
        ingest(shared_server, series("ooo-1", "t", [(ts, (ts - T0) // 1000)
                                                    for ts in shuffled[chunk:chunk + 10]]))
    asc = get_points(shared_server, "ooo-1", f"metric=t&{WIDE}")
    assert pairs_of(asc) == [(ts, (ts - T0) // 1000) for ts in stamps]
    desc = get_points(shared_server, "ooo-1", f"metric=t&{WIDE}&order=desc")
    assert pairs_of(desc) == pairs_of(asc)[::-1]
    latest = shared_server.get("/api/v1/devices/ooo-1/latest").json["values"]["t"]
    assert latest == {"value": 39, "ts": rfc(stamps[-1])}


def test_writing_the_same_device_metric_and_time_again_overwrites(shared_server):
    ingest(shared_server, series("ow-1", "t", [(T0, 1.0), (T0 + 1000, 10.0)]))
    ingest(shared_server, series("ow-1", "t", [(T0, 2.0)]))
    ingest(shared_server, [{"device_id": "ow-1", "metric": "t", "value": 3.0,
                            "ts": "2026-01-01T00:00:00.000Z"}])
    body = get_points(shared_server, "ow-1", f"metric=t&{WIDE}")
    assert pairs_of(body) == [(T0, 3.0), (T0 + 1000, 10.0)]
    # Overwriting the newest point changes the latest value too.
    ingest(shared_server, series("ow-1", "t", [(T0 + 1000, 11.0)]))
    assert shared_server.get("/api/v1/devices/ow-1/latest").json["values"]["t"] == {
        "value": 11.0, "ts": rfc(T0 + 1000)}
    assert pairs_of(get_points(shared_server, "ow-1", f"metric=t&{WIDE}")) == [
        (T0, 3.0), (T0 + 1000, 11.0)]
    agg = shared_server.get(f"/api/v1/devices/ow-1/aggregates?metric=t&interval=1h&agg=count,sum"
                            f"&{WIDE}").json
    assert buckets_by_ts(agg["buckets"]) == {rfc(T0): {"count": 2, "sum": 14.0}}


def test_repeated_time_within_one_request_keeps_the_last_value(shared_server):
    ingest(shared_server, series("ow-2", "t", [(T0, 1.0), (T0, 2.0), (T0, 3.0)]))
    assert pairs_of(get_points(shared_server, "ow-2", f"metric=t&{WIDE}")) == [(T0, 3.0)]


# -- aggregates -----------------------------------------------------------------------------------

AGG_POINTS = [  # (offset from T0 in ms, value)
    (10_000, 10.0), (50_000, 20.0), (65_000, 5.0), (HOUR - 1, 7.0), (HOUR, 100.0),
    (HOUR + 30 * MIN, -4.0), (3 * HOUR + 15 * MIN, 2.5)]


@pytest.fixture(scope="module")
def agg_device(_module_server):
    """agg-1/t holding AGG_POINTS, written out of order in two requests."""
    readings = series("agg-1", "t", [(T0 + off, v) for off, v in AGG_POINTS])
    ingest(_module_server, readings[3:][::-1])
    ingest(_module_server, readings[:3])
    return "agg-1"


def test_hourly_aggregates_match_hand_computed_figures(shared_server, agg_device):
    resp = shared_server.get(f"/api/v1/devices/{agg_device}/aggregates?metric=t&interval=1h"
                             f"&agg={ALL_AGGS}&{WIDE}")
    assert resp.status == 200, resp
    body = resp.json
    assert body["device_id"] == "agg-1" and body["metric"] == "t" and body["interval"] == "1h"
    assert buckets_by_ts(body["buckets"]) == {
        "2026-01-01T00:00:00.000Z": expected_bucket([10, 20, 5, 7]),
        "2026-01-01T01:00:00.000Z": expected_bucket([100, -4]),
        "2026-01-01T03:00:00.000Z": expected_bucket([2.5])}
    starts = [to_ms(b["ts"]) for b in body["buckets"]]
    assert starts == sorted(starts)


def test_minute_aggregates_match_hand_computed_figures(shared_server, agg_device):
    resp = shared_server.get(f"/api/v1/devices/{agg_device}/aggregates?metric=t&interval=1m"
                             f"&agg={ALL_AGGS}&{WIDE}")
    assert resp.status == 200, resp
    assert resp.json["interval"] == "1m"
    assert buckets_by_ts(resp.json["buckets"]) == {
        "2026-01-01T00:00:00.000Z": expected_bucket([10, 20]),
        "2026-01-01T00:01:00.000Z": expected_bucket([5]),
        "2026-01-01T00:59:00.000Z": expected_bucket([7]),
        "2026-01-01T01:00:00.000Z": expected_bucket([100]),
        "2026-01-01T01:30:00.000Z": expected_bucket([-4]),
        "2026-01-01T03:15:00.000Z": expected_bucket([2.5])}


def test_aggregates_return_the_requested_functions(shared_server, agg_device):
    resp = shared_server.get(f"/api/v1/devices/{agg_device}/aggregates?metric=t&interval=1h"
                             f"&agg=max,count&{WIDE}")
    assert resp.status == 200, resp
    first = buckets_by_ts(resp.json["buckets"])["2026-01-01T00:00:00.000Z"]
    assert first["max"] == 20 and first["count"] == 4, first


def test_buckets_are_aligned_to_the_interval_in_utc_not_to_the_start(shared_server, agg_device):
    # A start in the middle of an hour still gives buckets starting on the hour.
    resp = shared_server.get(f"/api/v1/devices/{agg_device}/aggregates?metric=t&interval=1h"
                             f"&agg={ALL_AGGS}&start=2026-01-01T00:00:30Z"
                             f"&end=2026-01-01T02:00:00Z")
    assert resp.status == 200, resp
    assert buckets_by_ts(resp.json["buckets"]) == {
        "2026-01-01T00:00:00.000Z": expected_bucket([20, 5, 7]),
        "2026-01-01T01:00:00.000Z": expected_bucket([100, -4])}


def test_daily_and_five_minute_buckets_align_to_utc(shared_server):
    ingest(shared_server, series("agg-day", "t", [
        (T0 + 23 * HOUR + 30 * MIN, 1.0), (T0 + 24 * HOUR + 7 * MIN, 2.0),
        (T0 + 24 * HOUR + 9 * MIN + 59_999, 4.0), (T0 + 24 * HOUR + 10 * MIN, 8.0)]))
    day = shared_server.get(f"/api/v1/devices/agg-day/aggregates?metric=t&interval=1d"
                            f"&agg=sum,count&{WIDE}")
    assert day.status == 200, day
    assert buckets_by_ts(day.json["buckets"]) == {
        "2026-01-01T00:00:00.000Z": {"sum": 1.0, "count": 1},
        "2026-01-02T00:00:00.000Z": {"sum": 14.0, "count": 3}}
    five = shared_server.get(f"/api/v1/devices/agg-day/aggregates?metric=t&interval=5m"
                             f"&agg=sum,count&{WIDE}")
    assert buckets_by_ts(five.json["buckets"]) == {
        "2026-01-01T23:30:00.000Z": {"sum": 1.0, "count": 1},
        "2026-01-02T00:05:00.000Z": {"sum": 6.0, "count": 2},
        "2026-01-02T00:10:00.000Z": {"sum": 8.0, "count": 1}}


def test_aggregates_of_a_metric_without_data_have_no_buckets(shared_server, agg_device):
    resp = shared_server.get(f"/api/v1/devices/{agg_device}/aggregates?metric=none&interval=1h"
                             f"&{WIDE}")
    assert resp.status == 200, resp
    assert buckets_by_ts(resp.json["buckets"]) == {}


# -- fleet aggregates -----------------------------------------------------------------------------

FLEET = {  # device: (type, location, [(offset, value)])
    "fa-1": ("thermo", "hall", [(10 * MIN, 1.0), (HOUR + 10 * MIN, 10.0)]),
    "fa-2": ("thermo", "roof", [(20 * MIN, 3.0)]),
    "fa-3": ("pump", "roof", [(30 * MIN, 8.0), (HOUR + 20 * MIN, 20.0)]),
}


@pytest.fixture
def fleet_server(server):
    for device_id, (type_, location, pts) in FLEET.items():
        # Registered on the fly by its telemetry, then described with PUT.
        ingest(server, series(device_id, "t", [(T0 + off, v) for off, v in pts]))
    ingest(server, series("fa-other", "other_metric", [(T0, 99.0)]))
    await_registry(server, [*FLEET, "fa-other"])
    for device_id, (type_, location, _) in FLEET.items():
        resp = server.put(f"/api/v1/devices/{device_id}", {"type": type_, "location": location})
        assert resp.status == 200, resp
    return server


def fleet_groups(server, query: str) -> dict[str, dict]:
    resp = server.get(f"/api/v1/aggregates?metric=t&interval=1h&agg={ALL_AGGS}&{WIDE}&{query}")
    assert resp.status == 200, resp
    groups = resp.json["groups"]
    out = {}
    for g in groups:
        assert g["key"] not in out, resp
        out[g["key"]] = buckets_by_ts(g["buckets"])
    return out


H0, H1 = "2026-01-01T00:00:00.000Z", "2026-01-01T01:00:00.000Z"


def test_fleet_aggregates_group_by_device(fleet_server):
    assert fleet_groups(fleet_server, "group_by=device") == {
        "fa-1": {H0: expected_bucket([1]), H1: expected_bucket([10])},
        "fa-2": {H0: expected_bucket([3])},
        "fa-3": {H0: expected_bucket([8]), H1: expected_bucket([20])}}


def test_fleet_aggregates_group_by_type(fleet_server):
    assert fleet_groups(fleet_server, "group_by=type") == {
        "thermo": {H0: expected_bucket([1, 3]), H1: expected_bucket([10])},
        "pump": {H0: expected_bucket([8]), H1: expected_bucket([20])}}


def test_fleet_aggregates_group_by_location(fleet_server):
    assert fleet_groups(fleet_server, "group_by=location") == {
        "hall": {H0: expected_bucket([1]), H1: expected_bucket([10])},
        "roof": {H0: expected_bucket([3, 8]), H1: expected_bucket([20])}}


def test_fleet_aggregates_without_group_by_combine_every_device(fleet_server):
    groups = fleet_groups(fleet_server, "")
    assert len(groups) == 1, groups
    assert list(groups.values())[0] == {H0: expected_bucket([1, 3, 8]),
                                        H1: expected_bucket([10, 20])}


def test_fleet_aggregates_take_the_device_filters(fleet_server):
    groups = fleet_groups(fleet_server, "type=thermo")
    assert list(groups.values()) == [{H0: expected_bucket([1, 3]), H1: expected_bucket([10])}]
    by_device = fleet_groups(fleet_server, "location=roof&group_by=device")
    assert set(by_device) == {"fa-2", "fa-3"}


# -- export ---------------------------------------------------------------------------------------

@pytest.fixture
def export_server(server):
    ingest(server, series("ex-1", "a", [(T0 + i * 1000, i * 1.5) for i in range(5)]))
    ingest(server, series("ex-1", "b", [(T0 + 500, 7)]))
    ingest(server, series("ex-2", "a", [(T0 + i * 1000, -i) for i in range(3)]))
    await_registry(server, ["ex-1", "ex-2"])
    return server


def expected_rows(devices):
    rows = set()
    if "ex-1" in devices:
        rows |= {("ex-1", "a", rfc(T0 + i * 1000), i * 1.5) for i in range(5)}
        rows.add(("ex-1", "b", rfc(T0 + 500), 7.0))
    if "ex-2" in devices:
        rows |= {("ex-2", "a", rfc(T0 + i * 1000), float(-i)) for i in range(3)}
    return rows


def export_csv(server, query: str) -> list[dict]:
    resp = server.get(f"/api/v1/export?format=csv&{WIDE}&{query}", headers={"Accept": "text/csv"})
    assert resp.status == 200, resp
    assert (resp.header("Content-Type") or "").startswith("text/csv"), resp
    lines = resp.text.splitlines()
    header = next(csv.reader([lines[0]]))
    assert {"device_id", "metric", "ts", "value"} <= set(header), lines[0]
    return list(csv.DictReader(io.StringIO(resp.text)))


@pytest.mark.parametrize("devices", [("ex-1",), ("ex-1", "ex-2"), None])
def test_export_csv_has_a_header_and_one_row_per_point(export_server, devices):
    query = f"device_id={','.join(devices)}" if devices else ""
    rows = export_csv(export_server, query)
    got = [(r["device_id"], r["metric"], r["ts"], float(r["value"])) for r in rows]
    want = expected_rows(devices or ("ex-1", "ex-2"))
    assert len(got) == len(want), got
    assert set(got) == want


@pytest.mark.parametrize("devices", [("ex-2",), None])
def test_export_ndjson_has_one_object_per_point(export_server, devices):
    query = f"device_id={','.join(devices)}" if devices else ""
    resp = export_server.get(f"/api/v1/export?format=ndjson&{WIDE}&{query}",
                             headers={"Accept": "application/x-ndjson"})
    assert resp.status == 200, resp
    assert "ndjson" in (resp.header("Content-Type") or ""), resp
    lines = [line for line in resp.text.split("\n") if line]
    objects = [json.loads(line) for line in lines]
    got = [(o["device_id"], o["metric"], o["ts"], float(o["value"])) for o in objects]
    want = expected_rows(devices or ("ex-1", "ex-2"))
    assert len(got) == len(want), got
    assert set(got) == want


def test_export_respects_the_time_range(export_server):
    rows = export_csv(export_server, "").__len__()
    assert rows == 9
    resp = export_server.get(f"/api/v1/export?format=csv&device_id=ex-1"
                             f"&start={rfc(T0 + 1500)}&end={rfc(T0 + 3500)}")
    assert resp.status == 200, resp
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert {(r["metric"], r["ts"]) for r in rows} == {("a", rfc(T0 + 2000)),
                                                       ("a", rfc(T0 + 3000))}


# -- delete with purge ----------------------------------------------------------------------------

def test_delete_with_purge_removes_the_devices_data(server):
    ingest(server, series("purge-1", "t", [(T0 + i * 1000, i) for i in range(5)]))
    ingest(server, series("keep-1", "t", [(T0, 42)]))
    resp = server.delete("/api/v1/devices/purge-1?purge=true")
    assert resp.status == 204, resp
    assert_error(server.get("/api/v1/devices/purge-1"), 404, "not_found")
    assert_error(server.get("/api/v1/devices/purge-1/latest"), 404, "not_found")
    assert_error(server.get(f"/api/v1/devices/purge-1/telemetry?metric=t&{WIDE}"), 404,
                 "not_found")
    export = server.get(f"/api/v1/export?format=ndjson&{WIDE}")
    assert [json.loads(line)["device_id"] for line in export.text.splitlines() if line] == \
        ["keep-1"]
    # The same id reporting again starts from nothing.
    ingest(server, series("purge-1", "t", [(T0 + 10_000, 99)]))
    assert pairs_of(get_points(server, "purge-1", f"metric=t&{WIDE}")) == [(T0 + 10_000, 99)]
    # And the purge is durable.
    server.restart()
    assert pairs_of(get_points(server, "purge-1", f"metric=t&{WIDE}")) == [(T0 + 10_000, 99)]
    assert pairs_of(get_points(server, "keep-1", f"metric=t&{WIDE}")) == [(T0, 42)]


def test_purged_device_stays_purged_after_restart(server):
    ingest(server, series("purge-2", "t", [(T0, 1), (T0 + 1000, 2)]))
    ingest(server, series("keep-2", "t", [(T0, 5)]))
    await_registry(server, ["purge-2", "keep-2"])
    assert server.delete("/api/v1/devices/purge-2?purge=true").status == 204
    assert server.get("/api/v1/devices/purge-2").status == 404
    server.restart()
    assert server.device_ids() == ["keep-2"]
    assert server.get("/api/v1/devices/purge-2").status == 404
    assert server.get("/api/v1/devices/purge-2/latest").status == 404
    assert server.get(f"/api/v1/devices/purge-2/telemetry?metric=t&{WIDE}").status == 404


# -- 404 and 400 ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/api/v1/devices/ghost-q/latest",
    f"/api/v1/devices/ghost-q/telemetry?metric=t&{WIDE}",
    f"/api/v1/devices/ghost-q/aggregates?metric=t&interval=1h&{WIDE}",
])
def test_queries_of_an_unknown_device_are_404(shared_server, path):
    assert_error(shared_server.get(path), 404, "not_found")


@pytest.fixture(scope="module")
def bad_param_device(_module_server):
    ingest(_module_server, series("bp-1", "t", [(T0, 1)]))
    return "bp-1"


@pytest.mark.parametrize("path", [
    # raw points
    "/api/v1/devices/bp-1/telemetry",
    f"/api/v1/devices/bp-1/telemetry?{WIDE}",
    "/api/v1/devices/bp-1/telemetry?metric=t&start=yesterday",
    "/api/v1/devices/bp-1/telemetry?metric=t&end=2026-13-45T00:00:00Z",
    "/api/v1/devices/bp-1/telemetry?metric=t&start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z",
    "/api/v1/devices/bp-1/telemetry?metric=t&start=-1h&end=-2h",
    "/api/v1/devices/bp-1/telemetry?metric=t&cursor=not-a-cursor",
    "/api/v1/devices/bp-1/telemetry?metric=t&cursor=%7B%7D",
    "/api/v1/devices/bp-1/telemetry?metric=t&order=sideways",
    "/api/v1/devices/bp-1/telemetry?metric=t&limit=0",
    "/api/v1/devices/bp-1/telemetry?metric=t&limit=-3",
    "/api/v1/devices/bp-1/telemetry?metric=t&limit=ten",
    # device aggregates
    f"/api/v1/devices/bp-1/aggregates?interval=1h&{WIDE}",
    f"/api/v1/devices/bp-1/aggregates?metric=t&interval=fortnight&{WIDE}",
    f"/api/v1/devices/bp-1/aggregates?metric=t&interval=0s&{WIDE}",
    f"/api/v1/devices/bp-1/aggregates?metric=t&interval=-1h&{WIDE}",
    f"/api/v1/devices/bp-1/aggregates?metric=t&interval=1h&agg=median&{WIDE}",
    f"/api/v1/devices/bp-1/aggregates?metric=t&interval=1h&agg=min,bogus&{WIDE}",
    "/api/v1/devices/bp-1/aggregates?metric=t&interval=1h"
    "&start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z",
    # fleet aggregates
    f"/api/v1/aggregates?interval=1h&{WIDE}",
    f"/api/v1/aggregates?metric=t&interval=1h&group_by=color&{WIDE}",
    f"/api/v1/aggregates?metric=t&interval=soon&{WIDE}",
    f"/api/v1/aggregates?metric=t&interval=1h&agg=p99x&{WIDE}",
    "/api/v1/aggregates?metric=t&interval=1h&start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z",
    # export
    f"/api/v1/export?format=xml&{WIDE}",
    "/api/v1/export?format=csv&start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z",
])
def test_bad_query_parameters_are_400(shared_server, bad_param_device, path):
    assert_error(shared_server.get(path), 400)
