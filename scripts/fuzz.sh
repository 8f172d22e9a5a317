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
failed=0
for bin in build/fuzz/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  mkdir -p "build/fuzz/corpus/$name"
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="build/fuzz/artifacts/$name-" "build/fuzz/corpus/$name" \
       $( [ -d "tests/fuzz/seeds/$name" ] && echo "tests/fuzz/seeds/$name" ) \
       > "build/fuzz/$name.log" 2>&1; then
    echo "fuzz $name: ok ($(grep -oE 'Done [0-9]+ runs' "build/fuzz/$name.log" | head -1))"
  else
    echo "fuzz $name: FAILED, see build/fuzz/$name.log"; tail -30 "build/fuzz/$name.log"; failed=1
  fi
done
exit $failed
