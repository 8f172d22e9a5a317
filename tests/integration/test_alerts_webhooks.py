"""Webhook notifications against a real local HTTP receiver: the JSON body of each alert
change, retries with backoff from a receiver that fails, dead letters listed by the API and
retried on request, the delivery counters in /metrics, and the durable delivery queue: a
delivery pending at a restart or a kill -9 is delivered once afterwards, or dead-lettered."""

import socket
import time

import pytest

from fleetpulse_harness import assert_error, metric_value, wait_until
from webhook_receiver import WebhookReceiver

# The receivers listen on 127.0.0.1, which webhooks may reach only when allowed.
ALLOW_LOCAL = ("--webhook-allow", "127.0.0.0/8")
FAST_RETRIES = ("--webhook-attempts", "3", "--webhook-backoff", "100ms", "--webhook-timeout", "2s",
                *ALLOW_LOCAL)


def hot_rule(server, url: str, rule_id: str = "hot") -> None:
    resp = server.post("/api/v1/rules", {"id": rule_id, "name": "too hot", "kind": "threshold",
                                         "metric": "temp", "threshold": 30,
                                         "severity": "critical", "notify": [{"webhook": url}]})
    assert resp.status == 201, resp


def reading(server, device: str, value: float) -> None:
    assert server.post("/api/v1/telemetry", {"device_id": device, "temp": value}).status == 200


def dead_letters(server) -> list[dict]:
    resp = server.get("/api/v1/notifications/dead-letters")
    assert resp.status == 200, resp
    return resp.json["dead_letters"]


def test_each_alert_change_is_posted_to_the_rules_webhook(start_server):
    with WebhookReceiver() as receiver:
        server = start_server(*FAST_RETRIES)
        hot_rule(server, receiver.url)
        reading(server, "w1", 40)
        [firing] = wait_until(lambda: receiver.bodies() or None, 5, message="firing webhook")
        assert firing["event"] == "alert.firing"
        assert firing["rule"] == {"id": "hot", "name": "too hot"}
        alert = firing["alert"]
        assert alert["device_id"] == "w1" and alert["state"] == "firing"
        assert alert["severity"] == "critical" and alert["value"] == 40
        assert receiver.received[0]["path"] == "/hook"
        assert receiver.received[0]["content_type"] == "application/json"
        # The body's alert is the API's alert.
        api_alert = server.get(f"/api/v1/alerts/{alert['id']}").json
        assert {k: api_alert[k] for k in ("id", "rule_id", "device_id", "started_at")} == \
            {k: alert[k] for k in ("id", "rule_id", "device_id", "started_at")}

        ack = server.post(f"/api/v1/alerts/{alert['id']}/acknowledge", {"by": "alice"})
        assert ack.status == 200, ack
        reading(server, "w1", 20)
        # A loaded machine (CI runs four shards beside the cluster tests) can take seconds
        # between the resolution and its delivery; the bound is generous, the count exact.
        try:
            wait_until(lambda: len(receiver.bodies()) >= 3, 20, message="three webhook calls")
        except AssertionError as e:
            delivered = metric_value(server.metrics_text(), "fleetpulse_webhook_deliveries_total",
                                     result="delivered")
            raise AssertionError(f"{e}; received {receiver.bodies()}; {delivered} delivered") \
                from None
        time.sleep(0.3)  # a fourth (duplicate) call would show here
        bodies = receiver.bodies()
        assert [b["event"] for b in bodies] == ["alert.firing", "alert.acknowledged",
                                                "alert.resolved"]
        assert bodies[2]["alert"]["resolved_by"] == "auto"
        # Counted once the receiver's answer is read, just after it recorded the body.
        wait_until(lambda: metric_value(server.metrics_text(), "fleetpulse_webhook_deliveries_total",
                                        result="delivered") == 3, 5, message="3 delivered")
        assert dead_letters(server) == []


