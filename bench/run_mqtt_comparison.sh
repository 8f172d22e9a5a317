#!/usr/bin/env bash
# MQTT QoS 1 ingest, side by side in one run on this machine: the same load driver
# (bench/mqtt_load.cc) publishes QoS 1 from CONNS connections, each keeping INFLIGHT messages
# outstanding, first to fleetpulse (PUBACK = stored durably, fsync always), then to Mosquitto
# relaying the same load to one QoS 1 subscriber (PUBACK = received; nothing stored). Then
# HOLD idle connections are opened against each to measure resident memory per connection.
# Usage: bench/run_mqtt_comparison.sh
#   (env: CONNS=100 INFLIGHT=16 DURATION=10 HOLD=2000 RUNS=3 SUB_QOS=1; FLEETPULSE_BIN: the
#   server binary, default build/release/src/app/fleetpulse)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
conns="${CONNS:-100}"; inflight="${INFLIGHT:-16}"; duration="${DURATION:-10}"
hold="${HOLD:-2000}"; runs="${RUNS:-3}"
ulimit -n 65536 2>/dev/null || true
bin="${FLEETPULSE_BIN:-$here/build/release/src/app/fleetpulse}"
[ -x "$bin" ] || { cmake --preset release >/dev/null && cmake --build build/release --target fleetpulse; }
[ -x "$here/build/bench/bench/mqtt_load" ] || { cmake --preset bench >/dev/null && cmake --build build/bench --target mqtt_load; }
load="$here/build/bench/bench/mqtt_load"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
wait_port() { for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
memory_per_conn() {  # pid port -> "N connections held, B bytes each" (on a fresh process)
  local before after
  before=$(rss_kb "$1")
  "$load" --port "$2" --connections "$hold" --hold 6 > "$work/hold.out" &
  local driver=$!
  sleep 5
  after=$(rss_kb "$1")
  wait "$driver"
  local held
  held=$(sed -E 's/^connections=([0-9]+).*/\1/' "$work/hold.out")
  echo "$held connections held, $(( (after - before) * 1024 / (held > 0 ? held : 1) )) bytes RSS each"
}

# Both servers start fresh; memory is measured first, then the load runs alternate between
# them (fleetpulse, Mosquitto, fleetpulse, ...) so that other load on the machine hits both.
port=$(free_port); http=$(free_port); mport=$(free_port)
"$bin" serve --data-dir "$work/fp" --http "127.0.0.1:$http" \
  --mqtt "127.0.0.1:$port" --log-level warn --mqtt-max-connections 100000 &
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
  echo "fleetpulse (fsync always), run $r: $("$load" --port "$port" --connections "$conns" --inflight "$inflight" --duration "$duration")"
  # The subscriber in its own process, over the same window as the publishers.
  "$load" --port "$mport" --connections 0 --subscribe 1 --sub-qos "${SUB_QOS:-1}" --duration "$duration" > "$work/sub.out" &
  sub=$!
  sleep 0.3
  pub=$("$load" --port "$mport" --connections "$conns" --inflight "$inflight" --duration "$duration")
  wait "$sub"
  echo "mosquitto -> 1 subscriber, run $r: publishers $pub; subscriber $(cat "$work/sub.out")"
done
kill -TERM "$fp" "$mq"; wait "$fp" "$mq" || true
