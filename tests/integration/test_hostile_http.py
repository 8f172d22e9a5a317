"""Hostile HTTP clients against the real binary: slowloris headers, idle keep-alive
connections, bodies shorter than their Content-Length, connection caps (in total and per
client address), bodies declared as another format (415), unknown transfer codings (501),
unknown methods named in the answer, and the security headers of the HTML pages.

Timeouts are configured short (1 s) so that each test takes seconds; the defaults are in
docs/security.md."""

from __future__ import annotations

import base64
import hashlib
import re
import select
import socket
import time

from fleetpulse_harness import (assert_error, metric_value, parse_raw_response, raw_exchange,
                                wait_until)

SHORT = ("--http-header-timeout", "1s", "--http-body-timeout", "1s", "--http-idle-timeout", "1s")


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the server has closed `sock` (EOF or reset); never blocks."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(65536, socket.MSG_PEEK) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def send_or_closed(sock: socket.socket, data: bytes) -> bool:
    """Sends `data`; True when the server has already closed the connection."""
    try:
        sock.send(data)
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def get_health(sock: socket.socket) -> int:
    """GET /health on an open keep-alive connection: the status."""
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection instead of answering"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ")[1])


def refused(port: int, source: str = "127.0.0.1") -> bool:
    """True when a new connection is turned away: closed, or answered 503, instead of 200."""
    try:
        with connect(port, source) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            data = s.recv(65536)
    except (ConnectionResetError, BrokenPipeError):
        return True
    if not data:
        return True
    status, headers, body = parse_raw_response(data)
    assert status == 503, data
    assert headers.get("connection") == "close" and b"too_many_connections" in body, data
    return True


# ------------------------------------------------------------------------------------------
# Timeouts


def test_slowloris_headers_are_closed_after_the_header_timeout(start_server):
    server = start_server(*SHORT)
    slow = [connect(server.port) for _ in range(40)]
    try:
        for s in slow:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        started = time.monotonic()
        open_at_half_second = None
        # One header byte per connection every 100 ms: steady progress that never ends.
        while time.monotonic() - started < 8:
            if open_at_half_second is None and time.monotonic() - started >= 0.5:
                open_at_half_second = sum(not closed_by_peer(s) for s in slow)
            still_open = [s for s in slow if not closed_by_peer(s) and not send_or_closed(s, b"a")]
            if not still_open:
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        assert not still_open, f"{len(still_open)} slowloris connections still open after 8 s"
        assert open_at_half_second == len(slow), "closed before the 1 s header timeout"
        assert elapsed >= 0.9, elapsed
        # Meanwhile and afterwards the server answers others at once.
        assert server.get("/health").status == 200
        text = server.metrics_text()
        assert metric_value(text, "fleetpulse_http_timeouts_total", phase="header") >= len(slow)
    finally:
        for s in slow:
            s.close()


def test_a_new_connection_that_sends_nothing_is_closed_after_the_header_timeout(start_server):
    server = start_server(*SHORT)
    with connect(server.port) as s:
        wait_until(lambda: closed_by_peer(s), timeout=6, message="the silent connection closed")


def test_idle_keep_alive_connection_is_closed_but_a_busy_one_is_not(start_server):
    server = start_server(*SHORT)
    idle, busy = connect(server.port), connect(server.port)
    try:
        assert get_health(idle) == 200 and get_health(busy) == 200
        started = time.monotonic()
        # The busy connection asks every 0.4 s (under the 1 s idle timeout) for 2.5 s.
        while time.monotonic() - started < 2.5:
            assert get_health(busy) == 200
            time.sleep(0.4)
        assert closed_by_peer(idle), "the idle keep-alive connection is still open after 2.5 s"
        assert not closed_by_peer(busy)
        text = server.metrics_text()
        assert metric_value(text, "fleetpulse_http_timeouts_total", phase="idle") >= 1
    finally:
        idle.close()
        busy.close()


