"""Black-box harness: runs the real fleetpulse binary and talks to it over real HTTP.

Only the standard library is used. `FleetpulseServer` owns one child process (its port, data
directory and log file); `Response` is what every request returns and unpacks as
`(status, headers, body)` where body is the parsed JSON or, when it is not JSON, the raw bytes.
"""

from __future__ import annotations

import atexit
import calendar
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import weakref
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_BIN = REPO_ROOT / "build" / "release" / "src" / "app" / "fleetpulse"

READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 10.0

RFC3339_MS_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def binary_path() -> Path:
    """The server binary: $FLEETPULSE_BIN, else the release build in this repository."""
    configured = os.environ.get("FLEETPULSE_BIN")
    return Path(configured).resolve() if configured else DEFAULT_BIN


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hermetic_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without any inherited FLEETPULSE_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPULSE_")}
    env.update(extra or {})
    return env


def run_cli(args: Sequence[str], env: Mapping[str, str] | None = None,
            timeout: float = 15.0) -> subprocess.CompletedProcess:
    """Runs `fleetpulse ARGS` to completion; stdout and stderr captured as text. A process
    still running after `timeout` (e.g. a server that accepted what it should have refused) is
    killed and the calling test fails."""
    try:
        return subprocess.run([str(binary_path()), *args], env=hermetic_env(env),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"`fleetpulse {' '.join(args)}` still running after {timeout}s; "
                             f"output: {e.stdout!r} {e.stderr!r}") from None


# --------------------------------------------------------------------------------------------
# HTTP


class Response:
    """One HTTP answer. Unpacks as (status, headers, body); body is parsed JSON when possible."""

    def __init__(self, status: int, headers: http.client.HTTPMessage, raw: bytes):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.json: Any = None
        self.is_json = False
        if raw:
            try:
                self.json = json.loads(raw.decode("utf-8"))
                self.is_json = True
            except (UnicodeDecodeError, ValueError):
                pass

    @property
    def body(self) -> Any:
        return self.json if self.is_json else self.raw

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def __iter__(self):
        return iter((self.status, self.headers, self.body))

    def __repr__(self) -> str:
        shown = self.text if len(self.raw) < 2000 else self.text[:2000] + "..."
        return f"<Response {self.status} {shown!r}>"


def encode_body(body: Any, raw: bytes | str | None) -> bytes | None:
    if raw is not None:
        return raw.encode("utf-8") if isinstance(raw, str) else raw
    if body is None:
        return None
    return json.dumps(body).encode("utf-8")


def exchange(conn: http.client.HTTPConnection, method: str, path: str, body: Any = None, *,
             raw: bytes | str | None = None, headers: Mapping[str, str] | None = None,
             key: str | None = None) -> Response:
    """Sends one request on an open connection and reads the whole answer."""
    payload = encode_body(body, raw)
    sent_headers = {"Accept": "application/json"}
    if payload is not None:
        sent_headers["Content-Type"] = "application/json"
    if key is not None:
        sent_headers["Authorization"] = f"Bearer {key}"
    sent_headers.update(headers or {})
    conn.request(method, path, body=payload, headers=sent_headers)
    answer = conn.getresponse()
    return Response(answer.status, answer.headers, answer.read())


def raw_exchange(port: int, request_head: bytes, body_chunks: Iterable[bytes] = (),
                 timeout: float = REQUEST_TIMEOUT_S, half_close: bool = False) -> bytes:
    """Writes bytes to a fresh socket and returns the server's first answer (or whatever it
    sent before closing or before `timeout`).

    Writing stops quietly if the server closes early (e.g. after answering 413 without reading
    the body); whatever answer it sent is still read. `half_close` shuts down our sending side
    once everything is written.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(request_head)
            for chunk in body_chunks:
                s.sendall(chunk)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = bytearray()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not _complete_response(received):
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not data:
                break
            received += data
        return bytes(received)


def _complete_response(data: bytes) -> bool:
    head, sep, body = bytes(data).partition(b"\r\n\r\n")
    if not sep:
        return False
    match = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return match is not None and len(body) >= int(match.group(1))


def parse_raw_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-cased headers, body) of the first HTTP/1.1 answer in `data`."""
    assert data, "the server closed the connection without answering"
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return status, headers, body


