#!/usr/bin/env python3
"""Ingest rate with 0 and with 10 MQTT consumers subscribed to `devices/+/telemetry`, one run.

One fleetpulse server (MQTT on, auth on, a read key for the consumers). Phase A: SENDERS HTTP
threads post line-protocol batches (BATCH lines of DEVICES devices) for SECONDS seconds with no
consumer; phase B: the same with CONSUMERS `mosquitto_sub` processes (QoS 0, output to
/dev/null) subscribed to `devices/+/telemetry`. Prints points/s acknowledged in each phase, the
consumer messages sent (fleetpulse_mqtt_consumer_messages_sent_total) and consumers cut for
falling behind (fleetpulse_mqtt_consumer_overflows_total).

Phase C repeats phase A after the consumers are stopped (the same server, more data in it): a
control for drift within the run. The consumers' own CPU time over phase B is printed too: on a
machine with fewer cores than consumers + server threads, that is CPU the server does not get.
--consumer-nice N starts them under `nice -n N`, so they only use CPU the server leaves idle.

--reader bulk replaces mosquitto_sub (which wakes and writes per message) by a consumer that
reads as a real one should under load: this script in its --read-consumer mode, one process per
consumer, MQTT 3.1.1 QoS 0, reading the socket 1 MiB at a time and discarding it. --senders sets
the concurrent HTTP senders (a fleet sends from many devices at once; 2 synchronous senders
measure the latency of one request → commit → answer chain more than throughput).

Usage: bench/mqtt_consumer_bench.py [--seconds 20] [--consumers 10] [--senders 2]
       [--consumer-nice N] [--reader mosquitto_sub|bulk]
       (FLEETPULSE_BIN, default build/release/src/app/fleetpulse). Temp dir, free ports,
       127.0.0.1 only; every process it starts is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ADMIN = "bench-admin-key-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit("fleetpulse exited early")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("fleetpulse not ready")


def metric(port: int, name: str) -> float:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                 headers={"Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[int, tuple[str, float, float]]:
    """Per thread of process `pid`: (name, user s, system s) so far."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        out[int(task.name)] = (name, int(fields[11]) / tick, int(fields[12]) / tick)
    return out


def thread_delta(before: dict, after: dict) -> list[tuple[int, str, float, float]]:
    """(tid, name, user s, system s) spent between two thread_cpu() readings, busiest first."""
    rows = []
    for tid, (name, user, system) in after.items():
        _, user0, system0 = before.get(tid, (name, 0.0, 0.0))
        rows.append((tid, name, user - user0, system - system0))
    return sorted(rows, key=lambda r: -(r[2] + r[3]))


