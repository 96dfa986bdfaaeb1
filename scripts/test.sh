#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite, as CI runs it (.ci/run calls this unchanged):
#   1. set-up (missing Debian packages, release build),
#   2. ctest on the release build, then `attnkit check` (the CLI correctness grid), then
#      pytest on the installed Python package (python/tests; PyTorch tests skip without torch),
#   3. ctest and pytest again with the planner's other bf16 kernel choice (ATTNKIT_BF16_DOT_RATIO),
#   4. the same ctest under AddressSanitizer + UndefinedBehaviorSanitizer (preset asan on
#      AVX-512 CPUs, asan-avx2 on AVX2 ones, asan-portable elsewhere).
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

# The planner picks the kernel that rounds P to bf16 only where a probe finds AVX512-BF16 fast
# (Zen 4/5 yes, some Intel cores no): rerun the release tests with the opposite reading, so that
# the suite is proven on both kinds of CPU whichever this one is (no-op without AVX512-BF16).
if build/release/attnkit plan --dtype bf16 | grep -q "^kernel *: dense_fwd_bf16"; then
  flip=0.5
else
  flip=2.0
fi
echo "== ctest and pytest with ATTNKIT_BF16_DOT_RATIO=$flip (the planner's other bf16 choice)"
ATTNKIT_BF16_DOT_RATIO=$flip ctest --preset release -j "$JOBS" --output-on-failure >/dev/null \
  || { echo "ctest failed with ATTNKIT_BF16_DOT_RATIO=$flip" >&2; \
       ATTNKIT_BF16_DOT_RATIO=$flip ctest --preset release -j "$JOBS" --rerun-failed; exit 1; }
if [ "${ATTNKIT_SKIP_PYTHON:-0}" != "1" ]; then
  ATTNKIT_BF16_DOT_RATIO=$flip "$PY" -m pytest -q python/tests
fi

# The sanitizer build compiles one Highway target, the best this CPU runs, as the static
# target: AVX3 (x86-64-v4 plus AES and PCLMUL, which Highway's AVX2/AVX3 baseline asks for) on
# AVX-512 CPUs, AVX2 (x86-64-v3 plus the same) on AVX2 ones: a third less compile time than
# dispatch, and the sanitizers run the code this CPU runs. Other CPUs get EMU128 + AVX3.
has_flags() {
  for flag in "$@"; do grep -qw "$flag" /proc/cpuinfo 2>/dev/null || return 1; done
}
v3="avx avx2 bmi1 bmi2 f16c fma abm movbe xsave aes pclmulqdq"
if has_flags $v3 avx512f avx512bw avx512vl avx512dq avx512cd; then
  asan=asan
elif has_flags $v3; then
  asan=asan-avx2
else
  asan=asan-portable
fi
echo "== ctest (asan + ubsan, preset $asan)"
source scripts/build_env.sh
cmake --preset "$asan" >/dev/null
cmake --build --preset "$asan" -j "$JOBS"
ctest --preset "$asan" -j "$JOBS"

echo "== all tests passed in $(( $(date +%s) - start ))s"
