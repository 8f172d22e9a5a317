"""MQTT 13 — the PUBLISHes of one socket read go to storage as one batch: each message is still
checked and answered alone (refusals in their turn), the accepted ones are committed together
and acknowledged in publish order, and a PUBACK still means durable (kill -9 right after the
last one loses nothing). Each test runs for 3.1.1 and 5.0; stored data is read back through the
HTTP query API."""

import json

import pytest

from fleetpulse_harness import metric_value
from mqtt_harness import PUBACK, V5, VERSIONS, RawClient, publish_packet, start_mqtt_server
from test_telemetry_ingest import T0, points

BURST = 150
BAD = {11, 57, 123}  # invalid payloads inside the burst


def burst(version: int, prefix: str) -> bytes:
    """BURST QoS 1 PUBLISHes for 4 devices: a reading `n` each, a second metric `m` on every 7th,
    a heartbeat on every 10th, and the BAD ones malformed."""
    out = []
    for i in range(BURST):
        dev = f"{prefix}-{i % 4}"
        if i in BAD:
            topic, payload = f"devices/{dev}/telemetry", b"{oops"
        elif i % 10 == 5:
            topic = f"devices/{dev}/heartbeat"
            payload = json.dumps({"battery_level": i % 100}).encode()
        else:
            reading = {"ts": T0 + i, "n": i}
            if i % 7 == 0:
                reading["m"] = -i
            topic, payload = f"devices/{dev}/telemetry", json.dumps(reading).encode()
        out.append(publish_packet(version, topic, payload, qos=1, packet_id=i + 1))
    return b"".join(out)


def expected(prefix: str, metric: str) -> dict[str, list]:
    want: dict[str, list] = {f"{prefix}-{d}": [] for d in range(4)}
    for i in range(BURST):
        if i in BAD or i % 10 == 5 or (metric == "m" and i % 7):
            continue
        want[f"{prefix}-{i % 4}"].append((T0 + i, i if metric == "n" else -i))
    return want


def batches(server) -> float:
    return metric_value(server.metrics_text(), "fleetpulse_mqtt_ingest_batches_total") or 0


@pytest.mark.parametrize("version", VERSIONS)
def test_13_1_a_burst_is_committed_in_few_batches_acked_in_order_and_survives_kill_9(
        start_server, version):
    server = start_mqtt_server(start_server)
    prefix = f"b13-{version}"
    raw = RawClient(server.mqtt_port)
    raw.connect(version, client_id=f"burst-{version}")
    before = batches(server)
    raw.send(burst(version, prefix))  # one write: the server reads it in one or a few reads
    acks = []
    for _ in range(BURST):
        pkt = raw.read_packet()
        assert pkt is not None and pkt[0] == PUBACK, pkt
        acks.append((int.from_bytes(pkt[2][:2], "big"), pkt[2][2] if len(pkt[2]) > 2 else 0))
    assert [a[0] for a in acks] == list(range(1, BURST + 1))
    if version == V5:
        assert [i for i, (_, code) in enumerate(acks) if code] == sorted(BAD)
    # One message per batch would be 135 telemetry batches; the reads of one 20 KB write
    # (heartbeats in between split them) take far fewer.
    submitted = batches(server) - before
    assert 1 <= submitted <= 40, submitted
    server.kill()  # SIGKILL right after the last PUBACK
    server.start()
    for metric in ("n", "m"):
        for dev, want in expected(prefix, metric).items():
            assert points(server, dev, metric) == want, (dev, metric)
    assert server.get(f"/api/v1/devices/{prefix}-1").json["battery_level"] == 45  # i = 145
    raw.close()
