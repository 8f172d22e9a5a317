"""The live stream GET /api/v1/stream (Server-Sent Events) against the real binary: the head,
`status` events for a status change, `alert` events in the API's alert shape, periodic `stats`,
`telemetry` for subscribed devices only, and auth by header or ?api_key=."""

import time

from fleetpulse_harness import RFC3339_MS_UTC, assert_error, wait_until
from sse_client import SseClient


def test_stream_head_and_first_comment(server):
    with SseClient(server.port) as sse:
        assert sse.status == 200
        assert sse.headers["content-type"] == "text/event-stream"
        assert sse.headers["cache-control"] == "no-cache"
        assert "content-length" not in sse.headers
        server.heartbeat("s0")
        sse.wait_for("status")
        assert sse.comments[0] == "connected"


def test_status_events_follow_a_device_online_then_offline(fast_server):
    with SseClient(fast_server.port) as sse:
        fast_server.heartbeat("s1")
        online = sse.wait_for("status", lambda d: d["device_id"] == "s1")
        assert online["from"] == "unknown" and online["to"] == "online"
        assert RFC3339_MS_UTC.match(online["at"]) and "reason" in online
        offline = sse.wait_for("status", lambda d: d["device_id"] == "s1" and d["to"] == "offline",
                               timeout=8)
        assert offline["from"] == "at_risk"


def test_alert_events_carry_the_alert_as_the_api_shows_it(server):
    server.post("/api/v1/rules", {"id": "hot", "kind": "threshold", "metric": "temp",
                                  "threshold": 30})
    with SseClient(server.port) as sse:
        server.post("/api/v1/telemetry", {"device_id": "s2", "temp": 35})
        firing = sse.wait_for("alert", lambda d: d["device_id"] == "s2")
        assert firing["state"] == "firing" and firing["rule_id"] == "hot"
        api = server.get("/api/v1/alerts?device_id=s2").json["alerts"][0]
        assert firing == api
        server.post(f"/api/v1/alerts/{firing['id']}/acknowledge", {"by": "eve"})
        acked = sse.wait_for("alert", lambda d: d["id"] == firing["id"])
        assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == "eve"


def test_stats_events_every_two_seconds(server):
    with SseClient(server.port) as sse:
        first = sse.wait_for("stats", timeout=4)
        second = sse.wait_for("stats", timeout=4)
        assert set(server.get("/api/v1/stats").json) == set(first)
        assert second["uptime_s"] >= first["uptime_s"]


def test_telemetry_only_for_subscribed_devices(server):
    with SseClient(server.port, "/api/v1/stream?device_id=t1,t2") as sse, \
            SseClient(server.port) as unsubscribed:
        server.post("/api/v1/telemetry", [{"device_id": "other", "temp": 1},
                                          {"device_id": "t2", "metric": "temp", "value": 22.5,
                                           "ts": "2026-01-01T00:00:00Z"}])
        event = sse.wait_for("telemetry")
        assert event == {"device_id": "t2", "metric": "temp", "ts": "2026-01-01T00:00:00.000Z",
                         "value": 22.5}
        # The unsubscribed client sees the status change but never telemetry.
        unsubscribed.wait_for("status", lambda d: d["device_id"] == "t2")
        server.heartbeat("marker")
        while True:
            name, data = unsubscribed.next_event()
            assert name != "telemetry", data
            if name == "status" and data["device_id"] == "marker":
                break


def test_stream_needs_a_key_when_auth_is_on(start_server):
    server = start_server(admin_key="stream-admin-key")
    assert_error(server.get("/api/v1/stream", key=None), 401, "unauthorized")
    with SseClient(server.port, key="stream-admin-key") as sse:
        assert sse.status == 200
    with SseClient(server.port, "/api/v1/stream?api_key=stream-admin-key") as sse:
        assert sse.status == 200
        server.heartbeat("k1")
        assert sse.wait_for("status")["device_id"] == "k1"


def test_bad_device_list_is_400(server):
    assert_error(server.get("/api/v1/stream?device_id=bad%20id"), 400, "invalid_parameter")


def test_closed_clients_do_not_disturb_the_server(server):
    for _ in range(20):
        SseClient(server.port).close()
    with SseClient(server.port) as sse:
        server.heartbeat("after-closes")
        assert sse.wait_for("status")["device_id"] == "after-closes"
    assert wait_until(lambda: server.get("/health").status == 200, 2)


def test_sigterm_with_an_open_stream_exits_cleanly_and_ends_the_stream(server):
    sse = SseClient(server.port)
    try:
        server.heartbeat("bye")
        sse.wait_for("status")
        assert server.stop() == 0
        try:
            while True:
                sse.next_event(timeout=5)
        except ConnectionError:
            pass  # the stream ended with the server
    finally:
        sse.close()


def test_a_client_that_does_not_read_is_disconnected_and_nothing_else_waits(server):
    import socket as socketlib
    slow = socketlib.create_connection(("127.0.0.1", server.port), timeout=10)
    slow.sendall(b"GET /api/v1/stream?device_id=flood HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        # ~21 MB of telemetry events (200,000 x ~105 bytes) for a client that reads nothing: far
        # beyond its 1 MiB queue and the socket buffers. Every write is still answered at once.
        for batch in range(20):
            readings = [{"device_id": "flood", "metric": "m", "value": i,
                         "ts": 1_767_225_600_000 + batch * 10_000 + i} for i in range(10_000)]
            started = time.monotonic()
            assert server.post("/api/v1/telemetry", readings).status == 200
            assert time.monotonic() - started < 5
        # The server has given up on the slow client: reading now reaches the end of the stream.
        slow.settimeout(10)
        received = 0
        while True:
            data = slow.recv(1 << 20)
            if not data:
                break
            received += len(data)
        assert received < 200_000 * 100
        assert server.get("/health").status == 200
    finally:
        slow.close()
