#!/usr/bin/env python3
"""Soak under a hostile client mix (issue 11): a real fleetpulse binary (auth on, HTTP + MQTT)
gets normal telemetry ingest while hostile clients run beside it for --duration seconds:
slowloris (one header byte a second), idle HTTP and MQTT sockets, wrong API keys and MQTT
passwords, high-cardinality writes (thousands of new metric names and attribute keys), and MQTT
floods (QoS 0 floods and CONNECT/DISCONNECT churn). Every --interval seconds it samples the
server's RSS and open descriptors and the /health latency (p50/p99/max over the interval), and
at the end it checks that every acknowledged normal reading is stored (acked vs stored).

    python3 bench/soak_hostile.py --bin build/release/src/app/fleetpulse --duration 600
    python3 bench/soak_hostile.py --bin build/release/src/app/fleetpulse --duration 1800  # 30 min

Prints a Markdown table (one row per sample) and a summary; --json writes the samples too.
Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ADMIN_KEY = "soak-admin-key-0123456789abcdef"
T0 = 1767225600000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The normal clients come from another loopback address than the hostile ones, as they would
# from another host: the per-address connection cap (256) is meant to stop the hostile ones.
NORMAL_SOURCE = ("127.0.0.2", 0)


def request(port, method, path, body=None, key=ADMIN_KEY, timeout=10.0, raw=None, source=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=source)
    try:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            headers["Content-Type"] = "application/json" if raw is None else "text/plain"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        return resp.status, payload
    finally:
        conn.close()


def launch(binary, http, mqtt, data_dir, log, extra=(), prefix=(), wait_s=120.0):
    """Starts `fleetpulse serve` (admin key from the environment) and waits for /health."""
    proc = subprocess.Popen(
        [*prefix, binary, "serve", "--http", f"127.0.0.1:{http}", "--mqtt", f"127.0.0.1:{mqtt}",
         "--data-dir", data_dir, "--log-level", "warn", *extra],
        env={**os.environ, "FLEETPULSE_ADMIN_KEY": ADMIN_KEY}, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if request(http, "GET", "/health", key=None)[0] == 200:
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("fleetpulse did not start")


# ------------------------------------------------------------------------------- MQTT bytes
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def pkt(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect_pkt(cid, user=None, password=None, keepalive=60):
    flags = 0x02 | (0x80 if user else 0) | (0x40 if password else 0)
    body = mstr("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + mstr(cid)
    if user:
        body += mstr(user)
    if password:
        body += mstr(password)
    return pkt(0x10, body)


def mqtt_connect(port, cid, user=None, password=None, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(connect_pkt(cid, user, password))
    ack = s.recv(4)
    return s, (ack[3] if len(ack) >= 4 else None)


class Soak:
    def __init__(self, args):
        self.args = args
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.acked: dict[str, set[int]] = {}
        self.health: list[float] = []
        self.health_failures = 0

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    # ------------------------------------------------------------------ server
    def start_server(self, again=False):
        if not again:
            self.dir = tempfile.mkdtemp(prefix="soak-")
            self.http, self.mqtt = free_port(), free_port()
        self.log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = launch(self.args.bin, self.http, self.mqtt, os.path.join(self.dir, "data"),
                           self.log)

    # ------------------------------------------------------------------ normal load
    def normal_ingest(self, w):
        devices = [f"soak-{w}-{i}" for i in range(50)]
        i = 0
        while not self.stop.is_set():
            ts = T0 + i
            batch = [{"device_id": d, "ts": ts, "temp": 20.0 + (i % 10), "status": "ok"}
                     for d in devices]
            try:
                status, _ = request(self.http, "POST", "/api/v1/telemetry", batch,
                                    source=NORMAL_SOURCE)
            except OSError:
                status = None
            if status == 200:
                with self.lock:
                    for d in devices:
                        self.acked.setdefault(d, set()).add(ts)
                self.count("normal_acked_requests")
            else:
                self.count(f"normal_status_{status}")
            i += 1
            time.sleep(0.05)

    def health_probe(self):
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                ok = request(self.http, "GET", "/health", key=None, timeout=10,
                             source=NORMAL_SOURCE)[0] == 200
            except OSError:
                ok = False
            took = time.monotonic() - started
            with self.lock:
                self.health.append(took)
                self.health_failures += 0 if ok else 1
            time.sleep(0.1)

    # ------------------------------------------------------------------ hostile clients
    def slowloris(self):
        socks = []
        while not self.stop.is_set():
            while len(socks) < self.args.slowloris:
                try:
                    s = socket.create_connection(("127.0.0.1", self.http), timeout=2)
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                    socks.append(s)
                except OSError:
                    self.count("slowloris_refused")
                    break
            alive = []
            for s in socks:
                try:
                    s.sendall(b"X")
                    alive.append(s)
                except OSError:
                    self.count("slowloris_closed_by_server")
                    s.close()
            socks = alive
            self.stop.wait(1.0)
        for s in socks:
            s.close()

    def idle(self, port, n, what):
        socks = []
        while not self.stop.is_set():
            while len(socks) < n:
                try:
                    socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
                except OSError:
                    self.count(f"{what}_refused")
                    break
            alive = []
            for s in socks:
                s.setblocking(False)
                try:
                    gone = s.recv(1) == b""
                except BlockingIOError:
                    gone = False
                except OSError:
                    gone = True
                if gone:
                    self.count(f"{what}_closed_by_server")
                    s.close()
                else:
                    alive.append(s)
            socks = alive
            self.stop.wait(2.0)
        for s in socks:
            s.close()

    def bad_auth(self):
        while not self.stop.is_set():
            try:
                status, _ = request(self.http, "GET", "/api/v1/devices", key="wrong-key", timeout=15)
                self.count(f"bad_key_{status}")
            except OSError:
                self.count("bad_key_error")
            try:
                s, code = mqtt_connect(self.mqtt, "bad-auth", "dev", "wrong")
                s.close()
                self.count(f"bad_mqtt_password_connack_{code}")
            except OSError:
                self.count("bad_mqtt_password_error")
            self.stop.wait(0.02)

    def cardinality(self):
        n = 0
        while not self.stop.is_set():
            dev = f"hostile-card-{n}"
            reading = {"device_id": dev, "ts": T0, **{f"m{n}_{j}": 1.0 for j in range(5_000)},
                       **{f"a{n}_{j}": "x" for j in range(2_000)}}
            try:
                status, _ = request(self.http, "POST", "/api/v1/telemetry", reading, timeout=30)
                self.count(f"cardinality_{status}")
            except OSError:
                self.count("cardinality_error")
            n += 1
            self.stop.wait(0.5)

    def mqtt_flood(self, w):
        while not self.stop.is_set():
            try:
                s, code = mqtt_connect(self.mqtt, f"flood-{w}", f"flood-{w}", ADMIN_KEY)
                if code != 0:
                    self.count(f"flood_connack_{code}")
                    s.close()
                    self.stop.wait(1)
                    continue
                s.settimeout(5)
                body = mstr(f"devices/flood-{w}/telemetry") + b'{"v": 1.5}'
                burst = pkt(0x30, body) * 200
                while not self.stop.is_set():
                    s.sendall(burst)  # QoS 0: no answer; back-pressure is the socket's
                    self.count("flood_messages", 200)
                s.close()
            except OSError:
                self.count("flood_disconnected")
                self.stop.wait(0.5)

    def mqtt_churn(self):
        i = 0
        while not self.stop.is_set():
            try:
                s, code = mqtt_connect(self.mqtt, f"churn-{i % 100}", f"churn-{i % 100}", ADMIN_KEY)
                self.count(f"churn_connack_{code}")
                s.sendall(pkt(0xE0, b""))
                s.close()
            except OSError:
                self.count("churn_error")
            i += 1
            self.stop.wait(0.01)

    # ------------------------------------------------------------------ sampling
    def sample(self, started):
        pid = self.proc.pid
        rss = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) // 1024
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        with self.lock:
            lat, self.health = sorted(self.health), []
            fails, self.health_failures = self.health_failures, 0
            acked = sum(len(v) for v in self.acked.values())
        pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")
        return {"t_s": round(time.monotonic() - started), "rss_mib": rss, "fds": fds,
                "health_n": len(lat), "health_p50_ms": round(pct(0.5), 1),
                "health_p99_ms": round(pct(0.99), 1), "health_max_ms": round(pct(1.0), 1),
                "health_failed": fails, "acked_points": acked}

    def run(self):
        self.start_server()
        a = self.args
        threads = [threading.Thread(target=self.normal_ingest, args=(w,)) for w in range(2)]
        threads.append(threading.Thread(target=self.health_probe))
        threads.append(threading.Thread(target=self.slowloris))
        threads.append(threading.Thread(target=self.idle, args=(self.http, a.idle_http, "idle_http")))
        threads.append(threading.Thread(target=self.idle, args=(self.mqtt, a.idle_mqtt, "idle_mqtt")))
        threads.append(threading.Thread(target=self.bad_auth))
        threads.append(threading.Thread(target=self.cardinality))
        threads += [threading.Thread(target=self.mqtt_flood, args=(w,)) for w in range(2)]
        threads.append(threading.Thread(target=self.mqtt_churn))
        for t in threads:
            t.daemon = True
            t.start()
        started = time.monotonic()
        samples = []
        print("| t (s) | RSS MiB | fds | /health n | p50 ms | p99 ms | max ms | failed | acked points |")
        print("|---|---|---|---|---|---|---|---|---|")
        while time.monotonic() - started < a.duration:
            time.sleep(min(a.interval, max(0.1, a.duration - (time.monotonic() - started))))
            s = self.sample(started)
            samples.append(s)
            print(f"| {s['t_s']} | {s['rss_mib']} | {s['fds']} | {s['health_n']} | "
                  f"{s['health_p50_ms']} | {s['health_p99_ms']} | {s['health_max_ms']} | "
                  f"{s['health_failed']} | {s['acked_points']} |", flush=True)
        self.stop.set()
        for t in threads:
            t.join(timeout=30)
        # Acked vs stored, after a kill -9 and restart.
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()
        self.start_server(again=True)
        missing = 0
        acked = sum(len(v) for v in self.acked.values())
        for dev, stamps in self.acked.items():
            stored, cursor = 0, ""
            while True:  # pages of 10,000 points
                status, body = request(
                    self.http, "GET", f"/api/v1/devices/{dev}/telemetry?metric=temp&limit=10000"
                    f"&start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z&cursor={cursor}",
                    timeout=60, source=NORMAL_SOURCE)
                if status != 200:
                    print(f"query of {dev}: {status} {body[:200]!r}", file=sys.stderr)
                    break
                page = json.loads(body)
                stored += len(page["points"])
                cursor = page.get("next_cursor")
                if not cursor:
                    break
            missing += max(0, len(stamps) - stored)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        summary = {"duration_s": a.duration, "acked_points": acked, "missing_after_kill9": missing,
                   "rss_first_mib": samples[0]["rss_mib"] if samples else None,
                   "rss_last_mib": samples[-1]["rss_mib"] if samples else None,
                   "rss_max_mib": max((s["rss_mib"] for s in samples), default=None),
                   "fds_max": max((s["fds"] for s in samples), default=None),
                   "health_p99_max_ms": max((s["health_p99_ms"] for s in samples), default=None),
                   "health_failed": sum(s["health_failed"] for s in samples),
                   "counts": dict(sorted(self.counts.items()))}
        print("\n" + json.dumps(summary, indent=1))
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"samples": samples, "summary": summary}, f, indent=1)
        shutil.rmtree(self.dir, ignore_errors=True)
        return 0 if missing == 0 else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default="build/release/src/app/fleetpulse")
    p.add_argument("--duration", type=float, default=600, help="seconds (30 min: 1800)")
    p.add_argument("--interval", type=float, default=30, help="seconds between samples")
    p.add_argument("--slowloris", type=int, default=200)
    p.add_argument("--idle-http", type=int, default=500)
    p.add_argument("--idle-mqtt", type=int, default=300)
    p.add_argument("--json", help="write samples and summary here")
    sys.exit(Soak(p.parse_args()).run())


if __name__ == "__main__":
    main()
