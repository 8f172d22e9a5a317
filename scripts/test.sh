#!/usr/bin/env bash
# The whole test suite: installs dependencies, checks formatting, builds the release and the
# sanitizer (ASan+UBSan) configurations, runs every unit and integration test in both, and
# runs every fuzz target briefly. Tests run two at a time (TEST_JOBS; the heavy ones one at a
# time beside the rest, tests/CMakeLists.txt), fuzz targets too (FUZZ_JOBS).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

scripts/install-deps.sh

echo "== format check"
files=$(git ls-files 'src/*.h' 'src/*.cc' 'tests/*.h' 'tests/*.cc' 'bench/*.cc' 2>/dev/null || true)
if [ -n "$files" ]; then
  clang-format --dry-run --Werror $files
fi

for preset in release asan; do
  echo "== build $preset"
  scripts/build.sh "$preset"
  echo "== test $preset"
  if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --preset "$preset" --timeout 900 -j "${TEST_JOBS:-2}"; then
    # The failures again, short, as the last lines of the log: pytest's summary lines and
    # GoogleTest's failure messages of every failed test (the full output is above).
    echo "== $preset: what failed"
    grep -E -A4 '^(FAILED|ERROR) |: Failure$|^E   ' "build/$preset/Testing/Temporary/LastTest.log" \
      | cut -c1-400 | tail -n 150 || true
    exit 1
  fi
done
# ctest hides a passing test's output: the image size tests/deploy measured (deploy/README.md).
[ -f build/container/image-size.txt ] && echo "== container image $(cat build/container/image-size.txt)"

echo "== fuzz (libFuzzer, ASan+UBSan, ${FUZZ_SECONDS:-15}s per decoder)"
scripts/fuzz.sh "${FUZZ_SECONDS:-15}"

echo "== all tests passed in $(( $(date +%s) - start ))s"
