#!/usr/bin/env bash
# Side-by-side ingest comparison on this machine with ../shared/bench: the same TSBS-like
# line-protocol payload and sender against fleetpulse and the peers (VictoriaMetrics,
# InfluxDB, PostgreSQL). Usage: bench/run_peer_comparison.sh [args for run_peers.sh]
# Environment as for run_peers.sh: PEERS (default vm,influx,pg-copy,pg-insert), RUNS, ...
# FP_PORT (default 8080) is fleetpulse's HTTP port; FLEETPULSE_BIN the binary (default: this
# tree's release build); FP_ARGS extra serve options (default `--max-registrations-per-minute
# 0`: the peers have no auto-registration budget, and its default of 10,000 new devices a
# minute refuses most of a 50k- or 100k-device workload's first minute with 503s).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
shared="${SHARED_BENCH:-$here/../shared/bench}"
bin="${FLEETPULSE_BIN:-$here/build/release/src/app/fleetpulse}"
port="${FP_PORT:-8080}"
[ -x "$bin" ] || "$here/scripts/build.sh" release
peer="$(mktemp --suffix=.peer)"
cat > "$peer" <<PEER
name=fleetpulse
url=http://127.0.0.1:$port/write
cmd=$bin serve --data-dir {data} --http 127.0.0.1:$port --mqtt off --log-level warn ${FP_ARGS---max-registrations-per-minute 0}
ready=http://127.0.0.1:$port/ready
flush=POST http://127.0.0.1:$port/api/v1/admin/flush
settle_min=2
PEER
cd "$shared"
exec ./run_peers.sh --peer-file "$peer" "$@"