def assert_error(resp: Response, status: int, code: str | None = None) -> dict:
    """Checks the contract's error shape: status, JSON content type, {"error":{code,message}}."""
    assert resp.status == status, f"expected {status}, got {resp!r}"
    content_type = resp.header("Content-Type") or ""
    assert content_type.startswith("application/json"), \
        f"error answer has Content-Type {content_type!r}: {resp!r}"
    assert resp.is_json and isinstance(resp.json, dict), f"error body is not JSON: {resp!r}"
    error = resp.json.get("error")
    assert isinstance(error, dict), f"no error object: {resp!r}"
    assert isinstance(error.get("code"), str) and re.fullmatch(r"[a-z][a-z0-9_]*", error["code"]), \
        f"error code is not snake_case: {resp!r}"
    assert isinstance(error.get("message"), str) and error["message"], \
        f"error message missing or empty: {resp!r}"
    if code is not None:
        assert error["code"] == code, f"expected code {code!r}, got {resp!r}"
    return error


def rfc3339_to_epoch(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 UTC time as the server formats it."""
    assert RFC3339_MS_UTC.match(text), f"not RFC 3339 UTC with milliseconds: {text!r}"
    main, frac = text[:-1].split(".")
    tm = time.strptime(main, "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(tm) + int(frac) / 1000.0


def epoch_to_rfc3339(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def wait_until(predicate, timeout: float, interval: float = 0.05, message: str = "condition"):
    """Polls `predicate` until it returns a truthy value (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {message}; last: {last!r}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# Server process


class ServerExitedEarly(Exception):
    pass


_live_servers: "weakref.WeakSet[FleetpulseServer]" = weakref.WeakSet()


@atexit.register
def _kill_leftover_servers() -> None:
    """Last resort if pytest itself is interrupted: no child process outlives the run."""
    for server in list(_live_servers):
        if server.proc is not None and server.proc.poll() is None:
            server.proc.kill()


class FleetpulseServer:
    """One `fleetpulse serve` child process listening on <bind_host>:<free port>; requests
    always go to 127.0.0.1.

    Started by `start()`, which returns once GET /ready answers 200; stopped by `stop()`.
    Output (stdout and stderr together) goes to `log_path`.
    """

    def __init__(self, data_dir: Path | None, log_path: Path, extra_args: Sequence[str] = (),
                 env: Mapping[str, str] | None = None, config: Path | None = None,
                 admin_key: str | None = None, bind_host: str = "127.0.0.1"):
        self.data_dir = data_dir
        self.bind_host = bind_host
        self.log_path = log_path
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.config = config
        self.admin_key = admin_key
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self._conn: http.client.HTTPConnection | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def command(self, port: int) -> list[str]:
        cmd = [str(binary_path()), "serve", "--http", f"{self.bind_host}:{port}"]
        if "--mqtt" not in self.extra_args:  # MQTT only where a test asks for it
            cmd += ["--mqtt", "off"]
        if self.data_dir is not None:
            cmd += ["--data-dir", str(self.data_dir)]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        if self.admin_key is not None:
            cmd += ["--admin-key", self.admin_key]
        return cmd + self.extra_args

    def start(self) -> "FleetpulseServer":
        binary = binary_path()
        assert binary.exists(), f"fleetpulse binary not found at {binary} (set FLEETPULSE_BIN)"
        for attempt in range(3):
            port = free_port()
            try:
                self._spawn(port)
                return self
            except ServerExitedEarly:
                # Another process may have taken the port between free_port() and bind().
                if "in use" in self.log().lower() and attempt < 2:
                    continue
                raise AssertionError(f"fleetpulse exited with {self.returncode} "
                                     f"before becoming ready:\n{self.log()}")
        raise AssertionError("unreachable")

    def _spawn(self, port: int) -> None:
        self.port = port
        self.returncode = None
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== {' '.join(self.command(port))}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.command(port), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         env=hermetic_env(self.env))
        _live_servers.add(self)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                self.proc = None
                raise ServerExitedEarly()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                try:
                    resp = exchange(conn, "GET", "/ready")
                finally:
                    conn.close()
                if resp.status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.02)
        self.kill()
        raise AssertionError(f"fleetpulse not ready within {READY_TIMEOUT_S}s:\n{self.log()}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """Waits for the process to end; kills it and fails if it takes longer than `timeout`."""
        assert self.proc is not None
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise AssertionError(f"fleetpulse did not exit within {timeout}s:\n{self.log()}")
        self.proc = None
        return self.returncode

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Sends `signum` (SIGTERM by default) and returns the exit code."""
        self.close_connection()
        if self.proc is None:
            return self.returncode if self.returncode is not None else 0
        self.send_signal(signum)
        return self.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would; no exit code is checked."""
        self.close_connection()
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.returncode = None
            self.proc = None

    def restart(self) -> "FleetpulseServer":
        """SIGTERM (asserting exit 0), then starts again on the same data dir (new port)."""
        rc = self.stop()
        assert rc == 0, f"fleetpulse exited with {rc} on SIGTERM:\n{self.log()}"
        return self.start()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- HTTP --------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connect(self) -> http.client.HTTPConnection:
        """A new keep-alive connection to this server; the caller closes it."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)

    def close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: Any = None, *,
                raw: bytes | str | None = None, headers: Mapping[str, str] | None = None,
                key: str | None = ...) -> Response:
        """One request on a fresh connection. `key` defaults to the admin key the server was
        started with; pass key=None to send no Authorization header."""
        if key is ...:
            key = self.admin_key
        conn = self.connect()
        try:
            return exchange(conn, method, path, body, raw=raw, headers=headers, key=key)
        finally:
            conn.close()

    def get(self, path: str, **kw) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw) -> Response:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw) -> Response:
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw) -> Response:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw) -> Response:
        return self.request("DELETE", path, **kw)

    # -- shortcuts used by many tests ---------------------------------------------------------

    def create_device(self, device_id: str, **fields) -> dict:
        resp = self.post("/api/v1/devices", {"device_id": device_id, **fields})
        assert resp.status == 201, f"creating {device_id}: {resp!r}"
        return resp.json

    def heartbeat(self, device_id: str, **fields) -> dict:
        resp = self.post("/api/v1/heartbeat", {"device_id": device_id, **fields})
        assert resp.status == 200, f"heartbeat for {device_id}: {resp!r}"
        return resp.json

    def device(self, device_id: str) -> dict:
        resp = self.get(f"/api/v1/devices/{device_id}")
        assert resp.status == 200, f"GET device {device_id}: {resp!r}"
        return resp.json

    def device_ids(self, query: str = "") -> list[str]:
        """Ids of every device the list endpoint returns for `query`, following cursors."""
        ids: list[str] = []
        cursor = None
        for _ in range(1000):
            q = query
            if cursor is not None:
                q = f"{q}&cursor={urlquote(cursor)}" if q else f"cursor={urlquote(cursor)}"
            resp = self.get("/api/v1/devices" + (f"?{q}" if q else ""))
            assert resp.status == 200, f"GET /api/v1/devices?{q}: {resp!r}"
            ids += [d["device_id"] for d in resp.json["devices"]]
            cursor = resp.json.get("next_cursor")
            if cursor is None:
                return ids
        raise AssertionError("cursor never ended")

    def status_history(self, device_id: str) -> list[dict]:
        resp = self.get(f"/api/v1/devices/{device_id}/status-history")
        assert resp.status == 200, f"status-history of {device_id}: {resp!r}"
        assert resp.json["device_id"] == device_id
        return resp.json["transitions"]

    def metrics_text(self) -> str:
        resp = self.get("/metrics")
        assert resp.status == 200, f"GET /metrics: {resp!r}"
        return resp.text


