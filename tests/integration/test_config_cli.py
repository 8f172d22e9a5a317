"""The command line: --help, rejection of bad values, and configuration layering
(flag > FLEETPULSE_<NAME> environment > TOML file from --config > default).

The low-battery threshold is the probe for layering because its effect is visible at once: a
heartbeat with a battery below the effective threshold makes the device at_risk.
"""

import time

import pytest

from fleetpulse_harness import free_port, run_cli, wait_until

SERVE_FLAGS = ["--data-dir", "--http", "--mqtt", "--admin-key", "--auth", "--fsync",
               "--at-risk-after", "--offline-after", "--low-battery", "--config"]


def serve_args(data_dir, *extra: str) -> list[str]:
    """`serve` on a fresh loopback port (so a server that wrongly starts harms nothing)."""
    return ["serve", "--data-dir", str(data_dir), "--mqtt", "off",
            "--http", f"127.0.0.1:{free_port()}", *extra]


def effective_low_battery(server, candidates=(15, 25, 35, 45, 55)) -> int | None:
    """The smallest candidate battery level that leaves a device online, probing one device per
    candidate (the threshold lies just below it)."""
    for level in candidates:
        if server.heartbeat(f"probe-{level}", battery_level=level)["status"] == "online":
            return level
    return None


# -- help --------------------------------------------------------------------------------------

def test_top_level_help_exits_0_and_names_the_serve_command():
    result = run_cli(["--help"])
    assert result.returncode == 0, result
    text = result.stdout + result.stderr
    assert "serve" in text, text


def test_serve_help_exits_0_and_lists_every_flag():
    result = run_cli(["serve", "--help"])
    assert result.returncode == 0, result
    text = result.stdout + result.stderr
    missing = [flag for flag in SERVE_FLAGS if flag not in text]
    assert not missing, f"serve --help does not mention {missing}:\n{text}"


def test_help_goes_to_stdout():
    assert "--data-dir" in run_cli(["serve", "--help"]).stdout


# -- bad values --------------------------------------------------------------------------------

@pytest.mark.parametrize("flag,value", [
    ("--offline-after", "banana"), ("--at-risk-after", "-5s"), ("--low-battery", "lots"),
    ("--low-battery", "150"), ("--fsync", "sometimes"), ("--auth", "maybe"),
    ("--http", "not-an-address"), ("--http", "127.0.0.1:99999"), ("--max-body-bytes", "-1"),
    ("--auto-register", "perhaps")])
def test_invalid_flag_value_exits_nonzero_with_a_message(tmp_path, flag, value):
    result = run_cli(serve_args(tmp_path, flag, value), timeout=10)
    assert result.returncode != 0, result
    text = (result.stdout + result.stderr).lower()
    assert flag.lstrip("-") in text or flag.lstrip("-").replace("-", "_") in text \
        or value.lower() in text, text


def test_unknown_flag_exits_nonzero(tmp_path):
    result = run_cli(serve_args(tmp_path, "--no-such-flag", "1"), timeout=10)
    assert result.returncode != 0
    assert "no-such-flag" in result.stdout + result.stderr


def test_unknown_command_exits_nonzero():
    result = run_cli(["frobnicate"], timeout=10)
    assert result.returncode != 0
    assert (result.stdout + result.stderr).strip()


def test_invalid_environment_value_exits_nonzero(tmp_path):
    result = run_cli(serve_args(tmp_path), env={"FLEETPULSE_OFFLINE_AFTER": "banana"},
                     timeout=10)
    assert result.returncode != 0, result
    text = (result.stdout + result.stderr).lower()
    assert "offline" in text or "banana" in text, text


def test_invalid_config_file_exits_nonzero_with_a_message(tmp_path):
    config = tmp_path / "broken.toml"
    config.write_text('offline_after = "2s\nthis is = = not toml\n')
    result = run_cli(serve_args(tmp_path, "--config", str(config)), timeout=10)
    assert result.returncode != 0, result
    assert (result.stdout + result.stderr).strip()


def test_invalid_value_in_the_config_file_exits_nonzero(tmp_path):
    config = tmp_path / "bad-value.toml"
    config.write_text('offline_after = "banana"\n')
    result = run_cli(serve_args(tmp_path, "--config", str(config)), timeout=10)
    assert result.returncode != 0, result
    text = (result.stdout + result.stderr).lower()
    assert "offline" in text or "banana" in text, text


def test_missing_config_file_exits_nonzero(tmp_path):
    result = run_cli(serve_args(tmp_path, "--config", str(tmp_path / "absent.toml")),
                     timeout=10)
    assert result.returncode != 0, result
    assert "absent.toml" in result.stdout + result.stderr


