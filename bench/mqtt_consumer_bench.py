#!/usr/bin/env python3
"""Ingest rate with 0 and with 10 MQTT consumers subscribed to `devices/+/telemetry`, one run.

One fleetpulse server (MQTT on, auth on, a read key for the consumers). Phase A: SENDERS HTTP
threads post line-protocol batches (BATCH lines of DEVICES devices; each sender its own
DEVICES/SENDERS of them, in time order, as a fleet's gateways do) for SECONDS seconds with no
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

Fairness: the server seals its head into blocks only between phases (`--flush-points` 1e9 and
POST /api/v1/admin/flush before each phase), so no phase pays for sealing another's points;
--rounds N alternates N phases with consumers and N without after A (A B C B C ...), each B
compared with its two neighbours and those with each other (the noise). Per phase it prints the
server's CPU per point in total and per thread (user + system, wake-ups/s), the readers' and the
senders' CPU per point, and the rate a CPU-bound machine would give B from all three.
--perf FILE records `perf record -e cpu-clock` of the server per phase (FILE.A, FILE.B, ...).
--rate R paces the senders to offer R points/s together (below the machine's capacity the
question is whether the rate and the write latency stay the same, not how CPU is shared);
--interleaved makes every sender write every device in its own time range (late points).

Usage: bench/mqtt_consumer_bench.py [--seconds 20] [--consumers 10] [--senders 2]
       [--rounds 1] [--perf FILE] [--consumer-nice N] [--reader mosquitto_sub|bulk]
       [--rate POINTS_PER_S] [--devices 8000] [--batch 5000] [--interleaved]
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
    """Per thread of process `pid`: (name, user s, system s, voluntary context switches) so far
    (a thread's sleeps: each is a wake-up)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        switches = 0
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    switches = int(line.split()[1])
        except OSError:
            pass
        out[int(task.name)] = (name, int(fields[11]) / tick, int(fields[12]) / tick, switches)
    return out


def thread_delta(before: dict, after: dict) -> list[tuple[int, str, float, float, int]]:
    """(tid, name, user s, system s, wake-ups) between two thread_cpu() readings, busiest
    first."""
    rows = []
    for tid, (name, user, system, switches) in after.items():
        _, user0, system0, switches0 = before.get(tid, (name, 0.0, 0.0, 0))
        rows.append((tid, name, user - user0, system - system0, switches - switches0))
    return sorted(rows, key=lambda r: -(r[2] + r[3]))


def flush(port: int) -> None:
    """Seals the head into blocks (answers once written): between phases, so no phase pays for
    sealing another's points, and each starts with an empty head."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/admin/flush", data=b"",
                                 method="POST", headers={"Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(req, timeout=300) as r:
        r.read()
    time.sleep(1)


def run_phase(port: int, seconds: float, senders: int, devices: int, batch: int,
              t_base: int, interleaved: bool = False, rate: float = 0
              ) -> tuple[float, int, list[float]]:
    """Posts batches for `seconds`; returns (points/s acknowledged, points, each write's
    seconds from request to answer). `rate` > 0: the senders together offer that many points/s
    (each sends its batches on a fixed schedule, catching up when late), else as fast as the
    server answers. `interleaved`:
    every sender writes every device, each sender in its own time range 1e9 ms apart (a live
    stream and backfills), so most points are older than their series' newest: the late-point
    path."""
    stop = time.monotonic() + seconds
    counts = [0] * senders
    latencies: list[float] = []
    errors: list[str] = []

    share = devices if interleaved else max(1, devices // senders)

    def sender(k: int):
        # Unless interleaved, its own devices, each written in time order (a series written by
        # two senders at different times measures the late-point path instead).
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        t = t_base + (k * 1_000_000_000 if interleaved else 0)
        first = 0 if interleaved else k * share
        interval = batch * senders / rate if rate > 0 else 0.0
        due = time.monotonic() + interval * k / senders
        while time.monotonic() < stop:
            if interval:
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                due += interval
            lines = [f"bench,device_id=dev-{first + (t + i) % share:05d} v={i} {t + i}"
                     for i in range(batch)]
            t += batch
            sent_at = time.monotonic()
            try:
                conn.request("POST", "/api/v1/write?precision=ms",
                             body="\n".join(lines).encode(),
                             headers={"Content-Type": "text/plain",
                                      "Authorization": f"Bearer {ADMIN}"})
                r = conn.getresponse()
                body = r.read()
                latencies.append(time.monotonic() - sent_at)
            except OSError as e:
                errors.append(f"write failed: {e}")
                return
            if r.status not in (200, 204):
                errors.append(f"write answered {r.status}: {body[:300]!r}")
                return
            counts[k] += batch

    start = time.monotonic()
    threads = [threading.Thread(target=sender, args=(k,)) for k in range(senders)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    elapsed = time.monotonic() - start
    if errors:  # a refused or failed write ends the run: its rate would mean nothing
        sys.exit(f"{len(errors)} of {senders} senders stopped: {errors[0]}")
    return sum(counts) / elapsed, sum(counts), latencies


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
    ap.add_argument("--devices", type=int, default=8000)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--interleaved", action="store_true",
                    help="every sender writes every device in its own time range (late points)")
    ap.add_argument("--rate", type=float, default=0,
                    help="points/s the senders offer together (0: as fast as answered)")
    ap.add_argument("--topic", default="devices/+/telemetry", help="the consumers' filter")
    ap.add_argument("--perf", help="perf record (cpu-clock) the server in each phase, to PERF.A/.B/.C")
    ap.add_argument("--reader", choices=["mosquitto_sub", "bulk"], default="mosquitto_sub",
                    help="the consumers: mosquitto_sub, or bulk readers (see above)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="phases with consumers, each followed by one without (A B C B C ...)")
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
                              "--admin-key", ADMIN, "--log-level", "warn",
                              # Sealed only between phases (flush() below): a 4 M-point flush
                              # otherwise lands in whichever phase crosses it.
                              "--flush-points", "1000000000", "--flush-interval", "1h",
                              # A loaded machine's slow fsyncs are waited for, not shed (503).
                              "--disk-shed-after", "120s", "--disk-answer-within", "120s"],
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
        run_phase(http_port, 3, args.senders, args.devices, args.batch, 1_700_000_000_000,
                  args.interleaved)

        def phase(label: str, t_base: int, readers: list) -> dict:
            """One measured phase: rate, server CPU (total, per thread), readers' CPU, perf."""
            flush(http_port)
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
            own = os.times()
            rate, n, latencies = run_phase(http_port, args.seconds, args.senders, args.devices,
                                           args.batch, t_base, args.interleaved, args.rate)
            cpu = cpu_seconds(p.pid) - cpu
            senders_cpu = sum(os.times()[:2]) - sum(own[:2])
            readers_cpu = sum(cpu_seconds(s.pid) for s in readers if s.poll() is None) - readers_cpu
            per_thread = thread_delta(threads, thread_cpu(p.pid))
            if perf:
                perf.wait()
            sent = metric(http_port, "fleetpulse_mqtt_consumer_messages_sent_total") - sent
            latencies.sort()
            p50, p99 = (latencies[len(latencies) // 2] * 1e3,
                        latencies[min(len(latencies) - 1, len(latencies) * 99 // 100)] * 1e3)
            return {"label": label, "rate": rate, "n": n, "cpu": cpu, "threads": per_thread,
                    "p50": p50, "p99": p99,
                    "readers_cpu": readers_cpu, "senders_cpu": senders_cpu, "sent": sent}

        def start_consumers() -> list:
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
            return subs

        # A (no consumer), then ROUNDS times B (consumers) and C (none again): each B is compared
        # with the phases on either side of it, and those no-consumer phases with each other
        # (the run-to-run noise).
        t_base = 1_710_000_000_000
        phases = [phase("A", t_base, [])]
        alive = 0
        for r in range(args.rounds):
            subs = start_consumers()
            phases.append(phase(f"B{r + 1}" if args.rounds > 1 else "B",
                                t_base + (2 * r + 1) * 10_000_000_000, subs))
            time.sleep(1)
            alive += sum(1 for s in subs if s.poll() is None)
            for s in subs:
                s.terminate()
            for s in subs:
                s.wait(timeout=30)
            time.sleep(1)
            phases.append(phase(f"C{r + 1}" if args.rounds > 1 else "C",
                                t_base + (2 * r + 2) * 10_000_000_000, []))
        cut = metric(http_port, "fleetpulse_mqtt_consumer_overflows_total")
        print(f"\n{args.senders} senders, {args.reader} consumers, load average "
              f"{os.getloadavg()[0]:.1f} at the end")
        offered = f"{args.rate:,.0f} points/s offered" if args.rate else "as fast as answered"
        print(f"\n| phase | consumers on {args.topic} | points/s acknowledged ({offered}) | "
              "points | write latency p50 / p99 ms | server CPU s per 1 M points | readers' | "
              "senders' (this script) |")
        print("|---|---|---|---|---|---|---|---|")
        for ph in phases:
            who = str(args.consumers) if ph["label"].startswith("B") else "0"
            print(f"| {ph['label']} | {who} | {ph['rate']:,.0f} | {ph['n']:,} | "
                  f"{ph['p50']:.1f} / {ph['p99']:.1f} | {ph['cpu'] / ph['n'] * 1e6:.2f} | {ph['readers_cpu'] / ph['n'] * 1e6:.2f} | "
                  f"{ph['senders_cpu'] / ph['n'] * 1e6:.2f} |")
        print("\nserver threads, CPU s per 1 M points, user + system, and wake-ups (voluntary "
              "context switches) per second (the busiest in the first phase with consumers):")
        print("\n| thread | " + " | ".join(ph["label"] for ph in phases) + " |")
        print("|---|" + "---|" * len(phases))
        by_tid = [{t[0]: t for t in ph["threads"]} for ph in phases]
        for tid, name, *_ in phases[1]["threads"][:10]:
            cells = []
            for ph, threads in zip(phases, by_tid):
                t = threads.get(tid, (tid, name, 0.0, 0.0, 0))
                cells.append(f"{t[2] / ph['n'] * 1e6:.2f} + {t[3] / ph['n'] * 1e6:.2f}, "
                             f"{t[4] / args.seconds:,.0f}/s")
            print(f"| {tid} ({name}) | " + " | ".join(cells) + " |")
        print()
        for i in range(1, len(phases), 2):
            before, b, after = phases[i - 1], phases[i], phases[i + 1]
            base_cpu = (before["cpu"] / before["n"] + after["cpu"] / after["n"]) / 2
            extra = b["cpu"] / b["n"] - base_cpu
            print(f"{b['label']}: rate ratio {b['rate'] / before['rate']:.2f} against the phase "
                  f"before, {b['rate'] / after['rate']:.2f} against the phase after "
                  f"(those two: {after['rate'] / before['rate']:.2f}); server CPU per 1 M points "
                  f"{b['cpu'] / b['n'] * 1e6:.2f} against {base_cpu * 1e6:.2f} "
                  f"(+{extra * 1e6:.2f} s); readers' CPU {b['readers_cpu']:.1f} s in "
                  f"{args.seconds:.0f} s (nice {args.consumer_nice}); consumer messages sent "
                  f"{b['sent']:,.0f}, server CPU per consumer message "
                  f"{extra * b['n'] / max(b['sent'], 1) * 1e6:.2f} us")

            def total(ph: dict) -> float:  # every process of the run, per point
                return (ph["cpu"] + ph["readers_cpu"] + ph["senders_cpu"]) / ph["n"]
            print(f"    CPU of server + readers + senders per 1 M points {total(b) * 1e6:.2f} "
                  f"against {(total(before) + total(after)) / 2 * 1e6:.2f}: a CPU-bound machine "
                  f"would run B at {(total(before) + total(after)) / 2 / total(b):.2f}x")
        print(f"consumers cut: {cut:.0f}; consumers still running at the end of their phase: "
              f"{alive}/{args.consumers * args.rounds}")
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
