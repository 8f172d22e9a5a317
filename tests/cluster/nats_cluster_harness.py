"""Starts a JetStream cluster of three real nats-server processes on loopback for tests.

Each server gets free client, cluster (route) and monitoring ports and its own temporary
store directory; they are named n0, n1, n2 and joined by routes to each other. The cluster is
ready when every server's /jsz reports a meta leader. Used by tests/cluster and, later, by the
fleetpulse cluster integration tests (3 NATS + 3 nodes).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def distinct_free_ports(count: int) -> list[int]:
    """`count` different ports, all free a moment ago: the sockets stay bound until every port
    is picked, so the kernel cannot hand the same port out twice (a cluster port equal to
    another server's monitor port once made a CI run fail)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def nats_server_binary() -> str:
    """The nats-server executable, or a failure naming the package that provides it."""
    path = shutil.which("nats-server") or ("/usr/sbin/nats-server"
                                           if os.path.exists("/usr/sbin/nats-server") else None)
    if path is None:
        raise RuntimeError("nats-server is not installed: run scripts/install-deps.sh "
                           "(Debian package nats-server, 2.9)")
    return path


@dataclass
class NatsServer:
    name: str
    client_port: int
    cluster_port: int
    http_port: int
    store_dir: str
    conf_path: str
    log_path: str
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"


@dataclass
class NatsCluster:
    """Three nats-server processes forming one JetStream cluster. Use as a context manager."""
    size: int = 3
    servers: list[NatsServer] = field(default_factory=list)
    workdir: str = ""

    def __enter__(self) -> "NatsCluster":
        binary = nats_server_binary()
        self.workdir = tempfile.mkdtemp(prefix="fp-nats-")
        # Another process may take a picked port before nats-server binds it: start again with
        # fresh ports when a server dies of "address already in use".
        for attempt in range(3):
            self.configure(attempt)
            for s in self.servers:
                self.start(s, binary)
            try:
                self.wait_ready()
                return self
            except RuntimeError:
                if attempt == 2 or not self.port_clash():
                    self.__exit__(None, None, None)
                    raise
                self.stop_all()
        return self

    def configure(self, attempt: int) -> None:
        """Picks distinct ports and writes each server's config under workdir/attempt-N."""
        ports = distinct_free_ports(3 * self.size)
        self.servers = []
        for i in range(self.size):
            d = os.path.join(self.workdir, f"try{attempt}", f"n{i}")
            os.makedirs(d)
            self.servers.append(NatsServer(f"n{i}", *ports[3 * i:3 * i + 3],
                                           os.path.join(d, "store"), os.path.join(d, "nats.conf"),
                                           os.path.join(d, "nats.log")))
        routes = ", ".join(f"nats-route://127.0.0.1:{s.cluster_port}" for s in self.servers)
        for s in self.servers:
            with open(s.conf_path, "w") as f:
                f.write(f"""server_name: {s.name}
listen: 127.0.0.1:{s.client_port}
http: 127.0.0.1:{s.http_port}
jetstream {{ store_dir: "{s.store_dir}" }}
cluster {{
  name: fp-test
  listen: 127.0.0.1:{s.cluster_port}
  routes: [{routes}]
}}
""")

    def port_clash(self) -> bool:
        """Whether a server's log says one of its ports was already taken."""
        for s in self.servers:
            if os.path.exists(s.log_path) and "address already in use" in open(s.log_path).read():
                return True
        return False

    def stop_all(self) -> None:
        for s in self.servers:
            if s.proc and s.proc.poll() is None:
                s.proc.terminate()
                try:
                    s.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    s.proc.kill()
                    s.proc.wait()

    def start(self, s: NatsServer, binary: str | None = None) -> None:
        """Starts (or restarts, with the same store) one server."""
        s.proc = subprocess.Popen([binary or nats_server_binary(), "-c", s.conf_path,
                                   "-l", s.log_path],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Waits until every running server sees a JetStream meta leader."""
        deadline = time.monotonic() + timeout
        pending = [s for s in self.servers if s.proc and s.proc.poll() is None]
        while pending and time.monotonic() < deadline:
            s = pending[0]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{s.http_port}/jsz", timeout=1) as r:
                    jsz = json.load(r)
                if (jsz.get("meta_cluster") or {}).get("leader"):
                    pending.pop(0)
                    continue
            except OSError:
                pass
            time.sleep(0.2)
        if pending:
            logs = {s.name: open(s.log_path).read()[-2000:] for s in self.servers
                    if os.path.exists(s.log_path)}
            raise RuntimeError(f"NATS cluster not ready after {timeout}s: {logs}")

    def wait_current(self, s: NatsServer, timeout: float = 60.0) -> float:
        """Waits until `s` answers /healthz with 200 (nats-server 2.9: JetStream current, its
        streams caught up); returns the seconds it took, or raises naming the server."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{s.http_port}/healthz",
                                            timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"nats-server {s.name} not current after {timeout}s")

    def request(self, s: NatsServer, subject: str, payload: dict | None = None,
                timeout: float = 5.0) -> dict:
        """One NATS request/reply through server `s` (the plain text protocol, no client
        library), e.g. a JetStream API call; returns the JSON reply."""
        body = json.dumps(payload or {}).encode()
        with socket.create_connection(("127.0.0.1", s.client_port), timeout=timeout) as c:
            f = c.makefile("rb")
            f.readline()  # INFO
            c.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":false}\r\n'
                      b"SUB _INBOX.fptest 1\r\n"
                      + f"PUB {subject} _INBOX.fptest {len(body)}\r\n".encode() + body
                      + b"\r\n")
            while True:
                line = f.readline()
                if not line:
                    raise RuntimeError(f"{s.name} closed the connection: {subject}")
                if line.startswith(b"PING"):
                    c.sendall(b"PONG\r\n")
                elif line.startswith(b"MSG"):
                    size = int(line.split()[-1])
                    return json.loads(f.read(size + 2)[:size])
                elif line.startswith(b"-ERR"):
                    raise RuntimeError(f"{s.name}: {line!r}")

    def stream_leader(self, stream: str) -> str:
        """The name of the server leading `stream` (asked of the first running server)."""
        s = next(x for x in self.servers if x.proc and x.proc.poll() is None)
        return self.request(s, f"$JS.API.STREAM.INFO.{stream}")["cluster"]["leader"]

    def kill(self, s: NatsServer, sig: int = signal.SIGKILL) -> None:
        if s.proc and s.proc.poll() is None:
            s.proc.send_signal(sig)
            s.proc.wait(timeout=10)

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    @property
    def pids(self) -> list[int]:
        return [s.proc.pid if s.proc else -1 for s in self.servers]

    def __exit__(self, *exc) -> None:
        self.stop_all()
        shutil.rmtree(self.workdir, ignore_errors=True)
