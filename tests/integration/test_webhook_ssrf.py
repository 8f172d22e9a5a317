"""Webhooks may not be pointed at internal addresses (server-side request forgery): a rule
whose webhook is a loopback, link-local, metadata, private or unspecified literal is refused
with a 422 naming the address; a name that resolves to such an address is refused at delivery
time (the receiver never sees the request, the dead letter says why); `--webhook-allow CIDR`
lets an operator's internal receiver through. https webhooks are delivered with the peer
verified against a CA given with `--webhook-ca-file` (a self-signed CA made by the openssl
CLI), and refused when the certificate cannot be verified."""

import http.server
import json
import ssl
import subprocess
import threading

import pytest

from fleetpulse_harness import assert_error, run_cli, wait_until
from webhook_receiver import WebhookReceiver

FAST = ("--webhook-attempts", "2", "--webhook-backoff", "100ms", "--webhook-timeout", "2s")


def rule(url: str, rule_id: str = "hot") -> dict:
    return {"id": rule_id, "name": "too hot", "kind": "threshold", "metric": "temp",
            "threshold": 30, "severity": "critical", "notify": [{"webhook": url}]}


def fire(server, device: str = "w1") -> None:
    assert server.post("/api/v1/telemetry", {"device_id": device, "temp": 50}).status == 200


def dead_letters(server) -> list[dict]:
    resp = server.get("/api/v1/notifications/dead-letters")
    assert resp.status == 200, resp
    return resp.json["dead_letters"]


@pytest.mark.parametrize("url,kind", [
    ("http://127.0.0.1:8080/api/v1/admin/api-keys", "loopback"),
    ("http://127.9.9.9/", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://169.254.10.1/", "link-local"),
    ("http://[::1]:22/", "loopback"),
    ("http://[fe80::1]/", "link-local"),
    ("http://10.1.2.3/hook", "private"),
    ("http://172.16.0.1/hook", "private"),
    ("http://192.168.1.1/hook", "private"),
    ("http://[fd00::1]/hook", "private"),
    ("http://0.0.0.0:8080/", "unspecified"),
    ("http://[::]:8080/", "unspecified"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("https://100.100.100.200/", "cloud metadata"),
])
def test_a_rule_with_an_internal_webhook_literal_is_refused(shared_server, url, kind):
    error = assert_error(shared_server.post("/api/v1/rules", rule(url, "ssrf")), 422)
    text = json.dumps(error)
    assert kind in text and "--webhook-allow" in text, error
    assert shared_server.get("/api/v1/rules/ssrf").status == 404


def test_public_literals_names_and_https_are_accepted_at_creation(shared_server):
    for i, url in enumerate(["http://203.0.113.7:9000/hook", "https://hooks.example.com/x",
                             "http://localhost:9/hook"]):
        resp = shared_server.post("/api/v1/rules", rule(url, f"ok{i}"))
        assert resp.status == 201, resp
        assert shared_server.delete(f"/api/v1/rules/ok{i}").status in (200, 204)
    assert_error(shared_server.post("/api/v1/rules", rule("ftp://x/")), 422)
    assert_error(shared_server.post("/api/v1/rules", rule("http://user@203.0.113.7/")), 422)


def test_a_name_resolving_to_loopback_is_refused_at_delivery(start_server):
    """The check happens at delivery time, after the name lookup: `localhost` passes rule
    creation (it is a name) but the delivery never reaches the receiver on 127.0.0.1."""
    with WebhookReceiver() as receiver:
        server = start_server(*FAST)
        url = f"http://localhost:{receiver.port}/hook"
        assert server.post("/api/v1/rules", rule(url)).status == 201
        fire(server)
        [letter] = wait_until(lambda: dead_letters(server) or None, 10, message="a dead letter")
        assert letter["url"] == url
        assert "refused" in letter["last_error"] and "127.0.0.1" in letter["last_error"], letter
        assert receiver.attempts == 0


def test_webhook_allow_lets_an_internal_receiver_through(start_server):
    with WebhookReceiver() as receiver:
        server = start_server(*FAST, "--webhook-allow", "10.0.0.0/8, 127.0.0.0/8")
        # Both the literal and the name now reach the receiver.
        assert server.post("/api/v1/rules", rule(receiver.url, "lit")).status == 201
        assert server.post("/api/v1/rules", rule(
            f"http://localhost:{receiver.port}/named", "name")).status == 201
        fire(server)
        wait_until(lambda: len(receiver.received) >= 2 or None, 10, message="two deliveries")
        assert sorted(r["path"] for r in receiver.received) == ["/hook", "/named"]
        # Outside the allow-list is still refused.
        assert_error(server.post("/api/v1/rules", rule("http://192.168.0.1/", "x")), 422)
        assert dead_letters(server) == []


def test_webhook_allow_is_validated_and_printed(tmp_path):
    bad = run_cli(["serve", "--check-config", "--webhook-allow", "10.0.0.0/40"])
    assert bad.returncode != 0 and "webhook-allow" in bad.stderr + bad.stdout, bad
    ok = run_cli(["serve", "--check-config", "--webhook-allow", "127.0.0.0/8,fd00::/8"])
    assert ok.returncode == 0, ok
    assert 'webhook_allow = "127.0.0.0/8,fd00::/8"' in ok.stdout, ok.stdout


def make_ca_and_cert(tmp_path):
    """A CA and a server certificate for localhost / 127.0.0.1 signed by it (openssl CLI)."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "srv.key",
        "-out", "srv.csr")
    (tmp_path / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "srv.pem")
    return tmp_path / "ca.pem", tmp_path / "srv.pem", tmp_path / "srv.key"


class TlsReceiver:
    """A real HTTPS receiver (python's http.server wrapped in TLS) recording POST bodies."""

    def __init__(self, cert, key):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append({"path": self.path, "body": json.loads(raw)})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_https_webhooks_verify_the_peer(start_server, tmp_path):
    ca, cert, key = make_ca_and_cert(tmp_path)
    with TlsReceiver(cert, key) as receiver:
        trusted = start_server(*FAST, "--webhook-allow", "127.0.0.0/8", "--webhook-ca-file",
                               str(ca))
        assert trusted.post("/api/v1/rules", rule(
            f"https://localhost:{receiver.port}/secure")).status == 201
        fire(trusted)
        wait_until(lambda: receiver.received or None, 10, message="the https delivery")
        assert receiver.received[0]["path"] == "/secure"
        assert receiver.received[0]["body"]["event"] == "alert.firing"
        trusted.stop()

        # Without the CA the self-signed chain is not trusted: nothing is delivered.
        untrusted = start_server(*FAST, "--webhook-allow", "127.0.0.0/8")
        assert untrusted.post("/api/v1/rules", rule(
            f"https://localhost:{receiver.port}/secure")).status == 201
        fire(untrusted)
        [letter] = wait_until(lambda: dead_letters(untrusted) or None, 10, message="dead letter")
        assert "tls handshake" in letter["last_error"], letter
        assert len(receiver.received) == 1
