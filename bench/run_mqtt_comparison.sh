#!/usr/bin/env bash
# MQTT QoS 1 ingest, side by side in one run on this machine: the same load driver
# (bench/mqtt_load.cc) publishes QoS 1 from CONNS connections, each keeping INFLIGHT messages
# outstanding, first to fleetpulse (PUBACK = stored durably, fsync always), then to Mosquitto
# relaying the same load to one QoS 1 subscriber (PUBACK = received; nothing stored). Then
# HOLD idle connections are opened against each to measure resident memory per connection.
# The driver opens its connections 500 at a time and measures once all have their CONNACK;
# before each run the script waits until fleetpulse has closed the previous run's connections
# (its fleetpulse_mqtt_connections gauge back to 0), and it refuses to start when the open-file
# limit cannot hold CONNS connections (a driver out of descriptors opens nothing).
# Usage: bench/run_mqtt_comparison.sh
#   (env: CONNS=100 INFLIGHT=16 DURATION=10 HOLD=2000 RUNS=3 SUB_QOS=1; FLEETPULSE_BIN: the
#   server binary, default build/release/src/app/fleetpulse; FP_ARGS: more server options)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
conns="${CONNS:-100}"; inflight="${INFLIGHT:-16}"; duration="${DURATION:-10}"
hold="${HOLD:-2000}"; runs="${RUNS:-3}"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$(( (conns > hold ? conns : hold) + 200 ))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  echo "open-file limit $(ulimit -n) (hard $(ulimit -Hn)) cannot hold $need descriptors" >&2
  exit 1
fi
bin="${FLEETPULSE_BIN:-$here/build/release/src/app/fleetpulse}"
[ -x "$bin" ] || { cmake --preset release >/dev/null && cmake --build build/release --target fleetpulse; }
[ -x "$here/build/bench/bench/mqtt_load" ] || { cmake --preset bench >/dev/null && cmake --build build/bench --target mqtt_load; }
load="$here/build/bench/bench/mqtt_load"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# Until fleetpulse has closed every connection of the previous run (at most 60 s).
fp_drained() {
  for _ in $(seq 600); do
    n=$(curl -s "http://127.0.0.1:$http/metrics" | awk '$1 == "fleetpulse_mqtt_connections" {print $2}')
    [ "${n:-1}" = 0 ] && return 0
    sleep 0.1
  done
  echo "fleetpulse still holds ${n:-?} connections after 60 s" >&2
}
wait_ready() { for _ in $(seq 1200); do grep -q '^ready=' "$1" && return 0; sleep 0.1; done; return 1; }
wait_port() { for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
memory_per_conn() {  # pid port -> "N connections held, B bytes each" (on a fresh process)
  local before after
  before=$(rss_kb "$1")
  "$load" --port "$2" --connections "$hold" --hold 6 > "$work/hold.out" &
  local driver=$!
  # The driver prints ready=N once every connection has its CONNACK, then holds them 2 + 6 s.
  wait_ready "$work/hold.out"
  sleep 4
  after=$(rss_kb "$1")
  wait "$driver"
  local held
  held=$(sed -nE 's/^connections=([0-9]+).*/\1/p' "$work/hold.out")
  echo "$held connections held, $(( (after - before) * 1024 / (held > 0 ? held : 1) )) bytes RSS each"
}

# Both servers start fresh; memory is measured first, then the load runs alternate between
# them (fleetpulse, Mosquitto, fleetpulse, ...) so that other load on the machine hits both.
port=$(free_port); http=$(free_port); mport=$(free_port)
"$bin" serve --data-dir "$work/fp" --http "127.0.0.1:$http" \
  --mqtt "127.0.0.1:$port" --log-level warn --mqtt-max-connections 100000 \
  --max-registrations-per-minute 0 ${FP_ARGS:-} &
fp=$!
# Generous queues so that the subscriber, not a queue limit, decides what is relayed.
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_connections -1\nmax_inflight_messages 1000\nmax_queued_messages 1000000\nuser %s\n' "$mport" "$(id -un)" > "$work/m.conf"
mosquitto -c "$work/m.conf" >/dev/null 2>&1 &
mq=$!
wait_port "$port"; wait_port "$mport"
echo "fleetpulse memory: $(memory_per_conn "$fp" "$port")"
echo "mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}') memory: $(memory_per_conn "$mq" "$mport")"
echo "load: $conns connections x $inflight QoS 1 messages in flight, ${duration}s per run"
for r in $(seq "$runs"); do
  fp_drained
  # Each run's readings start 10^9 ms (11.6 days) after the previous run's: run 2 appends, it
  # does not rewrite run 1's readings (same devices, same timestamps: the overwrite path).
  ts_base=$((1767225600000 + (r - 1) * 1000000000))
  echo "fleetpulse (fsync always), run $r: $("$load" --port "$port" --connections "$conns" --inflight "$inflight" --duration "$duration" --ts-base "$ts_base" | grep '^connections=')"
  # The subscriber in its own process, over the same window as the publishers: it starts
  # (SIGUSR1) when the publishers, all connected, start.
  "$load" --port "$mport" --connections 0 --subscribe 1 --sub-qos "${SUB_QOS:-1}" \
    --duration "$duration" --start-on-signal 1 > "$work/sub.out" &
  sub=$!
  wait_ready "$work/sub.out"
  "$load" --port "$mport" --connections "$conns" --inflight "$inflight" --duration "$duration" \
    --ts-base "$ts_base" > "$work/pub.out" &
  pubpid=$!
  wait_ready "$work/pub.out"
  kill -USR1 "$sub"
  wait "$pubpid" "$sub"
  pub=$(grep '^connections=' "$work/pub.out")
  echo "mosquitto -> 1 subscriber, run $r: publishers $pub; subscriber $(grep '^connections=' "$work/sub.out")"
done
kill -TERM "$fp" "$mq"; wait "$fp" "$mq" || true
