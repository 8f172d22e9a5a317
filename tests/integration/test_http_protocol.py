"""HTTP/1.1 as real clients speak it: chunked bodies, Expect: 100-continue (curl sends it for
bodies over 1 KiB), pipelining, HTTP/1.0, urllib, concurrent clients, percent-encoded paths,
and malformed or oversized requests that must not hurt the server."""

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from fleetpulse_harness import (assert_error, exchange, metric_value, parse_raw_response,
                                raw_exchange)


def request_bytes(method: str, path: str, body: bytes = b"", extra: str = "",
                  version: str = "HTTP/1.1") -> bytes:
    head = f"{method} {path} {version}\r\nHost: 127.0.0.1\r\n{extra}"
    if body or method in ("POST", "PUT", "PATCH"):
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def read_responses(sock: socket.socket, count: int, timeout: float = 5) -> list[tuple]:
    """Reads `count` complete responses (Content-Length framed) from `sock`."""
    sock.settimeout(timeout)
    buffer = b""
    answers = []
    deadline = time.monotonic() + timeout
    while len(answers) < count and time.monotonic() < deadline:
        head_end = buffer.find(b"\r\n\r\n")
        if head_end >= 0:
            status, headers, _ = parse_raw_response(buffer[:head_end + 4])
            length = int(headers.get("content-length", "0"))
            if len(buffer) >= head_end + 4 + length:
                answers.append((status, headers, buffer[head_end + 4:head_end + 4 + length]))
                buffer = buffer[head_end + 4 + length:]
                continue
        data = sock.recv(65536)
        if not data:
            break
        buffer += data
    return answers


def test_chunked_request_body_is_accepted(shared_server):
    conn = shared_server.connect()
    try:
        body = json.dumps({"device_id": "chunky", "battery_level": 61}).encode()
        conn.request("POST", "/api/v1/heartbeat", body=iter([body[:10], body[10:20], body[20:]]),
                     headers={"Content-Type": "application/json"}, encode_chunked=True)
        resp = conn.getresponse()
        assert resp.status == 200, resp.read()
        resp.read()
    finally:
        conn.close()
    assert shared_server.device("chunky")["battery_level"] == 61


def test_expect_100_continue_is_answered_promptly(shared_server):
    body = json.dumps({"device_id": "curl-like", "metadata": {"pad": "x" * 2000}}).encode()
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=5) as s:
        s.sendall(f"POST /api/v1/devices HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                  f"Expect: 100-continue\r\n\r\n".encode())
        s.settimeout(0.9)  # curl gives up waiting after 1 s and sends the body anyway
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 100"), first
        s.sendall(body)
        s.settimeout(5)
        rest = first.split(b"\r\n\r\n", 1)[1]
        while b"\r\n\r\n" not in rest:
            rest += s.recv(65536)
        status, _, _ = parse_raw_response(rest)
        assert status == 201
    assert shared_server.device("curl-like")["metadata"]["pad"] == "x" * 2000


def test_pipelined_requests_are_answered_in_order(shared_server):
    batch = (request_bytes("POST", "/api/v1/heartbeat", b'{"device_id":"pipe-1"}')
             + request_bytes("GET", "/api/v1/devices/pipe-1")
             + request_bytes("GET", "/nope")
             + request_bytes("GET", "/health"))
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=5) as s:
        s.sendall(batch)
        answers = read_responses(s, 4)
    assert [a[0] for a in answers] == [200, 200, 404, 200]
    assert json.loads(answers[1][2])["device_id"] == "pipe-1"
    assert json.loads(answers[3][2]) == {"status": "ok"}


def test_http_1_0_request_gets_an_answer_and_the_connection_closes(shared_server):
    data = raw_exchange(shared_server.port, b"GET /health HTTP/1.0\r\n\r\n", timeout=5)
    status, headers, body = parse_raw_response(data)
    assert status == 200
    assert json.loads(body) == {"status": "ok"}


