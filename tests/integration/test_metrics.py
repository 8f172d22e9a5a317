"""GET /metrics: a valid Prometheus text exposition (checked by promtool) carrying the fleet's
figures."""

import subprocess
from pathlib import Path

from fleetpulse_harness import metric_value, parse_metrics

PROMTOOL = Path("/usr/bin/promtool")


def promtool_check(text: str) -> subprocess.CompletedProcess:
    assert PROMTOOL.exists(), "promtool is required (Debian package prometheus)"
    return subprocess.run([str(PROMTOOL), "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=30)


def exercise(server) -> None:
    """Traffic that populates labelled series: devices in each status, errors, 404s."""
    server.create_device("silent")
    server.heartbeat("good", battery_level=88.5, signal_strength=-61)
    server.heartbeat("weak", battery_level=7, signal_strength=-120)
    server.post("/api/v1/heartbeat", {"device_id": "bad", "battery_level": 999})
    server.post("/api/v1/devices", raw="{")
    server.get("/api/v1/devices/ghost")
    server.get("/api/v1/devices?status=online")


def test_metrics_are_prometheus_text(server):
    resp = server.get("/metrics")
    assert resp.status == 200
    content_type = resp.header("Content-Type")
    assert content_type.startswith("text/plain"), content_type


def test_metrics_pass_promtool_check_on_a_fresh_server(server):
    result = promtool_check(server.metrics_text())
    assert result.returncode == 0, result.stdout + result.stderr


def test_metrics_pass_promtool_check_after_traffic(server):
    exercise(server)
    text = server.metrics_text()
    result = promtool_check(text)
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n---\n{text}"


def test_every_sample_parses_and_metric_names_are_prefixed(server):
    exercise(server)
    samples = parse_metrics(server.metrics_text())
    assert samples
    ours = [name for name, _, _ in samples if name.startswith("fleetpulse_")]
    assert len(ours) >= 10


def test_heartbeats_total_counts_accepted_heartbeats(server):
    before = metric_value(server.metrics_text(), "fleetpulse_heartbeats_total") or 0
    for _ in range(3):
        server.heartbeat("counted")
    server.post("/api/v1/devices/counted/heartbeat")
    after = metric_value(server.metrics_text(), "fleetpulse_heartbeats_total")
    assert after == before + 4


def test_rejected_heartbeats_are_counted_by_reason(server):
    def rejected(text):
        return sum(v for n, _, v in parse_metrics(text) if n == "fleetpulse_ingest_rejected_total")
    before = rejected(server.metrics_text())
    server.post("/api/v1/heartbeat", {"device_id": "r", "battery_level": 101})
    server.post("/api/v1/heartbeat", {"device_id": "r", "signal_strength": 3})
    text = server.metrics_text()
    assert rejected(text) == before + 2
    reasons = {l.get("reason") for n, l, _ in parse_metrics(text)
               if n == "fleetpulse_ingest_rejected_total"}
    assert reasons and None not in reasons, reasons


def test_devices_gauge_counts_by_status(server):
    exercise(server)
    text = server.metrics_text()
    assert metric_value(text, "fleetpulse_devices", status="online") == 1
    assert metric_value(text, "fleetpulse_devices", status="at_risk") == 1
    assert metric_value(text, "fleetpulse_devices", status="offline") == 0
    assert metric_value(text, "fleetpulse_devices", status="unknown") == 1


def test_devices_gauge_has_every_status_on_an_empty_fleet(server):
    text = server.metrics_text()
    for status in ("online", "at_risk", "offline", "unknown"):
        assert metric_value(text, "fleetpulse_devices", status=status) == 0, status


def test_battery_and_signal_are_exported_per_device(server):
    exercise(server)
    text = server.metrics_text()
    assert metric_value(text, "fleetpulse_device_battery_level", device_id="good") == 88.5
    assert metric_value(text, "fleetpulse_device_battery_level", device_id="weak") == 7
    assert metric_value(text, "fleetpulse_device_signal_strength", device_id="good") == -61
    assert metric_value(text, "fleetpulse_device_signal_strength", device_id="weak") == -120
    assert metric_value(text, "fleetpulse_device_battery_level", device_id="silent") is None
    assert metric_value(text, "fleetpulse_device_battery_level", device_id="bad") is None


def test_deleted_device_leaves_the_per_device_gauges(server):
    server.heartbeat("short-lived", battery_level=50, signal_strength=-80)
    assert server.delete("/api/v1/devices/short-lived").status == 204
    text = server.metrics_text()
    assert metric_value(text, "fleetpulse_device_battery_level", device_id="short-lived") is None


def test_per_device_series_are_capped(start_server):
    server = start_server("--metrics-device-cap", "2")
    for i in range(5):
        server.heartbeat(f"capped-{i}", battery_level=50 + i, signal_strength=-60 - i)
    text = server.metrics_text()
    exported = {l["device_id"] for n, l, _ in parse_metrics(text)
                if n == "fleetpulse_device_battery_level"}
    assert len(exported) == 2, exported
    assert metric_value(text, "fleetpulse_devices", status="online") == 5
    result = promtool_check(text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_request_latency_is_a_histogram(server):
    exercise(server)
    text = server.metrics_text()
    assert "# TYPE fleetpulse_http_request_duration_seconds histogram" in text
    samples = [(n, l, v) for n, l, v in parse_metrics(text)
               if n.startswith("fleetpulse_http_request_duration_seconds")]
    names = {n for n, _, _ in samples}
    assert {"fleetpulse_http_request_duration_seconds_bucket",
            "fleetpulse_http_request_duration_seconds_sum",
            "fleetpulse_http_request_duration_seconds_count"} <= names
    inf_buckets = [v for n, l, v in samples if n.endswith("_bucket") and l.get("le") == "+Inf"]
    counts = [v for n, _, v in samples if n.endswith("_count")]
    assert inf_buckets and sum(inf_buckets) == sum(counts)
    assert sum(counts) >= 7  # the requests made by exercise()


def test_histogram_buckets_are_cumulative(server):
    exercise(server)
    series: dict[tuple, list[tuple[float, float]]] = {}
    for name, labels, value in parse_metrics(server.metrics_text()):
        if name == "fleetpulse_http_request_duration_seconds_bucket":
            key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            le = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
            series.setdefault(key, []).append((le, value))
    assert series
    for key, buckets in series.items():
        values = [v for _, v in sorted(buckets)]
        assert values == sorted(values), (key, buckets)
