#!/usr/bin/env bash
# Ingest memory profile: start a real fleetpulse server (fsync always), send the peer benchmark's
# line-protocol payload (../shared/bench gen/send), sample the server's RSS every 0.2 s and print
# the peak (VmHWM), the RSS after the final flush, and the heap/anon/file split at the end
# (/proc/PID/smaps_rollup). MALLOC_STATS=1 also asks glibc for its arena statistics (gdb).
# Disk: bytes per stored value of the block files and of the whole data dir right after the
# flush, and again COMPACT_WAIT seconds later (default 30: the block thread compacts days older
# than --seal-after after each flush and every 10 s). FP_ARGS="--seal-after 3650d" keeps blocks
# fresh (no compaction) for the fresh-only figure.
#
# Usage: bench/profile_memory.sh   (env: DEVICES=10000 BATCH=5000 VALUES=20000000 LIMIT=0
#                                   CONNS=4 ROOT=/tmp/fp-mem FLEETPULSE_BIN=... FP_ARGS=...)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="${ROOT:-/tmp/fp-mem}"
. "$here/bench/lib_payload.sh"

data="$root/data"
rm -rf "$data"
pid=""
sampler=""
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
}
trap cleanup EXIT
# shellcheck disable=SC2086
"$bin" serve --data-dir "$data" --http "127.0.0.1:$port" --mqtt off --log-level warn \
  --max-registrations-per-minute 0 ${FP_ARGS:-} >"$root/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do curl -sf "$url/ready" >/dev/null && break; sleep 0.1; done
(while kill -0 "$pid" 2>/dev/null; do
  echo "$(date +%s.%N) $(awk '/^VmRSS/ { print $2 }' /proc/"$pid"/status)"
  sleep 0.2
done) >"$root/rss.txt" 2>/dev/null &
sampler=$!
limit_arg=()
[ "$limit" != 0 ] && limit_arg=(--limit "$limit")
"$root/build/send" --url "$url/write" --dir "$payload/lp" --conns "$conns" "${limit_arg[@]}" \
  >"$root/send.txt" || true
grep -E '^values' "$root/send.txt" || true
curl -sf -X POST "$url/api/v1/admin/flush" >/dev/null || echo "flush failed"
ok="$(awk '/^values ok\/total/ { print $3 }' "$root/send.txt")"
disk() { # label
  local blocks all
  blocks="$(du -sb "$data/tsdb/blocks" | cut -f1)"
  all="$(du -sb "$data" | cut -f1)"
  awk -v l="$1" -v b="$blocks" -v a="$all" -v n="$ok" 'BEGIN {
    printf "disk %s: blocks %d B = %.3f B/value, data dir %d B = %.3f B/value\n", l, b, b / n, a, a / n }'
}
disk "after flush"
sleep 1
echo "peak RSS (VmHWM): $(awk '/^VmHWM/ { printf "%.0f MiB", $2 / 1024 }' /proc/"$pid"/status)"
echo "RSS after flush:  $(awk '/^VmRSS/ { printf "%.0f MiB", $2 / 1024 }' /proc/"$pid"/status)"
grep -E '^(Rss|Anonymous|Private_Dirty|Shared_Clean|Private_Clean)' /proc/"$pid"/smaps_rollup || true
if [ "${MALLOC_STATS:-0}" = 1 ]; then
  gdb -p "$pid" -batch -ex 'call (void) malloc_stats()' >/dev/null 2>&1 || true
  sleep 0.2
  grep -A3 -E 'Total \(incl. mmap\)' "$root/server.log" || tail -20 "$root/server.log"
fi
sleep "${COMPACT_WAIT:-30}"
disk "${COMPACT_WAIT:-30} s later"
awk 'NR == 1 { t0 = $1 } { if ($2 > m) { m = $2; tm = $1 - t0 } } END {
  printf "RSS samples: %d, max %.0f MiB at %.1f s\n", NR, m / 1024, tm }' "$root/rss.txt"
