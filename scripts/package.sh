#!/usr/bin/env bash
# Builds the Debian package build/package/fleetpulse_<version>_<arch>.deb from the release
# binary (scripts/build.sh release, run first when FLEETPULSE_BIN is not given), with debhelper
# and the files in deploy/debian: the hardened systemd unit, /etc/default/fleetpulse, the
# configuration file /etc/fleetpulse/fleetpulse.toml (every option commented, generated from
# `fleetpulse serve --check-config`, with commented [device_types.X] / [[alert_rules]] examples
# and a line naming the version it shipped with), the man page (help2man from `--help-all`) and
# the Grafana provisioning of deploy/grafana (/usr/share/fleetpulse/grafana).
# Environment: FLEETPULSE_BIN (binary to package), VERSION (default <fleetpulse version>+git
# <commits>.<hash>), OUT_DIR (default build/package). Prints the path of the .deb.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

for tool in dpkg-buildpackage dh help2man; do
  if ! command -v "$tool" >/dev/null; then
    echo "package.sh: $tool is missing: run scripts/install-deps.sh" >&2
    exit 1
  fi
done

bin="${FLEETPULSE_BIN:-}"
if [ -z "$bin" ]; then
  JOBS="${JOBS:-2}" scripts/build.sh release >&2
  bin="$root/build/release/src/app/fleetpulse"
fi
[ -x "$bin" ] || { echo "package.sh: no executable at $bin" >&2; exit 1; }

upstream=$("$bin" version | awk '{print $2}')
if [ -z "${VERSION:-}" ]; then
  if git rev-parse --git-dir >/dev/null 2>&1; then
    VERSION="$upstream+git$(git rev-list --count HEAD).$(git rev-parse --short=8 HEAD)"
  else
    VERSION="$upstream"
  fi
fi
out="${OUT_DIR:-$root/build/package}"
mkdir -p "$out"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
src="$stage/fleetpulse-$VERSION"
mkdir -p "$src"
cp -r deploy/debian "$src/debian"
cp "$bin" "$src/fleetpulse"
cp deploy/README.md "$src/README.md"
cp -r deploy/grafana "$src/grafana"

# The configuration file: the packaged data directory, everything else commented out at its
# default, each with its help text.
{
  echo "# /etc/fleetpulse/fleetpulse.toml: settings of fleetpulse.service."
  echo "# Every option of \`fleetpulse serve\` is listed with its default, commented out; remove"
  echo "# the '#' to change one. FLEETPULSE_<NAME> in /etc/default/fleetpulse overrides a key"
  echo "# here. Check a change with: fleetpulse serve --config THIS_FILE --check-config"
  echo "# Shipped with fleetpulse $VERSION. After an upgrade, apt keeps your edited copy (with"
  echo "# -o Dpkg::Options::=--force-confold) and leaves the new one beside it as"
  echo "# fleetpulse.toml.dpkg-dist: compare the two for new options."
  echo
  env -i "$bin" serve --check-config 2>/dev/null \
    | sed -e '1,/^$/d' -e 's/  # default$//' -e 's/^\([a-z_0-9]* = \)/#\1/' \
          -e 's|^#data_dir = .*|data_dir = "/var/lib/fleetpulse"|'
  # Tables go after every top-level key (a key below a [table] header belongs to the table).
  cat <<'EXAMPLES'

# Status thresholds for one device type (a device's "type"); other types use at_risk_after,
# offline_after and low_battery above. One table per type, e.g.:
#[device_types.camera]
#at_risk_after = "10m"
#offline_after = "30m"
#low_battery = 10

# Alert rules stored on the first start of a new data directory, instead of the built-in
# ones listed above (later, manage rules with /api/v1/rules). One [[alert_rules]] table per
# rule, in the shape POST /api/v1/rules takes (see the server's /docs), e.g.:
#[[alert_rules]]
#id = "freezer-warm"
#name = "freezer too warm"
#kind = "threshold"
#metric = "temperature"
#op = ">"
#threshold = -12
#for = "5m"
#severity = "critical"
#scope = { type = "freezer" }
#
#[[alert_rules]]
#id = "gateway-silent"
#name = "gateway sends nothing"
#kind = "absence"
#metric = "uplink_rssi"
#for = "15m"
#severity = "warning"
EXAMPLES
} >"$src/fleetpulse.toml"
# The file must stay valid with every key and example table commented in.
sed -e 's/^#\([a-z_0-9]* = [^(]*\)$/\1/' -e 's/^#\(\[.*\]\)$/\1/' \
  "$src/fleetpulse.toml" >"$stage/all-keys.toml"
if ! env -i "$bin" serve --config "$stage/all-keys.toml" --check-config >/dev/null 2>"$stage/err"; then
  echo "package.sh: the generated fleetpulse.toml does not validate:" >&2
  cat "$stage/err" >&2
  exit 1
fi

help2man --no-info --no-discard-stderr --help-option=--help-all --version-string="$upstream" \
  --name="monitors fleets of IoT devices" --section=1 \
  --include=deploy/debian/fleetpulse.h2m "$bin" >"$src/fleetpulse.1"

cat >"$src/debian/changelog" <<CHANGES
fleetpulse ($VERSION) unstable; urgency=medium

  * Built from $(git rev-parse --short=12 HEAD 2>/dev/null || echo "a source tree").

 -- fleetpulse maintainers <maintainers@fleetpulse.invalid>  $(date -R)
CHANGES

(cd "$src" && dpkg-buildpackage -b -us -uc --no-sign >"$stage/build.log" 2>&1) || {
  tail -n 40 "$stage/build.log" >&2
  echo "package.sh: dpkg-buildpackage failed" >&2
  exit 1
}
deb=$(ls "$stage"/fleetpulse_"$VERSION"_*.deb)
mv "$deb" "$out/"
echo "$out/$(basename "$deb")"
