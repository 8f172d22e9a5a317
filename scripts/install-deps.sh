#!/usr/bin/env bash
# Installs every Debian 12 package that building, running and testing fleetpulse needs.
# Idempotent: packages already present are skipped; apt is only called when something is missing.
# Uses sudo only when not running as root.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang-format clang libclang-rt-14-dev ccache
  # libraries (see docs/dependencies.md for why each one)
  libboost1.81-dev libsimdjson-dev libsqlite3-dev libzstd-dev libssl-dev
  libfmt-dev libspdlog-dev libcli11-dev libtomlplusplus-dev
  libmosquitto-dev libpq-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-pytest prometheus curl
  # dashboard end-to-end tests (headless browser)
  chromium
  # MQTT conformance and bridge tests: real brokers and clients
  mosquitto mosquitto-clients python3-paho-mqtt
  # packaging and deployment tests (tests/deploy, scripts/package.sh)
  debhelper help2man lintian debootstrap buildah docker-compose podman-compose haproxy nats-server
  python3-yaml
  # gzip request bodies (zlib), Swagger UI compressed at build time, HTTPS test certificates
  zlib1g-dev gzip openssl
  # cluster mode (src/cluster, tests/cluster): the NATS C client and a JetStream server
  libnats-dev nats-server
  # PromQL label matchers (RE2, as Prometheus's Go regexp); YAML of the Grafana provisioning test
  libre2-dev python3-yaml
  # https webhooks verify receivers against the system CA store (authsec)
  ca-certificates
  # slow-disk test (tests/integration/test_slow_disk.py): fsync delays injected with strace
  strace
)
# kubectl renders the Kubernetes manifests (deploy/k8s) with its built-in kustomize, which
# must be >= 4.1 (kubectl >= 1.22; 1.21 has kustomize 4.0.5) for `labels:` and `patches:`.
# Debian 12's kubernetes-client is kubectl 1.20 (kustomize 2.0.3), which cannot render them,
# so it is not installed: without a kubectl, say where to get one (the deploy tests fail
# with the same message until there is one).
if ! command -v kubectl >/dev/null 2>&1; then
  echo "install-deps: no kubectl: install kubectl >= 1.22 from https://pkgs.k8s.io" \
    "(https://kubernetes.io/docs/tasks/tools/); Debian 12's kubernetes-client (1.20) cannot" \
    "render deploy/k8s" >&2
fi
# The dashboard is built with Node.js >= 18 and npm. Debian 12's nodejs (18) and npm serve;
# a machine that already has node and npm (e.g. from NodeSource) keeps its own.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
