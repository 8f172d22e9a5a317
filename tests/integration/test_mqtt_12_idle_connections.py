"""MQTT 12 — idle connections are cheap and input is parsed wherever it is cut: an idle plain
connection holds no read buffer (it waits for readability and reads into its thread's scratch
buffer), so 2,000 idle connections cost far less than the 4 KiB each they took before; a packet
cut at any byte (CONNECT and PUBLISH sent one byte at a time, a PUBLISH split between two
writes next to whole packets) is put together from the connection's own tail buffer; and the
server-wide keep-alive sweep that replaced the per-connection timers still closes a socket that
never sends CONNECT (connect timeout, 10 s)."""

import json
import os
import socket
import time

import pytest

from mqtt_harness import (PUBACK, VERSIONS, RawClient, connack_code, connect_packet,
                          publish_packet, start_mqtt_server)
from test_telemetry_ingest import T0, points


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/{pid}/status")


@pytest.mark.parametrize("version", VERSIONS)
def test_12_1_packets_cut_at_every_byte_are_put_together_in_order(start_server, version):
    server = start_mqtt_server(start_server)
    raw = RawClient(server.mqtt_port)
    for b in connect_packet(version, client_id=f"bytes-{version}"):
        raw.send(bytes([b]))
        time.sleep(0.001)
    assert connack_code(version, raw.read_packet()) == 0
    pubs = [publish_packet(version, f"devices/cut-{version}/telemetry",
                           json.dumps({"ts": T0 + i, "i": i}).encode(), qos=1, packet_id=i + 1)
            for i in range(40)]
    for b in pubs[0]:  # one byte per write
        raw.send(bytes([b]))
        time.sleep(0.001)
    # Whole packets with one cut in the middle of a packet, in two writes.
    rest = b"".join(pubs[1:])
    half = len(rest) // 2 + 3
    raw.send(rest[:half])
    time.sleep(0.05)
    raw.send(rest[half:])
    ids = []
    for _ in pubs:
        pkt = raw.read_packet()
        assert pkt is not None and pkt[0] == PUBACK, pkt
        ids.append(int.from_bytes(pkt[2][:2], "big"))
    assert ids == list(range(1, len(pubs) + 1))
    assert [v for _, v in points(server, f"cut-{version}", "i")] == [float(i) for i in range(40)]


def test_12_2_a_socket_that_never_sends_connect_is_closed_by_the_sweep(start_server):
    server = start_mqtt_server(start_server)
    silent = socket.create_connection(("127.0.0.1", server.mqtt_port), timeout=20)
    half = socket.create_connection(("127.0.0.1", server.mqtt_port), timeout=20)
    half.sendall(connect_packet(4, client_id="half")[:5])  # a CONNECT that never completes
    start = time.monotonic()
    for s in (silent, half):
        assert s.recv(1) == b"", "the server sent something instead of closing"
    elapsed = time.monotonic() - start
    assert 8 <= elapsed <= 16, f"closed after {elapsed:.1f}s; the connect timeout is 10 s"


def idle_rss_per_connection(start_server, n: int, n_warm: int) -> tuple[float, bool]:
    """RSS the server gains per idle connection (n clients that sent CONNECT and got their
    CONNACK, after n_warm that warm the thread caches, pools and tables), and whether the
    server runs under AddressSanitizer. Under ASan freed memory waits in a quarantine before it
    is reused, and every allocation carries red zones: the quarantine is kept small."""
    asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=8"]))
    server = start_mqtt_server(start_server, "--mqtt-max-connections", "5000",
                               env={"ASAN_OPTIONS": asan})
    pid = server.proc.pid
    with open(f"/proc/{pid}/maps") as f:
        under_asan = "libasan" in f.read()
    warm = [RawClient(server.mqtt_port) for _ in range(n_warm)]
    for i, c in enumerate(warm):
        assert connack_code(4, c.connect(4, client_id=f"warm-{i}", keepalive=600)) == 0
    time.sleep(0.5)
    before = rss_bytes(pid)
    clients = []
    for i in range(n):
        c = RawClient(server.mqtt_port)
        c.send(connect_packet(4, client_id=f"idle-{i}", keepalive=600))
        clients.append(c)
    for c in clients:
        assert connack_code(4, c.read_packet()) == 0
    time.sleep(1)
    per_connection = (rss_bytes(pid) - before) / n
    for c in clients + warm:
        c.close()
    return per_connection, under_asan


def test_12_3_idle_connections_hold_no_read_buffer(start_server):
    """RSS grows by far less than the 4,264 bytes per idle connection of the per-connection
    1 KiB read buffer, TLS-sized transport, deque and timer (1,725 measured after). Under ASan,
    twice the bound (its build of main before this branch still fails it)."""
    per_connection, asan = idle_rss_per_connection(start_server, 2000, 50)
    bound = 6000 if asan else 3000
    assert per_connection < bound, f"{per_connection:.0f} bytes of RSS per idle connection"


def test_12_4_an_idle_connection_costs_less_than_1_1_kib(start_server):
    """Issue 16's target is 1 KiB of RSS per idle connection (Mosquitto: 734 B). Before the
    per-thread io_contexts, the traffic block and the exact-size idle wait it was ~1,260 B in
    release; now ~960-1,010 B (bench/run_mqtt_comparison.sh, HOLD=5000). The bound, 1,150 B,
    leaves room for the measurement's noise and still fails the build before (1,331 B here).
    Under AddressSanitizer (red zones on every allocation) the bound of test_12_3 applies."""
    per_connection, asan = idle_rss_per_connection(start_server, 3000, 100)
    bound = 6000 if asan else 1150
    assert per_connection < bound, f"{per_connection:.0f} bytes of RSS per idle connection"
