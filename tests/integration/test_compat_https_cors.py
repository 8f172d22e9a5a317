"""HTTPS beside HTTP with a self-signed certificate made by the openssl CLI: curl trusts it
through --cacert and reaches the API and dashboard; SIGHUP reloads the certificate (a broken
one keeps the previous); --https without a certificate refuses to start. CORS: off by default
(no Access-Control headers, preflights not answered), --cors-origins answers preflights from a
listed origin only, and the real request carries Access-Control-Allow-Origin."""

import json
import signal
import socket
import ssl
import subprocess

import pytest

from fleetpulse_harness import free_port, wait_until


def make_cert(directory, cn):
    cert, key = directory / f"{cn}.crt", directory / f"{cn}.key"
    proc = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", f"/CN={cn}",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return cert, key


def curl(*args):
    proc = subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True,
                          text=True, timeout=20)
    return proc


def peer_common_name(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as tls:
            der = tls.getpeercert(binary_form=True)
    text = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"],
                          input=der, capture_output=True, timeout=10).stdout.decode()
    return text.strip().split("CN")[-1].strip(" =")


@pytest.fixture
def https_server(start_server, tmp_path):
    cert, key = make_cert(tmp_path, "fleetpulse-test")
    port = free_port()
    server = start_server("--https", f"127.0.0.1:{port}", "--tls-cert", str(cert),
                          "--tls-key", str(key))
    server.https_port, server.cert, server.key = port, cert, key
    return server


def test_https_with_a_self_signed_certificate_via_curl(https_server):
    base = f"https://127.0.0.1:{https_server.https_port}"
    proc = curl("--cacert", str(https_server.cert), f"{base}/health")
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"status": "ok"}, proc.stderr
    proc = curl("--cacert", str(https_server.cert), "-X", "POST", "-d",
                '{"device_id":"tls-1","temperature_c":20.5}', f"{base}/ingest")
    assert json.loads(proc.stdout) == {"status": "queued", "device_id": "tls-1"}, proc
    proc = curl("--cacert", str(https_server.cert), "-o", "/dev/null", "-w", "%{http_code}",
                f"{base}/")
    assert proc.stdout == "200", proc  # the dashboard
    # Without trusting the certificate curl refuses it: it is really TLS with that certificate.
    assert curl(f"{base}/health").returncode == 60
    # Plain HTTP on the TLS port is not answered as HTTP.
    assert curl(f"http://127.0.0.1:{https_server.https_port}/health").returncode != 0
    assert https_server.get("/api/v1/devices/tls-1").status == 200


def test_sighup_reloads_the_certificate_and_a_broken_one_keeps_the_old(https_server, tmp_path):
    port = https_server.https_port
    assert peer_common_name(port) == "fleetpulse-test"
    cert2, key2 = make_cert(tmp_path, "renewed")
    https_server.cert.write_bytes(cert2.read_bytes())
    https_server.key.write_bytes(key2.read_bytes())
    https_server.send_signal(signal.SIGHUP)
    wait_until(lambda: peer_common_name(port) == "renewed", 5, message="certificate reloaded")
    https_server.key.write_text("not a key\n")
    https_server.send_signal(signal.SIGHUP)
    wait_until(lambda: "tls_reload_failed" in https_server.log(), 5, message="reload refused")
    assert peer_common_name(port) == "renewed"
    assert https_server.get("/health").status == 200


def test_https_without_a_certificate_refuses_to_start(start_server):
    server = start_server.create("--https", f"127.0.0.1:{free_port()}")
    with pytest.raises(AssertionError, match="--https needs --tls-cert"):
        server.start()


def preflight(server, origin):
    return server.request("OPTIONS", "/api/v1/devices", key=None, headers={
        "Origin": origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})


def test_cors_is_off_by_default(shared_server):
    resp = preflight(shared_server, "http://elsewhere.example")
    assert resp.status != 204 and resp.header("Access-Control-Allow-Origin") is None, resp
    resp = shared_server.get("/api/v1/devices", headers={"Origin": "http://elsewhere.example"})
    assert resp.status == 200 and resp.header("Access-Control-Allow-Origin") is None


def test_cors_origins_answers_preflights_of_listed_origins(start_server):
    server = start_server("--cors-origins", "http://app.example:3000,https://ops.example",
                          admin_key="cors-admin-key-0123456789")
    resp = preflight(server, "http://app.example:3000")
    assert resp.status == 204, resp
    assert resp.header("Access-Control-Allow-Origin") == "http://app.example:3000"
    assert "GET" in resp.header("Access-Control-Allow-Methods")
    assert resp.header("Access-Control-Allow-Headers").lower() == "authorization"
    resp = server.get("/api/v1/devices", headers={"Origin": "https://ops.example"})
    assert resp.status == 200 and resp.header("Access-Control-Allow-Origin") == \
        "https://ops.example"
    # The real request still needs a key; its 401 carries the header so the page can read it.
    resp = server.get("/api/v1/devices", key=None, headers={"Origin": "https://ops.example"})
    assert resp.status == 401 and resp.header("Access-Control-Allow-Origin") == \
        "https://ops.example"
    resp = preflight(server, "http://evil.example")
    assert resp.header("Access-Control-Allow-Origin") is None, resp
    resp = server.get("/api/v1/devices", headers={"Origin": "http://evil.example"})
    assert resp.header("Access-Control-Allow-Origin") is None


def test_cors_origins_star_allows_any_origin(start_server):
    server = start_server("--cors-origins", "*")
    resp = preflight(server, "http://anything.example")
    assert resp.status == 204 and resp.header("Access-Control-Allow-Origin") == \
        "http://anything.example"


def test_cors_origins_are_checked(start_server):
    server = start_server.create("--cors-origins", "app.example")
    with pytest.raises(AssertionError, match="cors-origins"):
        server.start()


def test_https_on_a_public_address_without_keys_refuses_to_start(start_server, tmp_path):
    cert, key = make_cert(tmp_path, "public")
    server = start_server.create("--https", f"0.0.0.0:{free_port()}", "--tls-cert", str(cert),
                                 "--tls-key", str(key))
    with pytest.raises(AssertionError, match="before becoming ready"):
        server.start()
    assert "protected mode" in server.log()
