"""Device registry over HTTP: create, read, replace (PUT), merge (PATCH), delete, list with
filters and cursor pagination."""

import time

import pytest

from fleetpulse_harness import RFC3339_MS_UTC, assert_error, exchange, rfc3339_to_epoch, urlquote

DEVICE_FIELDS = {"device_id", "name", "type", "location", "metadata", "config", "status",
                 "status_reason", "last_seen", "battery_level", "signal_strength", "created_at",
                 "updated_at"}


# -- create ------------------------------------------------------------------------------------

def test_create_answers_201_with_the_full_device_object(server):
    status, headers, body = server.post("/api/v1/devices", {
        "device_id": "pump-7", "name": "Pump 7", "type": "pump", "location": "hall-b",
        "metadata": {"vendor": "acme", "rev": 3}, "config": {"interval_s": 30}})
    assert status == 201, body
    assert headers["Content-Type"].startswith("application/json")
    assert DEVICE_FIELDS <= set(body), f"missing fields: {DEVICE_FIELDS - set(body)}"
    assert body["device_id"] == "pump-7"
    assert body["name"] == "Pump 7"
    assert body["type"] == "pump"
    assert body["location"] == "hall-b"
    assert body["metadata"] == {"vendor": "acme", "rev": 3}
    assert body["config"] == {"interval_s": 30}


def test_new_device_is_unknown_until_it_reports(server):
    body = server.create_device("quiet-1")
    assert body["status"] == "unknown"
    assert body["last_seen"] is None
    assert body["battery_level"] is None
    assert body["signal_strength"] is None
    assert server.device("quiet-1")["status"] == "unknown"


def test_create_stamps_created_at_and_updated_at_in_rfc3339_utc(server):
    body = server.create_device("stamped")
    for field in ("created_at", "updated_at"):
        assert RFC3339_MS_UTC.match(body[field]), body
    assert rfc3339_to_epoch(body["updated_at"]) >= rfc3339_to_epoch(body["created_at"])


def test_create_with_only_an_id_gives_empty_metadata_and_config_objects(server):
    body = server.create_device("bare")
    assert body["metadata"] == {}
    assert body["config"] == {}


def test_created_device_can_be_read_back(server):
    created = server.create_device("readback", name="R", type="meter", location="roof",
                                   metadata={"k": "v"}, config={"c": 1})
    fetched = server.device("readback")
    for field in ("device_id", "name", "type", "location", "metadata", "config", "status",
                  "created_at"):
        assert fetched[field] == created[field], field


def test_creating_an_existing_device_conflicts(server):
    server.create_device("dup")
    assert_error(server.post("/api/v1/devices", {"device_id": "dup"}), 409, "conflict")


@pytest.mark.parametrize("device_id", [
    "a", "A.b_c:d-9", pytest.param("x" * 128, id="128-chars"), "00:1A:2B:3C:4D:5E",
    "site.floor-2_room:3"])
def test_create_accepts_ids_of_allowed_characters_up_to_128(shared_server, device_id):
    resp = shared_server.post("/api/v1/devices", {"device_id": device_id})
    assert resp.status == 201, resp
    assert resp.json["device_id"] == device_id
    assert shared_server.device(device_id)["device_id"] == device_id


@pytest.mark.parametrize("device_id", [
    "", pytest.param("x" * 129, id="129-chars"), "has space", "slash/in/id", "quote\"d",
    "ümlaut", "semi;colon", "tab\t", "percent%20"])
def test_create_rejects_ids_outside_the_allowed_pattern(shared_server, device_id):
    assert_error(shared_server.post("/api/v1/devices", {"device_id": device_id}), 422,
                 "validation_failed")


@pytest.mark.parametrize("body", [
    {}, {"name": "no id"}, {"device_id": None}, {"device_id": 42}, {"device_id": ["a"]}])
