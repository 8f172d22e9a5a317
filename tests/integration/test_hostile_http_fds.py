"""Descriptor exhaustion against the real binary started under a low `nofile` limit (via
prlimit(1), soft = hard, so raising the soft limit at start cannot help): more sockets than
the limit, and the server must neither wedge nor spin. It refuses what it cannot hold, keeps
answering on open connections, answers new ones within a second once some close, and uses
little CPU meanwhile (measured from /proc/PID/stat over 2 s)."""

from __future__ import annotations

import os
import resource
import shutil
import socket
import time

import pytest

from fleetpulse_harness import FleetpulseServer, free_port, metric_value

NOFILE = 256
CLK_TCK = os.sysconf("SC_CLK_TCK")


class LimitedServer(FleetpulseServer):
    """`fleetpulse serve` exec'd by prlimit with RLIMIT_NOFILE = NOFILE (same PID)."""

    def command(self, port: int) -> list[str]:
        return ["prlimit", f"--nofile={NOFILE}:{NOFILE}", "--"] + super().command(port)


@pytest.fixture
def limited_server(start_server):
    def make(*args: str) -> LimitedServer:
        if shutil.which("prlimit") is None:
            pytest.fail("prlimit (util-linux) is needed to lower the server's nofile limit")
        server = LimitedServer(data_dir=start_server.new_data_dir(),
                               log_path=start_server.tmp_path / "limited.log", extra_args=args)
        start_server.servers.append(server)  # stopped (and its exit code checked) at the end
        return server.start()
    return make


@pytest.fixture(autouse=True)
def enough_descriptors_for_the_test():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * NOFILE:
        if hard != resource.RLIM_INFINITY and hard < 4 * NOFILE:
            pytest.fail(f"this test needs nofile >= {4 * NOFILE}; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (4 * NOFILE, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def cpu_over(pid: int, seconds: float) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return cpu_seconds(pid) - before


def flood(port: int, n: int) -> list[socket.socket]:
    """`n` connections to `port` that send nothing (connect succeeds from the listen backlog
    even when the server cannot accept)."""
    out = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        out.append(s)
    time.sleep(0.5)
    return out


def health_on_new_connection(port: int, timeout: float) -> float:
    """Seconds until GET /health on a new connection answered 200."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 200"), data
    return time.monotonic() - started


def get_on(sock: socket.socket, path: str) -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < int(
            data.split(b"Content-Length: ")[1].split(b"\r\n")[0]):
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    return data


def test_more_http_connections_than_descriptors(limited_server):
    server = limited_server("--http-max-connections-per-address", "0")
    pid = server.proc.pid
    idle_cpu = cpu_over(pid, 1.0)
    held = flood(server.port, NOFILE + 100)
    try:
        spent = cpu_over(pid, 2.0)
        assert spent < idle_cpu + 0.5, f"server used {spent:.2f} s of CPU in 2 s: spinning"
        # The cap is full of connections that sent nothing: a new one is served at once (the
        # oldest idle one makes room) instead of 503 until the idle ones' header timeout.
        took = health_on_new_connection(server.port, timeout=5)
        assert took < 5.0, f"/health took {took:.2f} s on a new connection"
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            metrics = get_on(s, "/metrics").partition(b"\r\n\r\n")[2].decode()
        assert metric_value(metrics, "process_max_fds") == NOFILE
        assert metric_value(metrics, "process_open_fds") <= NOFILE
        assert metric_value(metrics, "fleetpulse_http_connection_cap") == NOFILE // 4 * 3
        assert metric_value(metrics, "fleetpulse_http_connections_evicted_total") >= 100
        # The cap keeps a descriptor reserve: accepting never fails here.
        assert metric_value(metrics, "fleetpulse_http_accept_errors_total") == 0
        # The connections beyond the cap were closed, not held past the budget.
        open_ = sum(not closed(s) for s in held)
        assert open_ <= NOFILE // 4 * 3, open_
    finally:
        for s in held:
            s.close()


def closed(sock: socket.socket) -> bool:
    """True once the server has closed `sock` (EOF or reset); never blocks."""
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def mqtt_connect(port: int) -> bytes:
    """CONNECT (MQTT 3.1.1, clean session, empty client id) on a new connection: the CONNACK."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")
        return s.recv(4)


def test_descriptors_used_up_by_mqtt_clients_back_off_instead_of_spinning(limited_server):
    # MQTT connections have no descriptor-derived cap: they use every descriptor, so both
    # accept loops fail with EMFILE.
    mqtt_port = free_port()
    server = limited_server("--mqtt", f"127.0.0.1:{mqtt_port}")
    pid = server.proc.pid
    idle_cpu = cpu_over(pid, 1.0)
    kept = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    # Answered once, so the server has accepted it: a connection still in the listen backlog
    # when the flood takes every descriptor could not be accepted until the flood ends.
    assert b"200 OK" in get_on(kept, "/health")
    flooded_at = time.monotonic()
    mqtt_held = flood(mqtt_port, NOFILE + 100)
    held = mqtt_held + flood(server.port, 20)
    try:
        spent = cpu_over(pid, 2.0)
        assert spent < idle_cpu + 0.5, f"server used {spent:.2f} s of CPU in 2 s: spinning"
        assert b"200 OK" in get_on(kept, "/health")
        # Failed accepts are paced by the back-off (50 ms at least between two), where a hot
        # loop makes thousands a second whatever CPU share the machine gives it.
        metrics = get_on(kept, "/metrics").partition(b"\r\n\r\n")[2].decode()
        errors = metric_value(metrics, "fleetpulse_http_accept_errors_total")
        assert 1 <= errors <= (time.monotonic() - flooded_at) / 0.05 + 2, errors
        # Closing the MQTT flood frees the descriptors (queued MQTT connections would take
        # any fewer back at once).
        for s in mqtt_held:
            s.close()
        took = health_on_new_connection(server.port, timeout=5)
        assert took < 3.0, f"/health took {took:.2f} s on a new connection"
        assert mqtt_connect(mqtt_port) == b"\x20\x02\x00\x00"
    finally:
        kept.close()
        for s in held:
            s.close()
    # Logged when a series of failures starts, not once per failed accept.
    assert 1 <= server.log().count("event=accept_failed transport=mqtt") <= 3, server.log()
