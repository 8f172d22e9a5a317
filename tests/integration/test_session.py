"""Dashboard sessions against the real binary: POST /api/v1/session exchanges an API key for
an HttpOnly, SameSite=Strict cookie and a CSRF token; the cookie authenticates reads, the SSE
stream and export downloads; state-changing requests made with it need the X-CSRF-Token header
and a same-origin Origin (header-key requests are unaffected); sessions end on logout, after
their idle and absolute lifetimes, at once when their key is revoked or changes role, and at a
restart or kill -9 (they live in memory: the dashboard logs in again). A key in the query
string is never written to the log."""

import socket
import subprocess
import time

import pytest

from fleetpulse_harness import assert_error, free_port, wait_until

ADMIN = "session-admin-key-0123456789"


def login(server, key: str = ADMIN, **kw):
    return server.request("POST", "/api/v1/session", key=key, **kw)


def cookie_of(resp) -> str:
    """The `fp_session=...` pair from the Set-Cookie header."""
    header = resp.header("Set-Cookie")
    assert header, resp
    return header.split(";")[0]


def with_cookie(server, method, path, cookie, body=None, csrf=None, origin=None):
    headers = {"Cookie": cookie}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    if origin is not None:
        headers["Origin"] = origin
    return server.request(method, path, body, key=None, headers=headers)


@pytest.fixture
def secured(start_server):
    return start_server(admin_key=ADMIN)


def test_login_sets_an_httponly_strict_cookie_and_returns_a_csrf_token(secured):
    resp = login(secured)
    assert resp.status == 201, resp
    attrs = [a.strip() for a in resp.header("Set-Cookie").split(";")]
    name, _, token = attrs[0].partition("=")
    assert name == "fp_session" and len(token) >= 40 and ADMIN not in token
    assert "HttpOnly" in attrs and "SameSite=Strict" in attrs and "Path=/" in attrs
    assert "Max-Age=43200" in attrs  # --session-lifetime 12h by default
    assert "Secure" not in attrs  # plain HTTP here; see the HTTPS test
    assert resp.json["role"] == "admin" and len(resp.json["csrf_token"]) >= 40
    assert resp.header("Cache-Control") == "no-store"
    # The cookie alone authenticates a read; GET /api/v1/session gives the same CSRF token.
    cookie = cookie_of(resp)
    assert with_cookie(secured, "GET", "/api/v1/devices", cookie).status == 200
    again = with_cookie(secured, "GET", "/api/v1/session", cookie)
    assert again.status == 200 and again.json["csrf_token"] == resp.json["csrf_token"]
    assert_error(secured.get("/api/v1/devices", key=None), 401)
    assert_error(with_cookie(secured, "GET", "/api/v1/devices", "fp_session=forged"), 401)


def test_login_takes_the_key_in_a_json_body_and_refuses_bad_keys(secured):
    resp = secured.post("/api/v1/session", {"api_key": ADMIN}, key=None)
    assert resp.status == 201, resp
    assert_error(secured.post("/api/v1/session", {"api_key": "wrong-key-123"}, key=None), 401)
    assert_error(login(secured, key="wrong-key-123"), 401)
    assert_error(secured.post("/api/v1/session", None, key=None), 400)
    assert_error(secured.post("/api/v1/session", raw="[1]", key=None), 422)
    # ?api_key= is not a way to log in either.
    assert_error(secured.post(f"/api/v1/session?api_key={ADMIN}", None, key=None), 400)


