"""Error answers: every failure is a JSON error object with the right status and snake_case
code, and bad input never crashes the server or yields a bare 500."""

import json
import socket

import pytest

from fleetpulse_harness import assert_error, parse_raw_response, raw_exchange

JSON_ENDPOINTS = [("POST", "/api/v1/devices"), ("POST", "/api/v1/heartbeat"),
                  ("POST", "/api/v1/devices/d1/heartbeat")]

MALFORMED = ["{", "not json", '{"device_id":}', '{"device_id":"a",}', '{"device_id":"a"} x',
             "{'device_id':'a'}", '{"device_id":"a"', "[1,2", '{"a":tru}', "\x00"]


@pytest.mark.parametrize("method,path", JSON_ENDPOINTS)
@pytest.mark.parametrize("raw", MALFORMED)
def test_malformed_json_is_400_malformed_json(shared_server, method, path, raw):
    assert_error(shared_server.request(method, path, raw=raw), 400, "malformed_json")


def test_malformed_json_on_update_is_400(server):
    server.create_device("upd")
    assert_error(server.put("/api/v1/devices/upd", raw="{"), 400, "malformed_json")
    assert_error(server.patch("/api/v1/devices/upd", raw="{nope"), 400, "malformed_json")


@pytest.mark.parametrize("raw", ["[]", '"device"', "42", "null", "true", '[{"device_id":"a"}]'])
def test_json_that_is_not_an_object_is_422(shared_server, raw):
    assert_error(shared_server.post("/api/v1/devices", raw=raw), 422, "validation_failed")


def test_body_that_is_not_utf8_is_rejected_as_a_client_error(shared_server):
    resp = shared_server.post("/api/v1/devices", raw=b'{"device_id":"\xff\xfe"}')
    assert resp.status in (400, 422), resp
    assert_error(resp, resp.status)


def test_deeply_nested_json_is_rejected_without_crashing(shared_server):
    depth = 100_000
    resp = shared_server.post("/api/v1/devices", raw='{"device_id":"deep","metadata":' + "[" * depth
                       + "]" * depth + "}")
    assert resp.status in (400, 413, 422), resp
    assert_error(resp, resp.status)
    assert shared_server.get("/health").status == 200


def test_huge_number_is_a_client_error(shared_server):
    resp = shared_server.post("/api/v1/heartbeat", raw='{"device_id":"n","battery_level":1e400}')
    assert resp.status in (400, 422), resp
    assert_error(resp, resp.status)


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v2/devices",
                                  "/api/v1/devices/d1/nope", "/api/v1/devices/d1/heartbeat/x",
                                  "/healthz"])
def test_unknown_path_is_404_not_found(shared_server, path):
    assert_error(shared_server.get(path), 404, "not_found")


def test_unknown_path_with_a_body_is_404(shared_server):
    assert_error(shared_server.post("/api/v1/nothing-here", {"a": 1}), 404, "not_found")


@pytest.mark.parametrize("method,path", [
    ("DELETE", "/health"), ("POST", "/ready"), ("POST", "/metrics"), ("PUT", "/api/v1/devices"),
    ("DELETE", "/api/v1/devices"), ("GET", "/api/v1/heartbeat"), ("PUT", "/api/v1/heartbeat"),
    ("POST", "/api/v1/devices/d1"), ("GET", "/api/v1/devices/d1/heartbeat"),
    ("POST", "/api/v1/devices/d1/status-history"), ("PATCH", "/api/v1/stats")])
def test_known_path_with_the_wrong_method_is_405(shared_server, method, path):
    assert_error(shared_server.request(method, path), 405, "method_not_allowed")


def test_405_names_the_allowed_methods_in_an_allow_header(shared_server):
    resp = shared_server.request("DELETE", "/health")
    assert resp.status == 405
    allow = resp.header("Allow")
    assert allow is not None, resp.headers
    assert "GET" in [m.strip() for m in allow.split(",")], allow


def test_body_over_the_configured_limit_is_413(start_server):
    server = start_server("--max-body-bytes", "1024")
    padding = " " * 2000
    resp = server.post("/api/v1/devices", raw='{"device_id":"big"}' + padding)
    assert_error(resp, 413, "payload_too_large")
    assert server.get("/api/v1/devices/big").status == 404


def test_body_exactly_at_the_limit_is_accepted(start_server):
    server = start_server("--max-body-bytes", "1024")
    body = '{"device_id":"fits"}'
    resp = server.post("/api/v1/devices", raw=body + " " * (1024 - len(body)))
    assert resp.status == 201, resp
    body = '{"device_id":"spills"}'
    assert_error(server.post("/api/v1/devices", raw=body + " " * (1025 - len(body))), 413,
                 "payload_too_large")


def test_body_over_the_default_8_mib_limit_is_413(shared_server):
    limit = 8 * 1024 * 1024
    payload = json.dumps({"device_id": "huge", "metadata": {"blob": "x" * limit}}).encode()
    head = (f"POST /api/v1/devices HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            f"Connection: close\r\n\r\n").encode()
    chunks = (payload[i:i + 65536] for i in range(0, len(payload), 65536))
    status, headers, body = parse_raw_response(raw_exchange(shared_server.port, head, chunks))
    assert status == 413
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert shared_server.get("/api/v1/devices/huge").status == 404
    assert shared_server.get("/health").status == 200


def test_declared_content_length_over_the_limit_is_413_before_the_body_arrives(start_server):
    server = start_server("--max-body-bytes", "1024")
    head = (b"POST /api/v1/heartbeat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n")
    status, _, body = parse_raw_response(raw_exchange(server.port, head, timeout=5))
    assert status == 413
    assert json.loads(body)["error"]["code"] == "payload_too_large"


def test_garbage_request_line_gets_a_400_and_the_server_stays_up(shared_server):
    data = raw_exchange(shared_server.port, b"THIS IS NOT HTTP\r\n\r\n", timeout=3)
    if data:  # closing the connection is acceptable; an answer must be a 4xx
        status, _, _ = parse_raw_response(data)
        assert 400 <= status < 500
    assert shared_server.get("/health").status == 200


def test_a_stalled_upload_does_not_block_other_clients(server):
    head = (b"POST /api/v1/devices HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"device_id\"")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as stalled:
        stalled.sendall(head)
        assert server.get("/health").status == 200
        assert server.get("/api/v1/devices").json["devices"] == []
    assert server.get("/health").status == 200


def test_error_answers_are_never_html(shared_server):
    s = shared_server
    for resp in (s.get("/nope"), s.request("DELETE", "/health"),
                 s.post("/api/v1/devices", raw="{"), s.get("/api/v1/devices/ghost")):
        assert "html" not in (resp.header("Content-Type") or "").lower()
        assert not resp.text.lstrip().startswith("<"), resp


def test_validation_error_lists_details_when_several_fields_are_wrong(shared_server):
    resp = shared_server.post("/api/v1/heartbeat",
                       {"device_id": "v", "battery_level": 500, "signal_strength": 5})
    error = assert_error(resp, 422, "validation_failed")
    text = error["message"] + json.dumps(error.get("details", []))
    assert "battery_level" in text or "signal_strength" in text, error
