#!/usr/bin/env bash
# Server CPU per durable MQTT QoS 1 message: for each binary given, a fresh fleetpulse (fsync
# always, as in run_mqtt_comparison.sh) takes the bench/mqtt_load publishers (CONNS
# connections x INFLIGHT in flight, DURATION s) alone; the server's user+system CPU time
# (/proc/<pid>/stat) over the driver's measured window is divided by the messages the driver
# had acknowledged in it. CPU time per message holds on a machine busy with other work, where
# rates do not. ROUNDS rounds alternate the binaries. PERF=1 records the last round of each
# binary with `perf record -e cpu-clock -g` and prints its per-thread summary.
# Usage: bench/mqtt_cpu_per_message.sh <fleetpulse binary>... (env: CONNS=100 INFLIGHT=16
#   DURATION=10 ROUNDS=2 PERF=0)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
conns="${CONNS:-100}"; inflight="${INFLIGHT:-16}"; duration="${DURATION:-10}"
rounds="${ROUNDS:-2}"
load="$here/build/bench/bench/mqtt_load"
[ -x "$load" ] || { cmake --preset bench >/dev/null && cmake --build build/bench --target mqtt_load; }
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
wait_ready() { for _ in $(seq 1200); do grep -q '^ready=' "$1" && return 0; sleep 0.1; done; return 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
for r in $(seq "$rounds"); do
  for bin in "$@"; do
    port=$(free_port); http=$(free_port)
    rm -rf "$work/fp"
    "$bin" serve --data-dir "$work/fp" --http "127.0.0.1:$http" --mqtt "127.0.0.1:$port" \
      --log-level warn --mqtt-max-connections 100000 --max-registrations-per-minute 0 &
    fp=$!
    wait_port "$port"
    "$load" --port "$port" --connections "$conns" --inflight "$inflight" \
      --duration "$duration" > "$work/load.out" &
    driver=$!
    wait_ready "$work/load.out"
    sleep 2  # the driver's warm-up before its window
    t0=$(cpu_ticks "$fp"); w0=$(date +%s.%N)
    if [ "${PERF:-0}" = 1 ] && [ "$r" = "$rounds" ]; then
      perf record -e cpu-clock -F 499 -g -p "$fp" -o "$work/perf.data" -- sleep "$((duration - 1))" \
        2>/dev/null >/dev/null
    else
      sleep "$((duration - 1))"
    fi
    t1=$(cpu_ticks "$fp"); w1=$(date +%s.%N)
    wait "$driver"
    line=$(grep '^connections=' "$work/load.out")
    rate=$(sed -nE 's/.* acked_per_s=([0-9]+).*/\1/p' <<< "$line")
    awk -v b="$bin" -v r="$r" -v t0="$t0" -v t1="$t1" -v w0="$w0" -v w1="$w1" -v hz="$hz" \
      -v rate="$rate" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
        cpu = (t1 - t0) / hz; wall = w1 - w0;
        printf "round %d %s: %d msgs/s, server CPU %.2f s over %.1f s (%.2f cores), %.2f us per message, load %s\n",
          r, b, rate, cpu, wall, cpu / wall, cpu * 1e6 / (rate * wall), load }'
    if [ -f "$work/perf.data" ]; then
      perf report -i "$work/perf.data" --no-children -g none --sort pid,sym --stdio 2>/dev/null |
        "$here/bench/perf_by_thread.py" 10
      rm -f "$work/perf.data"
    fi
    kill -TERM "$fp"; wait "$fp" || true
  done
done
