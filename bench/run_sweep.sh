#!/usr/bin/env bash
# Ingest sweep: fleetpulse beside VictoriaMetrics in one run over workloads of 10k / 50k / 100k
# devices x batches of 1,000 and 5,000 lines (7 fields per line, ../shared/bench's TSBS-like
# payload and sender), plus one held-aside workload (more devices, fewer points per series,
# smaller batches). Each workload is one bench/run_peer_comparison.sh call (fresh data dirs,
# fsync before every acknowledgement, flushed before disk is measured); the per-run figures
# are gathered into one table: values/s, server CPU s per million values, disk bytes/value
# after flush, peak RSS.
#
# Usage: bench/run_sweep.sh        (env: VALUES=20000000 RUNS=1 PEERS=vm OUT=/tmp/fp-sweep
#                                   KEEP_PAYLOAD=0 WORKLOADS="10000x1000 10000x5000 ..." HELD_ASIDE=1)
# WORKLOADS lists DEVICESxBATCH; HELD_ASIDE=1 appends 200000x500 with VALUES/2 values
# (5 points per series). The table is printed and written to $OUT/sweep.md.
# VictoriaMetrics runs as bench/vm-big.peer describes it (allowed to count the >= 350k series
# of the 50k- and 100k-device workloads), and both servers listen on free ports (FP_PORT,
# VM_PORT), so the sweep can run beside other benchmarks on the same machine.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${OUT:-/tmp/fp-sweep}"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export FP_PORT="${FP_PORT:-$(free_port)}"
vm_port="${VM_PORT:-$(free_port)}"
vm_peer="$(mktemp --suffix=.peer)"
trap 'rm -f "$vm_peer"' EXIT
sed "s/127.0.0.1:8428/127.0.0.1:$vm_port/g" "$here/bench/vm-big.peer" >"$vm_peer"
values="${VALUES:-20000000}"
workloads="${WORKLOADS:-10000x1000 10000x5000 50000x1000 50000x5000 100000x1000 100000x5000}"
mkdir -p "$out"
runs=()
for w in $workloads; do runs+=("${w%x*} ${w#*x} $values"); done
[ "${HELD_ASIDE:-1}" = 1 ] && runs+=("200000 500 $((values / 2))")
for r in "${runs[@]}"; do
  read -r d b v <<<"$r"
  res="$out/d$d-b$b-v$v"
  payload="${PEERBENCH_ROOT:-/tmp/peerbench}/payload/d$d-b$b-v$v-s42"
  had_payload=0
  [ -d "$payload" ] && had_payload=1
  rm -rf "$res"
  echo "[sweep] $d devices, batches of $b lines, $v values" >&2
  PEERS="${PEERS-}" RUNS="${RUNS:-1}" DEVICES="$d" BATCH="$b" VALUES="$v" \
    "$here/bench/run_peer_comparison.sh" --peer-file "$vm_peer" --results "$res" >&2 ||
    echo "[sweep] $res failed" >&2
  # Payloads (line protocol + CSV) take ~90 bytes per value: those this run generated are
  # dropped unless KEEP_PAYLOAD=1.
  [ "${KEEP_PAYLOAD:-0}" = 1 ] || [ "$had_payload" = 1 ] || rm -rf "$payload"
done
/usr/bin/python3 - "$out" "${runs[@]}" <<'PY' | tee "$out/sweep.md"
import glob, json, os, statistics, sys
out, runs = sys.argv[1], [r.split() for r in sys.argv[2:]]
print("| devices | batch | values | peer | values/s | CPU s/1M values | disk B/value | peak MiB | errors |")
print("|---|---|---|---|---|---|---|---|---|")
for d, b, v in runs:
    rows = {}
    for f in glob.glob(os.path.join(out, f"d{d}-b{b}-v{v}", "runs-*.jsonl")):
        for line in open(f):
            r = json.loads(line)
            rows.setdefault(r["peer"], []).append(r)
    vm = next((rows[p] for p in rows if p.startswith("victoriametrics")), None)
    for peer in sorted(rows, key=lambda p: p != "fleetpulse"):
        rs = rows[peer]
        med = lambda k: statistics.median(x.get(k) or 0 for x in rs)
        rate = med("values_per_sec")
        ratio = ""
        if not peer.startswith("victoriametrics") and vm:
            ratio = f" ({rate / statistics.median(x['values_per_sec'] for x in vm):.2f}×)"
        print(f"| {int(d):,} | {int(b):,} | {int(rs[0]['values']):,} | {peer} | {rate:,.0f}{ratio} | "
              f"{med('cpu_s_per_1m'):.3f} | {med('bytes_per_value'):.2f} | "
              f"{med('peak_mem_kb') / 1024:.0f} | {sum(x.get('http_errors') or 0 for x in rs)} |")
PY
