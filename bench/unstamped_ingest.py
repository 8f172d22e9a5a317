#!/usr/bin/env python3
"""Server CPU per value for JSON ingest with and without device timestamps.

Starts `fleetpulse serve` (the binary given, default the release build) on a free port with a
fresh data directory, sends REQUESTS requests of 1000 flat readings (10 devices x 4 metrics)
over one keep-alive connection, once with a `ts` on every reading and once without (server
stamps), and prints the server's CPU seconds per million values for each workload. Compare two
binaries (before/after a change) on the same machine state.

Usage: bench/unstamped_ingest.py [BINARY] [REQUESTS]   (default 200 requests = 800k values)
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "build", "release", "src",
                                                           "app", "fleetpulse")
REQUESTS = int(sys.argv[2]) if len(sys.argv) > 2 else 200
T0 = 1767225600000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def body(k, with_ts):
    readings = []
    for i in range(1000):
        r = {"device_id": f"bench-{i % 10}", "a": i * 0.5, "b": k, "c": i, "d": 1.25}
        if with_ts:
            r["ts"] = T0 + k * 1000 + i // 10
        readings.append(r)
    return json.dumps({"readings": readings}).encode()


def run(with_ts):
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        proc = subprocess.Popen([BIN, "serve", "--data-dir", data, "--http", f"127.0.0.1:{port}",
                                 "--mqtt", "off", "--log-level", "warn"])
        try:
            for _ in range(200):
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    c.request("GET", "/ready")
                    if c.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.05)
            bodies = [body(k, with_ts) for k in range(REQUESTS)]
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c0, w0 = cpu_seconds(proc.pid), time.monotonic()
            for b in bodies:
                conn.request("POST", "/api/v1/telemetry", b, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                assert r.status == 200, r.status
            c1, w1 = cpu_seconds(proc.pid), time.monotonic()
        finally:
            proc.terminate()
            proc.wait(30)
    values = REQUESTS * 4000
    return (c1 - c0) / (values / 1e6), values / (w1 - w0)


if __name__ == "__main__":
    for with_ts in (True, False):
        cpu, rate = run(with_ts)
        print(f"{'with ts   ' if with_ts else 'without ts'}: server CPU {cpu:.3f} s/1M values, "
              f"{rate / 1e3:.0f} k values/s (one connection)")
