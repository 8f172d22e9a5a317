"""Alert rules and the alert lifecycle over HTTP against the real binary: rule CRUD and
validation, default rules, firing on ingest and resolving by itself, dedup, acknowledge and
resolve by hand, manual alerts, filters, history, restart, and /metrics."""

import time

from fleetpulse_harness import RFC3339_MS_UTC, assert_error, metric_value, wait_until


def create_rule(server, rule: dict) -> dict:
    resp = server.post("/api/v1/rules", rule)
    assert resp.status == 201, resp
    return resp.json


def telemetry(server, device_id: str, **values) -> None:
    resp = server.post("/api/v1/telemetry", {"device_id": device_id, **values})
    assert resp.status == 200, resp


def alerts(server, query: str = "") -> list[dict]:
    resp = server.get("/api/v1/alerts" + (f"?{query}" if query else ""))
    assert resp.status == 200, resp
    return resp.json["alerts"]


def wait_for_alerts(server, query: str, count: int) -> list[dict]:
    return wait_until(lambda: (lambda a: a if len(a) == count else None)(alerts(server, query)),
                      timeout=5, message=f"{count} alerts for ?{query}")


# -- rules -------------------------------------------------------------------------------------

def test_rule_crud(start_server):
    server = start_server("--webhook-allow", "127.0.0.0/8")  # the webhook below is on loopback
    rule = {"id": "r1", "name": "hot", "kind": "threshold", "metric": "temperature", "op": ">",
            "threshold": 50, "for": "0s", "severity": "critical", "scope": {"type": "sensor"},
            "enabled": True, "notify": [{"webhook": "http://127.0.0.1:9/hook"}]}
    created = create_rule(server, rule)
    for key in ("id", "name", "kind", "metric", "op", "threshold", "severity", "enabled"):
        assert created[key] == rule[key], key
    assert created["scope"] == {"type": "sensor"}
    assert created["notify"] == [{"webhook": "http://127.0.0.1:9/hook"}]
    assert RFC3339_MS_UTC.match(created["created_at"])

    assert server.get("/api/v1/rules/r1").json == created
    assert "r1" in [r["id"] for r in server.get("/api/v1/rules").json["rules"]]
    assert_error(server.post("/api/v1/rules", rule), 409, "conflict")

    changed = server.put("/api/v1/rules/r1", {**rule, "threshold": 60, "severity": "warning"})
    assert changed.status == 200, changed
    assert changed.json["threshold"] == 60 and changed.json["severity"] == "warning"
    assert server.get("/api/v1/rules/r1").json["threshold"] == 60

    assert server.delete("/api/v1/rules/r1").status == 204
    assert_error(server.get("/api/v1/rules/r1"), 404, "not_found")
    assert_error(server.delete("/api/v1/rules/r1"), 404, "not_found")
    assert_error(server.put("/api/v1/rules/nope", {"kind": "offline"}), 404, "not_found")


def test_rule_without_id_gets_one(server):
    created = create_rule(server, {"kind": "offline"})
    assert created["id"]
    assert server.get(f"/api/v1/rules/{created['id']}").status == 200


def test_bad_rules_get_400_or_422_naming_the_fields(server):
    assert_error(server.post("/api/v1/rules", raw="{not json"), 400, "malformed_json")
    err = assert_error(server.post("/api/v1/rules", {"kind": "threshold", "metric": "t",
                                                     "severity": "loud", "for": "soon"}),
                       422, "validation_failed")
    fields = {d["field"] for d in err["details"]}
    assert fields == {"severity", "for"}, err
    assert "severity" in err["message"] and "for" in err["message"]
    err = assert_error(server.post("/api/v1/rules", {"kind": "range", "metric": "t"}), 422)
    assert err["details"][0]["field"] == "min"
    err = assert_error(server.post("/api/v1/rules", {"kind": "absence"}), 422)
    assert err["details"][0]["field"] == "for"
    err = assert_error(server.post("/api/v1/rules", {"kind": "offline",
                                                     "notify": [{"webhook": "ftp://x"}]}), 422)
    assert err["details"][0]["field"] == "notify[0].webhook"
    err = assert_error(server.put("/api/v1/rules/a", {"id": "b", "kind": "offline"}), 422)
    assert err["details"][0]["field"] == "id"