def run_phase(port: int, seconds: float, senders: int, devices: int, batch: int,
              t_base: int) -> tuple[float, int]:
    """Posts batches for `seconds`; returns (points/s acknowledged, points)."""
    stop = time.monotonic() + seconds
    counts = [0] * senders

    def sender(k: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        t = t_base + k * 1_000_000_000
        while time.monotonic() < stop:
            lines = [f"bench,device_id=dev-{(t + i) % devices:05d} v={i} {t + i}"
                     for i in range(batch)]
            t += batch
            conn.request("POST", "/api/v1/write?precision=ms", body="\n".join(lines).encode(),
                         headers={"Content-Type": "text/plain",
                                  "Authorization": f"Bearer {ADMIN}"})
            r = conn.getresponse()
            r.read()
            if r.status not in (200, 204):
                sys.exit(f"write answered {r.status}")
            counts[k] += batch

    start = time.monotonic()
    threads = [threading.Thread(target=sender, args=(k,)) for k in range(senders)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    elapsed = time.monotonic() - start
    return sum(counts) / elapsed, sum(counts)


def read_consumer(port: int, key: str, client_id: str, topic: str) -> None:
    """A bulk consumer: CONNECT (3.1.1, user "operator", the read key), SUBSCRIBE at QoS 0,
    then read and discard; reconnects when cut, until a signal ends it."""
    def utf8(x: str) -> bytes:
        b = x.encode()
        return struct.pack(">H", len(b)) + b

    def packet(first: int, body: bytes) -> bytes:
        n, rem = len(body), b""
        while True:
            byte, n = n % 128, n // 128
            rem += bytes([byte | (0x80 if n else 0)])
            if not n:
                break
        return bytes([first]) + rem + body

    buf = bytearray(1 << 20)
    while True:  # a consumer cut for falling behind reconnects, as mosquitto_sub does
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(packet(0x10, utf8("MQTT") + bytes([4, 0xC2]) + struct.pack(">H", 60) +
                             utf8(client_id) + utf8("operator") + utf8(key)))
            s.sendall(packet(0x82, struct.pack(">H", 1) + utf8(topic) + bytes([0])))
            try:
                while s.recv_into(buf):
                    pass
            except OSError:
                pass
        time.sleep(0.1)


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--read-consumer":
        return read_consumer(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--consumers", type=int, default=10)
    ap.add_argument("--senders", type=int, default=2)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--topic", default="devices/+/telemetry", help="the consumers' filter")
    ap.add_argument("--perf", help="perf record (cpu-clock) the server in each phase, to PERF.A/.B/.C")
    ap.add_argument("--reader", choices=["mosquitto_sub", "bulk"], default="mosquitto_sub",
                    help="the consumers: mosquitto_sub, or bulk readers (see above)")
    ap.add_argument("--consumer-nice", type=int, default=0,
                    help="run the consumers under nice -n N (0: as the server)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mqtt-consumer-bench-"))
    procs: list[subprocess.Popen] = []
    try:
        fp_bin = os.environ.get("FLEETPULSE_BIN", str(Path(__file__).resolve().parent.parent /
                                                      "build/release/src/app/fleetpulse"))
        http_port, mqtt_port = free_port(), free_port()
        p = subprocess.Popen([fp_bin, "serve", "--data-dir", str(root / "fp"), "--http",
                              f"127.0.0.1:{http_port}", "--mqtt", f"127.0.0.1:{mqtt_port}",
                              "--admin-key", ADMIN, "--log-level", "warn"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        wait_ready(f"http://127.0.0.1:{http_port}/ready", p)
        req = urllib.request.Request(
            f"http://127.0.0.1:{http_port}/api/v1/admin/api-keys",
            data=json.dumps({"name": "consumers", "role": "read"}).encode(),
            headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            read_key = json.loads(r.read())["key"]
        # Warm-up (series created, files opened): not measured.
        run_phase(http_port, 3, args.senders, args.devices, args.batch, 1_700_000_000_000)

        def phase(label: str, t_base: int, readers: list) -> dict:
            """One measured phase: rate, server CPU (total, per thread), readers' CPU, perf."""
            perf = None
            if args.perf:
                perf = subprocess.Popen(
                    ["perf", "record", "-e", "cpu-clock", "-F", "499", "-o",
                     f"{args.perf}.{label}", "-p", str(p.pid), "--", "sleep", str(args.seconds)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            threads = thread_cpu(p.pid)
            readers_cpu = sum(cpu_seconds(s.pid) for s in readers if s.poll() is None)
            cpu = cpu_seconds(p.pid)
            sent = metric(http_port, "fleetpulse_mqtt_consumer_messages_sent_total")
            rate, n = run_phase(http_port, args.seconds, args.senders, args.devices, args.batch,
                                t_base)
            cpu = cpu_seconds(p.pid) - cpu
            readers_cpu = sum(cpu_seconds(s.pid) for s in readers if s.poll() is None) - readers_cpu
            per_thread = thread_delta(threads, thread_cpu(p.pid))
            if perf:
                perf.wait()
            sent = metric(http_port, "fleetpulse_mqtt_consumer_messages_sent_total") - sent
            return {"label": label, "rate": rate, "n": n, "cpu": cpu, "threads": per_thread,
                    "readers_cpu": readers_cpu, "sent": sent}

        a = phase("A", 1_710_000_000_000, [])
        subs = []
        for i in range(args.consumers):
            nice = ["nice", "-n", str(args.consumer_nice)] if args.consumer_nice else []
            if args.reader == "bulk":
                cmd = [sys.executable, __file__, "--read-consumer", str(mqtt_port), read_key,
                       f"bench-consumer-{i}", args.topic]
            else:
                cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mqtt_port), "-q", "0",
                       "-t", args.topic, "-u", "operator", "-P", read_key,
                       "-i", f"bench-consumer-{i}"]
            s = subprocess.Popen([*nice, *cmd], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            procs.append(s)
            subs.append(s)
        time.sleep(2)  # connected and subscribed
        b = phase("B", 1_720_000_000_000, subs)
        time.sleep(1)
        cut = metric(http_port, "fleetpulse_mqtt_consumer_overflows_total")
        alive = sum(1 for s in subs if s.poll() is None)
        for s in subs:
            s.terminate()
        for s in subs:
            s.wait(timeout=30)
        time.sleep(1)
        c = phase("C", 1_730_000_000_000, [])
        print(f"\n{args.senders} senders, {args.reader} consumers, load average "
              f"{os.getloadavg()[0]:.1f} at the end")
        print(f"\n| consumers subscribed to {args.topic} | points/s acknowledged | points | "
              "server CPU s per 1 M points | readers' CPU s per 1 M points |")
        print("|---|---|---|---|---|")
        for ph, who in ((a, "0"), (b, str(args.consumers)), (c, "0 (again, consumers stopped)")):
            print(f"| {who} | {ph['rate']:,.0f} | {ph['n']:,} | {ph['cpu'] / ph['n'] * 1e6:.2f} | "
                  f"{ph['readers_cpu'] / ph['n'] * 1e6:.2f} |")
        print("\nserver threads, CPU s per 1 M points, user + system (the busiest in B):")
        print("\n| thread | A | B | C |")
        print("|---|---|---|---|")
        by_tid = {ph["label"]: {t[0]: t for t in ph["threads"]} for ph in (a, b, c)}
        for tid, name, _, _ in b["threads"][:10]:
            cells = []
            for ph in (a, b, c):
                t = by_tid[ph["label"]].get(tid, (tid, name, 0.0, 0.0))
                cells.append(f"{t[2] / ph['n'] * 1e6:.2f} + {t[3] / ph['n'] * 1e6:.2f}")
            print(f"| {tid} ({name}) | " + " | ".join(cells) + " |")
        extra = b["cpu"] / b["n"] - (a["cpu"] / a["n"] + c["cpu"] / c["n"]) / 2
        print(f"\nconsumers' own CPU over the phase with them: {b['readers_cpu']:.1f} s in "
              f"{args.seconds:.0f} s (nice {args.consumer_nice})")
        print(f"ratio {b['rate'] / a['rate']:.2f} (against the phase after: "
              f"{b['rate'] / c['rate']:.2f}; A/C {a['rate'] / c['rate']:.2f}); "
              f"consumer messages sent {b['sent']:,.0f} "
              f"(one per device per commit batch, per consumer); server CPU per consumer message "
              f"{extra * b['n'] / max(b['sent'], 1) * 1e6:.2f} us; consumers cut: {cut:.0f}; "
              f"consumers still running: {alive}/{args.consumers}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
