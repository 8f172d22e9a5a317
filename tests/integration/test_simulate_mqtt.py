"""`fleetpulse simulate --target mqtt://...` against a real broker (Debian's mosquitto): every
reading and heartbeat arrives on devices/{id}/telemetry and devices/{id}/heartbeat, as JSON
the telemetry API accepts, a device's buffered readings as one array after a dropout, and the
summary counts PUBACKs as acknowledged."""

import json
import socket
import subprocess
import time

from fleetpulse_harness import binary_path, free_port, hermetic_env, run_cli, wait_until


def start_broker(tmp_path):
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    log = tmp_path / "mosquitto.log"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdin=subprocess.DEVNULL,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)

    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False
    wait_until(listening, 10, message="mosquitto listening")
    return proc, port, log


def test_fleet_publishes_every_reading_and_heartbeat(tmp_path):
    broker, port, log = start_broker(tmp_path)
    out = tmp_path / "sub.txt"
    sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-t", "devices/#", "-v", "-q", "1"],
                           stdout=open(out, "w"), stderr=subprocess.STDOUT)
    try:
        # The subscriber is ready once a probe it should see comes through.
        def probe_seen():
            subprocess.run(["mosquitto_pub", "-p", str(port), "-t", "devices/_probe/ready",
                            "-m", "{}", "-q", "1"], timeout=5, check=True)
            time.sleep(0.1)
            return "devices/_probe/ready" in out.read_text()
        wait_until(probe_seen, 10, message="subscriber ready")
        summary = tmp_path / "summary.json"
        proc = subprocess.run(
            [str(binary_path()), "simulate", "--target", f"mqtt://127.0.0.1:{port}",
             "--devices", "12", "--history", "1h", "--history-step", "10m", "--duration", "3s",
             "--rate", "24", "--dropouts", "400", "--dropout-max", "1500ms", "--seed", "4",
             "--no-progress", "--json-summary", str(summary)],
            env=hermetic_env(), capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        s = json.loads(summary.read_text())
        assert s["requests_failed"] == 0
        assert s["readings_accepted"] == s["readings_sent"] > s["history_readings"] > 0
        assert s["heartbeats_accepted"] == s["heartbeats_sent"] > 0
        assert s["dropouts"] > 0 and s["late_readings"] > 0

        def lines():
            return [l for l in out.read_text().splitlines()
                    if l.startswith("devices/") and not l.startswith("devices/_probe/")]
        wait_until(lambda: len(lines()) >= s["requests"], 10, message="every message delivered")
        time.sleep(0.3)
        readings = heartbeats = arrays = 0
        devices = set()
        for line in lines():
            topic, payload = line.split(" ", 1)
            _, device, kind = topic.split("/")
            body = json.loads(payload)
            devices.add(device)
            if kind == "heartbeat":
                heartbeats += 1
                assert -150 <= body["signal_strength"] <= 0
                # The device's clock when it sent it (ms), for the response time KPI.
                assert isinstance(body["ts"], int) and abs(body["ts"] / 1000 - time.time()) < 60
            else:
                assert kind == "telemetry"
                items = body if isinstance(body, list) else [body]
                arrays += isinstance(body, list)
                for item in items:
                    assert item["device_id"] == device and isinstance(item["ts"], int)
                readings += len(items)
        assert readings == s["readings_sent"]
        assert heartbeats == s["heartbeats_sent"]
        assert len(devices) == 12
        assert arrays > 0  # the history and buffered uploads arrive as arrays
    finally:
        sub.terminate()
        sub.wait(10)
        broker.terminate()
        broker.wait(10)


def test_unreachable_broker_and_bad_mqtt_target():
    proc = run_cli(["simulate", "--target", f"mqtt://127.0.0.1:{free_port()}", "--devices", "2",
                    "--duration", "1s", "--no-progress"])
    assert proc.returncode == 1, proc.stderr
    assert "cannot reach mqtt://" in proc.stderr
    proc = run_cli(["simulate", "--target", "mqtt://host:99999"])
    assert proc.returncode == 2 and "mqtt://HOST" in proc.stderr
