"""`fleetpulse serve --check-config`, the cluster options, and the systemd readiness
notifications (sd_notify over $NOTIFY_SOCKET) of the real binary."""

import os
import signal
import socket
import subprocess
import time

from fleetpulse_harness import binary_path, free_port, hermetic_env, run_cli


def test_check_config_prints_the_effective_config_and_exits_0(tmp_path):
    config = tmp_path / "f.toml"
    config.write_text('low_battery = 30\nfsync = "interval"\n')
    result = run_cli(["serve", "--config", str(config), "--check-config", "--threads", "2"],
                     env={"FLEETPULSE_OFFLINE_AFTER": "10m"})
    assert result.returncode == 0, result
    out = result.stdout
    assert f"low_battery = 30  # config file {config}" in out
    assert 'fsync = "interval"' in out
    assert 'offline_after = "10m"  # environment FLEETPULSE_OFFLINE_AFTER' in out
    assert "threads = 2  # flag --threads" in out
    assert 'http = "127.0.0.1:8080"  # default' in out
    assert "configuration is valid" in result.stderr


def test_check_config_output_is_a_config_file_that_loads_to_the_same_config(tmp_path):
    first = run_cli(["serve", "--check-config", "--low-battery", "12.5", "--mqtt", "off",
                     "--retention-raw", "30d", "--data-dir", str(tmp_path / "d")])
    assert first.returncode == 0, first
    config = tmp_path / "printed.toml"
    config.write_text(first.stdout)
    second = run_cli(["serve", "--config", str(config), "--check-config"])
    assert second.returncode == 0, second

    def values(text):
        return [line.split("  # ")[0] for line in text.splitlines() if not line.startswith("#")]
    assert values(second.stdout) == values(first.stdout)


def test_check_config_refuses_a_bad_value_with_exit_2_and_starts_nothing(tmp_path):
    port = free_port()
    result = run_cli(["serve", "--check-config", "--http", f"127.0.0.1:{port}",
                      "--offline-after", "banana", "--data-dir", str(tmp_path / "d")])
    assert result.returncode == 2
    assert "offline-after" in result.stderr
    assert not (tmp_path / "d").exists(), "--check-config touched the data dir"


def test_check_config_neither_opens_ports_nor_writes_data(tmp_path):
    port = free_port()
    result = run_cli(["serve", "--check-config", "--http", f"127.0.0.1:{port}",
                      "--data-dir", str(tmp_path / "d")])
    assert result.returncode == 0
    assert not (tmp_path / "d").exists()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # still free


def test_check_config_never_prints_secrets(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("from-a-file-0123456789\n")
    result = run_cli(["serve", "--check-config", "--mqtt-bridge-password", "bridge-pw-xyz",
                      "--admin-key-file", str(key_file)],
                     env={"FLEETPULSE_ADMIN_KEY": "env-admin-key-987654"})
    assert result.returncode == 0, result
    for secret in ("bridge-pw-xyz", "env-admin-key-987654", "from-a-file-0123456789"):
        assert secret not in result.stdout + result.stderr


def test_check_config_warns_when_an_exposed_server_has_no_key():
    result = run_cli(["serve", "--check-config", "--http", "0.0.0.0:8080"])
    assert result.returncode == 0
    assert "without --admin-key" in result.stderr


def test_cluster_options_validate_in_check_config():
    args = ["serve", "--check-config", "--cluster", "nats://h1:4222,nats://h2:4222,nats://h3:4222",
            "--node-id", "n1", "--advertise", "http://n1:8080", "--partitions", "32",
            "--replicas", "3"]
    result = run_cli(args)
    assert result.returncode == 0, result
    assert 'node_id = "n1"' in result.stdout
    assert "partitions = 32" in result.stdout
    assert 'lease_ttl = "20s"' in result.stdout
    bad = run_cli(["serve", "--check-config", "--cluster", "nats://h1:4222", "--node-id", "n1",
                   "--replicas", "2"])
    assert bad.returncode == 2 and "replicas" in bad.stderr
    no_id = run_cli(["serve", "--check-config", "--cluster", "nats://h1:4222"])
    assert no_id.returncode == 2 and "--node-id" in no_id.stderr


def test_serve_with_unreachable_nats_retries_then_says_why(tmp_path):
    # Nothing listens on the port: the node retries for one lease TTL (3 s here), logging each
    # attempt, then exits 1 naming the servers; it never serves in single-node mode instead.
    port, nats_port = free_port(), free_port()
    result = run_cli(["serve", "--cluster", f"nats://127.0.0.1:{nats_port}", "--node-id", "n1",
                      "--lease-ttl", "3s", "--http", f"127.0.0.1:{port}", "--mqtt", "off",
                      "--data-dir", str(tmp_path / "d")], timeout=30)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "cluster_nats_retry" in out
    assert "cannot connect to NATS" in out and f"127.0.0.1:{nats_port}" in out, out


def test_sd_notify_ready_after_start_and_stopping_on_sigterm(tmp_path):
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(20)
    port = free_port()
    env = hermetic_env({"NOTIFY_SOCKET": str(sock_path)})
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([str(binary_path()), "serve", "--http", f"127.0.0.1:{port}",
                             "--mqtt", "off", "--data-dir", str(tmp_path / "d")],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert sock.recv(256) == b"READY=1"
        # READY=1 means serving: the HTTP port accepts at once.
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        proc.send_signal(signal.SIGTERM)
        assert sock.recv(256) == b"STOPPING=1"
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()


def test_sd_notify_abstract_socket_address(tmp_path):
    name = f"fleetpulse-test-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(20)
    port = free_port()
    proc = subprocess.Popen([str(binary_path()), "serve", "--http", f"127.0.0.1:{port}",
                             "--mqtt", "off", "--data-dir", str(tmp_path / "d")],
                            env=hermetic_env({"NOTIFY_SOCKET": "@" + name}),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert sock.recv(256) == b"READY=1"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
