"""MQTT 11 — a slow disk, for real (strace delays every fsync of the running server, as in
test_slow_disk.py). MQTT session, subscription and push-queue writes go through the catalog's
write queue and never wait on an MQTT network thread, so clients that do not write the catalog
(PINGREQ, PUBLISH) keep being answered while persistent sessions are stored; the CONNACK of a
persistent session and the SUBACK of its subscriptions leave only once the write is committed,
so a kill -9 right after the SUBACK keeps the subscription. When the disk gate says the disk is
behind, what would write refuses at once with a clear code (v5 0x89 / 0x97, 3.1.1 CONNACK 3 or
a close), counted in fleetpulse_mqtt_shed_total{packet}.

strace (Debian package `strace`) must be installed and allowed to ptrace (root); otherwise the
tests fail with a clear message.
"""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from fleetpulse_harness import metric_value, wait_until
from mqtt_harness import (CONNACK, PINGRESP, PUBACK, SUBACK, V311, V5, VERSIONS, RawClient,
                          connack_code, mqtt_str, packet, publish_packet, start_mqtt_server)
from test_slow_disk import SlowDisk

EXPIRY_300 = b"\x11\x00\x00\x01\x2c"  # v5 Session Expiry Interval 300 s
CLIENT_TIMEOUT_S = 10.0


def subscribe_packet(version: int, topic: str, packet_id: int = 1) -> bytes:
    body = bytes([packet_id >> 8, packet_id & 0xFF]) + (b"\x00" if version == V5 else b"")
    return packet(0x82, body + mqtt_str(topic) + bytes([1]))


def suback_codes(version: int, pkt) -> list[int]:
    assert pkt is not None and pkt[0] == SUBACK, f"expected SUBACK, got {pkt!r}"
    body = pkt[2][2:]
    if version == V5:
        body = body[1 + body[0]:]  # property lengths stay below 128 here
    return list(body)


def persistent(version: int) -> dict:
    return {"clean": False, "properties": EXPIRY_300 if version == V5 else b""}


def drained(server) -> bool:
    q = server.get("/api/v1/health/detailed").json["components"]["disk_queue"]
    return q["catalog_writes_queued"] == 0 and q["state"] == "ok"


def parse_publish(version: int, pkt) -> tuple[str, bytes]:
    body = pkt[2]
    n = int.from_bytes(body[:2], "big")
    i = 2 + n + (2 if (pkt[1] >> 1) & 3 else 0)
    if version == V5:
        i += 1 + body[i]
    return body[2:2 + n].decode(), body[i:]