def test_create_rejects_a_missing_or_non_string_id(shared_server, body):
    assert_error(shared_server.post("/api/v1/devices", body), 422, "validation_failed")


@pytest.mark.parametrize("field,value", [
    ("metadata", [1, 2]), ("metadata", "text"), ("config", 5), ("config", [])])
def test_create_rejects_metadata_or_config_that_is_not_an_object(shared_server, field, value):
    resp = shared_server.post("/api/v1/devices", {"device_id": "d", field: value})
    error = assert_error(resp, 422, "validation_failed")
    assert field in error["message"] or field in str(error.get("details", "")), error


@pytest.mark.parametrize("field", ["name", "type"])
def test_create_rejects_a_non_string_name_or_type(shared_server, field):
    assert_error(shared_server.post("/api/v1/devices", {"device_id": "d", field: 12}), 422,
                 "validation_failed")
    assert shared_server.get("/api/v1/devices/d").status == 404


def test_rejected_create_stores_nothing(shared_server):
    shared_server.post("/api/v1/devices", {"device_id": "bad", "metadata": []})
    assert_error(shared_server.get("/api/v1/devices/bad"), 404, "not_found")


def test_strings_and_json_values_round_trip_exactly(shared_server):
    metadata = {"text": "Caf\u00e9 \u2615 \U0001F680 \"quoted\" back\\slash\nnew\tline \u0001",
                "numbers": [0, -1, 1.5, -0.25, 1e-7, 9007199254740991, 6.02e23],
                "flags": [True, False, None], "nested": {"deep": {"er": [[], {}]}}, "": "empty"}
    name = "Nom \u00e0 \u4e2d\u6587 </script> & 'x'"
    shared_server.create_device("round-trip", name=name, location="Z\u00fcrich",
                                metadata=metadata, config={"k": "v\u00e9"})
    device = shared_server.device("round-trip")
    assert device["name"] == name
    assert device["location"] == "Z\u00fcrich"
    assert device["metadata"] == metadata
    assert device["config"] == {"k": "v\u00e9"}


# -- read --------------------------------------------------------------------------------------

def test_unknown_device_is_not_found(shared_server):
    assert_error(shared_server.get("/api/v1/devices/ghost"), 404, "not_found")


# -- PUT ---------------------------------------------------------------------------------------

def test_put_replaces_metadata_and_config_objects(server):
    server.create_device("put-1", name="Old", metadata={"a": 1, "b": 2}, config={"x": 1, "y": 2})
    status, _, body = server.put("/api/v1/devices/put-1", {
        "name": "New", "metadata": {"c": 3}, "config": {"z": 9}})
    assert status == 200, body
    assert body["device_id"] == "put-1"
    assert body["name"] == "New"
    assert body["metadata"] == {"c": 3}
    assert body["config"] == {"z": 9}
    fetched = server.device("put-1")
    assert fetched["name"] == "New"
    assert fetched["metadata"] == {"c": 3}
    assert fetched["config"] == {"z": 9}


def test_put_updates_type_and_location(server):
    server.create_device("put-2", type="old-type", location="old-loc")
    resp = server.put("/api/v1/devices/put-2", {"type": "new-type", "location": "new-loc"})
    assert resp.status == 200, resp
    fetched = server.device("put-2")
    assert (fetched["type"], fetched["location"]) == ("new-type", "new-loc")


def test_put_on_an_unknown_device_is_not_found(shared_server):
    assert_error(shared_server.put("/api/v1/devices/ghost", {"name": "x"}), 404, "not_found")


def test_put_rejects_metadata_that_is_not_an_object(server):
    server.create_device("put-3", metadata={"keep": True})
    assert_error(server.put("/api/v1/devices/put-3", {"metadata": [1]}), 422, "validation_failed")
    assert server.device("put-3")["metadata"] == {"keep": True}


