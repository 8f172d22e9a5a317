"""MQTT 8 — bridge mode against a real Mosquitto broker started by the test: fleetpulse
subscribes (shared subscription, QoS 1, persistent session) and stores what devices publish to
the broker; two servers in one share group split the stream; messages the broker accepted while
fleetpulse was down, or across a broker restart, are all stored (none lost, none doubled);
fleetpulse reconnects with backoff. The publishing devices speak 3.1.1 or 5.0."""

import getpass
import json
import signal
import socket
import subprocess
import time

import pytest

from fleetpulse_harness import free_port, wait_until
from mqtt_harness import V5, VERSIONS, mosquitto_pub
from test_telemetry_ingest import T0, points


class Broker:
    """A mosquitto process with persistence in `dir`, restartable on the same port."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.port = free_port()
        self.conf = tmp_path / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                             f"persistence true\npersistence_location {tmp_path}/\n"
                             "max_queued_messages 100000\nlog_dest stderr\n"
                             # run as root, it would switch to user mosquitto, who cannot write here
                             f"user {getpass.getuser()}\n")
        self.proc = None
        self.log = open(tmp_path / "mosquitto.log", "ab")

    def start(self):
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)], stdout=self.log,
                                     stderr=self.log)
        wait_until(self._listening, 10, message="mosquitto listening")
        return self

    def _listening(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # saves its persistence database
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path).start()
    yield b
    b.stop()


def bridged(start_server, broker, client_id="fleetpulse", *extra):
    return start_server("--mqtt-bridge", f"mqtt://127.0.0.1:{broker.port}",
                        "--mqtt-bridge-client-id", client_id, *extra)


def bridge_connected(server):
    mqtt = server.get("/api/v1/health/detailed").json["components"]["mqtt"]
    return mqtt.get("bridges") and all(b["connected"] for b in mqtt["bridges"])


def publish(broker, version, dev, first, n):
    for i in range(first, first + n):
        r = mosquitto_pub(broker.port, version, f"devices/{dev}/telemetry",
                          json.dumps({"ts": T0 + i, "n": i}), qos=1)
        assert r.returncode == 0, r.stderr


def stored(server, dev):
    if server.get(f"/api/v1/devices/{dev}").status != 200:
        return []
    return [int(v) for _, v in points(server, dev, "n")]


@pytest.mark.parametrize("version", VERSIONS)
def test_8_1_messages_published_to_the_broker_are_stored(start_server, broker, version):
    server = bridged(start_server, broker)
    wait_until(lambda: bridge_connected(server), 10, message="bridge connected")
    publish(broker, version, f"b81-{version}", 0, 10)
    r = mosquitto_pub(broker.port, version, f"devices/b81-{version}/heartbeat",
                      json.dumps({"battery_level": 55}))
    assert r.returncode == 0
    wait_until(lambda: len(stored(server, f"b81-{version}")) == 10, 10, message="10 points")
    assert stored(server, f"b81-{version}") == list(range(10))
    wait_until(lambda: server.get(f"/api/v1/devices/b81-{version}").json["battery_level"] == 55,
               5, message="heartbeat")
    metrics = server.get("/metrics").text
    assert f'fleetpulse_mqtt_bridge_connected{{broker="mqtt://127.0.0.1:{broker.port}"}} 1' \
        in metrics


def test_8_2_two_servers_in_one_share_group_split_the_stream(start_server, broker):
    a = bridged(start_server, broker, "fp-a")
    b = bridged(start_server, broker, "fp-b")
    for s in (a, b):
        wait_until(lambda: bridge_connected(s), 10, message="bridge connected")
    time.sleep(0.5)  # both subscriptions in place at the broker
    devs = [f"b82-{i}" for i in range(30)]
    for i, d in enumerate(devs):
        r = mosquitto_pub(broker.port, 4, f"devices/{d}/telemetry",
                          json.dumps({"ts": T0, "n": i}), qos=1)
        assert r.returncode == 0

    def split():
        got_a = {d for d in devs if a.get(f"/api/v1/devices/{d}").status == 200}
        got_b = {d for d in devs if b.get(f"/api/v1/devices/{d}").status == 200}
        return (got_a, got_b) if len(got_a | got_b) == len(devs) else None
    got_a, got_b = wait_until(split, 15, message="all 30 devices stored")
    assert got_a and got_b, "each server takes a share"
    assert not got_a & got_b, "no message is stored by both"


@pytest.mark.parametrize("version", VERSIONS)
def test_8_3_nothing_acknowledged_by_the_broker_is_lost_across_restarts(start_server, broker,
                                                                        version):
    dev = f"b83-{version}"
    server = bridged(start_server, broker)
    wait_until(lambda: bridge_connected(server), 10, message="bridge connected")
    publish(broker, version, dev, 0, 20)
    wait_until(lambda: len(stored(server, dev)) == 20, 10, message="first 20")

    # fleetpulse down: the broker keeps its session and queues.
    assert server.stop() == 0
    publish(broker, version, dev, 20, 20)
    # The broker restarts too, with the queue in its persistence file.
    broker.stop()
    broker.start()
    server.start()
    wait_until(lambda: len(stored(server, dev)) == 40, 15, message="the 20 queued while down")

    # The broker restarts under a running fleetpulse, which reconnects with backoff.
    broker.stop()
    wait_until(lambda: not bridge_connected(server), 10, message="bridge sees the broker gone")
    broker.start()
    wait_until(lambda: bridge_connected(server), 40, message="bridge reconnected")
    publish(broker, version, dev, 40, 20)
    wait_until(lambda: len(stored(server, dev)) == 60, 15, message="all 60")
    assert stored(server, dev) == list(range(60))


def test_8_4_unreachable_broker_does_not_stop_the_server_and_health_says_so(start_server):
    port = free_port()
    server = start_server("--mqtt-bridge", f"mqtt://127.0.0.1:{port}")
    mqtt = server.get("/api/v1/health/detailed").json["components"]["mqtt"]
    assert mqtt["state"] == "degraded" and mqtt["bridges"][0]["connected"] is False
    assert server.get("/health").status == 200


def test_8_5_bad_bridge_url_is_refused_at_start(tmp_path):
    from fleetpulse_harness import run_cli
    r = run_cli(["serve", "--data-dir", str(tmp_path), "--mqtt", "off", "--mqtt-bridge",
                 "http://example"])
    assert r.returncode != 0 and "mqtt-bridge" in r.stderr + r.stdout
