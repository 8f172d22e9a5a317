"""The Debian package, installed with apt into a fresh Debian 12 root (debootstrap): the
service user and data directory exist, the binary started exactly as the unit's ExecStart
says (as the unit's user, with the unit's environment file, and a notify socket as systemd
gives one) answers /ready and tells the socket READY=1 then STOPPING=1; systemd-analyze
accepts the unit; `systemctl reload` (ExecReload) keeps it serving; an upgrade to a newer build
whose fleetpulse.toml differs keeps data and both edited conffiles (--force-confold) and asks
systemd to restart the unit; the man page documents every option; the Grafana provisioning
and the conffile's examples ship and parse; remove
keeps the data; purge removes it; lintian reports no errors.

One root goes through install -> upgrade -> remove -> purge in order (each test builds on the
one before, as an operator's machine does), so the tests of this file run in file order."""

import gzip
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import (CACHE, REPO, extract_root, free_port, http, remove_root, require_root,
                      require_tool, stop, wait_ready)

APT_CACHE = CACHE / "apt-archives"  # .debs apt fetched, reused by the next run


@pytest.fixture(scope="module")
def debs(fleetpulse_bin, tmp_path_factory):
    """Two builds of the package: the installed one and a newer one for the upgrade."""
    require_tool("dpkg-buildpackage", "apt-get install dpkg-dev")
    require_tool("dh", "apt-get install debhelper")
    require_tool("help2man", "apt-get install help2man")
    out = tmp_path_factory.mktemp("debs")
    # Both at once: each is mostly waiting on one process at a time (dh, help2man, xz).
    builds = [subprocess.Popen([str(REPO / "scripts/package.sh")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "FLEETPULSE_BIN": str(fleetpulse_bin),
                                    "VERSION": version, "OUT_DIR": str(out)})
              for version in ("0.1.0~deploytest1", "0.1.0~deploytest2")]
    made = []
    for build in builds:
        stdout, stderr = build.communicate()
        assert build.returncode == 0, stderr
        made.append(Path(stdout.strip().splitlines()[-1]))
    return made


@pytest.fixture(scope="module")
def root(debian_tarball):
    require_root()
    path = Path(tempfile.mkdtemp(prefix="fleetpulse-deb-root-"))
    extract_root(debian_tarball, path)
    try:
        yield path
    finally:
        remove_root(path)


def chroot(root: Path, *cmd: str, check: bool = True,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
           "LANG": "C.UTF-8", **(env or {})}
    r = subprocess.run(["chroot", str(root), *cmd], capture_output=True, text=True, env=env)
    if check:
        assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr}"
    return r