def test_a_failing_receiver_is_retried_then_dead_lettered_then_retried_by_hand(start_server):
    with WebhookReceiver(fail_status=500, fail_first=10**6) as receiver:
        server = start_server(*FAST_RETRIES)
        hot_rule(server, receiver.url)
        started = time.monotonic()
        reading(server, "w2", 50)
        [letter] = wait_until(lambda: dead_letters(server) or None, 10, message="a dead letter")
        elapsed = time.monotonic() - started
        assert receiver.attempts == 3  # --webhook-attempts
        assert elapsed >= 0.3  # backoff 100 ms, then 200 ms
        assert letter["attempts"] == 3
        assert letter["url"] == receiver.url
        assert letter["last_error"] == "HTTP 500"
        assert letter["rule_id"] == "hot"
        assert letter["payload"]["event"] == "alert.firing"
        assert letter["payload"]["alert"]["device_id"] == "w2"
        text = server.metrics_text()
        assert metric_value(text, "fleetpulse_webhook_deliveries_total",
                            result="failed_attempt") == 3
        assert metric_value(text, "fleetpulse_webhook_deliveries_total",
                            result="dead_letter") == 1

        # The receiver recovers; the operator retries the dead letter.
        receiver.fail_first = 0
        resp = server.post(f"/api/v1/notifications/dead-letters/{letter['id']}/retry")
        assert resp.status == 202, resp
        [body] = wait_until(lambda: receiver.bodies() or None, 5, message="the retried delivery")
        assert body == letter["payload"]
        assert dead_letters(server) == []
        assert_error(server.post(f"/api/v1/notifications/dead-letters/{letter['id']}/retry"),
                     404, "not_found")
        assert_error(server.post("/api/v1/notifications/dead-letters/abc/retry"), 404)


def test_a_receiver_that_recovers_within_the_retries_gets_the_alert(start_server):
    with WebhookReceiver(fail_status=503, fail_first=2) as receiver:
        server = start_server(*FAST_RETRIES)
        hot_rule(server, receiver.url)
        reading(server, "w3", 50)
        [body] = wait_until(lambda: receiver.bodies() or None, 5, message="a delivery")
        assert body["alert"]["device_id"] == "w3"
        assert receiver.attempts == 3
        assert dead_letters(server) == []


def test_an_unreachable_webhook_ends_as_a_dead_letter_and_survives_a_restart(start_server):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = start_server(*FAST_RETRIES)
    hot_rule(server, f"http://127.0.0.1:{port}/nothing")
    reading(server, "w4", 60)
    [letter] = wait_until(lambda: dead_letters(server) or None, 10, message="a dead letter")
    assert letter["last_error"].startswith("connect"), letter
    server.restart()
    assert [d["id"] for d in dead_letters(server)] == [letter["id"]]


# -- the delivery queue is durable (catalog table webhook_queue) ------------------------------

SLOW_RETRIES = ("--webhook-attempts", "4", "--webhook-backoff", "1s", "--webhook-timeout", "2s",
                *ALLOW_LOCAL)


def unused_port() -> int:
    with socket.socket() as s:  # a port nobody listens on (yet)
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def failed_attempts(server) -> float:
    return metric_value(server.metrics_text(), "fleetpulse_webhook_deliveries_total",
                        result="failed_attempt") or 0


def stop(server, how: str) -> None:
    if how == "kill -9":
        server.kill()
    else:
        assert server.stop() == 0


@pytest.mark.parametrize("how", ["restart", "kill -9"])
def test_a_pending_delivery_is_delivered_once_after_a_restart(start_server, how):
    port = unused_port()
    url = f"http://127.0.0.1:{port}/hook"
    server = start_server(*SLOW_RETRIES)
    hot_rule(server, url)
    reading(server, "wq1", 45)
    # The receiver is down: the first attempt fails and the delivery waits for its retry.
    wait_until(lambda: failed_attempts(server) >= 1, 5, message="a failed attempt")
    [alert] = server.get("/api/v1/alerts?device_id=wq1").json["alerts"]
    stop(server, how)
    with WebhookReceiver(port=port) as receiver:
        server.start()
        [body] = wait_until(lambda: receiver.bodies() or None, 10, message="the redelivery")
        assert body["event"] == "alert.firing"
        assert body["alert"]["id"] == alert["id"] and body["alert"]["device_id"] == "wq1"
        time.sleep(2.5)  # longer than the next backoff: nothing is sent twice
        assert len(receiver.bodies()) == 1
        assert dead_letters(server) == []


@pytest.mark.parametrize("how", ["restart", "kill -9"])
def test_a_pending_delivery_that_keeps_failing_is_dead_lettered_after_a_restart(start_server,
                                                                                 how):
    with WebhookReceiver(fail_status=503, fail_first=10**6) as receiver:
        server = start_server("--webhook-attempts", "3", "--webhook-backoff", "1s",
                              "--webhook-timeout", "2s", *ALLOW_LOCAL)
        hot_rule(server, receiver.url)
        reading(server, "wq2", 45)
        wait_until(lambda: failed_attempts(server) >= 1, 5, message="a failed attempt")
        stop(server, how)
        server.start()
        [letter] = wait_until(lambda: dead_letters(server) or None, 15, message="a dead letter")
        # The attempts made before the restart count: 3 in all, not 3 more.
        assert letter["attempts"] == 3, letter
        assert receiver.attempts == 3
        assert letter["last_error"] == "HTTP 503"
        assert letter["payload"]["alert"]["device_id"] == "wq2"
