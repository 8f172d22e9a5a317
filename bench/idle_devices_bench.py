#!/usr/bin/python3
"""Registered idle devices: RSS per device and the server's CPU while nothing changes.

Registers N devices (POST /api/v1/devices, never seen: no data, no heartbeat) on a fresh
server, then restarts it so that the devices are loaded from the catalog as after any restart,
and reports
  - RSS per registered device: (RSS of the restarted server with N devices - RSS of a fresh
    server with none) / N, both measured after SETTLE seconds;
  - the same after the IDLE seconds (the KPI sampler has run: --kpi-history-interval 1m), and
    the restarted server's peak RSS (VmHWM);
  - CPU seconds the whole server (and its busiest thread) used over IDLE seconds with nothing
    arriving (the status tracker has no deadline for a device never seen).

Usage: bench/idle_devices_bench.py [--devices 100000] [--idle 60] [--threads 4]
                                   [--register-http 20000] [--bins A,B] [--perf DIR]
(env FLEETPULSE_BIN, default build/release/src/app/fleetpulse). Prints one key=value line.
With --bins A,B: the devices are registered once (with A), then each binary in turn is
started on that data directory and measured (a line each): binaries compared in the same
minutes on the same catalog. With --perf DIR: `perf record -e cpu-clock -g` of the server over
the idle seconds, into DIR/idle-<binary #>.data.

HTTP registration runs at 300-1,000 devices/s on a loaded 2-core machine (1 M would take
20-50 min), so only the first --register-http devices are registered over HTTP; the rest are
copies of the first one's catalog row (the only row a registration writes: `devices`) under new
ids, inserted with SQLite while the server is stopped. Either way the measured server loads
them from the catalog at its restart, as after any restart.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(binary: str, data: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([binary, "serve", "--data-dir", data, "--http", f"127.0.0.1:{port}",
                             "--mqtt", "off", "--log-level", "warn",
                             "--max-registrations-per-minute", "0"],
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


def stop(proc: subprocess.Popen):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def rss(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_ticks(pid: int) -> dict[int, int]:
    """utime + stime per thread id."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[int(tid)] = int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return out


def register(port: int, first: int, last: int, errors: list):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(first, last):
        body = json.dumps({"device_id": f"idle-{i:07d}", "type": "sensor"})
        c.request("POST", "/api/v1/devices", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        if r.status != 201:
            errors.append(r.status)
            return


def clone(catalog: str, first: int, last: int):
    """Devices idle-<first>..idle-<last - 1>: copies of idle-0000000's row under new ids."""
    db = sqlite3.connect(catalog)
    cols = [r[1] for r in db.execute("PRAGMA table_info(devices)")]
    rest = ", ".join(c for c in cols if c != "device_id")
    db.execute(f"WITH RECURSIVE n(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM n "
               f"WHERE i + 1 < {last}) INSERT INTO devices (device_id, {rest}) "
               f"SELECT printf('idle-%07d', i), {rest} FROM n, "
               f"(SELECT {rest} FROM devices WHERE device_id = 'idle-0000000')")
    db.commit()
    got = db.execute("SELECT count(*) FROM devices").fetchone()[0]
    db.close()
    if got != last:
        raise SystemExit(f"catalog holds {got} devices, not {last}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=100_000)
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--settle", type=float, default=5)
    ap.add_argument("--register-http", type=int, default=20_000)
    ap.add_argument("--bins", default="", help="comma-separated binaries to compare")
    ap.add_argument("--perf", default="", help="directory for perf.data files")
    a = ap.parse_args()
    binaries = [b for b in a.bins.split(",") if b] or [
        os.environ.get("FLEETPULSE_BIN", f"{HERE}/build/release/src/app/fleetpulse")]
    binary = binaries[0]
    if a.perf:
        os.makedirs(a.perf, exist_ok=True)
    work = tempfile.mkdtemp(prefix="fp-idle-devices-")
    try:
        port = free_port()
        proc = start(binary, f"{work}/data", port)
        t0 = time.monotonic()
        errors: list = []
        over_http = min(a.devices, a.register_http)
        step = (over_http + a.threads - 1) // a.threads
        threads = [threading.Thread(target=register,
                                    args=(port, k * step, min(over_http, (k + 1) * step), errors))
                   for k in range(a.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise SystemExit(f"registration failed: HTTP {errors[0]}")
        stop(proc)
        if a.devices > over_http:
            clone(f"{work}/data/catalog.db", over_http, a.devices)
        took = time.monotonic() - t0

        for i, binary in enumerate(binaries):
            empty_port = free_port()
            shutil.rmtree(f"{work}/empty", ignore_errors=True)
            empty = start(binary, f"{work}/empty", empty_port)
            time.sleep(a.settle)
            rss_empty = rss(empty.pid)
            stop(empty)

            proc = start(binary, f"{work}/data", port)  # the devices come back from the catalog
            time.sleep(a.settle)
            rss_full = rss(proc.pid)
            perf = None
            if a.perf:
                perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-g", "-p",
                                         str(proc.pid), "-o", f"{a.perf}/idle-{i}.data"],
                                        stdout=subprocess.DEVNULL)
            load = open("/proc/loadavg").read().split()[0]
            started = time.strftime("%H:%M:%S", time.gmtime())
            before = cpu_ticks(proc.pid)
            time.sleep(a.idle)
            after = cpu_ticks(proc.pid)
            if perf:
                perf.send_signal(signal.SIGINT)
                perf.wait()
            rss_after = rss(proc.pid)
            names = {}
            for tid in after:
                try:
                    with open(f"/proc/{proc.pid}/task/{tid}/comm") as f:
                        names[tid] = f.read().strip()
                except OSError:
                    names[tid] = "?"
            hwm = rss(proc.pid, "VmHWM")
            stop(proc)
            per_thread = {tid: after[tid] - before.get(tid, 0) for tid in after}
            total = sum(per_thread.values()) / TICK
            busiest_tid = max(per_thread, key=per_thread.get, default=0)
            busiest = per_thread.get(busiest_tid, 0) / TICK
            print(f"binary={binary} idle_from={started}UTC load={load} "
                  f"devices={a.devices} over_http={over_http} register_s={took:.1f} "
                  f"rss_empty_mib={rss_empty / 2**20:.1f} "
                  f"rss_with_devices_mib={rss_full / 2**20:.1f} "
                  f"rss_per_device_bytes={(rss_full - rss_empty) / a.devices:.0f} "
                  f"rss_after_idle_per_device_bytes={(rss_after - rss_empty) / a.devices:.0f} "
                  f"peak_rss_mib={hwm / 2**20:.1f} "
                  f"idle_s={a.idle:.0f} idle_cpu_s={total:.2f} busiest_thread_cpu_s={busiest:.2f} "
                  f"busiest_thread={names.get(busiest_tid, '?')}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
