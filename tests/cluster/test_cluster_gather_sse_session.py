"""The live stream opened with a dashboard session cookie in cluster mode: the node relays every
owner's events (the owners cannot check a cookie of another node's memory, so the relay uses
this node's internal read key), but only while the client's own session stays live — a logout,
or the revocation of the session's key, ends the relayed stream within about a second, as the
session itself ends.

Three real nats-servers and three real fleetpulse nodes; a read-role key, a session made from
it, SSE over a raw socket with the cookie.
"""

from __future__ import annotations

import socket
import time

import pytest

from fleetpulse_cluster_harness import new_key, three_nodes
from sse_client import SseClient

T0 = 1_767_225_600_000
DEVICES = [f"sse-{i:02d}" for i in range(24)]


class CookieSse(SseClient):
    """SseClient authenticated by a session cookie instead of a key."""

    def __init__(self, port: int, cookie: str, path: str = "/api/v1/stream"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
                          f"Cookie: {cookie}\r\n\r\n".encode())
        self.buffer = b""
        head = self._read_until(b"\r\n\r\n")
        self.status = int(head.decode("latin-1").split(" ")[1])
        self.comments: list[str] = []


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with three_nodes(tmp_path_factory.mktemp("fpssesession"), admin_key="cluster-sse-admin-key-0123456789") as nodes:
        yield nodes


def login(node, key: str) -> tuple[str, str]:
    r = node.request("POST", "/api/v1/session", key=key)
    assert r.status in (200, 201), r
    return r.header("Set-Cookie").split(";")[0], r.body["csrf_token"]


def assert_ends(sse: SseClient, within: float) -> None:
    """The server closes the stream within `within` seconds (events before that are fine)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            sse.next_event(timeout=max(0.05, deadline - time.monotonic()))
        except ConnectionError:
            return  # closed by the server
        except TimeoutError:
            continue
    raise AssertionError(f"the relayed stream still runs {within} s later")


def test_a_read_session_sees_every_partitions_events_until_it_logs_out(cluster):
    a, b, _ = cluster
    _, key = new_key(cluster, "read")
    cookie, csrf = login(a, key)
    with CookieSse(a.port, cookie, "/api/v1/stream?device_id=" + ",".join(DEVICES)) as sse:
        assert sse.status == 200
        sse.wait_for("partial", lambda d: d == {"partial": False, "missing_partitions": []},
                     timeout=20)
        batch = [{"device_id": d, "metric": "temp", "value": 2.5, "ts": T0} for d in DEVICES]
        assert b.post("/api/v1/telemetry", {"readings": batch}).status == 200
        seen: set[str] = set()
        deadline = time.monotonic() + 15
        while seen != set(DEVICES) and time.monotonic() < deadline:
            seen.add(sse.wait_for("telemetry", timeout=max(0.1, deadline - time.monotonic()))
                     ["device_id"])
        assert seen == set(DEVICES), sorted(set(DEVICES) - seen)
        # A read session cannot write: its role is the one checked, not the relay's key.
        r = a.request("POST", "/api/v1/devices", {"device_id": "nope"}, key=None,
                      headers={"Cookie": cookie, "X-CSRF-Token": csrf})
        assert r.status == 403, r
        out = a.request("DELETE", "/api/v1/session", key=None,
                        headers={"Cookie": cookie, "X-CSRF-Token": csrf})
        assert out.status in (200, 204), out
        assert_ends(sse, within=5)


def test_revoking_the_sessions_key_ends_the_relayed_stream(cluster):
    _, _, c = cluster
    key_id, key = new_key([c], "read")
    cookie, _ = login(c, key)
    with CookieSse(c.port, cookie) as sse:
        assert sse.status == 200
        sse.wait_for("partial", lambda d: d["partial"] is False, timeout=20)
        assert c.delete(f"/api/v1/admin/api-keys/{key_id}").status in (200, 204)
        assert_ends(sse, within=6)