def test_default_rules_from_the_builtin_config(server):
    ids = {r["id"] for r in server.get("/api/v1/rules").json["rules"]}
    assert {"default-temperature-range", "default-humidity-range"} <= ids
    telemetry(server, "hot-1", temperature=51.5)
    [alert] = wait_for_alerts(server, "device_id=hot-1", 1)
    assert alert["rule_id"] == "default-temperature-range"
    assert alert["value"] == 51.5


def test_default_rules_from_a_config_file(start_server):
    server = start_server(config_text="""
[[alert_rules]]
id = "cold"
kind = "threshold"
metric = "temperature"
op = "<"
threshold = 0
severity = "critical"
""")
    assert [r["id"] for r in server.get("/api/v1/rules").json["rules"]] == ["cold"]


def test_a_bad_rule_in_the_config_file_stops_the_start(start_server):
    server = start_server.create(config_text='[[alert_rules]]\nid = "x"\nkind = "nonsense"\n')
    try:
        server.start()
        raise AssertionError("the server started with an invalid rule")
    except AssertionError as e:
        assert "alert_rules[0]" in str(e) and "kind" in str(e), e


# -- lifecycle ---------------------------------------------------------------------------------

def test_threshold_alert_fires_once_and_resolves_by_itself(server):
    create_rule(server, {"id": "hot", "kind": "threshold", "metric": "temp", "threshold": 30,
                         "severity": "critical"})
    telemetry(server, "d1", temp=20)
    telemetry(server, "d1", temp=35)
    telemetry(server, "d1", temp=36)  # still hot: the same alert
    [alert] = wait_for_alerts(server, "device_id=d1", 1)
    assert {"id", "rule_id", "device_id", "severity", "state", "message", "value", "started_at",
            "acknowledged_at", "resolved_at"} <= set(alert)
    assert isinstance(alert["id"], str)
    assert alert["rule_id"] == "hot" and alert["severity"] == "critical"
    assert alert["state"] == "firing" and alert["value"] == 35
    assert alert["resolved_at"] is None
    telemetry(server, "d1", temp=25)
    [resolved] = wait_for_alerts(server, "device_id=d1&state=resolved", 1)
    assert resolved["id"] == alert["id"]
    assert resolved["resolved_by"] == "auto"
    assert RFC3339_MS_UTC.match(resolved["resolved_at"])
    assert alerts(server, "device_id=d1&state=firing") == []


def test_acknowledge_then_resolve_by_hand(server):
    create_rule(server, {"id": "hot", "kind": "threshold", "metric": "temp", "threshold": 30})
    telemetry(server, "d2", temp=40)
    [alert] = wait_for_alerts(server, "device_id=d2", 1)
    resp = server.post(f"/api/v1/alerts/{alert['id']}/acknowledge",
                       {"by": "alice", "note": "on my way"})
    assert resp.status == 200, resp
    assert resp.json["state"] == "acknowledged"
    assert resp.json["acknowledged_by"] == "alice" and resp.json["note"] == "on my way"
    assert RFC3339_MS_UTC.match(resp.json["acknowledged_at"])
    assert [a["id"] for a in alerts(server, "state=acknowledged")] == [alert["id"]]
    resp = server.post(f"/api/v1/alerts/{alert['id']}/resolve", {"by": "bob"})
    assert resp.status == 200 and resp.json["state"] == "resolved", resp
    assert resp.json["resolved_by"] == "bob"
    assert_error(server.post(f"/api/v1/alerts/{alert['id']}/resolve"), 409, "conflict")
    assert_error(server.post(f"/api/v1/alerts/{alert['id']}/acknowledge"), 409, "conflict")
    assert_error(server.post("/api/v1/alerts/999999/acknowledge"), 404, "not_found")
    assert_error(server.post(f"/api/v1/alerts/{alert['id']}/acknowledge", raw="[1]"), 422)
    # The condition still holds: no new alert until it clears and comes back.
    telemetry(server, "d2", temp=41)
    time.sleep(0.3)
    assert len(alerts(server, "device_id=d2")) == 1
    telemetry(server, "d2", temp=10)
    telemetry(server, "d2", temp=45)
    wait_for_alerts(server, "device_id=d2", 2)


