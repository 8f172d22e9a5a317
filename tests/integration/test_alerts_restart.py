"""Alert state that must hold across a restart and a kill -9, against the real binary: absence
rules watch every device in scope from its stored last-seen time (not only devices that
reported since the start), offline alerts fire once, and an alert raised from backfilled data
carries the reading's time (`condition_at`) beside when it was raised (`started_at`)."""

import time

import pytest

from fleetpulse_harness import epoch_to_rfc3339, rfc3339_to_epoch, wait_until
from webhook_receiver import WebhookReceiver


def create_rule(server, rule: dict) -> dict:
    resp = server.post("/api/v1/rules", rule)
    assert resp.status == 201, resp
    return resp.json


def alerts(server, query: str = "") -> list[dict]:
    resp = server.get("/api/v1/alerts" + (f"?{query}" if query else ""))
    assert resp.status == 200, resp
    return resp.json["alerts"]


def stop(server, how: str) -> None:
    if how == "kill -9":
        server.kill()
    else:
        assert server.stop() == 0


@pytest.mark.parametrize("how", ["restart", "kill -9"])
def test_a_device_silent_across_a_restart_fires_its_absence_alert_on_time(start_server, how):
    server = start_server()
    create_rule(server, {"id": "quiet", "kind": "absence", "for": "4s"})
    create_rule(server, {"id": "no_temp", "kind": "absence", "metric": "temp", "for": "4s"})
    last = time.time()
    assert server.post("/api/v1/telemetry", {"device_id": "ab1", "temp": 21}).status == 200
    stop(server, how)  # at once: the device is silent from here on
    server.start()
    got = wait_until(lambda: (lambda a: a if len(a) == 2 else None)(alerts(server, "device_id=ab1")),
                     10, message="both absence alerts")
    assert {a["rule_id"] for a in got} == {"quiet", "no_temp"}
    for a in got:
        assert a["state"] == "firing"
        # The condition began 4 s after the last report, whenever the alert was raised.
        assert abs(rfc3339_to_epoch(a["condition_at"]) - (last + 4)) < 1.5, a
        assert rfc3339_to_epoch(a["started_at"]) >= rfc3339_to_epoch(a["condition_at"]) - 0.5
    time.sleep(1.5)
    assert len(alerts(server, "device_id=ab1")) == 2  # once each
    # A device that reports again resolves them.
    assert server.post("/api/v1/telemetry", {"device_id": "ab1", "temp": 22}).status == 200
    wait_until(lambda: len(alerts(server, "device_id=ab1&state=resolved")) == 2, 5,
               message="resolved")


def test_an_absence_alert_open_at_a_restart_is_not_raised_again(start_server):
    server = start_server()
    create_rule(server, {"id": "quiet", "kind": "absence", "for": "2s"})
    server.heartbeat("ab2")
    wait_until(lambda: alerts(server, "device_id=ab2"), 6, message="absence alert")
    server.kill()
    server.start()
    time.sleep(3)
    [a] = alerts(server, "device_id=ab2")
    assert a["state"] == "firing"


def test_an_offline_device_goes_offline_once_across_restarts(start_server):
    server = start_server("--at-risk-after", "1s", "--offline-after", "3s")
    create_rule(server, {"id": "off", "kind": "offline"})
    server.heartbeat("of1")
    server.restart()  # online when stopped; offline 3 s after its heartbeat
    [a] = wait_until(lambda: alerts(server, "device_id=of1") or None, 8, message="offline alert")
    assert a["rule_id"] == "off" and a["state"] == "firing"
    server.kill()
    server.start()
    time.sleep(2)
    assert [x["id"] for x in alerts(server, "device_id=of1")] == [a["id"]]
    assert server.device("of1")["status"] == "offline"


def test_an_alert_from_backfilled_data_carries_the_readings_time(start_server):
    with WebhookReceiver() as receiver:
        server = start_server("--webhook-attempts", "2", "--webhook-backoff", "100ms",
                              "--webhook-allow", "127.0.0.0/8")
        create_rule(server, {"id": "hot", "kind": "threshold", "metric": "temp", "threshold": 30,
                             "notify": [{"webhook": receiver.url}]})
        then = time.time() - 2 * 3600  # uploaded two hours late
        resp = server.post("/api/v1/telemetry", {"device_id": "bf1", "temp": 40,
                                                 "ts": epoch_to_rfc3339(then)})
        assert resp.status == 200, resp
        [a] = wait_until(lambda: alerts(server, "device_id=bf1") or None, 5, message="alert")
        assert abs(rfc3339_to_epoch(a["condition_at"]) - then) < 0.01, a
        assert abs(rfc3339_to_epoch(a["started_at"]) - time.time()) < 5, a
        assert server.get(f"/api/v1/alerts/{a['id']}").json["condition_at"] == a["condition_at"]
        assert alerts(server, "")[0]["condition_at"] == a["condition_at"]
        [body] = wait_until(lambda: receiver.bodies() or None, 5, message="webhook")
        assert body["alert"]["condition_at"] == a["condition_at"]
        assert body["alert"]["started_at"] == a["started_at"]
        server.restart()
        assert server.get(f"/api/v1/alerts/{a['id']}").json["condition_at"] == a["condition_at"]
        # A manual alert: the condition is when it was raised.
        m = server.post("/api/v1/alerts", {"device_id": "bf1", "severity": "info"}).json
        assert m["condition_at"] == m["started_at"]