def test_update_moves_updated_at_forward_and_keeps_created_at(server):
    created = server.create_device("stamps")
    time.sleep(0.01)
    updated = server.patch("/api/v1/devices/stamps", {"name": "renamed"}).json
    assert updated["created_at"] == created["created_at"]
    assert rfc3339_to_epoch(updated["updated_at"]) > rfc3339_to_epoch(created["updated_at"])


# -- PATCH -------------------------------------------------------------------------------------

def test_patch_merges_metadata_key_by_key_and_null_deletes(server):
    server.create_device("patch-1", metadata={"a": 1, "b": 2, "c": 3}, config={"x": 1, "y": 2})
    status, _, body = server.patch("/api/v1/devices/patch-1", {
        "metadata": {"b": 20, "c": None, "d": 4}, "config": {"y": None, "z": "new"}})
    assert status == 200, body
    assert body["metadata"] == {"a": 1, "b": 20, "d": 4}
    assert body["config"] == {"x": 1, "z": "new"}
    fetched = server.device("patch-1")
    assert fetched["metadata"] == {"a": 1, "b": 20, "d": 4}
    assert fetched["config"] == {"x": 1, "z": "new"}


def test_patch_merges_nested_objects_recursively_as_json_merge_patch(server):
    server.create_device("patch-2", metadata={"hw": {"rev": 1, "serial": "S1"}, "tags": ["a"]})
    resp = server.patch("/api/v1/devices/patch-2", {
        "metadata": {"hw": {"rev": 2, "serial": None, "fw": "1.2"}, "tags": ["b", "c"]}})
    assert resp.status == 200, resp
    # RFC 7396: objects merge recursively, arrays are replaced whole.
    assert server.device("patch-2")["metadata"] == {"hw": {"rev": 2, "fw": "1.2"},
                                                    "tags": ["b", "c"]}


def test_patch_of_one_field_leaves_the_others_alone(server):
    server.create_device("patch-3", name="N", type="T", location="L", metadata={"m": 1},
                         config={"c": 1})
    resp = server.patch("/api/v1/devices/patch-3", {"location": "L2"})
    assert resp.status == 200, resp
    fetched = server.device("patch-3")
    assert fetched["name"] == "N"
    assert fetched["type"] == "T"
    assert fetched["location"] == "L2"
    assert fetched["metadata"] == {"m": 1}
    assert fetched["config"] == {"c": 1}


def test_patch_on_an_unknown_device_is_not_found(shared_server):
    assert_error(shared_server.patch("/api/v1/devices/ghost", {"name": "x"}), 404, "not_found")


def test_patch_rejects_config_that_is_not_an_object(server):
    server.create_device("patch-4", config={"keep": 1})
    assert_error(server.patch("/api/v1/devices/patch-4", {"config": "str"}), 422,
                 "validation_failed")
    assert server.device("patch-4")["config"] == {"keep": 1}


def test_update_cannot_change_the_device_id(server):
    server.create_device("fixed-id")
    resp = server.patch("/api/v1/devices/fixed-id", {"device_id": "other-id", "name": "n"})
    # Either refused, or the id in the body is ignored; never a rename.
    assert resp.status in (200, 400, 422), resp
    assert server.get("/api/v1/devices/other-id").status == 404
    assert server.get("/api/v1/devices/fixed-id").status == 200


# -- DELETE ------------------------------------------------------------------------------------

def test_delete_answers_204_and_the_device_is_gone(server):
    server.create_device("doomed")
    status, _, body = server.delete("/api/v1/devices/doomed")
    assert status == 204
    assert body == b""
    assert_error(server.get("/api/v1/devices/doomed"), 404, "not_found")
    assert "doomed" not in server.device_ids()


def test_delete_of_an_unknown_device_is_not_found(shared_server):
    assert_error(shared_server.delete("/api/v1/devices/ghost"), 404, "not_found")


def test_deleted_id_can_be_registered_again(server):
    server.create_device("phoenix", name="first")
    assert server.delete("/api/v1/devices/phoenix").status == 204
    body = server.create_device("phoenix", name="second")
    assert body["name"] == "second"
    assert body["status"] == "unknown"


