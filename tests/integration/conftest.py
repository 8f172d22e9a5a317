"""Fixtures for the black-box suite: a test gets its own fleetpulse process(es) (`server`,
`fast_server`, `start_server`), each with a fresh data directory and a free port, stopped with
SIGTERM (exit code 0 asserted) when the test ends. Tests that leave no visible state may use
`shared_server`, one process per module, to keep the suite fast. When a test fails, the output
of every server it used is attached to the report.
"""

from __future__ import annotations

import itertools
import signal
from pathlib import Path
from typing import Mapping

import pytest

from fleetpulse_harness import FleetpulseServer, attach_to_report, use_shared
from sharding import assign, load_weights, parse_shard

FAST_THRESHOLDS = ("--at-risk-after", "1s", "--offline-after", "2s")

_counter = itertools.count()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in getattr(item, "_fleetpulse_servers", []):
            report.sections.append((f"fleetpulse output ({server.log_path.name})", server.log()))


class ServerFactory:
    """Starts servers for one test and stops whichever are still running at its end."""

    def __init__(self, tmp_path: Path, item=None):
        self.tmp_path = tmp_path
        self.item = item
        self.servers: list[FleetpulseServer] = []

    def new_data_dir(self) -> Path:
        path = self.tmp_path / f"data-{next(_counter)}"
        path.mkdir(mode=0o700)  # as the server creates it (an open one is warned about)
        return path

    def write_config(self, text: str) -> Path:
        path = self.tmp_path / f"fleetpulse-{next(_counter)}.toml"
        path.write_text(text)
        return path

    def create(self, *extra_args: str, env: Mapping[str, str] | None = None,
               config_text: str | None = None, admin_key: str | None = None,
               data_dir: Path | None = None, bind_host: str = "127.0.0.1",
               data_dir_flag: bool = True) -> FleetpulseServer:
        """A server object, not yet started (for tests that expect the start to fail).
        data_dir_flag=False leaves --data-dir off the command line."""
        server = FleetpulseServer(
            data_dir=(data_dir or self.new_data_dir()) if data_dir_flag else None,
            log_path=self.tmp_path / f"fleetpulse-{next(_counter)}.log",
            extra_args=extra_args, env=env,
            config=self.write_config(config_text) if config_text is not None else None,
            admin_key=admin_key, bind_host=bind_host)
        self.servers.append(server)
        attach_to_report(self.item, server)
        return server

    def __call__(self, *extra_args: str, **kw) -> FleetpulseServer:
        """Starts `fleetpulse serve` with `extra_args` and waits until /ready answers 200."""
        return self.create(*extra_args, **kw).start()

    def stop_all(self) -> list[str]:
        problems = []
        for server in self.servers:
            if server.running:
                try:
                    rc = server.stop(signal.SIGTERM)
                except AssertionError as e:
                    problems.append(str(e))
                    continue
                if rc != 0:
                    problems.append(f"server on port {server.port} exited with {rc} on SIGTERM")
        return problems


@pytest.fixture
def start_server(tmp_path, request):
    """Factory: start_server(*flags, env=..., config_text=..., admin_key=..., data_dir=...,
    bind_host=...); start_server.create(...) makes one without starting it."""
    factory = ServerFactory(tmp_path, request.node)
    yield factory
    problems = factory.stop_all()
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory):
    """Servers shared by every test of one module (see shared_server)."""
    factory = ServerFactory(tmp_path_factory.mktemp("shared"))
    yield factory
    problems = factory.stop_all()
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def _module_server(module_server_factory) -> FleetpulseServer:
    return module_server_factory()


@pytest.fixture
def shared_server(_module_server, request) -> FleetpulseServer:
    """A default server shared by the tests of one module, for tests that leave no state other
    tests could see (rejected requests, unique device ids)."""
    return use_shared(_module_server, request)


@pytest.fixture
def server(start_server) -> FleetpulseServer:
    """A server with default settings."""
    return start_server()


@pytest.fixture
def fast_server(start_server) -> FleetpulseServer:
    """A server whose devices go at_risk 1 s and offline 2 s after their last heartbeat."""
    return start_server(*FAST_THRESHOLDS)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: waits on real time (status thresholds)")


def pytest_addoption(parser):
    parser.addoption("--fp-shard", default=None,
                     help="i/N: run only the test files of shard i of N (tests/integration/sharding.py)")


def pytest_collection_modifyitems(config, items):
    spec = config.getoption("--fp-shard")
    if not spec:
        return
    try:
        index, count = parse_shard(spec)
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None
    files = sorted({Path(str(item.fspath)).name for item in items})
    shard_of = assign(files, count, load_weights())
    keep, dropped = [], []
    for item in items:
        (keep if shard_of[Path(str(item.fspath)).name] == index else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep
