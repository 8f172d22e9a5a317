"""GET /api/v1/devices?sort=: any column, ascending or descending (`-` prefix), combined with
filters, paged with cursors that belong to their order; bad values are 400."""

from fleetpulse_harness import assert_error, urlquote


def pages(server, query):
    ids, cursor = [], None
    for _ in range(50):
        path = f"/api/v1/devices?limit=3&{query}" + (f"&cursor={urlquote(cursor)}" if cursor else "")
        status, _, body = server.get(path)
        assert status == 200, body
        ids += [d["device_id"] for d in body["devices"]]
        cursor = body["next_cursor"]
        if not cursor:
            return ids
    raise AssertionError("no end of pages")


def test_sort_by_battery_signal_and_name_with_filters(shared_server):
    s = shared_server
    batteries = {"srt-a": 50, "srt-b": 10, "srt-c": 90, "srt-d": 50, "srt-e": 70}
    for i, (dev, battery) in enumerate(batteries.items()):
        s.create_device(dev, name=f"n{4 - i}", type="sorttest", location="L1" if i % 2 else "L2")
        s.heartbeat(dev, battery_level=battery, signal_strength=-50 - i)
    s.create_device("srt-f", type="sorttest")  # never reported: no battery, sorts lowest

    assert pages(s, "type=sorttest&sort=battery_level") == \
        ["srt-f", "srt-b", "srt-a", "srt-d", "srt-e", "srt-c"]
    assert pages(s, "type=sorttest&sort=-battery_level") == \
        ["srt-c", "srt-e", "srt-d", "srt-a", "srt-b", "srt-f"]
    assert pages(s, "type=sorttest&sort=-signal_strength")[:5] == \
        ["srt-a", "srt-b", "srt-c", "srt-d", "srt-e"]
    assert pages(s, "type=sorttest&sort=name") == \
        ["srt-f", "srt-e", "srt-d", "srt-c", "srt-b", "srt-a"]
    assert pages(s, "type=sorttest&location=L1&sort=-device_id") == ["srt-d", "srt-b"]


def test_bad_sort_and_foreign_cursor_are_400(shared_server):
    s = shared_server
    assert_error(s.get("/api/v1/devices?sort=colour"), 400, "invalid_parameter")
    for i in range(3):
        s.create_device(f"srt-cur-{i}", type="cursortest")
    status, _, body = s.get("/api/v1/devices?type=cursortest&sort=name&limit=1")
    assert status == 200 and body["next_cursor"]
    assert_error(s.get(f"/api/v1/devices?type=cursortest&sort=type&cursor={urlquote(body['next_cursor'])}"),
                 400, "invalid_parameter")
