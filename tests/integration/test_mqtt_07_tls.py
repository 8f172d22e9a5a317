"""MQTT 7 — TLS: with --mqtt-tls HOST:PORT --tls-cert --tls-key the listener speaks MQTT over
TLS (OpenSSL) to real clients that verify the certificate; plaintext on that port gets nothing;
a missing certificate stops start-up with a clear message; SIGHUP reloads the certificate (new
connections get the new one, open ones keep working, a file that does not load keeps the old).
Runs for 3.1.1 and 5.0."""

import json
import signal
import socket
import ssl
import subprocess

import paho.mqtt.client as paho
import pytest

from fleetpulse_harness import free_port, run_cli, wait_until
from mqtt_harness import V5, VERSIONS, RawClient, connect_packet
from test_compat_https_cors import make_cert, peer_common_name
from test_telemetry_ingest import T0, points


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"),
                    "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return d / "cert.pem", d / "key.pem"


@pytest.fixture(scope="module")
def tls_server(module_server_factory, cert):
    port = free_port()
    server = module_server_factory("--mqtt", "off", "--mqtt-tls", f"127.0.0.1:{port}",
                                   "--tls-cert", str(cert[0]), "--tls-key", str(cert[1]))
    server.tls_port = port
    return server


@pytest.mark.parametrize("version", VERSIONS)
def test_7_1_mosquitto_pub_over_tls_is_stored(tls_server, cert, version):
    dev = f"tls71-{version}"
    r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(tls_server.tls_port),
                        "--cafile", str(cert[0]), "-V", "mqttv5" if version == V5 else "mqttv311",
                        "-q", "1", "-t", f"devices/{dev}/telemetry",
                        "-m", json.dumps({"ts": T0, "v": 7})], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0, r.stderr
    assert points(tls_server, dev, "v") == [(T0, 7)]


@pytest.mark.parametrize("version", VERSIONS)
def test_7_2_paho_over_tls_verifies_the_certificate(tls_server, cert, version):
    ctx = ssl.create_default_context(cafile=str(cert[0]))
    with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as tls:
            tls.sendall(connect_packet(version, client_id=f"tls-raw-{version}"))
            data = tls.recv(64)
            assert data[0] == 0x20 and data[3] == 0, f"CONNACK success over TLS: {data!r}"
    dev = f"tls72-{version}"
    client = paho.Client(client_id=dev, protocol=paho.MQTTv5 if version == V5 else paho.MQTTv311)
    client.tls_set(ca_certs=str(cert[0]))
    client.connect("localhost", tls_server.tls_port)
    client.loop_start()
    info = client.publish(f"devices/{dev}/telemetry", json.dumps({"ts": T0, "p": 1}), qos=1)
    info.wait_for_publish(10)
    assert info.is_published()
    client.disconnect()
    client.loop_stop()
    assert points(tls_server, dev, "p") == [(T0, 1)]


def test_7_3_plaintext_on_the_tls_port_gets_no_mqtt_answer(tls_server):
    raw = RawClient(tls_server.tls_port)
    raw.send(connect_packet(4, client_id="plain"))
    pkt = raw.read_packet(timeout=5)
    assert pkt is None or pkt[0] != 2, "no CONNACK in plaintext"


def test_7_4_tls_without_a_certificate_refuses_to_start(tmp_path):
    r = run_cli(["serve", "--data-dir", str(tmp_path / "d"), "--http", "127.0.0.1:0",
                 "--mqtt-tls", "127.0.0.1:0"])
    assert r.returncode != 0
    assert "--tls-cert" in r.stderr + r.stdout
    r = run_cli(["serve", "--data-dir", str(tmp_path / "d2"), "--http", "127.0.0.1:0",
                 "--mqtt", "off", "--mqtt-tls", "127.0.0.1:0", "--tls-cert",
                 str(tmp_path / "missing.pem"), "--tls-key", str(tmp_path / "missing.pem")])
    assert r.returncode == 1
    assert "cannot load TLS certificate" in r.stderr + r.stdout


def tls_publish(port, cafile, dev, value):
    return subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "--cafile",
                           str(cafile), "-q", "1", "-t", f"devices/{dev}/telemetry",
                           "-m", json.dumps({"ts": T0 + value, "v": value})],
                          capture_output=True, text=True, timeout=20)


def test_7_5_sighup_reloads_the_certificate_and_a_broken_one_keeps_the_old(start_server,
                                                                           tmp_path):
    cert, key = make_cert(tmp_path, "mqtt-first")
    port = free_port()
    server = start_server("--mqtt", "off", "--mqtt-tls", f"127.0.0.1:{port}",
                          "--tls-cert", str(cert), "--tls-key", str(key))
    assert peer_common_name(port) == "mqtt-first"
    first_ca = tmp_path / "first-ca.pem"
    first_ca.write_bytes(cert.read_bytes())
    # A connection open across the reload keeps its session and its certificate.
    client = paho.Client(client_id="tls75-open", protocol=paho.MQTTv311)
    client.tls_set(ca_certs=str(first_ca))
    client.connect("localhost", port)
    client.loop_start()
    try:
        cert2, key2 = make_cert(tmp_path, "renewed")
        cert.write_bytes(cert2.read_bytes())
        key.write_bytes(key2.read_bytes())
        server.send_signal(signal.SIGHUP)
        wait_until(lambda: peer_common_name(port) == "renewed", 5,
                   message="MQTT TLS certificate reloaded on SIGHUP")
        assert "event=tls_reloaded transport=mqtt" in server.log()
        info = client.publish("devices/tls75-open/telemetry", json.dumps({"ts": T0, "v": 1}),
                              qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()
    assert points(server, "tls75-open", "v") == [(T0, 1)]
    # New clients verify the new certificate; the old one is no longer served.
    r = tls_publish(port, cert2, "tls75-new", 2)
    assert r.returncode == 0, r.stderr
    assert tls_publish(port, first_ca, "tls75-old", 3).returncode != 0
    # A key that does not load: logged, the renewed certificate stays in use.
    key.write_text("not a key\n")
    server.send_signal(signal.SIGHUP)
    wait_until(lambda: "event=tls_reload_failed transport=mqtt" in server.log(), 5,
               message="MQTT TLS reload refused")
    assert peer_common_name(port) == "renewed"
    r = tls_publish(port, cert2, "tls75-new", 4)
    assert r.returncode == 0, r.stderr
    assert points(server, "tls75-new", "v") == [(T0 + 2, 2), (T0 + 4, 4)]