def test_11_1_persistent_sessions_on_a_slow_disk_do_not_stall_other_clients(start_server,
                                                                             tmp_path):
    """With 2 s fsyncs and four clients storing persistent sessions and subscriptions without
    pause, another client's PINGREQs are answered well under the fsync delay (a network
    thread waiting for one commit would hold them 2 s), a v5 client's PUBLISHes are answered
    (stored or refused with 0x97) before a client times out, every CONNECT and SUBSCRIBE is
    answered too, and every subscription granted is there after kill -9. (Shedding is put off
    here, --disk-shed-after 60s, so the sessions are really stored; 11_3 tests the shedding.)"""
    server = start_mqtt_server(start_server, "--disk-shed-after", "60s")
    devices = [f"s11-{w}-{i}" for w in range(4) for i in range(12)]
    for d in devices + ["pub11", "watch11"]:
        server.create_device(d)
    watcher = RawClient(server.mqtt_port)
    assert connack_code(V311, watcher.connect(V311, client_id="watch11", clean=True)) == 0
    publisher = RawClient(server.mqtt_port)
    assert connack_code(V5, publisher.connect(V5, client_id="pub11", clean=True)) == 0

    def ping() -> float:
        # A QoS 0 PUBLISH, then a PINGREQ: the PINGRESP comes once both were handled.
        started = time.monotonic()
        watcher.send(publish_packet(V311, "devices/watch11/telemetry", b'{"temp": 2.5}'))
        watcher.send(packet(0xC0, b""))
        pkt = watcher.read_packet(timeout=CLIENT_TIMEOUT_S)
        assert pkt is not None and pkt[0] == PINGRESP, pkt
        return time.monotonic() - started

    baseline = max(ping() for _ in range(20))
    slow = SlowDisk(server.proc.pid, tmp_path / "strace.log", 2_000_000)
    stop = threading.Event()
    granted: list[str] = []
    answers: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def sessions(w: int):
        for i in range(12):
            if stop.is_set():
                return
            cid = f"s11-{w}-{i}"
            started = time.monotonic()
            try:
                raw = RawClient(server.mqtt_port, timeout=CLIENT_TIMEOUT_S + 5)
                ack = raw.connect(V311, client_id=cid, clean=False)
                if ack is None or ack[0] != CONNACK:
                    raise AssertionError(f"{cid}: no CONNACK ({ack!r})")
                if connack_code(V311, ack) == 0:
                    raw.send(subscribe_packet(V311, f"devices/{cid}/commands"))
                    codes = suback_codes(V311, raw.read_packet(timeout=CLIENT_TIMEOUT_S + 5))
                    if codes == [1]:
                        with lock:
                            granted.append(cid)
                raw.close()
            except (AssertionError, OSError) as e:
                with lock:
                    failures.append(str(e))
            with lock:
                answers.append(time.monotonic() - started)

    workers = [threading.Thread(target=sessions, args=(w,)) for w in range(4)]
    publishes: list[tuple[float, int]] = []

    def publish():  # QoS 1: answered once durable (2 s fsyncs) or refused
        for pid in range(1, 1000):
            if stop.is_set():
                return
            started = time.monotonic()
            publisher.send(publish_packet(V5, "devices/pub11/telemetry", b'{"temp": 1.5}', qos=1,
                                          packet_id=pid))
            ack = publisher.read_packet(timeout=30)
            with lock:
                if ack is None or ack[0] != PUBACK:
                    failures.append(f"PUBLISH not answered: {ack!r}")
                    return
                publishes.append((time.monotonic() - started, ack[2][2] if len(ack[2]) > 2 else 0))

    workers.append(threading.Thread(target=publish))
    for t in workers:
        t.start()
    pings: list[float] = []
    try:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            pings.append(ping())
            time.sleep(0.1)
    finally:
        stop.set()
        for t in workers:
            t.join(timeout=60)
        slow.detach()
    assert not failures, failures
    assert max(pings) < 1.0, (
        f"PINGREQ took up to {max(pings):.2f}s (baseline {baseline:.3f}s) while persistent "
        f"sessions were stored with 2 s fsyncs: a network thread waited for the disk")
    assert max(answers) < CLIENT_TIMEOUT_S, f"a CONNECT/SUBSCRIBE took {max(answers):.1f}s"
    assert publishes and all(code in (0, 0x97) for _, code in publishes), publishes
    assert granted, "no persistent subscription was granted during the slow period"

    # Every granted subscription is durable: kill -9 once the disk is fast again, then each
    # session resumes and gets a command without subscribing again.
    wait_until(lambda: drained(server), timeout=30, message="catalog write queue drained")
    server.kill()
    server.start()
    for cid in granted:
        raw = RawClient(server.mqtt_port)
        ack = raw.connect(V311, client_id=cid, clean=False)
        assert connack_code(V311, ack) == 0 and ack[2][0] & 1, f"{cid}: session lost ({ack!r})"
        resp = server.post(f"/api/v1/devices/{cid}/commands", {"n": 1})
        assert resp.status == 202 and resp.json["delivered_to"] == 1, (cid, resp)
        topic, payload = parse_publish(V311, raw.read_packet())
        assert topic == f"devices/{cid}/commands", topic
        raw.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_11_2_kill_9_right_after_suback_keeps_the_subscription(start_server, tmp_path, version):
    """With 0.3 s fsyncs (a commit is slow enough that a SUBACK sent before it would win the
    race), the server is killed the moment the SUBACK arrives; after the restart the session
    is present and a command reaches the client without it subscribing again."""
    server = start_mqtt_server(start_server)
    dev = f"k11-{version}"
    server.create_device(dev)
    slow = SlowDisk(server.proc.pid, tmp_path / "strace.log", 300_000)
    try:
        raw = RawClient(server.mqtt_port)
        assert connack_code(version, raw.connect(version, client_id=dev,
                                                 **persistent(version))) == 0
        raw.send(subscribe_packet(version, f"devices/{dev}/commands"))
        assert suback_codes(version, raw.read_packet()) == [1]
        server.kill()  # at once: no fsync of the catalog can have been waited for after this
    finally:
        slow.detach()
    raw.close()
    server.start()
    raw = RawClient(server.mqtt_port)
    ack = raw.connect(version, client_id=dev, **persistent(version))
    assert connack_code(version, ack) == 0
    assert ack[2][0] & 1, "the persistent session acknowledged before kill -9 was lost"
    resp = server.post(f"/api/v1/devices/{dev}/commands", {"n": 7})
    assert resp.status == 202 and resp.json["delivered_to"] == 1, (
        f"the subscription acknowledged by SUBACK was lost by kill -9: {resp!r}")
    topic, payload = parse_publish(version, raw.read_packet())
    assert topic == f"devices/{dev}/commands" and json.loads(payload) == {"n": 7}, payload
    raw.close()


