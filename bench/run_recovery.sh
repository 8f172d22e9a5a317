#!/usr/bin/env bash
# Recovery benchmark: fill the WAL of a real fleetpulse server with ~1 GiB of line protocol
# (sealing into blocks disabled, so everything stays in the WAL), kill -9 it, restart it and
# time how long until /ready answers 200; then check that every acknowledged value is there
# (`points_stored` of /api/v1/stats) and print the server's own recovery report.
#
# Usage: bench/run_recovery.sh            (env: DEVICES=10000 BATCH=5000 VALUES=80000000
#                                          RESTARTS=3 ROOT=/tmp/fp-recovery PERF=0 REUSE=0)
# REUSE=1 skips the fill and restarts on the data dir a previous run left (killed with -9),
# e.g. to time another build on the same WAL.
# PERF=1 records a cpu-clock profile of the first restart (perf record -g) into $ROOT/perf.data.
# The payload comes from ../shared/bench's generator (TSBS-like trucks, 7 fields); gen and send
# are built with g++ into $ROOT/build. The WAL written is about 13 bytes per value.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="${ROOT:-/tmp/fp-recovery}"
values="${VALUES:-80000000}"
restarts="${RESTARTS:-3}"
. "$here/bench/lib_payload.sh"

data="$root/data"
log="$root/server.log"
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true; }
trap cleanup EXIT

start() {  # start [prefix...]: starts the server in the background, sets $pid
  "$@" "$bin" serve --data-dir "$data" --http "127.0.0.1:$port" --mqtt off --log-level info \
    --flush-points 1000000000 --flush-interval 7d >>"$log" 2>&1 &
  pid=$!
}
wait_ready() {
  until curl -sf -o /dev/null "$url/ready"; do
    kill -0 "$pid" 2>/dev/null || { echo "server died; see $log" >&2; exit 1; }
    sleep 0.02
  done
}
stored() { curl -sf "$url/api/v1/stats" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["points_stored"])'; }

if [ "${REUSE:-0}" = 1 ] && [ -f "$root/acked" ]; then
  acked=$(cat "$root/acked")
  echo "reusing $data: points_stored=$acked wal_bytes=$(du -sb "$data/tsdb/wal" | cut -f1)"
else
  rm -rf "$data" "$log"
  start
  wait_ready
  "$root/build/send" --url "$url/write" --dir "$payload/lp" --conns 4 --timeout 300 | tail -3
  acked=$(stored)
  echo "$acked" >"$root/acked"
  wal=$(du -sb "$data/tsdb/wal" | cut -f1)
  echo "filled: points_stored=$acked wal_bytes=$wal ($(awk "BEGIN{printf \"%.2f\", $wal/1073741824}") GiB)"
fi

for i in $(seq 1 "$restarts"); do
  if [ -n "$pid" ]; then
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  sync
  t0=$(date +%s.%N)
  if [ "${PERF:-0}" = 1 ] && [ "$i" = 1 ]; then
    start perf record -e cpu-clock -F 999 -g -o "$root/perf.data" --
  else
    start
  fi
  wait_ready
  t1=$(date +%s.%N)
  now=$(stored)
  spid=$pid; [ "${PERF:-0}" = 1 ] && [ "$i" = 1 ] && spid=$(pgrep -P "$pid")
  cpu=$(awk '{print ($14+$15)/100}' "/proc/$spid/stat" 2>/dev/null || echo "?")
  rec=$(grep 'event=recovered' "$log" | tail -1 | grep -o 'millis=[0-9]*')
  # More than acknowledged is the server's own KPI history, written while earlier restarts ran.
  ok=$([ "$now" = "$acked" ] && echo ok ||
    { [ "$now" -gt "$acked" ] && echo "ok (+$((now - acked)) derived)" || echo "MISSING $((acked - now))"; })
  echo "restart $i: ready after $(awk "BEGIN{printf \"%.2f\", $t1-$t0}") s, $rec, server CPU so far ${cpu} s, points_stored=$now $ok"
  # Per thread: with both cores free, recovery's wall time is bounded by its busiest thread.
  threads=$(for t in /proc/"$spid"/task/*; do awk '{print ($14+$15)/100}' "$t/stat" 2>/dev/null; done |
    sort -rn | awk '$1 > 0.05' | head -4 | tr '\n' ' ')
  ended=$(awk -v c="$cpu" -v t="$(for t in /proc/"$spid"/task/*; do awk '{print ($14+$15)/100}' "$t/stat" 2>/dev/null; done | paste -sd+ | bc)" 'BEGIN{printf "%.2f", c - t}')
  echo "  CPU s of its busiest threads: $threads; of threads that have ended (replay helpers): $ended"
  if [ "${PERF:-0}" = 1 ] && [ "$i" = 1 ]; then
    kill -TERM "$(pgrep -P "$pid")"; wait "$pid" 2>/dev/null || true  # perf ends with it
    start; wait_ready
  fi
done
