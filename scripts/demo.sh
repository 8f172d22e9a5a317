#!/usr/bin/env bash
# Installs what is needed, builds, and runs fleetpulse with embedded storage in ./data.
# Extra arguments go to `fleetpulse serve` (e.g. --http 127.0.0.1:9090).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
echo "fleetpulse: http://127.0.0.1:8080  (Ctrl-C to stop)"
exec build/release/src/app/fleetpulse serve --data-dir ./data "$@"
