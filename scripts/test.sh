#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite, as CI runs it (.ci/run calls this unchanged):
#   1. set-up (missing Debian packages, release build),
#   2. ctest on the release build, then `attnkit check` (the CLI correctness grid), then
#      pytest on the installed Python package (python/tests; PyTorch tests skip without torch),
#   3. the same ctest under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
start=$(date +%s)

scripts/setup.sh
echo "== ctest (release)"
ctest --preset release -j "$JOBS"
echo "== attnkit check"
build/release/attnkit check --format csv > build/release/check.csv
tail -n +2 build/release/check.csv | awk -F, 'END { print NR " cases passed" }'

echo "== pytest (Python package)"
source scripts/python_env.sh
if [ "${ATTNKIT_SKIP_PYTHON:-0}" = "1" ]; then
  echo "SKIPPED: the Python tests (ATTNKIT_SKIP_PYTHON=1)"
else
  PY=$(attnkit_python) || { echo "no Python interpreter: run scripts/setup.sh" >&2; exit 1; }
  "$PY" -m pytest -q python/tests
fi

echo "== ctest (asan + ubsan)"
source scripts/build_env.sh
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$JOBS"
ctest --preset asan -j "$JOBS"

echo "== all tests passed in $(( $(date +%s) - start ))s"
