#!/usr/bin/env bash
# Ingest CPU profile: start a real fleetpulse server (fsync always, the default) on a free port,
# send the peer benchmark's line-protocol payload (../shared/bench gen/send, 4 connections), and
# print server CPU seconds per million values in total and per thread (from /proc/PID/task/*/stat,
# so it holds on a loaded machine where wall rates do not). PERF=1 also records a cpu-clock
# call-graph profile of the whole load (perf record -g) and prints the top symbols per thread.
#
# Usage: bench/profile_ingest.sh   (env: DEVICES=10000 BATCH=5000 VALUES=20000000 LIMIT=0
#                                   CONNS=4 PERF=0 ROOT=/tmp/fp-prof FLEETPULSE_BIN=...
#                                   FP_ARGS=<extra serve options>)
# LIMIT=N sends only the first N batch files; PAYLOAD=DIR reuses a payload gen wrote (e.g.
# /tmp/peerbench/payload/d10000-b5000-v20000000-s42).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="${ROOT:-/tmp/fp-prof}"
. "$here/bench/lib_payload.sh"

data="$root/data"
rm -rf "$data"
pid=""
perfpid=""
cleanup() {
  [ -n "$perfpid" ] && kill -INT "$perfpid" 2>/dev/null || true
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
}
trap cleanup EXIT
"$bin" serve --data-dir "$data" --http "127.0.0.1:$port" --mqtt off --log-level warn ${FP_ARGS:-} \
  >"$root/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do curl -sf "$url/ready" >/dev/null && break; sleep 0.1; done

thread_cpu() { # tid comm utime+stime (ticks)
  for t in /proc/"$pid"/task/*; do
    awk -v tid="${t##*/}" '{ sub(/^[0-9]+ \(/, ""); n=split($0, f, ") "); split(f[n], g, " ");
      print tid, f[1], g[12] + g[13] }' "$t/stat" 2>/dev/null || true
  done
}
thread_cpu >"$root/cpu0.txt"
if [ "${PERF:-0}" = 1 ]; then
  perf record -e cpu-clock -F "${PERF_FREQ:-999}" --call-graph "${CALLGRAPH:-fp}" -p "$pid" -o "$root/perf.data" >/dev/null 2>&1 &
  perfpid=$!
  sleep 0.5
fi
limit_arg=()
[ "$limit" != 0 ] && limit_arg=(--limit "$limit")
"$root/build/send" --url "$url/write" --dir "$payload/lp" --conns "$conns" "${limit_arg[@]}" \
  | tee "$root/send.txt" || true  # failed requests are reported below
thread_cpu >"$root/cpu1.txt"
if [ -n "$perfpid" ]; then kill -INT "$perfpid"; wait "$perfpid" || true; perfpid=""; fi
sent="$(awk '/^values ok\/total/ { print $3 }' "$root/send.txt")"
hz="$(getconf CLK_TCK)"
/usr/bin/python3 - "$root/cpu0.txt" "$root/cpu1.txt" "$sent" "$hz" <<'PY'
import sys
def load(p):
    d = {}
    for line in open(p):
        tid, *rest = line.split()
        d[tid] = (" ".join(rest[:-1]), int(rest[-1]))
    return d
a, b, values, hz = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
rows = []
for tid, (comm, t1) in b.items():
    t0 = a.get(tid, (comm, 0))[1]
    if t1 - t0 > 0:
        rows.append((t1 - t0, tid, comm))
rows.sort(reverse=True)
total = sum(r[0] for r in rows) / hz
print(f"values {values:.0f}; server CPU {total:.2f} s = {total / (values / 1e6):.3f} s per million values")
for ticks, tid, comm in rows:
    print(f"  tid {tid:>8} {comm:<16} {ticks / hz:7.2f} s  {ticks / hz / (values / 1e6):.3f} s/M")
PY
if [ "${PERF:-0}" = 1 ]; then
  perf report -i "$root/perf.data" --no-children -g none --sort pid,sym --stdio 2>/dev/null \
    | grep -v '^$' | grep -E '^ +[0-9]' | head -60
fi