# -- layering ----------------------------------------------------------------------------------

def test_default_low_battery_threshold_is_20_percent(server):
    assert effective_low_battery(server) == 25


def test_config_file_value_applies(start_server):
    server = start_server(config_text="low_battery = 30\n")
    assert effective_low_battery(server) == 35


def test_environment_overrides_the_config_file(start_server):
    server = start_server(config_text="low_battery = 30\n", env={"FLEETPULSE_LOW_BATTERY": "40"})
    assert effective_low_battery(server) == 45


def test_environment_applies_without_a_config_file(start_server):
    server = start_server(env={"FLEETPULSE_LOW_BATTERY": "30"})
    assert effective_low_battery(server) == 35


def test_config_file_named_in_the_environment_applies(start_server, tmp_path):
    config = tmp_path / "via-env.toml"
    config.write_text("low_battery = 30\n")
    server = start_server(env={"FLEETPULSE_CONFIG": str(config)})
    assert effective_low_battery(server) == 35


def test_flag_overrides_environment_and_config_file(start_server):
    server = start_server("--low-battery", "50", config_text="low_battery = 30\n",
                          env={"FLEETPULSE_LOW_BATTERY": "40"})
    assert effective_low_battery(server) == 55


@pytest.mark.slow
def test_duration_thresholds_from_the_environment_apply(start_server):
    server = start_server(env={"FLEETPULSE_AT_RISK_AFTER": "1s", "FLEETPULSE_OFFLINE_AFTER": "2s"})
    server.heartbeat("env-dev", battery_level=90)
    wait_until(lambda: server.device("env-dev")["status"] == "offline", timeout=8, interval=0.2,
               message="offline after 2 s set through the environment")


@pytest.mark.slow
def test_duration_thresholds_from_the_config_file_apply(start_server):
    server = start_server(config_text='at_risk_after = "1s"\noffline_after = "2s"\n')
    server.heartbeat("file-dev", battery_level=90)
    wait_until(lambda: server.device("file-dev")["status"] == "offline", timeout=8, interval=0.2,
               message="offline after 2 s set in the config file")


@pytest.mark.slow
def test_flag_duration_overrides_the_config_file(start_server):
    server = start_server("--at-risk-after", "1s", "--offline-after", "2s",
                          config_text='at_risk_after = "1h"\noffline_after = "2h"\n')
    server.heartbeat("flag-dev", battery_level=90)
    wait_until(lambda: server.device("flag-dev")["status"] == "offline", timeout=8, interval=0.2,
               message="offline after 2 s set by flag")


@pytest.mark.slow
def test_environment_duration_overrides_the_config_file(start_server):
    server = start_server(config_text='at_risk_after = "1s"\noffline_after = "2s"\n',
                          env={"FLEETPULSE_AT_RISK_AFTER": "1h", "FLEETPULSE_OFFLINE_AFTER": "2h"})
    server.heartbeat("env-wins", battery_level=90)
    time.sleep(2.5)  # past the file's 2 s, far inside the environment's 1 h
    device = server.device("env-wins")
    assert device["status"] == "online", (device, server.status_history("env-wins"))


def test_data_dir_from_the_environment_is_used(start_server, tmp_path):
    data_dir = tmp_path / "from-env"
    data_dir.mkdir()
    server = start_server(env={"FLEETPULSE_DATA_DIR": str(data_dir)}, data_dir_flag=False)
    server.create_device("in-env-dir")
    assert server.restart().device("in-env-dir")["device_id"] == "in-env-dir"
    assert any(data_dir.iterdir()), "nothing was written to FLEETPULSE_DATA_DIR"


@pytest.mark.parametrize("mode", ["always", "interval", "none"])
def test_every_fsync_mode_serves_and_persists(start_server, mode):
    server = start_server("--fsync", mode)
    server.heartbeat(f"fsync-{mode}", battery_level=50)
    assert server.restart().device(f"fsync-{mode}")["battery_level"] == 50


def test_data_dir_from_the_config_file_is_used(start_server, tmp_path):
    data_dir = tmp_path / "from-config"
    data_dir.mkdir()
    server = start_server(config_text=f'data_dir = "{data_dir}"\n', data_dir_flag=False)
    server.create_device("in-config-dir")
    assert server.restart().device("in-config-dir")["device_id"] == "in-config-dir"
    assert any(data_dir.iterdir()), "nothing was written to the data_dir from the config file"