def test_urllib_client_works(shared_server):
    req = urllib.request.Request(f"{shared_server.base_url}/api/v1/heartbeat", method="POST",
                                 data=json.dumps({"device_id": "urllib-1"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200
        assert json.load(resp)["device_id"] == "urllib-1"
    with pytest.raises(urllib.error.HTTPError) as failure:
        urllib.request.urlopen(f"{shared_server.base_url}/api/v1/devices/nobody", timeout=5)
    assert failure.value.code == 404
    assert json.load(failure.value)["error"]["code"] == "not_found"


def test_percent_encoded_device_id_in_the_path_is_decoded(shared_server):
    shared_server.create_device("mac:00:1A")
    assert shared_server.get("/api/v1/devices/mac%3A00%3A1A").json["device_id"] == "mac:00:1A"
    resp = shared_server.post("/api/v1/devices/mac%3A00%3A1A/heartbeat")
    assert resp.status == 200, resp
    assert resp.json["device_id"] == "mac:00:1A"


def test_heartbeat_path_with_an_invalid_device_id_is_refused(shared_server):
    resp = shared_server.post("/api/v1/devices/bad%20id/heartbeat")
    assert resp.status in (400, 404, 422), resp
    assert_error(resp, resp.status)
    assert "bad id" not in shared_server.device_ids()


def test_query_values_are_percent_decoded(server):
    server.create_device("gate-cam", name="North Gate")
    server.create_device("other", name="Northgate")
    assert server.device_ids("q=north%20gate") == ["gate-cam"]


@pytest.mark.parametrize("value", ["abc", "-5", "1.5", "99999999999999999999999"])
def test_invalid_content_length_is_400(shared_server, value):
    head = (f"POST /api/v1/heartbeat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {value}\r\n\r\n").encode()
    data = raw_exchange(shared_server.port, head, timeout=3)
    status, _, _ = parse_raw_response(data)
    assert status in (400, 413), data
    assert shared_server.get("/health").status == 200


def test_oversized_header_is_refused_without_harm(shared_server):
    head = (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n")
    data = raw_exchange(shared_server.port, head, timeout=5)
    if data:
        status, _, _ = parse_raw_response(data)
        assert status in (400, 413, 431), data[:200]
    assert shared_server.get("/health").status == 200


def test_very_long_url_is_refused_without_harm(shared_server):
    data = raw_exchange(shared_server.port,
                        b"GET /api/v1/devices/" + b"a" * 200_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                        timeout=5)
    if data:
        status, _, _ = parse_raw_response(data)
        assert status in (400, 404, 414, 422, 431), data[:200]
    assert shared_server.get("/health").status == 200


def test_concurrent_clients_are_all_served_and_counted(server):
    workers, per_worker = 16, 25
    failures: list[str] = []

    def client(worker: int) -> None:
        conn = server.connect()
        try:
            for i in range(per_worker):
                resp = exchange(conn, "POST", "/api/v1/heartbeat",
                                {"device_id": f"c{worker % 4}", "battery_level": 50 + i})
                if resp.status != 200:
                    failures.append(repr(resp))
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not failures, failures[:5]
    assert server.device_ids() == ["c0", "c1", "c2", "c3"]
    assert metric_value(server.metrics_text(), "fleetpulse_heartbeats_total") \
        == workers * per_worker
    assert server.get("/api/v1/stats").json["devices"]["online"] == 4


def test_many_idle_connections_do_not_starve_new_clients(server):
    idle = []
    try:
        for _ in range(200):
            idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        started = time.monotonic()
        assert server.get("/health").status == 200
        assert time.monotonic() - started < 2
    finally:
        for s in idle:
            s.close()


def test_concurrent_creates_of_one_id_give_exactly_one_201(server):
    results: list[int] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        results.append(server.post("/api/v1/devices", {"device_id": "race"}).status)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [201] + [409] * 7