def test_state_changing_cookie_requests_need_the_csrf_token_and_same_origin(secured):
    resp = login(secured)
    cookie, csrf = cookie_of(resp), resp.json["csrf_token"]
    own = f"http://127.0.0.1:{secured.port}"
    dev = {"device_id": "csrf-1"}
    assert_error(with_cookie(secured, "POST", "/api/v1/devices", cookie, dev), 403,
                 "csrf_token_invalid")
    assert_error(with_cookie(secured, "POST", "/api/v1/devices", cookie, dev, csrf="x" * 43),
                 403, "csrf_token_invalid")
    assert_error(with_cookie(secured, "POST", "/api/v1/devices", cookie, dev, csrf=csrf,
                             origin="https://evil.example"), 403, "csrf_origin_mismatch")
    assert_error(with_cookie(secured, "DELETE", "/api/v1/devices/csrf-1", cookie,
                             origin=own), 403, "csrf_token_invalid")
    assert secured.get("/api/v1/devices/csrf-1").status == 404  # nothing was created
    ok = with_cookie(secured, "POST", "/api/v1/devices", cookie, dev, csrf=csrf, origin=own)
    assert ok.status == 201, ok
    # Without an Origin header (not a browser) the token is enough.
    ok = with_cookie(secured, "POST", "/api/v1/devices", cookie, {"device_id": "csrf-2"},
                     csrf=csrf)
    assert ok.status == 201, ok
    # Reads need no token.
    assert with_cookie(secured, "GET", "/api/v1/devices/csrf-1", cookie,
                       origin="https://evil.example").status == 200
    # A request with a key header is unaffected by the cookie rules (no token, other origin).
    resp = secured.request("POST", "/api/v1/devices", {"device_id": "csrf-3"},
                           headers={"Origin": "https://evil.example", "Cookie": cookie})
    assert resp.status == 201, resp


def test_logout_ends_the_session(secured):
    resp = login(secured)
    cookie, csrf = cookie_of(resp), resp.json["csrf_token"]
    assert_error(with_cookie(secured, "DELETE", "/api/v1/session", cookie), 403,
                 "csrf_token_invalid")
    out = with_cookie(secured, "DELETE", "/api/v1/session", cookie, csrf=csrf)
    assert out.status == 204, out
    assert "Max-Age=0" in out.header("Set-Cookie")
    assert_error(with_cookie(secured, "GET", "/api/v1/devices", cookie), 401)
    assert_error(with_cookie(secured, "GET", "/api/v1/session", cookie), 401)


def test_revoking_the_key_or_changing_its_role_ends_its_sessions(secured):
    created = secured.post("/api/v1/admin/api-keys", {"name": "ops", "role": "write"}).json
    cookie = cookie_of(login(secured, key=created["key"]))
    assert with_cookie(secured, "GET", "/api/v1/devices", cookie).status == 200
    assert secured.patch(f"/api/v1/admin/api-keys/{created['id']}", {"role": "read"}).status == 200
    assert_error(with_cookie(secured, "GET", "/api/v1/devices", cookie), 401)

    cookie = cookie_of(login(secured, key=created["key"]))  # now a read session
    resp = with_cookie(secured, "GET", "/api/v1/session", cookie)
    assert resp.json["role"] == "read"
    assert_error(with_cookie(secured, "POST", "/api/v1/devices", cookie, {"device_id": "r"},
                             csrf=resp.json["csrf_token"]), 403, "forbidden")
    assert secured.delete(f"/api/v1/admin/api-keys/{created['id']}").status in (200, 204)
    assert_error(with_cookie(secured, "GET", "/api/v1/devices", cookie), 401)
    assert_error(login(secured, key=created["key"]), 401)


def test_sessions_expire_when_idle_and_after_their_lifetime(start_server):
    server = start_server("--session-idle-timeout", "1s", "--session-lifetime", "3s",
                          admin_key=ADMIN)
    idle = cookie_of(login(server))
    busy = cookie_of(login(server))
    started = time.monotonic()
    # `busy` is used every 0.3 s and outlives the idle timeout; `idle` is not.
    while time.monotonic() - started < 1.6:
        assert with_cookie(server, "GET", "/api/v1/devices", busy).status == 200
        time.sleep(0.3)
    assert_error(with_cookie(server, "GET", "/api/v1/devices", idle), 401)
    # ... but not its absolute lifetime.
    while time.monotonic() - started < 2.6:
        assert with_cookie(server, "GET", "/api/v1/devices", busy).status == 200
        time.sleep(0.3)
    time.sleep(max(0.0, 3.3 - (time.monotonic() - started)))
    assert_error(with_cookie(server, "GET", "/api/v1/devices", busy), 401)