def test_manual_alert_and_filters(server):
    server.heartbeat("pump-7")
    resp = server.post("/api/v1/alerts", {"device_id": "pump-7", "severity": "info",
                                          "message": "smells of smoke", "value": 3})
    assert resp.status == 201, resp
    manual = resp.json
    assert manual["rule_id"] is None and manual["state"] == "firing"
    assert manual["message"] == "smells of smoke" and manual["value"] == 3
    assert server.get(f"/api/v1/alerts/{manual['id']}").json == manual
    assert [a["id"] for a in alerts(server, "severity=info")] == [manual["id"]]
    assert alerts(server, "severity=critical") == []
    assert [a["id"] for a in alerts(server, "since=-1m")] == [manual["id"]]
    assert alerts(server, "since=2100-01-01T00:00:00Z") == []
    assert_error(server.post("/api/v1/alerts", {"device_id": "ghost"}), 404, "not_found")
    assert_error(server.post("/api/v1/alerts", {"severity": "info"}), 422, "validation_failed")
    assert_error(server.get("/api/v1/alerts?state=sleeping"), 400, "invalid_parameter")
    assert_error(server.get("/api/v1/alerts?severity=mild"), 400, "invalid_parameter")


def test_recent_is_newest_first_and_lists_page_with_cursors(server):
    server.heartbeat("d3")
    ids = [server.post("/api/v1/alerts", {"device_id": "d3", "message": f"m{i}"}).json["id"]
           for i in range(5)]
    recent = server.get("/api/v1/alerts/recent?limit=3").json
    assert [a["id"] for a in recent["alerts"]] == ids[::-1][:3]
    page1 = server.get("/api/v1/alerts?limit=2").json
    page2 = server.get(f"/api/v1/alerts?limit=2&cursor={page1['next_cursor']}").json
    assert [a["id"] for a in page1["alerts"] + page2["alerts"]] == ids[::-1][:4]


def test_offline_and_low_battery_rules(fast_server):
    server = fast_server
    create_rule(server, {"id": "off", "kind": "offline", "severity": "critical"})
    create_rule(server, {"id": "batt", "kind": "low_battery", "threshold": 15})
    server.heartbeat("d4", battery_level=10)
    [batt] = wait_for_alerts(server, "device_id=d4", 1)
    assert batt["rule_id"] == "batt" and batt["value"] == 10
    # Silent for > 2 s: offline.
    off = wait_until(lambda: [a for a in alerts(server, "device_id=d4&state=firing")
                              if a["rule_id"] == "off"], timeout=6, message="offline alert")
    assert off[0]["severity"] == "critical"
    server.heartbeat("d4", battery_level=90)  # back online with a full battery
    wait_for_alerts(server, "device_id=d4&state=resolved", 2)


def test_open_alerts_survive_a_restart(server):
    create_rule(server, {"id": "hot", "kind": "threshold", "metric": "temp", "threshold": 30})
    telemetry(server, "d5", temp=40)
    [alert] = wait_for_alerts(server, "device_id=d5", 1)
    server.restart()
    assert server.get("/api/v1/rules/hot").status == 200
    assert alerts(server, "device_id=d5&state=firing")[0]["id"] == alert["id"]
    assert server.get("/api/v1/stats").json["open_alerts"] >= 1
    telemetry(server, "d5", temp=41)  # no duplicate after the restart
    time.sleep(0.3)
    assert len(alerts(server, "device_id=d5")) == 1
    telemetry(server, "d5", temp=20)
    wait_for_alerts(server, "device_id=d5&state=resolved", 1)


def test_open_alerts_in_metrics_and_stats(server):
    server.heartbeat("d6")
    server.post("/api/v1/alerts", {"device_id": "d6", "severity": "critical"})
    server.post("/api/v1/alerts", {"device_id": "d6", "severity": "critical"})
    text = server.metrics_text()
    assert metric_value(text, "fleetpulse_alerts_open", severity="critical") == 2
    assert metric_value(text, "fleetpulse_alerts_open", severity="info") == 0
    assert server.get("/api/v1/stats").json["open_alerts"] == 2


def test_deleting_a_device_resolves_its_alerts(server):
    server.heartbeat("gone")
    alert = server.post("/api/v1/alerts", {"device_id": "gone"}).json
    assert server.delete("/api/v1/devices/gone").status == 204
    stored = server.get(f"/api/v1/alerts/{alert['id']}").json
    assert stored["state"] == "resolved" and stored["resolved_by"] == "device_deleted"
    assert server.get("/api/v1/stats").json["open_alerts"] == 0
