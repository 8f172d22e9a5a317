#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each one for a while.
# Usage: scripts/fuzz.sh [seconds per target, default 20]. Crashes are saved in build/fuzz/artifacts/;
# inputs that once crashed are kept in tests/fuzz/seeds/<target>/ and replayed every run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
targets=$(grep -oE '^fp_fuzz_target\(fuzz_[a-z_]+' tests/fuzz/CMakeLists.txt | sed 's/fp_fuzz_target(//')
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "${JOBS:-$(nproc)}" --target $targets
mkdir -p build/fuzz/artifacts build/fuzz/corpus
# One target: runs it, prints one line, and on failure the tail of its log. Run FUZZ_JOBS at once.
fuzz_one() {
  local bin="$1" seconds="$2" name log
  name=$(basename "$bin")
  log="build/fuzz/$name.log"
  mkdir -p "build/fuzz/corpus/$name"
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="build/fuzz/artifacts/$name-" "build/fuzz/corpus/$name" \
       $( [ -d "tests/fuzz/seeds/$name" ] && echo "tests/fuzz/seeds/$name" ) > "$log" 2>&1; then
    echo "fuzz $name: ok ($(grep -oE 'Done [0-9]+ runs' "$log" | head -1))"
  else
    echo "fuzz $name: FAILED, see $log"$'\n'"$(tail -30 "$log")"
    return 1
  fi
}
export -f fuzz_one
status=0
find build/fuzz/tests/fuzz -maxdepth 1 -name 'fuzz_*' -type f -executable | sort |
  xargs -P "${FUZZ_JOBS:-2}" -I{} bash -c 'fuzz_one "$1" "$2"' _ {} "$seconds" || status=1
exit $status
