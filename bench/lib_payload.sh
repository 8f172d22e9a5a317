# Sourced by bench scripts that load a real fleetpulse server with ../shared/bench's payload.
# Needs: here (repo root), root (scratch dir); optional `values` (the script's own default),
# PAYLOAD (a dir gen wrote) and PORT. Sets: devices, batch, values, limit, conns (from DEVICES,
# BATCH, VALUES, LIMIT, CONNS), shared, bin, port, url, payload (built with gen --no-csv when
# missing); gen and send are built with g++ into $root/build.
devices="${DEVICES:-10000}"
batch="${BATCH:-5000}"
values="${VALUES:-${values:-20000000}}"
limit="${LIMIT:-0}"
conns="${CONNS:-4}"
shared="${SHARED_BENCH:-$here/../shared/bench}"
bin="${FLEETPULSE_BIN:-$here/build/release/src/app/fleetpulse}"
port="${PORT:-$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
url="http://127.0.0.1:$port"
mkdir -p "$root/build"
for t in gen send; do
  [ -x "$root/build/$t" ] || g++ -O2 -std=c++17 -pthread -o "$root/build/$t" "$shared/$t.cpp"
done
payload="${PAYLOAD:-$root/payload/d$devices-b$batch-v$values}"
if [ ! -f "$payload/manifest.txt" ]; then
  rm -rf "$payload"
  "$root/build/gen" --out "$payload" --devices "$devices" --batch "$batch" --values "$values" \
    --no-csv >/dev/null
fi
