#!/usr/bin/env python3
"""NATS server kills under write load: a timeline of partition ownership and failed writes.

3 nats-servers + 3 nodes (lease TTL 6 s, 8 partitions), 4 HTTP writers through every node.
Each round kills -9 one nats-server (n0, n1, n2, n0, ...) and restarts it 3 s (fast) or 8 s
(slow) after writes resumed; `slow` waits until the restarted server is current before the
next kill, `fast` kills the next one 1 s after the restart (two of three briefly not current:
no quorum for a while). Prints each change of the served partitions (as each node reports
them) and the windows in which writes failed.

  FLEETPULSE_BIN=build/release/src/app/fleetpulse python3 bench/cluster_nats_kills.py . slow 4
"""
import random
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from fleetpulse_cluster_harness import FleetpulseNode, start_cluster, kill_all  # noqa
from nats_cluster_harness import NatsCluster  # noqa

MODE = sys.argv[2] if len(sys.argv) > 2 else "fast"
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 4
T0 = 1_767_225_600_000
work = Path(tempfile.mkdtemp(prefix="fp-nats-kills-"))
print("work", work, flush=True)
stop = threading.Event()
log = []  # (t, ok)
acked = {}
lock = threading.Lock()
seq = [0]
devices = [f"k-{i}" for i in range(40)]
t_start = time.monotonic()


def writer(nodes, i):
    rnd = random.Random(i)
    while not stop.is_set():
        with lock:
            seq[0] += 1
            ts = T0 + seq[0]
        batch = rnd.sample(devices, 5)
        node = rnd.choice(nodes)
        t = time.monotonic()
        try:
            r = node.post("/api/v1/telemetry", {"readings": [
                {"device_id": d, "metric": "temp", "value": 1.0, "ts": ts} for d in batch]})
            st = r.status
        except Exception:  # noqa: BLE001 - a refused connection counts as a failed write
            st = -1
        with lock:
            log.append((t - t_start, time.monotonic() - t_start, st))
            if st == 200:
                for d in batch:
                    acked.setdefault(d, set()).add(ts)
        if st != 200:
            time.sleep(0.1)


def monitor(nodes):
    last = None
    while not stop.is_set():
        served = {}
        for n in nodes:
            try:
                v = n.get("/api/v1/cluster").body
                served[n.node_id] = [p["id"] for p in v["partitions"] if p["owner"] == n.node_id and p["applied_seq"] is not None]
            except Exception:  # noqa
                served[n.node_id] = None
        owned = set()
        for v in served.values():
            owned |= set(v or [])
        s = (tuple(sorted((k, tuple(v) if v is not None else None) for k, v in served.items())))
        if s != last:
            print(f"  t={time.monotonic()-t_start:6.1f} unowned={sorted(set(range(8))-owned)} {served}", flush=True)
            last = s
        time.sleep(0.3)


with NatsCluster() as nats:
    nodes = [FleetpulseNode(n, nats.urls, work) for n in ("a", "b", "c")]
    try:
        start_cluster(nodes)
        ths = [threading.Thread(target=writer, args=(nodes, i), daemon=True) for i in range(4)]
        ths.append(threading.Thread(target=monitor, args=(nodes,), daemon=True))
        for t in ths:
            t.start()
        time.sleep(3)
        for rnd in range(ROUNDS):
            s = nats.servers[rnd % 3]
            k = time.monotonic()
            print(f"round {rnd}: kill {s.name} at t={k - t_start:.1f}", flush=True)
            nats.kill(s)
            # time until a request sent after the kill succeeds
            while time.monotonic() - k < 60:
                with lock:
                    ok = [e for e in log if e[0] >= k - t_start and e[2] == 200]
                if ok:
                    break
                time.sleep(0.05)
            print(f"  writes resumed after {(ok[0][1] + t_start - k) if ok else -1:.1f}s", flush=True)
            time.sleep(3 if MODE == "fast" else 8)
            nats.start(s)
            r = time.monotonic()
            if MODE == "slow":
                while time.monotonic() - r < 60:
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{s.http_port}/healthz", timeout=2) as h:
                            if h.status == 200:
                                break
                    except OSError:
                        pass
                    time.sleep(0.3)
                print(f"  {s.name} healthy after {time.monotonic()-r:.1f}s", flush=True)
            else:
                time.sleep(1)
        time.sleep(20)
        stop.set()
        time.sleep(1)
        # failures timeline
        with lock:
            fails = [e for e in log if e[2] != 200]
        print("requests", len(log), "failed", len(fails))
        # group failure windows
        win = []
        for e in fails:
            if win and e[0] - win[-1][1] < 1.0:
                win[-1][1] = e[0]; win[-1][2] += 1
            else:
                win.append([e[0], e[0], 1])
        for w in win:
            print(f"  failing {w[0]:.1f}..{w[1]:.1f} ({w[2]} requests)")
    finally:
        kill_all(nodes)
