"""Telegraf's InfluxDB outputs, replayed byte for byte on the wire, and fleetpulse's answers
judged the way Telegraf's own code judges them.

Debian 12 packages no Telegraf (and npm's `telegraf` is an unrelated Telegram library), so the
real binary is not run here. Instead each request is rebuilt from Telegraf 1.x's source
(github.com/influxdata/telegraf, master at b27263146617 of 2026-08-21; the same logic in tags
v1.20.0 .. v1.39.x):
- plugins/outputs/influxdb/http.go (`[[outputs.influxdb]]`, InfluxDB 1.x): at start
  `POST /query` with the form body `q=CREATE+DATABASE+%22telegraf%22`; writes
  `POST /write?db=telegraf[&rp=...]` with Basic auth, `Content-Encoding: gzip` (the default
  since content_encoding defaults to "gzip") streamed through a pipe, so chunked;
- plugins/outputs/influxdb_v2/http.go (`[[outputs.influxdb_v2]]`): `POST
  /api/v2/write?bucket=...&org=...` with `Authorization: Token ...`, gzip, chunked;
both with `User-Agent: Telegraf/<version> Go/<go version>` (internal.ProductToken) and the
headers in the order Go's net/http writes them (Host, User-Agent, Transfer-Encoding, the
others sorted, then the transport's `Accept-Encoding: gzip`). `telegraf_v1_outcome` and
`telegraf_v2_outcome` below transcribe how those files treat each answer (success, drop,
retry), and every test asserts fleetpulse's answer lands in the class Telegraf needs: stored
data is acknowledged, bad lines are dropped (not retried forever), overload and auth
problems are retried, nothing acknowledged is missing when read back."""

import base64
import gzip
import http.client
import json
import socket
import urllib.parse

import pytest

from fleetpulse_harness import rfc3339_to_epoch

KEY = "telegraf-wire-key-0123456789"
USER_AGENT = "Telegraf/1.39.3 Go/1.25.5"
T0_NS = 1767225600 * 10**9  # 2026-01-01T00:00:00Z; Telegraf writes nanoseconds, no precision=
WIDE = "start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z"