def test_re_registered_device_starts_with_a_fresh_history_and_values(server):
    server.heartbeat("reborn", battery_level=10, signal_strength=-100)
    assert server.delete("/api/v1/devices/reborn").status == 204
    body = server.create_device("reborn")
    assert body["status"] == "unknown"
    assert body["battery_level"] is None
    assert body["last_seen"] is None
    assert server.status_history("reborn") == []


def test_stats_follow_deletes(server):
    server.heartbeat("s1", battery_level=90)
    server.heartbeat("s2", battery_level=5)
    assert server.delete("/api/v1/devices/s2").status == 204
    assert server.get("/api/v1/stats").json["devices"] == {
        "total": 1, "online": 1, "at_risk": 0, "offline": 0, "unknown": 0}
    assert server.device_ids("status=at_risk") == []


def test_delete_with_purge_removes_the_device(server):
    server.heartbeat("purged", battery_level=50)
    assert server.delete("/api/v1/devices/purged?purge=true").status == 204
    assert server.get("/api/v1/devices/purged").status == 404


# -- list --------------------------------------------------------------------------------------

def test_list_of_an_empty_registry(server):
    status, _, body = server.get("/api/v1/devices")
    assert status == 200, body
    assert body == {"devices": [], "next_cursor": None}


def test_list_is_ordered_by_device_id(server):
    for device_id in ["m-2", "a-9", "z-1", "B-3", "m-10"]:
        server.create_device(device_id)
    body = server.get("/api/v1/devices").json
    ids = [d["device_id"] for d in body["devices"]]
    assert ids == sorted(["m-2", "a-9", "z-1", "B-3", "m-10"])
    assert body["next_cursor"] is None
    assert DEVICE_FIELDS <= set(body["devices"][0])


def test_list_pages_with_limit_and_next_cursor(server):
    ids = [f"dev-{i:02d}" for i in range(7)]
    for device_id in reversed(ids):
        server.create_device(device_id)
    seen = []
    cursor = None
    pages = 0
    while True:
        path = "/api/v1/devices?limit=3" + (f"&cursor={urlquote(cursor)}" if cursor else "")
        body = server.get(path).json
        pages += 1
        page_ids = [d["device_id"] for d in body["devices"]]
        assert len(page_ids) <= 3
        seen += page_ids
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor
        assert pages < 10
    assert seen == ids
    assert pages == 3


def test_list_defaults_to_100_devices_per_page(server):
    conn = server.connect()
    try:
        for i in range(101):
            resp = exchange(conn, "POST", "/api/v1/devices", {"device_id": f"bulk-{i:03d}"})
            assert resp.status == 201, resp
    finally:
        conn.close()
    first = server.get("/api/v1/devices").json
    assert len(first["devices"]) == 100
    assert first["devices"][-1]["device_id"] == "bulk-099"
    assert isinstance(first["next_cursor"], str)
    second = server.get(f"/api/v1/devices?cursor={urlquote(first['next_cursor'])}").json
    assert [d["device_id"] for d in second["devices"]] == ["bulk-100"]
    assert second["next_cursor"] is None
    everything = server.get("/api/v1/devices?limit=1000").json
    assert len(everything["devices"]) == 101
    assert everything["next_cursor"] is None


def test_list_cursor_stays_valid_when_devices_are_added(server):
    for device_id in ["c-1", "c-3", "c-5"]:
        server.create_device(device_id)
    first = server.get("/api/v1/devices?limit=2").json
    assert [d["device_id"] for d in first["devices"]] == ["c-1", "c-3"]
    server.create_device("c-4")
    server.create_device("c-0")
    rest = server.get(f"/api/v1/devices?limit=10&cursor={urlquote(first['next_cursor'])}").json
    assert [d["device_id"] for d in rest["devices"]] == ["c-4", "c-5"]


