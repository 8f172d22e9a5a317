"""An owner killed (kill -9) in the middle of a gathered export must not make the export look
complete. Owners stream their part with chunked encoding, so the gathering node tells a clean
end (the last chunk) from a cut connection; it then says partial in the NDJSON trailer, naming
the dead owner's partitions, and ends a CSV export without its own last chunk (the client's
HTTP library reports an incomplete body).

Three real nats-servers and three real fleetpulse nodes; the export is big enough (several
times the socket buffers and the 2 MiB pacing queue per owner) that the killed owner has not
sent its whole part when it dies.
"""

from __future__ import annotations

import http.client
import json
import time

import pytest

from fleetpulse_cluster_harness import (FleetpulseNode, NatsCluster, kill_all, start_cluster,
                                        wait_all_owned, wait_points_applied)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, ms
DEVICES = [f"cut-{i:02d}" for i in range(48)]
PER_DEVICE = 12_000  # 576,000 points: ~50 MB of NDJSON over three owners
EXPORT = "/api/v1/export?start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("fpcut")
    with NatsCluster() as nats:
        nodes = [FleetpulseNode(n, nats.urls, work) for n in ("a", "b", "c")]
        try:
            start_cluster(nodes)
            for k0 in range(0, PER_DEVICE, 500):
                body = {"readings": [{"device_id": d, "metric": "temp", "value": float(i + k),
                                      "ts": T0 + 5_000 * k}
                                     for i, d in enumerate(DEVICES)
                                     for k in range(k0, k0 + 500)]}
                r = nodes[k0 // 500 % 3].post("/api/v1/telemetry", body)
                assert r.status == 200, r
            wait_points_applied(nodes[0], len(DEVICES) * PER_DEVICE, timeout=120)
            yield nodes
        finally:
            kill_all(nodes)


def open_export(node, fmt: str):
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=60)
    conn.request("GET", f"{EXPORT}&format={fmt}",
                 headers={"Authorization": f"Bearer {node.admin_key}"})
    r = conn.getresponse()
    assert r.status == 200, (r.status, r.read())
    assert r.headers.get("X-Fleetpulse-Partial") is None, dict(r.headers)
    assert r.headers.get("Transfer-Encoding") == "chunked", dict(r.headers)
    return conn, r


def owned_by(node) -> list[int]:
    return sorted(p["id"] for p in node.cluster()["partitions"] if p["owner"] == node.node_id)


def test_an_owner_killed_mid_export_makes_ndjson_partial_and_csv_incomplete(cluster):
    a, b, c = cluster
    # A complete export first: its last chunk arrives and every line is there.
    conn, r = open_export(a, "ndjson")
    lines = r.read().decode().splitlines()
    conn.close()
    assert len(lines) == len(DEVICES) * PER_DEVICE, lines[-1]
    assert json.loads(lines[-1])["device_id"], lines[-1]

    # NDJSON through a; c (its part streamed last) is killed while a's part is still read.
    gone = owned_by(c)
    assert gone
    conn, r = open_export(a, "ndjson")
    head = r.read(64 * 1024)
    time.sleep(0.5)
    c.kill()
    rest = r.read()  # the gathering node ends its own body cleanly, with a trailer
    conn.close()
    lines = (head + rest).decode().splitlines()
    assert len(lines) < len(DEVICES) * PER_DEVICE
    trailer = json.loads(lines[-1])
    assert trailer.get("partial") is True, lines[-1]
    assert set(gone) <= set(trailer["missing_partitions"]), (gone, trailer)

    # CSV through a once c's partitions have moved to a and b; b is killed mid-export.
    wait_all_owned([a, b], timeout=60, among={"a", "b"})
    wait_points_applied(a, len(DEVICES) * PER_DEVICE, timeout=120)
    conn, r = open_export(a, "csv")
    head = r.read(64 * 1024)
    assert head.startswith(b"device_id,metric,ts,value\n")
    time.sleep(0.5)
    b.kill()
    with pytest.raises(http.client.IncompleteRead):
        r.read()
    conn.close()