def test_body_shorter_than_its_content_length_is_closed(start_server):
    server = start_server(*SHORT)
    with connect(server.port) as s:
        s.sendall(b"POST /api/v1/devices HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"device_id\":")
        started = time.monotonic()
        wait_until(lambda: closed_by_peer(s), timeout=6, message="the short body's connection "
                   "closed")
        assert time.monotonic() - started >= 0.9
    assert metric_value(server.metrics_text(), "fleetpulse_http_timeouts_total",
                        phase="body") == 1
    assert server.device_ids() == []


def test_a_slow_body_that_keeps_coming_is_read_to_the_end(start_server):
    # 3 s in all, longer than the header and body timeouts, but never 1 s without a byte.
    server = start_server(*SHORT)
    body = b'{"device_id":"slow-1"}'
    with connect(server.port) as s:
        s.sendall(b"POST /api/v1/devices HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        step = 3.0 / len(body)
        for i in range(len(body)):
            s.sendall(body[i:i + 1])
            time.sleep(step)
        status, _, _ = parse_raw_response(s.recv(65536))
    assert status == 201
    assert server.device_ids() == ["slow-1"]


# ------------------------------------------------------------------------------------------
# Connection caps


def busy_connection(port: int, source: str = "127.0.0.1") -> socket.socket:
    """A connection with a request under way: the header sent, the body still coming (the
    server waits up to --http-body-timeout, 30 s by default, for its next byte)."""
    s = connect(port, source)
    s.sendall(b"POST /api/v1/telemetry HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
              b"Content-Length: 1000\r\n\r\n{")
    return s


def metrics_from(port: int, source: str) -> str:
    with connect(port, source) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        text = b""
        while chunk := s.recv(65536):
            text += chunk
    return text.partition(b"\r\n\r\n")[2].decode()


def test_per_address_cap_refuses_that_address_only_when_all_are_busy_and_recovers(start_server):
    server = start_server("--http-max-connections-per-address", "20")
    held = [busy_connection(server.port) for _ in range(20)]
    try:
        time.sleep(0.3)  # the headers are read: every connection has a request under way
        assert refused(server.port)
        # Another client address is not affected.
        with connect(server.port, source="127.0.0.2") as other:
            assert get_health(other) == 200
        for s in held[:5]:
            s.close()
        started = time.monotonic()
        wait_until(lambda: not closed_or_503(server.port), timeout=3,
                   message="a new connection answered after some closed")
        assert time.monotonic() - started < 1.5
        assert not any(closed_by_peer(s) for s in held[5:]), "a busy connection was closed"
        refusals = metric_value(metrics_from(server.port, "127.0.0.2"),
                                "fleetpulse_http_connections_refused_total", reason="address_cap")
        assert refusals >= 1
    finally:
        for s in held:
            s.close()


def test_per_address_cap_closes_the_oldest_idle_connection_for_a_new_one(start_server):
    # Idle connections (new ones that sent nothing, kept-alive ones between requests) must not
    # lock their address out until their timeouts: the oldest makes room, busy ones stay.
    server = start_server("--http-max-connections-per-address", "20")
    in_use = busy_connection(server.port)
    kept = [connect(server.port) for _ in range(10)]
    # Kept-alive, idle from their answer on: the first three clearly longest (which of two
    # connections idle within the same few ms is older is not asserted).
    for group in (kept[:3], kept[3:]):
        for s in group:
            assert get_health(s) == 200
        time.sleep(0.3)
    silent = [connect(server.port) for _ in range(9)]
    time.sleep(0.3)
    newcomers: list[socket.socket] = []
    try:
        for _ in range(3):  # kept open: each one takes exactly one slot
            started = time.monotonic()
            newcomers.append(connect(server.port))
            assert get_health(newcomers[-1]) == 200
            # Served now, not after the idle ones' 10 s header timeout (wide margin: loaded CI).
            assert time.monotonic() - started < 5.0
        # The three longest-waiting connections were closed; the others and the one
        # with a request under way stay open.
        wait_until(lambda: all(closed_by_peer(s) for s in kept[:3]), timeout=3,
                   message="the oldest idle connections closed")
        assert not any(closed_by_peer(s) for s in kept[3:] + silent)
        assert not closed_by_peer(in_use)
        assert get_health(kept[3]) == 200
        assert metric_value(metrics_from(server.port, "127.0.0.2"),
                            "fleetpulse_http_connections_evicted_total") >= 3
        assert metric_value(metrics_from(server.port, "127.0.0.2"),
                            "fleetpulse_http_connections_refused_total", reason="address_cap") == 0
    finally:
        for s in [in_use] + kept + silent + newcomers:
            s.close()


def closed_or_503(port: int) -> bool:
    try:
        with connect(port) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            data = s.recv(65536)
    except (ConnectionResetError, BrokenPipeError):
        return True
    return not data or parse_raw_response(data)[0] == 503


def test_total_cap_refuses_new_connections_when_all_are_busy_and_recovers(start_server):
    server = start_server("--http-max-connections", "30",
                          "--http-max-connections-per-address", "0")
    held = [busy_connection(server.port, source=f"127.0.0.{2 + i % 3}") for i in range(30)]
    try:
        time.sleep(0.3)
        for source in ("127.0.0.1", "127.0.0.9"):
            assert refused(server.port, source)
        for s in held[:3]:
            s.close()
        wait_until(lambda: not closed_or_503(server.port), timeout=3,
                   message="a new connection answered after some closed")
    finally:
        for s in held:
            s.close()
    assert metric_value(server.metrics_text(), "fleetpulse_http_connections_refused_total",
                        reason="total_cap") >= 2


def test_total_cap_full_of_idle_connections_still_serves_a_new_one(start_server):
    server = start_server("--http-max-connections", "30",
                          "--http-max-connections-per-address", "0")
    held = [connect(server.port, source=f"127.0.0.{2 + i % 3}") for i in range(30)]
    try:
        time.sleep(0.3)
        for source in ("127.0.0.1", "127.0.0.9"):
            started = time.monotonic()
            held.append(connect(server.port, source))  # kept open: takes exactly one slot
            assert get_health(held[-1]) == 200
            # Served now, not after the idle ones' 10 s header timeout (wide margin: loaded CI).
            assert time.monotonic() - started < 5.0
        wait_until(lambda: closed_by_peer(held[0]) and closed_by_peer(held[1]), timeout=3,
                   message="the two oldest idle connections closed")
        assert not any(closed_by_peer(s) for s in held[2:])
        assert get_health(held[2]) == 200
    finally:
        for s in held:
            s.close()
    assert metric_value(server.metrics_text(), "fleetpulse_http_connections_refused_total",
                        reason="total_cap") == 0


# ------------------------------------------------------------------------------------------
# Request framing and types


def test_body_declared_as_another_format_gets_415(shared_server):
    for content_type, body in [("application/xml", "<device><device_id>x1</device_id></device>"),
                               ("text/xml", "<device/>"),
                               ("multipart/form-data; boundary=x", "--x\r\n\r\n{}\r\n--x--"),
                               ("application/octet-stream", '{"device_id":"x2"}')]:
        resp = shared_server.post("/api/v1/devices", raw=body,
                                  headers={"Content-Type": content_type})
        error = assert_error(resp, 415, "unsupported_media_type")
        assert content_type.split(";")[0] in error["message"], resp
    assert "x1" not in shared_server.device_ids() and "x2" not in shared_server.device_ids()


def test_json_bodies_with_the_usual_or_no_content_type_keep_working(shared_server):
    for i, content_type in enumerate([None, "application/json", "application/json; charset=utf-8",
                                      "text/plain", "application/x-www-form-urlencoded",
                                      "application/merge-patch+json"]):
        headers = {"Content-Type": content_type} if content_type else {}
        raw = f'{{"device_id":"ct-{i}"}}'
        if content_type is None:
            data = raw_exchange(shared_server.port,
                                b"POST /api/v1/devices HTTP/1.1\r\nHost: t\r\nConnection: close"
                                b"\r\nContent-Length: " + str(len(raw)).encode() + b"\r\n\r\n"
                                + raw.encode())
            assert parse_raw_response(data)[0] == 201, data
            continue
        resp = shared_server.post("/api/v1/devices", raw=raw, headers=headers)
        assert resp.status == 201, (content_type, resp)


def test_line_protocol_and_form_routes_keep_their_types(shared_server):
    for content_type in ["text/plain; charset=utf-8", "application/x-www-form-urlencoded",
                         "application/octet-stream"]:
        resp = shared_server.post("/api/v1/write", raw="env,device_id=lp-1 t=1\n",
                                  headers={"Content-Type": content_type})
        assert resp.status == 204, (content_type, resp)
        resp = shared_server.post("/api/v2/write?bucket=b&precision=s",
                                  raw="env,device_id=lp-2 t=1\n",
                                  headers={"Content-Type": content_type})
        assert resp.status == 204, (content_type, resp)
    resp = shared_server.post("/prometheus/api/v1/query", raw="query=1",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200, resp


def test_unknown_transfer_coding_gets_501_and_the_connection_closes(shared_server):
    for coding in ["gzip", "gzip, chunked", "identity", "chunked, gzip"]:
        with connect(shared_server.port) as s:
            s.sendall(b"POST /api/v1/devices HTTP/1.1\r\nHost: t\r\nContent-Type: application/json"
                      b"\r\nTransfer-Encoding: " + coding.encode() + b"\r\n\r\n"
                      b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            data = b""
            s.settimeout(5)
            while chunk := s.recv(65536):
                data += chunk
        status, headers, body = parse_raw_response(data)
        assert status == 501, (coding, data)
        assert headers.get("connection") == "close", data
        assert b"not_implemented" in body and coding.encode() in body, data
        assert data.count(b"HTTP/1.1 ") == 1, f"the rest was read as another request: {data!r}"


def test_chunked_bodies_still_work(shared_server):
    body = b'{"device_id":"chunky"}'
    data = raw_exchange(shared_server.port,
                        b"POST /api/v1/devices HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
    assert parse_raw_response(data)[0] == 201, data


def test_method_errors_name_the_method(shared_server):
    resp = shared_server.request("DELETE", "/health")
    error = assert_error(resp, 405, "method_not_allowed")
    assert "DELETE" in error["message"] and resp.header("Allow") == "GET"
    for method in ["TRACE", "PROPFIND", "FOO"]:
        data = raw_exchange(shared_server.port,
                            method.encode() + b" /health HTTP/1.1\r\nHost: t\r\nConnection: close"
                            b"\r\n\r\n")
        status, _, body = parse_raw_response(data)
        assert status == 501, data
        assert method.encode() in body and b"OTHER" not in body, data


# ------------------------------------------------------------------------------------------
# Security headers


def inline_hashes(html: str, tag: str) -> list[str]:
    blocks = re.findall(rf"<{tag}(?![^>]*\ssrc=)[^>]*>(.*?)</{tag}>", html, re.S)
    return ["'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'"
            for b in blocks]


def test_html_pages_carry_security_headers(shared_server):
    for path in ["/", "/docs"]:
        resp = shared_server.get(path)
        assert resp.status == 200
        assert resp.header("X-Frame-Options") == "DENY"
        assert resp.header("X-Content-Type-Options") == "nosniff"
        assert resp.header("Referrer-Policy") == "strict-origin-when-cross-origin"
        csp = resp.header("Content-Security-Policy") or ""
        directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
        assert directives.get("default-src") == ["'self'"], csp
        assert directives.get("frame-ancestors") == ["'none'"], csp
        assert directives.get("object-src") == ["'none'"], csp
        assert "'unsafe-inline'" not in directives["script-src"], csp
        assert "'unsafe-eval'" not in directives["script-src"], csp
        # The page's own inline scripts, and only those, are allowed by hash.
        html = resp.text
        assert directives["script-src"][0] == "'self'", csp
        assert sorted(directives["script-src"][1:]) == sorted(inline_hashes(html, "script")), csp
        assert directives["style-src"] == ["'self'", "'unsafe-inline'"], csp
        assert directives["connect-src"] == (["'self'"] if path == "/" else
                                             ["'self'", "http:", "https:"]), csp
    assert inline_hashes(shared_server.get("/docs").text, "script"), "docs has its inline script"
    # API answers are never sniffed either.
    assert shared_server.get("/health").header("X-Content-Type-Options") == "nosniff"