@pytest.mark.parametrize("query", ["limit=abc", "limit=-1", "limit=1.5", "status=bogus",
                                   "cursor=%00not-a-cursor%ff", "cursor=!!!"])
def test_list_rejects_bad_query_parameters(shared_server, query):
    assert_error(shared_server.get(f"/api/v1/devices?{query}"), 400, "invalid_parameter")


def test_list_limit_above_1000_is_refused_or_capped(shared_server):
    resp = shared_server.get("/api/v1/devices?limit=5000")
    if resp.status == 400:
        assert_error(resp, 400, "invalid_parameter")
    else:
        assert resp.status == 200, resp


@pytest.fixture
def fleet(server):
    """Five devices of mixed types, locations and statuses."""
    server.create_device("cam-north", name="North Gate Camera", type="camera", location="gate-n")
    server.create_device("cam-south", name="South Gate Camera", type="camera", location="gate-s")
    server.create_device("therm-1", name="Boiler Thermometer", type="thermometer",
                         location="Boiler-Room")
    server.create_device("therm-2", name="Attic", type="thermometer", location="attic")
    server.create_device("idle-1", name="Spare", type="spare", location="store")
    server.heartbeat("cam-north", battery_level=90)
    server.heartbeat("therm-1", battery_level=80)
    server.heartbeat("therm-2", battery_level=3)  # low battery: at_risk
    return server


def test_list_filters_by_status(fleet):
    assert fleet.device_ids("status=online") == ["cam-north", "therm-1"]
    assert fleet.device_ids("status=at_risk") == ["therm-2"]
    assert fleet.device_ids("status=offline") == []


def test_list_filters_by_unknown_status(fleet):
    assert fleet.device_ids("status=unknown") == ["cam-south", "idle-1"]


def test_list_filters_by_type(fleet):
    assert fleet.device_ids("type=camera") == ["cam-north", "cam-south"]
    assert fleet.device_ids("type=nothing") == []


def test_list_filters_by_location(fleet):
    assert fleet.device_ids("location=gate-s") == ["cam-south"]


@pytest.mark.parametrize("q,expected", [
    ("GATE", ["cam-north", "cam-south"]),     # name and location, case-insensitive
    ("therm", ["therm-1", "therm-2"]),        # id and type
    ("boiler-room", ["therm-1"]),             # location, case-insensitive
    ("attic", ["therm-2"]),                   # name
    ("SPARE", ["idle-1"]),                    # name and type
    ("zzz", []),
])
def test_list_q_matches_a_case_insensitive_substring_of_id_name_type_or_location(
        fleet, q, expected):
    assert fleet.device_ids(f"q={urlquote(q)}") == expected


def test_list_q_treats_percent_and_underscore_literally(server):
    server.create_device("a_b", name="plain")
    server.create_device("axb", name="50% off")
    server.create_device("a-b", name="5000 off")
    assert server.device_ids("q=_") == ["a_b"]
    assert server.device_ids("q=a_b") == ["a_b"]
    assert server.device_ids(f"q={urlquote('0%')}") == ["axb"]
    assert server.device_ids(f"q={urlquote('%')}") == ["axb"]


def test_list_filters_combine(fleet):
    assert fleet.device_ids("type=camera&status=online") == ["cam-north"]
    assert fleet.device_ids("type=thermometer&status=at_risk") == ["therm-2"]
    assert fleet.device_ids("q=gate&status=unknown") == ["cam-south"]


def test_list_filter_pages_with_cursor(fleet):
    body = fleet.get("/api/v1/devices?type=thermometer&limit=1").json
    assert [d["device_id"] for d in body["devices"]] == ["therm-1"]
    rest = fleet.get(
        f"/api/v1/devices?type=thermometer&limit=1&cursor={urlquote(body['next_cursor'])}").json
    assert [d["device_id"] for d in rest["devices"]] == ["therm-2"]
