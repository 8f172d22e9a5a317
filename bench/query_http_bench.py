#!/usr/bin/python3
"""The query targets of issue 16 over HTTP, on a real server filled over HTTP.

Starts `fleetpulse serve` on a fresh data directory, writes (line protocol, ms precision)
  - the fleet: DEVICES devices x 7 metrics over yesterday (UTC), a point every STEP seconds;
  - one long series: device "long", metric "m.temperature", 30 days at 60 s;
flushes (POST /api/v1/admin/flush), waits until the block thread has compacted the sealed
days (rollups; tsdb.compactions of /api/v1/health/detailed stops growing), and times REPEAT requests of each query, printing the
median and best wall time of each (client side: request sent to body read):
  latest_all        GET /api/v1/latest?limit=100000           (every series of every device)
  latest_device     GET /api/v1/devices/dev-00042/latest
  series_day        GET /api/v1/devices/dev-00042/telemetry   (yesterday, one metric)
  aggregate_30d     GET /api/v1/devices/long/aggregates       (30 days, 1h)
  fleet_aggregate   GET /api/v1/aggregates                    (one metric, all devices, 24 h, 1h)
Then, with --page-devices N, adds devices until N are registered (one point each) and runs
bench/query_http_device_pages.py against the same server.

Usage: bench/query_http_bench.py [--devices 10000 --step 600 --repeat 21 --page-devices 0]
(env FLEETPULSE_BIN, default build/release/src/app/fleetpulse).
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRICS = ["temperature", "humidity", "pressure", "battery", "signal", "co2", "voc"]
DAY_MS = 86_400_000


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(binary: str, data: str, port: int, extra: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen([binary, "serve", "--data-dir", data, "--http", f"127.0.0.1:{port}",
                             "--mqtt", "off", "--log-level", "warn",
                             "--max-registrations-per-minute", "0", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("fleetpulse did not start")


def call(c: http.client.HTTPConnection, method: str, path: str, body=None) -> tuple[int, bytes]:
    c.request(method, path, body)
    r = c.getresponse()
    return r.status, r.read()


def write(c: http.client.HTTPConnection, lines: list[str]):
    status, body = call(c, "POST", "/api/v1/write?precision=ms", "\n".join(lines).encode())
    if status not in (200, 204):
        raise SystemExit(f"write: HTTP {status} {body[:300]!r}")


def fill(c, devices: int, step_s: int, day0: int):
    lines = []
    for t in range(day0, day0 + DAY_MS, step_s * 1000):
        for d in range(devices):
            k = t // 60_000 + d
            fields = ",".join(f"{m}={20 + ((k + i) % 97) * 0.25}" for i, m in enumerate(METRICS))
            lines.append(f"m,device_id=dev-{d:05d} {fields} {t}")
            if len(lines) == 5000:
                write(c, lines)
                lines = []
    for t in range(day0 - 29 * DAY_MS, day0 + DAY_MS, 60_000):
        lines.append(f"m,device_id=long temperature={15 + (t // 60_000 % 300) * 0.1} {t}")
        if len(lines) == 5000:
            write(c, lines)
            lines = []
    if lines:
        write(c, lines)


def timed(c, path: str, repeat: int, check=None) -> str:
    took = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        status, body = call(c, "GET", path)
        took.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise SystemExit(f"{path}: HTTP {status} {body[:300]!r}")
    what = check(json.loads(body)) if check else ""
    return (f"median_ms={statistics.median(took):.2f} best_ms={min(took):.2f} "
            f"bytes={len(body)} {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--step", type=int, default=600, help="seconds between a series' points")
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--page-devices", type=int, default=0)
    ap.add_argument("--fp-args", default="", help="extra serve arguments")
    a = ap.parse_args()
    binary = os.environ.get("FLEETPULSE_BIN", f"{HERE}/build/release/src/app/fleetpulse")
    work = tempfile.mkdtemp(prefix="fp-query-http-")
    port = free_port()
    proc = start(binary, f"{work}/data", port, a.fp_args.split())
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        today = int(time.time() * 1000) // DAY_MS * DAY_MS
        day0 = today - DAY_MS
        t0 = time.monotonic()
        fill(c, a.devices, a.step, day0)
        status, body = call(c, "POST", "/api/v1/admin/flush")
        if status != 200:
            raise SystemExit(f"flush: HTTP {status} {body[:300]!r}")
        compactions, stable_since, waited = -1, time.monotonic(), time.monotonic()
        while time.monotonic() - waited < 300:
            status, body = call(c, "GET", "/api/v1/health/detailed")
            tsdb = json.loads(body)["tsdb"]
            if tsdb["compactions"] != compactions:
                compactions, stable_since = tsdb["compactions"], time.monotonic()
            elif compactions > 0 and time.monotonic() - stable_since > 10:
                break
            time.sleep(1)
        print(f"compactions={compactions} blocks={tsdb['blocks']}", flush=True)
        print(f"filled devices={a.devices} series={a.devices * 7 + 1} "
              f"points={a.devices * 7 * (DAY_MS // (a.step * 1000)) + 30 * 1440} "
              f"fill_and_flush_s={time.monotonic() - t0:.1f}", flush=True)
        iso = lambda ms: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))
        day = f"start={iso(day0)}&end={iso(day0 + DAY_MS - 1)}"
        queries = [
            ("latest_all", "/api/v1/latest?limit=100000",
             lambda j: f"devices={len(j['devices'])} values="
                       f"{sum(len(d['values']) for d in j['devices'])}"),
            ("latest_device", "/api/v1/devices/dev-00042/latest",
             lambda j: f"values={len(j['values'])}"),
            ("series_day", f"/api/v1/devices/dev-00042/telemetry?metric=m.temperature&{day}"
                           "&limit=100000",
             lambda j: f"points={len(j.get('points', j.get('data', [])))}"),
            ("aggregate_30d", f"/api/v1/devices/long/aggregates?metric=m.temperature&interval=1h"
                              f"&start={iso(day0 - 29 * DAY_MS)}&end={iso(day0 + DAY_MS - 1)}",
             lambda j: f"buckets={len(j['buckets'])}"),
            ("fleet_aggregate", f"/api/v1/aggregates?metric=m.temperature&interval=1h&{day}",
             lambda j: f"buckets={sum(len(g['buckets']) for g in j['groups'])}"),
        ]
        for name, path, check in queries:
            print(f"{name} {timed(c, path, a.repeat, check)}", flush=True)
        if a.page_devices > a.devices + 1:
            t0 = time.monotonic()
            lines = []
            for d in range(a.devices, a.page_devices - 1):
                lines.append(f"m,device_id=dev-{d:06d} battery=50 {day0 + DAY_MS - 60_000}")
                if len(lines) == 5000:
                    write(c, lines)
                    lines = []
            if lines:
                write(c, lines)
            print(f"registered devices={a.page_devices} took_s={time.monotonic() - t0:.1f}",
                  flush=True)
            time.sleep(5)  # the catalog writer's last registrations
            subprocess.run([sys.executable, f"{HERE}/bench/query_http_device_pages.py", "--url",
                            f"http://127.0.0.1:{port}", "--pages", "20"], check=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
