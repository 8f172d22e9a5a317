"""Health and observability: /health, /ready, /api/v1/health/detailed, /api/v1/stats, and
HTTP keep-alive."""

from fleetpulse_harness import exchange

COMPONENTS = ("storage", "catalog", "wal", "mqtt", "disk")


def test_health_answers_ok_as_json(server):
    status, headers, body = server.get("/health")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert body == {"status": "ok"}


def test_ready_answers_200_once_started(server):
    resp = server.get("/ready")
    assert resp.status == 200, resp


def test_health_detailed_reports_a_state_for_every_component(server):
    status, headers, body = server.get("/api/v1/health/detailed")
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json")
    assert isinstance(body["status"], str) and body["status"]
    components = body["components"]
    for name in COMPONENTS:
        assert name in components, f"component {name} missing from {body}"
        assert isinstance(components[name], dict), body
        assert isinstance(components[name].get("state"), str) and components[name]["state"], body


def test_health_detailed_shows_no_failed_component_after_a_clean_start(server):
    body = server.get("/api/v1/health/detailed").json
    failed = ("error", "failed", "down", "unhealthy", "degraded", "critical")
    for name in ("storage", "catalog", "wal"):
        assert body["components"][name]["state"].lower() not in failed, body
    assert body["status"].lower() not in failed, body


def test_stats_of_an_empty_fleet_are_all_zero(server):
    status, _, body = server.get("/api/v1/stats")
    assert status == 200, body
    assert body["devices"] == {"total": 0, "online": 0, "at_risk": 0, "offline": 0, "unknown": 0}


def test_stats_count_devices_by_status(server):
    server.create_device("never-reported")
    server.heartbeat("healthy", battery_level=90)
    server.heartbeat("low-battery", battery_level=5)
    devices = server.get("/api/v1/stats").json["devices"]
    assert devices == {"total": 3, "online": 1, "at_risk": 1, "offline": 0, "unknown": 1}


def test_several_requests_share_one_keep_alive_connection(server):
    conn = server.connect()
    try:
        first_socket = None
        for i in range(5):
            resp = exchange(conn, "GET", "/health")
            assert resp.status == 200 and resp.json == {"status": "ok"}
            if first_socket is None:
                first_socket = conn.sock
            # http.client reopens silently if the server closed; the socket must be the same.
            assert conn.sock is first_socket, f"connection was closed after request {i}"
        resp = exchange(conn, "POST", "/api/v1/devices", {"device_id": "ka-1"})
        assert resp.status == 201, resp
        resp = exchange(conn, "GET", "/api/v1/devices/ka-1")
        assert resp.status == 200 and resp.json["device_id"] == "ka-1"
        resp = exchange(conn, "GET", "/api/v1/devices/nope")
        assert resp.status == 404
        resp = exchange(conn, "GET", "/health")
        assert resp.status == 200
        assert conn.sock is first_socket, "an error answer closed the keep-alive connection"
    finally:
        conn.close()


def test_keep_alive_connection_survives_a_request_with_a_body_it_rejects(server):
    conn = server.connect()
    try:
        resp = exchange(conn, "POST", "/api/v1/devices", raw=b'{"device_id": ')
        assert resp.status == 400, resp
        resp = exchange(conn, "POST", "/api/v1/devices", {"device_id": "after-bad-body"})
        assert resp.status == 201, resp
    finally:
        conn.close()
