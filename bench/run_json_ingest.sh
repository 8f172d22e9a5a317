#!/usr/bin/env bash
# JSON batch ingest over HTTP: the peer benchmark's readings (../shared/bench payload, 10k
# trucks x 7 fields) as JSON arrays of flat readings, 5000 per request, sent by the same
# `send` binary over 4 keep-alive connections to POST /api/v1/telemetry (fsync always).
# Prints the sender's figures plus server CPU, peak memory and disk after a flush.
# Needs the LP payload: run bench/run_peer_comparison.sh (or ../shared/bench/run_peers.sh) once.
# Usage: bench/run_json_ingest.sh   (env: PEERBENCH_ROOT, PAYLOAD=<payload dir, default the
#   default workload d10000-b5000-...>, FP_PORT=<free port, default 8090>, FLEETPULSE_BIN,
#   CONNS, LIMIT=<batches>, FP_ARGS=<extra serve options>)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="${PEERBENCH_ROOT:-/tmp/peerbench}"
# The default workload's payload unless PAYLOAD names one (other sweeps leave more directories).
payload="${PAYLOAD:-$(ls -d "$root"/payload/d10000-b5000-* 2>/dev/null | head -1)}"
[ -d "$payload/lp" ] || { echo "no LP payload under ${payload:-$root/payload}: run bench/run_peer_comparison.sh first" >&2; exit 1; }
lp_dir="$payload/lp"
port="${FP_PORT:-8090}"
bin="${FLEETPULSE_BIN:-$here/build/release/src/app/fleetpulse}"
json_dir="$(dirname "$lp_dir")/json"
[ -x "$bin" ] || "$here/scripts/build.sh" release
python3 "$here/bench/make_json_payload.py" "$lp_dir" "$json_dir"
data="$root/fleetpulse-json/data"
rm -rf "$data" && mkdir -p "$data"
"$bin" serve --data-dir "$data" --http "127.0.0.1:$port" \
  --mqtt off --log-level warn ${FP_ARGS:-} &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until curl -sf http://127.0.0.1:$port/ready >/dev/null; do sleep 0.2; done
cpu() { awk '{print $14+$15}' "/proc/$pid/stat"; }
c0=$(cpu)
"$root/build/send" --url "http://127.0.0.1:$port/api/v1/telemetry" --dir "$json_dir" \
  --content-type application/json --fields 7 --conns "${CONNS:-4}" \
  ${LIMIT:+--limit "$LIMIT"}
c1=$(cpu)
curl -sf -XPOST http://127.0.0.1:$port/api/v1/admin/flush >/dev/null
sleep 2
values=$((${LIMIT:-572} * 35000))
awk -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v n="$values" \
  'BEGIN { printf "server CPU s/1M values: %.3f\n", c / hz / (n / 1e6) }'
echo "peak memory MiB: $(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status")"
awk -v b="$(du -sb "$data" | cut -f1)" -v n="$values" 'BEGIN { printf "disk bytes/value: %.2f\n", b / n }'
