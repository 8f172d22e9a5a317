#!/usr/bin/env bash
# Installs what is needed, builds, and runs fleetpulse with embedded storage in ./data, fed by
# a simulated demo fleet (`fleetpulse simulate`: DEMO_DEVICES devices, default 200, with 24 h
# of history backfilled on the first run) so the dashboard at http://127.0.0.1:8080 is alive
# at once. Extra arguments go to `fleetpulse serve` (e.g. --http 127.0.0.1:9090).
# DEMO_DEVICES=0 runs the server alone. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
bin=build/release/src/app/fleetpulse

http="127.0.0.1:8080"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --http) http="${args[$((i + 1))]:-$http}" ;;
    --http=*) http="${args[$i]#--http=}" ;;
  esac
done
history=()
[ -d ./data ] || history=(--history 24h --history-step 2m)

"$bin" serve --data-dir ./data "$@" &
server=$!
trap 'kill -TERM "$server" "${sim:-}" 2>/dev/null || true; wait' INT TERM
for _ in $(seq 100); do
  curl -sf "http://$http/ready" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { wait "$server"; exit 1; }
  sleep 0.1
done
echo "fleetpulse: http://$http  (dashboard; API docs at /docs; Ctrl-C to stop)"
if [ "${DEMO_DEVICES:-200}" -gt 0 ]; then
  "$bin" simulate --target "http://$http" --devices "${DEMO_DEVICES:-200}" --prefix demo \
    --duration forever --no-progress "${history[@]}" --api-key "${FLEETPULSE_ADMIN_KEY:-}" \
    >/dev/null &
  sim=$!
fi
wait "$server"
