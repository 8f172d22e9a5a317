"""MQTT helpers for the black-box conformance suite (tests/integration/test_mqtt_*.py).

Three ways to talk to the server, all real: `mosquitto_pub`/`mosquitto_sub` (Debian
mosquitto-clients), paho-mqtt (Debian python3-paho-mqtt), and raw bytes over a socket for what
well-behaved clients never send. `VERSIONS` parametrizes every test for MQTT 3.1.1 and 5.0.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import threading
import time

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
import pytest

from fleetpulse_harness import free_port, wait_until

V311, V5 = 4, 5
VERSIONS = [pytest.param(V311, id="mqtt311"), pytest.param(V5, id="mqtt5")]


@pytest.fixture(scope="module")
def mqtt_shared(module_server_factory):
    """One MQTT-enabled server (auth off) for the tests of a module that use unique ids."""
    return start_mqtt_server(module_server_factory)


def start_mqtt_server(start_server, *args, **kw):
    """A fleetpulse server with its MQTT listener on a free port (`server.mqtt_port`)."""
    port = free_port()
    server = start_server("--mqtt", f"127.0.0.1:{port}", *args, **kw)
    server.mqtt_port = port
    return server


# --------------------------------------------------------------------------------------------
# mosquitto-clients


def mosquitto_pub(port: int, version: int, topic: str, message: str, qos: int = 1,
                  user: str | None = None, password: str | None = None,
                  extra: tuple = ()) -> subprocess.CompletedProcess:
    """Runs mosquitto_pub to completion (it exits 0 once a QoS 1/2 message is acknowledged)."""
    cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-V",
           "mqttv5" if version == V5 else "mqttv311", "-q", str(qos), "-t", topic, "-m", message,
           "-d", *extra]
    if user is not None:
        cmd += ["-u", user]
    if password is not None:
        cmd += ["-P", password]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=20)


# --------------------------------------------------------------------------------------------
# paho


class PahoClient:
    """A connected paho client running its network loop in a thread; remembers what arrives."""

    def __init__(self, port: int, version: int, client_id: str = "", username: str | None = None,
                 password: str | None = None, clean: bool = True, will=None, keepalive: int = 30,
                 expect_rc: int | None = 0):
        self.version = version
        proto = paho.MQTTv5 if version == V5 else paho.MQTTv311
        kw = {} if version == V5 else {"clean_session": clean}
        self.client = paho.Client(client_id=client_id, protocol=proto, **kw)
        if username is not None:
            self.client.username_pw_set(username, password)
        if will is not None:
            self.client.will_set(*will)
        self.connack = threading.Event()
        self.rc = None
        self.session_present = None
        self.disconnected = threading.Event()
        self.disconnect_rc = None
        self.messages: list[paho.MQTTMessage] = []
        self.suback = threading.Event()
        self.granted = None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda c, u, m: self.messages.append(m)
        self.client.on_subscribe = self._on_subscribe
        connect_kw = {"keepalive": keepalive}
        if version == V5:
            connect_kw["clean_start"] = clean
            if not clean:  # a v5 session outlives the connection only with an expiry interval
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = 300
                connect_kw["properties"] = props
        self.client.connect("127.0.0.1", port, **connect_kw)
        self.client.loop_start()
        assert self.connack.wait(10), "no CONNACK"
        if expect_rc is not None:
            assert self.rc == expect_rc, f"CONNACK {self.rc!r}, expected {expect_rc}"

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        self.rc = rc.value if hasattr(rc, "value") else rc
        self.session_present = flags.get("session present")
        self.connack.set()

    def _on_disconnect(self, client, userdata, rc, properties=None):
        self.disconnect_rc = rc.value if hasattr(rc, "value") else rc
        self.disconnected.set()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        self.granted = [g.value if hasattr(g, "value") else g for g in granted]
        self.suback.set()

    def publish(self, topic: str, payload: str, qos: int = 1, timeout: float = 10):
        info = self.client.publish(topic, payload, qos=qos)
        if qos > 0:
            info.wait_for_publish(timeout)
            assert info.is_published(), f"no acknowledgement for {topic} within {timeout}s"
        return info

    def subscribe(self, topic: str, qos: int = 1):
        self.suback.clear()
        self.client.subscribe(topic, qos)
        assert self.suback.wait(10), "no SUBACK"
        return self.granted

    def wait_messages(self, n: int, timeout: float = 10):
        return wait_until(lambda: len(self.messages) >= n and self.messages, timeout,
                          message=f"{n} messages")

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


# --------------------------------------------------------------------------------------------
# raw bytes


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def mqtt_str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + varint(len(body)) + body


def connect_packet(version: int, client_id: str = "", keepalive: int = 30, clean: bool = True,
                   username: str | None = None, password: str | None = None,
                   properties: bytes = b"", level: int | None = None,
                   will: tuple[str, bytes, int] | None = None) -> bytes:
    """CONNECT; `will` is (topic, payload, qos)."""
    flags = (0x02 if clean else 0) | (0x80 if username is not None else 0) | \
        (0x40 if password is not None else 0)
    if will is not None:
        flags |= 0x04 | (will[2] << 3)
    body = mqtt_str("MQTT") + bytes([version if level is None else level, flags]) + struct.pack("!H", keepalive)
    if version == V5:
        body += varint(len(properties)) + properties
    body += mqtt_str(client_id)
    if will is not None:
        if version == V5:
            body += b"\x00"  # no will properties
        body += mqtt_str(will[0]) + mqtt_str(will[1])
    if username is not None:
        body += mqtt_str(username)
    if password is not None:
        body += mqtt_str(password)
    return packet(0x10, body)


def publish_packet(version: int, topic: str | bytes, payload: bytes, qos: int = 0,
                   packet_id: int = 1, properties: bytes = b"", flags: int | None = None) -> bytes:
    body = mqtt_str(topic)
    if qos:
        body += struct.pack("!H", packet_id)
    if version == V5:
        body += varint(len(properties)) + properties
    first = 0x30 | (qos << 1) if flags is None else 0x30 | flags
    return packet(first, body + payload)


class RawClient:
    """A socket speaking MQTT byte by byte; read_packet() returns (type, flags, body)."""

    def __init__(self, port: int, timeout: float = 10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self, n: int, deadline: float) -> bool:
        while len(self.buf) < n:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, ConnectionResetError):
                return False
            if not data:
                return False
            self.buf += data
        return True

    def read_packet(self, timeout: float = 10):
        """The next packet as (type, flags, body), or None when the server closed the socket."""
        deadline = time.monotonic() + timeout
        if not self._fill(2, deadline):
            return None
        length, mult, i = 0, 1, 1
        while True:
            if not self._fill(i + 1, deadline):
                return None
            b = self.buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
        if not self._fill(i + length, deadline):
            return None
        first = self.buf[0]
        body = self.buf[i:i + length]
        self.buf = self.buf[i + length:]
        return first >> 4, first & 0x0F, body

    def is_closed(self, timeout: float = 5) -> bool:
        """True when the server closes the connection within `timeout` (packets are skipped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.read_packet(deadline - time.monotonic()) is None:
                return time.monotonic() < deadline
        return False

    def connect(self, version: int, **kw):
        """CONNECT and return the CONNACK (type, flags, body)."""
        self.send(connect_packet(version, **kw))
        return self.read_packet()

    def close(self):
        self.sock.close()


CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 2, 3, 4, 5, 6, 7
SUBACK, UNSUBACK, PINGRESP, DISCONNECT = 9, 11, 13, 14


def connack_code(version: int, pkt) -> int:
    """The return code (3.1.1) or reason code (5) of a CONNACK."""
    assert pkt is not None and pkt[0] == CONNACK, f"expected CONNACK, got {pkt!r}"
    return pkt[2][1]


def connack_properties(pkt) -> dict[int, bytes]:
    """The v5 CONNACK properties as {id: raw value bytes} (only fixed-size and string ones)."""
    body = pkt[2]
    i, length, mult = 2, 0, 1
    while True:
        b = body[i]
        i += 1
        length += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    props, end = {}, i + length
    sizes = {0x21: 2, 0x27: 4, 0x24: 1, 0x25: 1, 0x28: 1, 0x2A: 1, 0x22: 2, 0x13: 2, 0x11: 4}
    while i < end:
        pid = body[i]
        i += 1
        if pid in sizes:
            props[pid] = body[i:i + sizes[pid]]
            i += sizes[pid]
        else:  # strings: assigned client id, reason string
            n = struct.unpack("!H", body[i:i + 2])[0]
            props[pid] = body[i + 2:i + 2 + n]
            i += 2 + n
    return props