def test_sessions_live_in_memory_so_a_restart_or_kill_logs_out(secured):
    cookie = cookie_of(login(secured))
    secured.restart()
    resp = with_cookie(secured, "GET", "/api/v1/devices", cookie)
    assert_error(resp, 401)
    assert "Max-Age=0" in (resp.header("Set-Cookie") or "")  # the stale cookie is cleared
    cookie = cookie_of(login(secured))
    assert with_cookie(secured, "GET", "/api/v1/devices", cookie).status == 200
    secured.kill()
    secured.start()
    assert_error(with_cookie(secured, "GET", "/api/v1/devices", cookie), 401)
    assert login(secured).status == 201


def read_head(sock) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_the_stream_and_exports_work_with_the_cookie_and_end_with_the_key(secured):
    created = secured.post("/api/v1/admin/api-keys", {"name": "viewer", "role": "read"}).json
    cookie = cookie_of(login(secured, key=created["key"]))
    secured.heartbeat("exp-1")
    assert secured.post("/api/v1/telemetry", {"device_id": "exp-1", "temp": 21.5}).status == 200
    export = with_cookie(secured, "GET", "/api/v1/export?device_id=exp-1&start=-1h&format=csv",
                         cookie)
    assert export.status == 200, export
    assert "exp-1" in export.text

    sock = socket.create_connection(("127.0.0.1", secured.port), timeout=10)
    sock.sendall(f"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
                 f"Cookie: {cookie}\r\n\r\n".encode())
    head = read_head(sock)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert secured.delete(f"/api/v1/admin/api-keys/{created['id']}").status in (200, 204)
    started = time.monotonic()
    sock.settimeout(5)
    while True:  # the stream ends within a second of the revocation
        if not sock.recv(65536):
            break
    assert time.monotonic() - started < 2.0
    sock.close()


def test_the_cookie_is_secure_over_https(start_server, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    port = free_port()
    server = start_server("--https", f"127.0.0.1:{port}", "--tls-cert", str(cert), "--tls-key",
                          str(key), admin_key=ADMIN)
    out = subprocess.run(["curl", "-sS", "-i", "--cacert", str(cert), "-X", "POST", "-H",
                          f"Authorization: Bearer {ADMIN}",
                          f"https://127.0.0.1:{port}/api/v1/session"],
                         capture_output=True, text=True, timeout=20)
    cookie_line = next(line for line in out.stdout.splitlines()
                       if line.lower().startswith("set-cookie:"))
    assert "; Secure" in cookie_line and "HttpOnly" in cookie_line, cookie_line
    assert "Secure" not in login(server).header("Set-Cookie")  # the plain listener


def test_a_query_string_key_is_never_logged(start_server):
    secret = "querysecret-0123456789abcdef"
    # The key comes from the environment: the harness writes the command line to the log.
    server = start_server("--log-level", "trace", env={"FLEETPULSE_ADMIN_KEY": secret})
    paths = [
        f"/api/v1/stream?api_key={secret}&device_id=%zz",  # malformed target: 400
        f"/api/v1/admin/api-keys?api_key={secret}",          # write route: refused
        f"/api/v1/devices?api_key={secret}",
        f"/api/v1/nowhere?api_key={secret}",
        f"/api/v1/export?api_key={secret}&format=bogus",
        f"/api/v1/export?api_key=wrong-{secret}&format=csv",
    ]
    for path in paths:
        server.request("GET", path, key=None)
        server.request("POST", path, {"name": "x", "role": "admin"}, key=None)
    resp = server.request("GET", f"/api/v1/export?device_id=x&start=-1h&api_key={secret}",
                          key=None)
    assert resp.status == 200, resp
    metrics = server.get("/metrics", key=secret)
    assert metrics.status == 200 and secret not in metrics.text
    server.stop()
    log = server.log()
    assert "event=listening" in log  # the log was written
    assert secret not in log, [line for line in log.splitlines() if secret in line]