class GoClient:
    """One keep-alive connection writing requests exactly as Go's net/http client does."""

    def __init__(self, port):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def close(self):
        self.sock.close()

    def request(self, method, target, headers, body=None, chunks=None):
        """`headers`: what Telegraf sets (Header.Set); `body` is sent with Content-Length
        (strings.Reader), `chunks` with Transfer-Encoding: chunked (a streamed body)."""
        head = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{self.port}",
                f"User-Agent: {headers.pop('User-Agent')}"]
        if chunks is not None:
            head.append("Transfer-Encoding: chunked")
        elif body is not None:
            head.append(f"Content-Length: {len(body)}")
        head += [f"{k}: {v}" for k, v in sorted(headers.items())]
        head.append("Accept-Encoding: gzip")
        wire = ("\r\n".join(head) + "\r\n\r\n").encode()
        if chunks is not None:
            for c in chunks:
                wire += b"%x\r\n%s\r\n" % (len(c), c)
            wire += b"0\r\n\r\n"
        elif body is not None:
            wire += body
        self.sock.sendall(wire)
        resp = http.client.HTTPResponse(self.sock, method=method)
        resp.begin()
        data = resp.read()
        if resp.getheader("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        return resp.status, resp.headers, data


def gzip_pipe_chunks(payload: bytes) -> list[bytes]:
    """internal.CompressWithGzip: gzip.Writer into an io.Pipe, read by the transport as the
    writer writes (the 10-byte header, the deflate data, the 8-byte trailer)."""
    gz = gzip.compress(payload)
    return [gz[:10], gz[10:-8], gz[-8:]]


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- How Telegraf treats an answer -------------------------------------------------------

def telegraf_v1_outcome(status, body: bytes) -> str:
    """plugins/outputs/influxdb/http.go writeBatch + influxdb.go Write: "ok", "drop" (logged,
    the batch is gone) or "retry" (the batch stays in the buffer, sent again next flush)."""
    if status == 204:
        return "ok"
    if body:  # validateResponse: a body that is not JSON is an error, retried
        try:
            parsed = json.loads(body)
        except ValueError:
            return "retry"
    else:
        parsed = {}
    desc = parsed.get("error", "") if isinstance(parsed, dict) else ""
    if "database not found" in desc:
        return "create-database-and-retry"
    if str(status).startswith("4"):
        return "drop"
    for dropped in ("retention policy not found", "hinted handoff queue not empty",
                    "points beyond retention policy", "partial write", "unable to parse"):
        if dropped in desc:
            return "drop"
    return "retry"


def telegraf_v1_create_database_ok(status, body: bytes) -> bool:
    """http.go CreateDatabase: 200 and no results[0].error (an undecodable 200 also counts)."""
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            return False  # validateResponse fails: an APIError
        results = parsed.get("results") or [{}]
        return status == 200 and not results[0].get("error")
    return status == 200


def telegraf_v2_outcome(status, headers) -> str:
    """plugins/outputs/influxdb_v2/http.go writeBatch + Write: "ok", "drop" (APIError, not
    retryable: the metrics are rejected), "split" (413: the batch is halved and resent),
    "retry-after" (throttled, waits max(backoff, Retry-After)) or "retry"."""
    if status in (200, 201, 202, 204, 206, 207, 208):
        return "ok"
    if status == 413:
        return "split"
    if status in (400, 422, 406):
        return "drop"
    if status in (401, 403):
        return "retry"  # a plain error: the metrics stay buffered
    if status in (429, 503, 502, 504):
        assert headers.get("Retry-After") is not None, "Telegraf then backs off by count only"
        return "retry-after"
    if str(status).startswith("4"):
        return "drop"
    return "retry"


# --- Telegraf's requests ------------------------------------------------------------------

def metrics(host, t_ns, cpu_idle=97.25):
    """What Telegraf's influx serializer writes for cpu, mem and system inputs: tags sorted,
    integers with `i`, strings quoted, one timestamp in nanoseconds, each line ending in \\n."""
    return (f"cpu,cpu=cpu-total,host={host} usage_idle={cpu_idle},usage_user=1.5 {t_ns}\n"
            f"mem,host={host} available=3221225472i,used_percent=41.5 {t_ns}\n"
            f"system,host={host} load1=0.25,n_cpus=4i,uptime_format=\"1 day,  2:03\" {t_ns}\n"
            ).encode()


def v1_write(client, payload, password=KEY, rp=None):
    query = {"db": "telegraf"}
    if rp:
        query["rp"] = rp
    target = "/write?" + urllib.parse.urlencode(sorted(query.items()))  # url.Values.Encode
    return client.request("POST", target, {
        "User-Agent": USER_AGENT, "Authorization": basic("telegraf", password),
        "Content-Type": "text/plain; charset=utf-8", "Content-Encoding": "gzip"},
        chunks=gzip_pipe_chunks(payload))


def v2_write(client, payload, token=KEY, bucket="telegraf", org="fleet"):
    target = "/api/v2/write?" + urllib.parse.urlencode([("bucket", bucket), ("org", org)])
    return client.request("POST", target, {
        "User-Agent": USER_AGENT, "Authorization": f"Token {token}",
        "Content-Type": "text/plain; charset=utf-8", "Content-Encoding": "gzip"},
        chunks=[gzip.compress(payload)])  # the encoded batch, written by one bytes.Buffer copy


@pytest.fixture(scope="module")
def server(module_server_factory):
    return module_server_factory("--max-body-bytes", "64KiB", admin_key=KEY)


@pytest.fixture
def client(server):
    c = GoClient(server.port)
    yield c
    c.close()


def points(server, device, metric):
    resp = server.get(f"/api/v1/devices/{device}/telemetry?metric={metric}&{WIDE}")
    assert resp.status == 200, resp
    return [(round(rfc3339_to_epoch(p["ts"]) * 1000), p["value"]) for p in resp.json["points"]]


T0_MS = T0_NS // 10**6


def test_v1_create_database_at_start_is_a_success_for_telegraf(client):
    form = b"q=CREATE+DATABASE+%22telegraf%22"  # url.Values{"q": ...}.Encode()
    status, _, body = client.request("POST", "/query", {
        "User-Agent": USER_AGENT, "Authorization": basic("telegraf", KEY),
        "Content-Type": "application/x-www-form-urlencoded"}, body=form)
    assert telegraf_v1_create_database_ok(status, body), (status, body)
    status, _, body = client.request("POST", "/query", {
        "User-Agent": USER_AGENT, "Authorization": basic("telegraf", "wrong"),
        "Content-Type": "application/x-www-form-urlencoded"}, body=form)
    assert status == 401 and not telegraf_v1_create_database_ok(status, body), (status, body)


def test_v1_gzip_chunked_batches_are_acknowledged_and_stored(server, client):
    for i in range(3):  # one connection, kept alive across flushes as Go's transport does
        status, _, body = v1_write(client, metrics("tg-v1", T0_NS + i * 10**10, 90 + i))
        assert (status, telegraf_v1_outcome(status, body)) == (204, "ok"), body
    assert points(server, "tg-v1", "cpu.usage_idle") == [
        (T0_MS, 90), (T0_MS + 10_000, 91), (T0_MS + 20_000, 92)]
    assert points(server, "tg-v1", "mem.available")[-1] == (T0_MS + 20_000, 3221225472)
    attrs = server.get("/api/v1/devices/tg-v1").json["attributes"]
    assert attrs == {"tag.cpu": "cpu-total", "system.uptime_format": "1 day,  2:03"}, attrs
    # rp= (retention_policy = "autogen") names nothing here and is accepted.
    status, _, body = v1_write(client, metrics("tg-v1-rp", T0_NS), rp="autogen")
    assert telegraf_v1_outcome(status, body) == "ok", (status, body)
    assert points(server, "tg-v1-rp", "cpu.usage_idle") == [(T0_MS, 97.25)]


def test_v1_a_batch_with_a_bad_line_is_dropped_by_telegraf_and_its_good_lines_kept(server,
                                                                                     client):
    payload = metrics("tg-v1-bad", T0_NS) + b"cpu,host=tg-v1-bad\n"
    status, _, body = v1_write(client, payload)
    assert status == 400 and list(json.loads(body)) == ["error"], body
    assert json.loads(body)["error"].startswith("partial write: unable to parse 'cpu,host=")
    assert telegraf_v1_outcome(status, body) == "drop"  # not retried: it would never succeed
    assert points(server, "tg-v1-bad", "cpu.usage_idle") == [(T0_MS, 97.25)]
    status, _, body = v1_write(client, b"cpu,host=tg-v1-none\n")
    assert status == 400 and telegraf_v1_outcome(status, body) == "drop", body
    assert server.get("/api/v1/devices/tg-v1-none").status == 404


def test_v1_wrong_password_gets_influxdbs_401_and_nothing_is_stored(server, client):
    status, _, body = v1_write(client, metrics("tg-v1-auth", T0_NS), password="wrong")
    assert status == 401 and "error" in json.loads(body), body
    assert telegraf_v1_outcome(status, body) == "drop"  # as against InfluxDB 1.x
    assert server.get("/api/v1/devices/tg-v1-auth").status == 404


def test_v2_gzip_chunked_batches_are_acknowledged_and_stored(server, client):
    for i in range(3):
        status, headers, _ = v2_write(client, metrics("tg-v2", T0_NS + i * 10**10, 80 + i))
        assert (status, telegraf_v2_outcome(status, headers)) == (204, "ok")
    assert points(server, "tg-v2", "cpu.usage_idle") == [
        (T0_MS, 80), (T0_MS + 10_000, 81), (T0_MS + 20_000, 82)]
    assert points(server, "tg-v2", "system.n_cpus") == [
        (T0_MS, 4), (T0_MS + 10_000, 4), (T0_MS + 20_000, 4)]


def test_v2_a_batch_with_a_bad_line_is_dropped_by_telegraf_and_its_good_lines_kept(server,
                                                                                     client):
    payload = metrics("tg-v2-bad", T0_NS) + b"mem,host=tg-v2-bad used_percent=\n"
    status, headers, body = v2_write(client, payload)
    assert status == 400 and json.loads(body)["code"] == "invalid", body
    assert telegraf_v2_outcome(status, headers) == "drop"
    assert points(server, "tg-v2-bad", "mem.used_percent") == [(T0_MS, 41.5)]


def test_v2_wrong_token_is_retried_not_dropped(server, client):
    status, headers, body = v2_write(client, metrics("tg-v2-auth", T0_NS), token="wrong")
    assert status == 401 and json.loads(body)["code"] == "unauthorized", body
    assert telegraf_v2_outcome(status, headers) == "retry"
    assert server.get("/api/v1/devices/tg-v2-auth").status == 404


def test_v2_a_batch_over_the_body_limit_is_split_by_telegraf_and_both_halves_stored(server,
                                                                                     client):
    # Telegraf sends the whole buffer; on 413 it halves the batch and sends each half.
    lines = [f"env,host=tg-v2-split seq={i}i,pad=\"{'x' * 200}\" {T0_NS + i * 10**9}\n"
             for i in range(400)]
    # Gzip makes it a few KiB on the wire: it is the inflated body that passes the limit.
    payload = "".join(lines).encode()
    assert len(payload) > 64 << 10
    status, headers, body = v2_write(client, payload)
    assert telegraf_v2_outcome(status, headers) == "split", (status, body)
    assert json.loads(body)["code"] == "request too large"
    assert server.get("/api/v1/devices/tg-v2-split").status == 404  # nothing half-stored
    half = len(lines) // 2
    for part in (lines[:half], lines[half:]):
        status, headers, _ = v2_write(client, "".join(part).encode())
        assert telegraf_v2_outcome(status, headers) == "ok", status
    got = points(server, "tg-v2-split", "env.seq")
    assert [v for _, v in got] == list(range(400))


def test_a_device_token_writes_its_own_device_only(server, client):
    assert server.post("/api/v1/devices", {"device_id": "tg-gw-1"}).status == 201
    resp = server.post("/api/v1/devices/tg-gw-1/tokens", {})
    assert resp.status == 201, resp
    token = resp.json["token"]
    status, headers, _ = v2_write(client, metrics("tg-gw-1", T0_NS), token=token)
    assert telegraf_v2_outcome(status, headers) == "ok", status
    status, _, body = v1_write(client, metrics("tg-gw-1", T0_NS + 10**9), password=token)
    assert telegraf_v1_outcome(status, body) == "ok", (status, body)
    assert [t for t, _ in points(server, "tg-gw-1", "cpu.usage_idle")] == [T0_MS, T0_MS + 1000]
    status, headers, body = v2_write(client, metrics("tg-gw-2", T0_NS), token=token)
    assert status == 403 and json.loads(body)["code"] == "forbidden", body
    status, _, body = v1_write(client, metrics("tg-gw-2", T0_NS), password=token)
    assert status == 403 and list(json.loads(body)) == ["error"], body
    assert server.get("/api/v1/devices/tg-gw-2").status == 404


def test_overload_is_an_answer_telegraf_retries_on_both_outputs(start_server):
    # One new device a minute: the second new device of a batch is refused as overload.
    server = start_server("--max-registrations-per-minute", "1", admin_key=KEY)
    client = GoClient(server.port)
    try:
        payload = metrics("tg-busy-1", T0_NS) + metrics("tg-busy-2", T0_NS)
        status, headers, body = v2_write(client, payload)
        assert status == 429 and headers.get("Retry-After"), (status, body)
        assert telegraf_v2_outcome(status, headers) == "retry-after"
        # InfluxDB 1.x answers overload with 503 (its write throttler); Telegraf's influxdb
        # output drops a batch on any 4xx, so a 429 here would lose it.
        status, headers, body = v1_write(client, payload)
        assert status == 503 and headers.get("Retry-After"), (status, body)
        assert telegraf_v1_outcome(status, body) == "retry"
        assert server.get("/api/v1/devices/tg-busy-2").status == 404
    finally:
        client.close()