def test_11_3_shed_with_clear_codes_when_the_disk_is_behind(start_server, tmp_path):
    """The disk gate says the disk is behind (fsyncs of 1 s under a stream of device writes,
    --disk-shed-after 300ms): a persistent CONNECT is refused at once (v5 0x89 Server busy,
    3.1.1 return code 3), a persistent session's SUBSCRIBE gets 0x97 (v5), a v5 PUBLISH gets
    PUBACK 0x97 and a 3.1.1 QoS 1 PUBLISH closes the connection unacknowledged; a clean
    session still connects; all counted in /metrics; normal again once the disk is."""
    server = start_mqtt_server(start_server, "--disk-shed-after", "300ms")
    sub5 = RawClient(server.mqtt_port)
    assert connack_code(V5, sub5.connect(V5, client_id="shed-sub5", **persistent(V5))) == 0
    slow = SlowDisk(server.proc.pid, tmp_path / "strace.log", 1_000_000)
    stop = threading.Event()

    def writer(w: int):
        i = 0
        while not stop.is_set():
            try:
                server.post("/api/v1/devices", {"device_id": f"shed-{w}-{i}"})
            except (OSError, http.client.HTTPException):
                pass
            i += 1

    writers = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in writers:
        t.start()

    def answered_within(f):
        started = time.monotonic()
        out = f()
        assert time.monotonic() - started < 5, f"answer took {time.monotonic() - started:.1f}s"
        return out

    try:
        wait_until(lambda: server.get("/api/v1/health/detailed").json["components"]
                   ["disk_queue"]["state"] == "degraded", timeout=30, message="disk gate shedding")

        def connack(version):
            raw = RawClient(server.mqtt_port)
            code = connack_code(version, answered_within(
                lambda: raw.connect(version, client_id=f"shed-p{version}", **persistent(version))))
            raw.close()
            return code

        wait_until(lambda: connack(V5) == 0x89, timeout=20, message="v5 CONNACK 0x89")
        wait_until(lambda: connack(V311) == 3, timeout=20, message="3.1.1 CONNACK 3")

        def subscribe5():
            sub5.send(subscribe_packet(V5, "devices/shed-sub5/commands"))
            return suback_codes(V5, answered_within(lambda: sub5.read_packet()))
        wait_until(lambda: subscribe5() == [0x97], timeout=20, message="v5 SUBACK 0x97")

        clean5 = RawClient(server.mqtt_port)
        assert connack_code(V5, answered_within(
            lambda: clean5.connect(V5, client_id="shed-c5", clean=True))) == 0

        def publish5():
            clean5.send(publish_packet(V5, "devices/shed-c5/telemetry", b'{"t": 1}', qos=1))
            ack = answered_within(lambda: clean5.read_packet())
            assert ack is not None and ack[0] == PUBACK, ack
            return ack[2][2] if len(ack[2]) > 2 else 0
        wait_until(lambda: publish5() == 0x97, timeout=20, message="v5 PUBACK 0x97")

        def publish311():
            raw = RawClient(server.mqtt_port)
            assert connack_code(V311, raw.connect(V311, client_id="shed-c4", clean=True)) == 0
            raw.send(publish_packet(V311, "devices/shed-c4/telemetry", b'{"t": 1}', qos=1))
            pkt = answered_within(lambda: raw.read_packet(timeout=8))
            raw.close()
            return pkt is None  # closed without PUBACK
        wait_until(publish311, timeout=20, message="3.1.1 QoS 1 PUBLISH closed unacknowledged")
    finally:
        stop.set()
        slow.detach()
        for t in writers:
            t.join(timeout=60)
    metrics = server.metrics_text()
    for p in ("connect", "subscribe", "publish"):
        assert (metric_value(metrics, "fleetpulse_mqtt_shed_total", packet=p) or 0) >= 1, p
    # The disk keeps up again: a persistent session connects and subscribes as usual.
    wait_until(lambda: drained(server), timeout=30, message="catalog write queue drained")
    raw = RawClient(server.mqtt_port)
    assert connack_code(V5, raw.connect(V5, client_id="shed-after", **persistent(V5))) == 0
    raw.send(subscribe_packet(V5, "devices/shed-after/commands"))
    assert suback_codes(V5, raw.read_packet()) == [1]
    raw.close()
