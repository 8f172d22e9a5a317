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
Each line also gives the server's CPU time per request (cpu_ms: the sum of its threads'
run time from /proc/<pid>/task/*/schedstat over the timed requests, divided by REPEAT), which
holds on a loaded machine where wall time does not.
Then, with --page-devices N, adds devices until N are registered (one point each) and runs
bench/query_http_device_pages.py against the same server.

With --bins A,B (two or more server binaries): fills once with the first, stops it, then
starts each binary in turn on that same data directory, ROUNDS times (A B A B ...), and times
the queries on each: binaries compared in the same minutes on the same data.
With --data DIR: the data directory is kept there, and a later run with the same DIR (the
same UTC day) skips the fill. With --perf DIR: `perf record -e cpu-clock -g` of the server during each query's timed
requests, into DIR/<query>[-<round>-<binary #>].data.

Usage: bench/query_http_bench.py [--devices 10000 --step 600 --repeat 21 --page-devices 0
       --bins A,B --rounds 2 --perf DIR --only latest_all,fleet_aggregate]
(env FLEETPULSE_BIN, default build/release/src/app/fleetpulse; the server is started by
tests/integration/fleetpulse_harness.py).
"""

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, f"{HERE}/tests/integration")
from fleetpulse_harness import FleetpulseServer  # noqa: E402
METRICS = ["temperature", "humidity", "pressure", "battery", "signal", "co2", "voc"]
DAY_MS = 86_400_000


def call(c: http.client.HTTPConnection, method: str, path: str, body=None) -> tuple[int, bytes]:
    c.request(method, path, body)
    r = c.getresponse()
    return r.status, r.read()


def write(c: http.client.HTTPConnection, lines: list[str]):
    status, body = call(c, "POST", "/api/v1/write?precision=ms", "\n".join(lines).encode())
    if status not in (200, 204):
        raise SystemExit(f"write: HTTP {status} {body[:300]!r}")


def write_all(c: http.client.HTTPConnection, lines):
    """Writes an iterable of lines in batches of 5,000."""
    batch = []
    for line in lines:
        batch.append(line)
        if len(batch) == 5000:
            write(c, batch)
            batch = []
    if batch:
        write(c, batch)


def fleet_lines(devices: int, step_s: int, day0: int):
    for t in range(day0, day0 + DAY_MS, step_s * 1000):
        for d in range(devices):
            k = t // 60_000 + d
            fields = ",".join(f"{m}={20 + ((k + i) % 97) * 0.25}" for i, m in enumerate(METRICS))
            yield f"m,device_id=dev-{d:05d} {fields} {t}"
    for t in range(day0 - 29 * DAY_MS, day0 + DAY_MS, 60_000):
        yield f"m,device_id=long temperature={15 + (t // 60_000 % 300) * 0.1} {t}"


def server_cpu_ns(pid: int) -> int:
    """The run time of every thread of `pid` so far (ns), from schedstat."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # the thread ended
    return total


def timed(c, pid: int, path: str, repeat: int, check=None, perf_out=None) -> str:
    took = []
    perf = None
    if perf_out:
        perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-g", "-p", str(pid),
                                 "-o", perf_out], stdout=subprocess.DEVNULL)
        time.sleep(1)
    cpu0 = server_cpu_ns(pid)
    for _ in range(repeat):
        t0 = time.perf_counter()
        status, body = call(c, "GET", path)
        took.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise SystemExit(f"{path}: HTTP {status} {body[:300]!r}")
    cpu_ms = (server_cpu_ns(pid) - cpu0) / 1e6 / repeat
    if perf:
        perf.send_signal(2)
        perf.wait()
    what = check(json.loads(body)) if check else ""
    return (f"median_ms={statistics.median(took):.2f} best_ms={min(took):.2f} "
            f"cpu_ms={cpu_ms:.2f} bytes={len(body)} {what}")


def wait_compactions(c, at_least: int = 1):
    """Waits until the block thread's compactions stop (10 s without a new one, after at least
    `at_least`)."""
    compactions, stable_since, waited = -1, time.monotonic(), time.monotonic()
    while time.monotonic() - waited < 300:
        status, body = call(c, "GET", "/api/v1/health/detailed")
        tsdb = json.loads(body)["components"]["tsdb"]
        if tsdb["compactions"] != compactions:
            compactions, stable_since = tsdb["compactions"], time.monotonic()
        elif compactions >= at_least and time.monotonic() - stable_since > 10:
            break
        time.sleep(1)
    return compactions, tsdb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--step", type=int, default=600, help="seconds between a series' points")
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument("--page-devices", type=int, default=0)
    ap.add_argument("--fp-args", default="", help="extra serve arguments")
    ap.add_argument("--bins", default="", help="comma-separated binaries to compare")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--perf", default="", help="directory for perf.data files")
    ap.add_argument("--only", default="", help="comma-separated query names")
    ap.add_argument("--data", default="", help="keep the filled server's directory here and "
                    "reuse it when it exists (the same UTC day: yesterday's data)")
    a = ap.parse_args()
    bins = [b for b in a.bins.split(",") if b]
    if bins:
        os.environ["FLEETPULSE_BIN"] = bins[0]
    if a.perf:
        os.makedirs(a.perf, exist_ok=True)
    kept = Path(a.data) if a.data else None
    refill = kept is None or not (kept / "data").exists()
    work = kept or Path(tempfile.mkdtemp(prefix="fp-query-http-"))
    work.mkdir(parents=True, exist_ok=True)
    args = ["--log-level", "warn", "--max-registrations-per-minute", "0", *a.fp_args.split()]
    server = FleetpulseServer(work / "data", work / "server.log", args).start()
    port = server.port
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        today = int(time.time() * 1000) // DAY_MS * DAY_MS
        day0 = today - DAY_MS
        t0 = time.monotonic()
        if refill:
            write_all(c, fleet_lines(a.devices, a.step, day0))
            status, body = call(c, "POST", "/api/v1/admin/flush")
            if status != 200:
                raise SystemExit(f"flush: HTTP {status} {body[:300]!r}")
        compactions, tsdb = wait_compactions(c, at_least=1 if refill else 0)
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
        only = [q for q in a.only.split(",") if q]
        queries = [q for q in queries if not only or q[0] in only]

        def run_queries(tag: str):
            for name, path, check in queries:
                perf_out = f"{a.perf}/{name}{tag}.data" if a.perf else None
                print(f"{name} {timed(c, server.proc.pid, path, a.repeat, check, perf_out)}",
                      flush=True)

        if not bins:
            run_queries("")
        else:
            c.close()
            server.stop()
            for r in range(a.rounds):
                for i, b in enumerate(bins):
                    os.environ["FLEETPULSE_BIN"] = b
                    server = FleetpulseServer(work / "data", work / "server.log", args).start()
                    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
                    wait_compactions(c, at_least=0)
                    load = open("/proc/loadavg").read().split()[0]
                    print(f"== round {r} binary {i} {b} {time.strftime('%H:%M:%S', time.gmtime())} UTC "
                          f"load {load}", flush=True)
                    run_queries(f"-{r}-{i}")
                    c.close()
                    server.stop()
            return
        if a.page_devices > a.devices + 1:
            t0 = time.monotonic()
            write_all(c, (f"m,device_id=dev-{d:06d} battery=50 {day0 + DAY_MS - 60_000}"
                          for d in range(a.devices, a.page_devices - 1)))
            print(f"registered devices={a.page_devices} took_s={time.monotonic() - t0:.1f}",
                  flush=True)
            time.sleep(5)  # the catalog writer's last registrations
            _, body = call(c, "GET", "/api/v1/stats")
            _, top = call(c, "GET", "/api/v1/devices?sort=-device_id&limit=2")
            print(f"tracked devices={json.loads(body)['devices']['total']} catalog's greatest ids="
                  f"{[d['device_id'] for d in json.loads(top)['devices']]}", flush=True)
            subprocess.run([sys.executable, f"{HERE}/bench/query_http_device_pages.py", "--url",
                            f"http://127.0.0.1:{port}", "--pages", "20"], check=True)
    finally:
        server.stop()
        if not kept:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
