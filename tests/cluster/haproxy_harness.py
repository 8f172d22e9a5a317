"""haproxy (Debian package) in front of the cluster's nodes: HTTP (mode http, health check
GET /ready) and MQTT (mode tcp), round robin, on free loopback ports."""

from __future__ import annotations

import http.client
import shutil
import subprocess
import time
from pathlib import Path

from fleetpulse_harness import Response, exchange, free_port


class Haproxy:
    def __init__(self, workdir: Path, http_ports: list[int], mqtt_ports: list[int]):
        self.binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(self.binary).exists():
            raise RuntimeError("haproxy is not installed: scripts/install-deps.sh")
        self.http_port = free_port()
        self.mqtt_port = free_port()
        self.config = workdir / "haproxy.cfg"
        lines = ["global", "  maxconn 2000", "defaults", "  timeout connect 2s",
                 "  timeout client 60s", "  timeout server 60s", "  retries 2",
                 "  option redispatch",
                 "frontend http", "  mode http", f"  bind 127.0.0.1:{self.http_port}",
                 "  default_backend nodes", "backend nodes", "  mode http", "  balance roundrobin",
                 "  option httpchk GET /ready", "  default-server inter 300ms fall 2 rise 2"]
        lines += [f"  server n{i} 127.0.0.1:{p} check" for i, p in enumerate(http_ports)]
        lines += ["frontend mqtt", "  mode tcp", f"  bind 127.0.0.1:{self.mqtt_port}",
                  "  default_backend mqtt_nodes", "backend mqtt_nodes", "  mode tcp",
                  "  balance roundrobin", "  default-server inter 300ms fall 2 rise 2"]
        lines += [f"  server m{i} 127.0.0.1:{p} check" for i, p in enumerate(mqtt_ports)]
        self.config.write_text("\n".join(lines) + "\n")
        self.log = open(workdir / "haproxy.log", "wb")
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Haproxy":
        subprocess.run([self.binary, "-c", "-q", "-f", str(self.config)], check=True)
        self.proc = subprocess.Popen([self.binary, "-db", "-f", str(self.config)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/health").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("haproxy did not come up")

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def request(self, method: str, path: str, body=None, timeout: float = 15) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        try:
            return exchange(conn, method, path, body)
        finally:
            conn.close()
