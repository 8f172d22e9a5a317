"""Failed-authentication throttling per client address against the real binary. Linux routes
all of 127.0.0.0/8 to loopback, so binding the client socket to 127.0.0.2, .3, ... gives each
client its own address. A burst of wrong keys from one address is answered far slower than the
same number of right keys (measured in the same test); meanwhile a right key, and a first wrong
key, from other addresses are answered at once; the throttled address's own right key is not
slowed; too many waiting refusals turn into immediate 429s; MQTT CONNECT with a bad password
shares the same per-address state; /metrics counts it all."""

import http.client
import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from fleetpulse_harness import free_port, metric_value
from mqtt_harness import connect_packet, connack_code, RawClient

KEY = "throttle-admin-key-0123456789"


def one_request(port: int, source: str, key: str) -> tuple[int, float, dict]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    try:
        conn.request("GET", "/api/v1/devices", headers={"Authorization": f"Bearer {key}"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.monotonic() - started, dict(resp.headers)
    finally:
        conn.close()


def burst(port: int, source: str, key: str, n: int, workers: int) -> tuple[float, list[int]]:
    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda _: one_request(port, source, key), range(n)))
    return time.monotonic() - started, [r[0] for r in results]


@pytest.fixture
def throttled(start_server):
    return start_server("--auth-throttle-delay", "20ms", "--auth-throttle-max-delay", "1s",
                        admin_key=KEY)


def test_a_burst_of_wrong_keys_is_slowed_while_other_addresses_are_answered_at_once(throttled):
    port = throttled.port
    # Baseline, same server, same client: 20 right keys from the address that will attack.
    base_elapsed, base_codes = burst(port, "127.0.0.2", KEY, 20, 4)
    assert base_codes == [200] * 20

    result = {}
    attacker = threading.Thread(
        target=lambda: result.update(zip(("elapsed", "codes"),
                                         burst(port, "127.0.0.2", "wrong-key-xyz", 20, 4))))
    attacker.start()
    time.sleep(1.0)  # the attacker is being delayed by now
    assert attacker.is_alive(), "the burst of wrong keys was not slowed"
    # Other addresses meanwhile: a right key, and a first wrong key, answered at once.
    status, other_right, _ = one_request(port, "127.0.0.1", KEY)
    assert status == 200
    status, other_wrong, _ = one_request(port, "127.0.0.3", "wrong-key-xyz")
    assert status == 401
    attacker.join(60)

    # 10 free failures, then 20, 40, ... 640 ms, 1 s x4, released one at a time: 5.26 s.
    assert result["codes"] == [401] * 20
    assert result["elapsed"] >= 5.0 and result["elapsed"] > 3 * base_elapsed, \
        (result, base_elapsed)
    # Well under the 1 s a throttled answer waits by then.
    assert other_right < 0.8 and other_wrong < 0.8, (other_right, other_wrong)
    # The attacking address's own right key is not slowed (success never waits).
    status, own_right, _ = one_request(port, "127.0.0.2", KEY)
    assert status == 200 and own_right < 0.8, own_right

    text = throttled.get("/metrics").text
    assert metric_value(text, "fleetpulse_auth_failures_total", transport="http") == 21
    assert metric_value(text, "fleetpulse_auth_throttled_total", transport="http",
                        action="delayed") == 10


def test_too_many_waiting_refusals_are_answered_429_at_once(start_server):
    server = start_server("--auth-throttle-delay", "20ms", "--auth-throttle-max-delay", "1s",
                          admin_key=KEY)
    elapsed, codes = burst(server.port, "127.0.0.4", "wrong-key-xyz", 40, 40)
    # 10 answered at once, 16 waiting at most, the rest refused unchecked.
    assert codes.count(401) >= 21 and codes.count(429) >= 1, codes
    assert codes.count(401) + codes.count(429) == 40
    status, _, headers = one_request(server.port, "127.0.0.4", "wrong-key-xyz")
    assert status in (401, 429)
    text = server.get("/metrics").text
    assert metric_value(text, "fleetpulse_auth_throttled_total", transport="http",
                        action="refused") >= 1


def test_throttling_off_answers_every_refusal_at_once(start_server):
    server = start_server("--auth-throttle-delay", "0", admin_key=KEY)
    elapsed, codes = burst(server.port, "127.0.0.5", "wrong-key-xyz", 30, 4)
    assert codes == [401] * 30
    assert elapsed < 5.0
    text = server.get("/metrics").text
    assert metric_value(text, "fleetpulse_auth_failures_total", transport="http") == 30


def mqtt_connect(port: int, source: str, password: str) -> tuple[int, float]:
    started = time.monotonic()
    client = RawClient.__new__(RawClient)
    client.sock = socket.create_connection(("127.0.0.1", port), timeout=30,
                                           source_address=(source, 0))
    client.buf = b""
    try:
        pkt = client.connect(4, client_id=f"gw-{time.monotonic_ns()}", username="gateway",
                             password=password)
        return connack_code(4, pkt), time.monotonic() - started
    finally:
        client.close()


def test_mqtt_bad_passwords_are_throttled_and_share_the_address_state(start_server):
    port = free_port()
    server = start_server("--mqtt", f"127.0.0.1:{port}", "--auth-throttle-delay", "100ms",
                          "--auth-throttle-max-delay", "2s", admin_key=KEY)
    times = []
    for _ in range(13):
        code, took = mqtt_connect(port, "127.0.0.6", "wrong-password")
        assert code == 4  # bad user name or password
        times.append(took)
    # 10 at once, then 100, 200, 400 ms.
    free = statistics.median(times[:10])
    assert times[12] >= 0.3 and times[12] > 5 * free, times
    # Another address is answered at once, a right password too.
    code, took = mqtt_connect(port, "127.0.0.7", "wrong-password")
    assert code == 4 and took < 0.3, took
    code, took = mqtt_connect(port, "127.0.0.6", KEY)  # a write-role key: a gateway
    assert code == 0 and took < 0.3, took
    # HTTP from the same address continues the doubling (800 ms).
    status, took, _ = one_request(server.port, "127.0.0.6", "wrong-key-xyz")
    assert status == 401 and took >= 0.6, took
    text = server.get("/metrics").text
    assert metric_value(text, "fleetpulse_auth_failures_total", transport="mqtt") == 14
    assert metric_value(text, "fleetpulse_auth_throttled_total", transport="mqtt",
                        action="delayed") == 3
