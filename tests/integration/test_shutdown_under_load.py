"""SIGTERM under load: the server stops cleanly (exit code 0, no heap corruption, no sanitizer
report) while JSON telemetry batches of many devices, heartbeats, catalog writes, flushes and
MQTT QoS 1 publishes are still arriving, and right after they stop. Several cycles per test,
because shutdown races show only sometimes. The ASan+UBSan ctest runs this file with the
sanitized binary, where a use after free during shutdown becomes a report in the log.

One case is deterministic: with fsync slowed by strace (as test_slow_disk.py) and one disk
worker, catalog writes and flushes are still queued on the disk work queue when the HTTP
server has stopped, and a flush is still being written by the store's block thread. They must
run, and the flush be answered, before the router, the context, the disk work queue and the
HTTP server they use are destroyed (they used to run in the queue's destructor, and the flush
answered from the block thread, after them: a use after free, a segfault or glibc's "double
free or corruption" at exit)."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import struct
import threading
import time

import pytest

from fleetpulse_harness import REQUEST_TIMEOUT_S, free_port
from test_slow_disk import SlowDisk

T0 = 1_700_000_000_000
# glibc's heap checks, the sanitizers' reports, an escaped exception.
CRASH_MARKERS = ("double free", "free(): ", "malloc(): ", "corrupted size", "AddressSanitizer",
                 "LeakSanitizer", "runtime error:", "terminate called")


def telemetry_batch(rng: random.Random, devices: int, seq: int) -> bytes:
    """One JSON batch: every one of `devices` devices, five metrics each."""
    base = rng.randrange(1_000_000)
    return json.dumps([
        {"device_id": f"sd-{(base + d) % 2000}", "ts": T0 + seq * 1000 + d,
         "values": {f"m{m}": float(seq + m) for m in range(5)}}
        for d in range(devices)]).encode()


class Load:
    """Clients that keep sending until stop(); errors (refused, reset, 503) are expected once
    the server stops and are ignored: only the server's own exit is under test here."""

    def __init__(self, server, seed: int):
        self.server = server
        self.stopping = threading.Event()
        self.answered = 0
        self.late = 0  # answered 503 by the disk work queue's deadline: still queued
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._seed = seed

    def start(self, json_clients: int = 4, mqtt_clients: int = 2,
              catalog_clients: int = 1) -> "Load":
        for i in range(json_clients):
            self._spawn(self._json_client, i)
        if json_clients:
            self._spawn(self._heartbeat_client, 0)
        for i in range(catalog_clients):
            self._spawn(self._catalog_client, i)
        if getattr(self.server, "mqtt_port", None):
            for i in range(mqtt_clients):
                self._spawn(self._mqtt_client, i)
        return self

    def stop(self) -> None:
        self.stopping.set()
        for t in self._threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in self._threads), "a load client did not stop"

    def wait_answers(self, n: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.answered < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.answered >= n, f"only {self.answered} answers under load in {timeout}s"

    def wait_late(self, n: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.late < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.late >= n, f"only {self.late} writes answered late in {timeout}s"

    def _spawn(self, fn, i: int) -> None:
        t = threading.Thread(target=self._guard, args=(fn, i), daemon=True)
        self._threads.append(t)
        t.start()

    def _guard(self, fn, i: int) -> None:
        while not self.stopping.is_set():
            try:
                fn(i)
            except (OSError, http.client.HTTPException):
                time.sleep(0.01)  # the server is stopping (or refused us): try again

    def _count(self, late: bool = False) -> None:
        with self._lock:
            self.answered += 1
            self.late += late

    def _http(self, requests) -> None:
        """Sends (method, path, body) from `requests` on one keep-alive connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=REQUEST_TIMEOUT_S)
        try:
            for method, path, body in requests:
                if self.stopping.is_set():
                    return
                conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
                answer = conn.getresponse()
                late = answer.status == 503 and b"did not commit" in answer.read()
                self._count(late)
        finally:
            conn.close()

    def _json_client(self, i: int) -> None:
        rng = random.Random(self._seed * 100 + i)
        self._http(("POST", "/api/v1/telemetry", telemetry_batch(rng, 400, seq))
                   for seq in range(1_000_000))

    def _heartbeat_client(self, _: int) -> None:
        rng = random.Random(self._seed)
        self._http(("POST", "/api/v1/heartbeat",
                    json.dumps({"device_id": f"sd-{rng.randrange(2000)}",
                                "battery_level": rng.randrange(100)}).encode())
                   for _ in range(1_000_000))

    def _catalog_client(self, i: int) -> None:
        # Catalog writes and flushes run on the disk work queue's threads (flushes answer from
        # the Ingestor's thread): the longest-lived requests of a shutdown.
        def requests():
            for n in range(1_000_000):
                dev = f"cat-{self._seed}-{i}-{n}"
                yield "POST", "/api/v1/devices", json.dumps({"device_id": dev}).encode()
                yield "DELETE", f"/api/v1/devices/{dev}", None
                yield "POST", "/api/v1/admin/flush", None
        self._http(requests())

    def _mqtt_client(self, i: int) -> None:
        with socket.create_connection(("127.0.0.1", self.server.mqtt_port), timeout=5) as s:
            client_id = f"sd-mqtt-{self._seed}-{i}".encode()
            body = (struct.pack("!H", 4) + b"MQTT" + bytes([4, 0x02]) + struct.pack("!H", 30) +
                    struct.pack("!H", len(client_id)) + client_id)
            s.sendall(bytes([0x10, len(body)]) + body)
            s.recv(4)  # CONNACK
            packet_id = 0
            while not self.stopping.is_set():
                burst = b""
                for _ in range(20):
                    packet_id = packet_id % 65535 + 1
                    topic = f"devices/sd-m{i}-{packet_id % 50}/telemetry".encode()
                    payload = json.dumps({"ts": T0 + packet_id, "t": packet_id}).encode()
                    rest = struct.pack("!H", len(topic)) + topic + struct.pack("!H", packet_id)
                    rest += payload
                    burst += bytes([0x32]) + varint(len(rest)) + rest
                s.sendall(burst)
                if not s.recv(65536):
                    return
                self._count()


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def assert_clean_exit(server, rc: int) -> None:
    log = server.log()
    assert rc == 0, f"exit code {rc} on SIGTERM under load:\n{log[-6000:]}"
    found = [m for m in CRASH_MARKERS if m in log]
    assert not found, f"{found} in the server's output on SIGTERM under load:\n{log[-6000:]}"


def start_loaded_server(start_server):
    mqtt_port = free_port()
    server = start_server("--mqtt", f"127.0.0.1:{mqtt_port}", "--log-level", "warn")
    server.mqtt_port = mqtt_port
    return server


@pytest.mark.parametrize("cycle", range(3))
def test_sigterm_while_json_mqtt_and_catalog_load_is_running_exits_0(start_server, cycle):
    server = start_loaded_server(start_server)
    load = Load(server, seed=cycle).start()
    try:
        load.wait_answers(20 + 10 * cycle)
        time.sleep(random.Random(cycle).uniform(0.0, 0.5))
        server.send_signal(signal.SIGTERM)
        rc = server.wait(timeout=60)
    finally:
        load.stop()
    assert_clean_exit(server, rc)


@pytest.mark.parametrize("cycle", range(2))
def test_sigterm_right_after_the_load_stops_exits_0(start_server, cycle):
    server = start_loaded_server(start_server)
    load = Load(server, seed=10 + cycle).start()
    try:
        load.wait_answers(30)
    finally:
        load.stopping.set()  # clients stop sending; whatever they sent is still in the server
    server.send_signal(signal.SIGTERM)
    rc = server.wait(timeout=60)
    load.stop()
    assert_clean_exit(server, rc)


def test_sigterm_with_catalog_writes_queued_behind_a_slow_disk_exits_0(start_server, tmp_path):
    # LeakSanitizer cannot run under ptrace (it would fail the exit); use-after-free is still
    # reported. No effect on a build without ASan.
    asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "detect_leaks=0"]))
    server = start_server("--disk-workers", "1", "--disk-answer-within", "1s",
                          "--disk-shed-after", "1h", "--disk-max-in-flight", "100000",
                          "--log-level", "warn", env={"ASAN_OPTIONS": asan})
    SlowDisk(server.proc.pid, tmp_path / "strace.log", 200_000)  # ends with the server
    load = Load(server, seed=20).start(json_clients=1, catalog_clients=8)
    try:
        load.wait_late(24)  # writes still queued behind the disk, their clients answered 503
        server.send_signal(signal.SIGTERM)
        rc = server.wait(timeout=90)
    finally:
        load.stop()
    assert_clean_exit(server, rc)
