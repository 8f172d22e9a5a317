"""Three fleetpulse nodes in cluster mode on a 3-server JetStream cluster, all on loopback.

FleetpulseNode is the integration harness's FleetpulseServer (real binary, free port, waits
for /ready) started with --cluster, --node-id and --advertise pointing at its own port. Used by
test_cluster_nodes.py; the NATS side is nats_cluster_harness.NatsCluster.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

from fleetpulse_harness import FleetpulseServer, free_port  # noqa: E402
from nats_cluster_harness import NatsCluster  # noqa: E402

# Short leases keep failover tests quick; production default is 20 s (docs/cluster.md).
LEASE_TTL = "6s"
LEASE_TTL_S = 6.0
PARTITIONS = 8


def fnv1a64(data: bytes) -> int:
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def partition_of(device_id: str, partitions: int = PARTITIONS) -> int:
    """The partition function of docs/cluster.md, independently of the C++ code."""
    return fnv1a64(device_id.encode()) % partitions


class FleetpulseNode(FleetpulseServer):
    """With `mqtt=True` the node also runs the MQTT endpoint, on a port picked afresh for every
    start attempt (`self.mqtt_port`): a retry after "address in use" must not reuse the port
    that was taken."""

    def __init__(self, node_id: str, nats_urls: list[str], workdir: Path,
                 partitions: int = PARTITIONS, replicas: int = 3, extra: list[str] | None = None,
                 mqtt: bool = False):
        self.node_id = node_id
        self.nats_urls = nats_urls
        self.partitions = partitions
        self.replicas = replicas
        self.mqtt = mqtt
        self.mqtt_port: int | None = None
        self._retry = False
        data = workdir / node_id
        data.mkdir(parents=True, exist_ok=True)
        super().__init__(data, workdir / f"{node_id}.log", list(extra or []))

    def command(self, port: int) -> list[str]:
        cmd = super().command(port)
        if self.mqtt:  # in place of the base's "--mqtt off"
            cmd[cmd.index("--mqtt") + 1] = f"127.0.0.1:{self.mqtt_port}"
        return cmd + [
            "--cluster", ",".join(self.nats_urls), "--node-id", self.node_id,
            "--advertise", f"http://127.0.0.1:{port}", "--partitions", str(self.partitions),
            "--replicas", str(self.replicas), "--lease-ttl", LEASE_TTL]

    def _spawn(self, port: int) -> None:
        # A node joins the cluster (its presence key node.<id>) before it binds its listeners:
        # an attempt that died of "address in use" after joining leaves the key for one lease
        # TTL, and a retry within it would be refused as a duplicate node id.
        if self._retry and "event=cluster_joined" in self.log().rsplit("\n=== ", 1)[-1]:
            time.sleep(LEASE_TTL_S + 1)
        if self.mqtt:
            self.mqtt_port = free_port()
        self._retry = True  # the next _spawn within this start() is a retry
        super()._spawn(port)

    def start(self) -> "FleetpulseNode":
        self._retry = False
        return super().start()

    def cluster(self) -> dict:
        r = self.get("/api/v1/cluster")
        assert r.status == 200, r
        return r.body


def owners(node: FleetpulseNode) -> dict[int, str | None]:
    return {p["id"]: p["owner"] for p in node.cluster()["partitions"]}


def wait_all_owned(nodes: list[FleetpulseNode], timeout: float, among: set[str] | None = None,
                   balanced: bool = False) -> dict[int, str]:
    """Waits until every partition has an owner (one of `among`, if given) that serves it, as
    each owner itself reports, and every node that answers names that owner in its view (so a
    request through any of them finds it) — with `balanced`, also no running node above its fair
    share ceil(N / running nodes); returns partition -> owner."""
    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        served: dict[int, str] = {}
        views: list[dict[int, str]] = []
        for n in nodes:
            if not n.running:
                continue
            try:
                view = n.cluster()
            except Exception:  # noqa: BLE001 - a node may be restarting or paused
                continue
            views.append({p["id"]: p["owner"] for p in view["partitions"]})
            for p in view["partitions"]:
                if p["owner"] == n.node_id and p["applied_seq"] is not None:
                    served[p["id"]] = n.node_id
        last = served
        parts = nodes[0].partitions
        running = sum(1 for n in nodes if n.running)
        cap = -(-parts // max(1, running))
        fair = not balanced or all(list(served.values()).count(o) <= cap for o in served.values())
        agreed = all(v == served for v in views)
        if (len(served) == parts and (among is None or set(served.values()) <= among) and fair
                and agreed):
            return served
        time.sleep(0.3)
    raise AssertionError(f"partitions not all owned within {timeout}s: {last}")


def start_cluster(nodes: list[FleetpulseNode]) -> None:
    """Starts every node, waits until each lists all of them, then until every partition has an
    owner and the partitions are spread evenly (`wait_all_owned(..., balanced=True)`)."""
    for n in nodes:
        n.start()
    deadline = time.monotonic() + 4 * LEASE_TTL_S
    while time.monotonic() < deadline and not all(
            len(n.cluster()["nodes"]) == len(nodes) for n in nodes):
        time.sleep(0.2)
    wait_all_owned(nodes, timeout=6 * LEASE_TTL_S, balanced=True)


def kill_all(nodes: list[FleetpulseNode]) -> None:
    """kill -9 every node, resuming a paused one first (a stopped process cannot be reaped)."""
    for n in nodes:
        if n.running:
            n.send_signal(signal.SIGCONT)
        n.kill()


@contextlib.contextmanager
def three_nodes(work: Path, admin_key: str | None = None, **node_args):
    """Three nats-servers as one JetStream cluster and nodes a, b and c on them, started (with
    `admin_key`, auth on); every node killed at the end. `node_args` go to FleetpulseNode."""
    with NatsCluster() as nats:
        if admin_key:
            node_args["extra"] = [*node_args.get("extra", []), "--auth", "on"]
        nodes = [FleetpulseNode(n, nats.urls, work, **node_args) for n in ("a", "b", "c")]
        for n in nodes:
            if admin_key:
                n.admin_key = admin_key
        try:
            start_cluster(nodes)
            yield nodes
        finally:
            kill_all(nodes)


def served_by(node: FleetpulseNode) -> set[int]:
    """The partitions `node` says it owns."""
    return {p["id"] for p in node.cluster()["partitions"] if p["owner"] == node.node_id}


def new_key(nodes: list[FleetpulseNode], role: str) -> tuple[str, str]:
    """An API key of `role` made through nodes[0], once every node of `nodes` accepts it (an
    owner checks a forwarded session write against its own copy of the key): (id, key)."""
    r = nodes[0].post("/api/v1/admin/api-keys", {"name": f"{role}-{time.monotonic_ns()}",
                                                  "role": role})
    assert r.status == 201, r
    key = r.body["key"]
    deadline = time.monotonic() + 10
    while not all(n.get("/api/v1/devices?limit=1", key=key).status == 200 for n in nodes):
        assert time.monotonic() < deadline, "the key did not reach every node"
        time.sleep(0.2)
    return r.body["id"], key


@contextlib.contextmanager
def cluster_beside_single(work: Path, node_class=FleetpulseNode, start=None):
    """Three real nats-servers, nodes a, b and c started by `start` (default `start_cluster`)
    and one single-node fleetpulse with its own data dir, to compare answers on the same data;
    yields (nodes, single) and kills them all at the end."""
    with NatsCluster() as nats:
        nodes = [node_class(n, nats.urls, work) for n in ("a", "b", "c")]
        (work / "single").mkdir()
        single = FleetpulseServer(work / "single", work / "single.log")
        try:
            (start or start_cluster)(nodes)
            single.start()
            yield nodes, single
        finally:
            kill_all(nodes)
            single.kill()


def wait_points_applied(node: FleetpulseNode, count: int, timeout: float = 30.0) -> dict:
    """Waits until `node`'s gathered stats are complete and count `count` stored points."""
    deadline = time.monotonic() + timeout
    stats: dict = {}
    while time.monotonic() < deadline:
        stats = node.get("/api/v1/stats").body
        if not stats.get("partial") and stats.get("points_stored") == count:
            return stats
        time.sleep(0.2)
    raise AssertionError(f"readings not applied everywhere: {stats}")


def node_by_id(nodes: list[FleetpulseNode], node_id: str) -> FleetpulseNode:
    return next(n for n in nodes if n.node_id == node_id)


def env_binary_ok() -> None:
    if not os.environ.get("FLEETPULSE_BIN") and not (
            HERE.parent.parent / "build" / "release" / "src" / "app" / "fleetpulse").exists():
        raise RuntimeError("fleetpulse binary not built: scripts/build.sh release")