def attach_to_report(item, server: FleetpulseServer) -> None:
    """Makes `server`'s output part of the pytest `item`'s report should the test fail."""
    if item is None:
        return
    if not hasattr(item, "_fleetpulse_servers"):
        item._fleetpulse_servers = []
    if server not in item._fleetpulse_servers:
        item._fleetpulse_servers.append(server)


def use_shared(server: FleetpulseServer, request) -> FleetpulseServer:
    """Hands a module-wide server to one test: it must still be alive, and its output joins the
    test's report."""
    attach_to_report(request.node, server)
    if not server.running:
        code = server.proc.returncode if server.proc is not None else server.returncode
        raise AssertionError(f"the shared server died earlier (exit {code}):\n{server.log()}")
    return server


def urlquote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


# --------------------------------------------------------------------------------------------
# Prometheus text exposition


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample line in a Prometheus text exposition."""
    samples = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"unparsable metrics line: {line!r}"
        labels = {}
        if m.group(3):
            pos = 0
            body = m.group(3)
            while pos < len(body):
                lm = _LABEL.match(body, pos)
                assert lm, f"unparsable labels in: {line!r}"
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
        samples.append((m.group(1), labels, float(m.group(4))))
    return samples


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample named `name` whose labels include `labels`, else None."""
    found = [v for n, l, v in parse_metrics(text)
             if n == name and all(l.get(k) == val for k, val in labels.items())]
    assert len(found) <= 1, f"{len(found)} samples match {name}{labels}"
    return found[0] if found else None