def apt_install(root: Path, deb: Path | str, *options: str,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """apt-get install [OPTIONS] ./x.deb (or a package by name) inside the root (with `env`
    added to its environment); what apt fetches is cached across runs."""
    archives = root / "var/cache/apt/archives"
    if APT_CACHE.is_dir():
        for f in APT_CACHE.glob("*.deb"):
            shutil.copy(f, archives)
    if isinstance(deb, Path):
        shutil.copy(deb, root / "tmp" / deb.name)
    if not any((root / "var/lib/apt/lists").glob("*Packages*")):
        r = chroot(root, "apt-get", "update", "-qq", check=False)
        if r.returncode != 0:
            pytest.fail(f"apt-get update inside the Debian root failed (mirror unreachable?):\n"
                        f"{r.stderr}", pytrace=False)
    r = chroot(root, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *options,
               f"/tmp/{deb.name}" if isinstance(deb, Path) else deb, env=env)
    APT_CACHE.mkdir(parents=True, exist_ok=True)
    for f in archives.glob("*.deb"):
        if not (APT_CACHE / f.name).exists():
            shutil.copy(f, APT_CACHE)
    return r


def unit(root: Path) -> dict[str, list[str]]:
    """The [Service] settings of the installed unit, each key with its values in order."""
    text = (root / "lib/systemd/system/fleetpulse.service").read_text()
    settings: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def environment_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value.strip('"')
    return env


class ServiceRun:
    """The unit's ExecStart run in the root as its User/Group with its environment (systemd's
    way: EnvironmentFile=, Environment=, NOTIFY_SOCKET), and a notify socket to read."""

    def __init__(self, root: Path, tmp: Path):
        self.root, self.tmp = root, tmp
        s = unit(root)
        self.user, self.group = s["User"][0], s["Group"][0]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        for f in s.get("EnvironmentFile", []):
            path = root / f.lstrip("-").lstrip("/")
            if path.exists():
                env.update(environment_file(path))
            else:
                assert f.startswith("-"), f"{f} is missing and not optional"
        for e in s.get("Environment", []):
            for assignment in shlex.split(e):
                key, value = assignment.split("=", 1)
                env[key] = value
        self.sock_path = root / "run/fleetpulse-notify.sock"
        self.sock_path.unlink(missing_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.sock_path))
        os.chmod(self.sock_path, 0o777)
        self.sock.settimeout(20)
        env["NOTIFY_SOCKET"] = "/run/fleetpulse-notify.sock"
        self.env = env
        self.argv = shlex.split(s["ExecStart"][0])
        self.log = tmp / "service.log"

    def start(self) -> "ServiceRun":
        self.proc = subprocess.Popen(
            ["chroot", f"--userspec={self.user}:{self.group}", str(self.root), *self.argv],
            env=self.env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        return self

    def notification(self) -> str:
        try:
            return self.sock.recv(4096).decode()
        except socket.timeout:
            pytest.fail(f"no sd_notify message within 20 s:\n{self.log.read_text()[-2000:]}",
                        pytrace=False)

    def close(self) -> int:
        code = stop(self.proc)
        self.sock.close()
        self.sock_path.unlink(missing_ok=True)
        return code


@pytest.fixture(scope="module")
def ports(root):
    return {"http": free_port(), "mqtt": free_port()}


def configure_ports(root: Path, ports: dict) -> None:
    """What an operator does: set the listen addresses in /etc/default/fleetpulse (free
    loopback ports here, so the test never collides with another server)."""
    with open(root / "etc/default/fleetpulse", "a") as f:
        f.write(f"FLEETPULSE_HTTP=127.0.0.1:{ports['http']}\n"
                f"FLEETPULSE_MQTT=127.0.0.1:{ports['mqtt']}\n")


def test_install_creates_the_service_user_and_data_directory(root, debs):
    apt_install(root, debs[0])
    user = chroot(root, "getent", "passwd", "fleetpulse").stdout.strip().split(":")
    assert user[5] == "/var/lib/fleetpulse", user
    assert user[6] in ("/usr/sbin/nologin", "/bin/false"), user
    assert int(user[2]) < 1000, f"not a system user: {user}"
    data = root / "var/lib/fleetpulse"
    assert data.is_dir()
    assert data.stat().st_uid == int(user[2])
    assert oct(data.stat().st_mode & 0o777) == "0o750"
    version = chroot(root, "dpkg-query", "-W", "-f=${Version}", "fleetpulse").stdout
    assert version == "0.1.0~deploytest1"


def test_installed_files_are_where_the_unit_and_docs_say(root, debs):
    assert os.access(root / "usr/bin/fleetpulse", os.X_OK)
    assert (root / "usr/share/man/man1/fleetpulse.1.gz").is_file()
    conffiles = (root / "var/lib/dpkg/info/fleetpulse.conffiles").read_text().split()
    assert "/etc/fleetpulse/fleetpulse.toml" in conffiles
    assert "/etc/default/fleetpulse" in conffiles
    toml = (root / "etc/fleetpulse/fleetpulse.toml").read_text()
    # Every option of --help is in the file (commented out except data_dir).
    help_text = chroot(root, "/usr/bin/fleetpulse", "serve", "--help").stdout
    options = [m for m in re.findall(r"^\s+--([a-z0-9-]+)", help_text, re.M)
               if m not in ("help", "help-all", "config", "check-config")]
    assert len(options) > 40, help_text
    for option in options:
        assert f"{option.replace('-', '_')} = " in toml, f"{option} missing from the conffile"
    s = unit(root)
    for key, want in [("Type", "notify"), ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"),
                      ("ProtectSystem", "strict"), ("StateDirectory", "fleetpulse"),
                      ("Restart", "on-failure"), ("User", "fleetpulse")]:
        assert s.get(key) == [want], (key, s.get(key))
    assert int(s["LimitNOFILE"][0]) >= 10_000 + 1000
    assert s.get("ExecReload") == ["/bin/kill -HUP $MAINPID"], s.get("ExecReload")


def test_grafana_provisioning_is_installed_as_in_the_repository(root, debs):
    shipped = root / "usr/share/fleetpulse/grafana"
    repo = REPO / "deploy/grafana"
    want = sorted(p.relative_to(repo) for p in repo.rglob("*") if p.is_file())
    assert sorted(p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file()) == want
    for rel in want:
        assert (shipped / rel).read_bytes() == (repo / rel).read_bytes(), rel
    assert len([p for p in want if p.suffix == ".json"]) >= 1
    assert Path("provisioning/datasources/fleetpulse.yaml") in want


def test_man_page_documents_every_current_option(root, debs):
    page = gzip.decompress((root / "usr/share/man/man1/fleetpulse.1.gz").read_bytes()).decode()
    documented = set(re.findall(r"\\fB\\-\\-([a-z0-9\\-]+)\\fR", page))
    documented = {o.replace("\\-", "-") for o in documented}
    help_text = chroot(root, "/usr/bin/fleetpulse", "serve", "--help").stdout
    options = set(re.findall(r"^\s+--([a-z0-9-]+)", help_text, re.M)) - {"help"}
    assert {"cluster", "partitions", "node-id", "check-config"} <= options, help_text
    assert options <= documented, f"missing from fleetpulse(1): {sorted(options - documented)}"
    for command in ("serve", "simulate", "check"):
        assert re.search(rf"^{command}$", page, re.M), f"subcommand {command} not in the page"


def uncommented(toml: str) -> str:
    """The conffile with every option and example table commented in (as package.sh checks
    it): `#key = value` and `#[table]` lines lose their '#'."""
    out = []
    for line in toml.splitlines():
        if re.match(r"^#[a-z_0-9]+ = [^(]*$", line) or re.match(r"^#\[.*\]$", line):
            line = line[1:]
        out.append(line)
    return "\n".join(out) + "\n"


def test_conffile_examples_are_accepted_when_commented_in(root, debs):
    text = (root / "etc/fleetpulse/fleetpulse.toml").read_text()
    assert "\n#[device_types." in text and "\n#[[alert_rules]]\n" in text
    (root / "tmp/all-options.toml").write_text(uncommented(text))
    r = chroot(root, "/usr/bin/fleetpulse", "serve", "--config", "/tmp/all-options.toml",
               "--check-config", check=False)
    assert r.returncode == 0, r.stderr
    printed = r.stdout
    # The example device type and rules are what the server would use.
    assert re.search(r'^\[device_types\.camera\]\nat_risk_after = "10m"\n'
                     r'offline_after = "30m"\nlow_battery = 10$', printed, re.M), printed
    rules = re.findall(r'^#   (\{.*\})$', printed, re.M)
    ids = [json.loads(rule)["id"] for rule in rules]
    assert ids == ["freezer-warm", "gateway-silent"], ids
    assert json.loads(rules[0])["scope"] == {"type": "freezer"}
    # Commented out, as shipped, they change nothing: the built-in rules stay.
    r = chroot(root, "/usr/bin/fleetpulse", "serve", "--config", "/etc/fleetpulse/fleetpulse.toml",
               "--check-config")
    assert "[device_types." not in r.stdout and "default-temperature-range" in r.stdout


def test_systemd_analyze_verify_accepts_the_unit(root, debs):
    require_tool("systemd-analyze", "apt-get install systemd")
    # A server has systemd: its units (sysinit.target, ...) are what verify resolves against.
    apt_install(root, "systemd")
    r = subprocess.run(["systemd-analyze", "verify", f"--root={root}",
                        "/lib/systemd/system/fleetpulse.service"],
                       capture_output=True, text=True,
                       env={**os.environ, "MANPATH": str(root / "usr/share/man")})
    assert r.returncode == 0, r.stderr
    assert "fleetpulse" not in r.stderr, r.stderr


def test_service_as_the_unit_starts_it_answers_ready_and_notifies(root, debs, ports, tmp_path):
    configure_ports(root, ports)
    run = ServiceRun(root, tmp_path).start()
    try:
        assert run.notification() == "READY=1"
        base = f"http://127.0.0.1:{ports['http']}"
        wait_ready(base, run.proc, run.log)
        status, body = http("POST", base + "/api/v1/heartbeat",
                            {"device_id": "pkg-dev-1", "battery_level": 77})
        assert status in (200, 201, 202), body
        # `systemctl reload` runs ExecReload with $MAINPID: the server reloads its
        # certificates and keeps serving (SIGHUP's default action would end it).
        reload = shlex.split(unit(root)["ExecReload"][0].replace("$MAINPID", str(run.proc.pid)))
        chroot(root, *reload)
        time.sleep(0.5)
        assert run.proc.poll() is None, run.log.read_text()[-2000:]
        assert http("GET", base + "/ready")[0] == 200
        run.proc.terminate()
        assert run.notification() == "STOPPING=1"
    finally:
        code = run.close()
    assert code == 0, run.log.read_text()[-2000:]
    owners = {p.stat().st_uid for p in (root / "var/lib/fleetpulse").rglob("*")}
    uid = int(chroot(root, "id", "-u", "fleetpulse").stdout)
    assert owners == {uid}, "files in the data dir not owned by the service user"


def test_upgrade_keeps_data_and_edited_configuration_and_restarts(root, debs, ports, tmp_path):
    """As on a server: the operator edited both conffiles, the old version runs, apt upgrades
    non-interactively keeping the edits (--force-confold, deploy/README.md) although the new
    package's fleetpulse.toml differs, and asks systemd to restart the unit; the new binary
    then serves the old data with the edited configuration."""
    conf, default = root / "etc/fleetpulse/fleetpulse.toml", root / "etc/default/fleetpulse"
    shipped = '\n#http = "127.0.0.1:8080"\n'
    assert shipped in conf.read_text()
    http_port = free_port()
    conf.write_text(conf.read_text().replace(shipped, f'\nhttp = "127.0.0.1:{http_port}"\n'))
    default.write_text("".join(line for line in default.read_text().splitlines(True)
                               if not line.startswith("FLEETPULSE_HTTP=")))
    edited_conf, edited_default = conf.read_text(), default.read_text()
    assert "Shipped with fleetpulse 0.1.0~deploytest1." in edited_conf
    base = f"http://127.0.0.1:{http_port}"

    # systemd's marker directory makes the maintainer scripts call systemctl; no systemd runs
    # in this chroot, and SYSTEMD_OFFLINE=1 tells systemctl so: it then answers from the unit
    # files (is the unit enabled?) and reports the command it would send instead of sending it.
    marker = root / "run/systemd/system"
    marker.mkdir(parents=True, exist_ok=True)
    old = ServiceRun(root, tmp_path).start()
    try:
        assert old.notification() == "READY=1"
        wait_ready(base, old.proc, old.log)
        status, body = http("POST", base + "/api/v1/heartbeat",
                            {"device_id": "pkg-dev-2", "battery_level": 55})
        assert status in (200, 201, 202), body
        upgrade = apt_install(root, debs[1], "-o", "Dpkg::Options::=--force-confold",
                              env={"SYSTEMD_OFFLINE": "1"})
    finally:
        # What the restart does: stop the old process (drain, flush, exit 0) ...
        assert old.close() == 0, old.log.read_text()[-2000:]
        shutil.rmtree(root / "run/systemd")
    output = upgrade.stdout + upgrade.stderr
    assert "Running in chroot, ignoring command 'restart'" in output, output
    version = chroot(root, "dpkg-query", "-W", "-f=${Version}", "fleetpulse").stdout
    assert version == "0.1.0~deploytest2"
    assert os.access(root / "usr/bin/fleetpulse", os.X_OK)
    # The new conffile differed; the edited one stays and the new one is left beside it.
    assert conf.read_text() == edited_conf, "the upgrade replaced the edited fleetpulse.toml"
    assert default.read_text() == edited_default, "the upgrade replaced /etc/default/fleetpulse"
    offered = root / "etc/fleetpulse/fleetpulse.toml.dpkg-dist"
    assert "Shipped with fleetpulse 0.1.0~deploytest2." in offered.read_text()
    assert oct(conf.stat().st_mode & 0o777) == "0o640"

    # ... and start the new one as the unit says: the file's address, the data of before.
    run = ServiceRun(root, tmp_path).start()
    try:
        assert run.notification() == "READY=1"
        wait_ready(base, run.proc, run.log)
        for device, battery in (("pkg-dev-1", b"77"), ("pkg-dev-2", b"55")):
            status, body = http("GET", base + f"/api/v1/devices/{device}")
            assert status == 200, body
            assert battery in body, body
    finally:
        assert run.close() == 0


def test_remove_keeps_the_data_and_purge_removes_it(root, debs):
    chroot(root, "apt-get", "remove", "-y", "-qq", "fleetpulse")
    assert not (root / "usr/bin/fleetpulse").exists()
    assert any((root / "var/lib/fleetpulse").iterdir()), "remove deleted the data"
    assert (root / "etc/fleetpulse/fleetpulse.toml").exists(), "remove deleted the config"
    chroot(root, "dpkg", "--purge", "fleetpulse")
    assert not (root / "var/lib/fleetpulse").exists(), "purge kept the data"
    assert not (root / "etc/fleetpulse").exists(), "purge kept the config"
    assert not (root / "etc/default/fleetpulse").exists()


def test_lintian_reports_no_errors(debs):
    require_tool("lintian", "apt-get install lintian")
    r = subprocess.run(["lintian", "--fail-on", "error", str(debs[0])], capture_output=True,
                       text=True)
    errors = [line for line in r.stdout.splitlines() if line.startswith("E:")]
    assert r.returncode == 0 and not errors, r.stdout + r.stderr
