#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One-step set-up on Debian 12: installs the Debian packages attnkit needs (only
# the missing ones), configures and builds the release preset, and with --tour
# runs the main job `attnkit tour`. Safe to run again: it only redoes what changed.
#
#   scripts/setup.sh            install + build (the C++ library and CLI, and the Python package)
#   scripts/setup.sh --tour     install + build + run the tour
#   scripts/setup.sh --deps     install only
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  cmake g++ make pkg-config    # toolchain
  libhwy-dev                   # Google Highway: SIMD with dynamic dispatch
  libgtest-dev googletest      # GoogleTest
  libbenchmark-dev             # Google Benchmark
  libcli11-dev                 # CLI11: the attnkit command line
  libopenblas0-openmp libopenblas-dev  # OpenBLAS: only for the unfused baseline in benchmarks
  ccache                       # compiler cache: the Python build reuses the release objects
)

install_missing() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all Debian packages present"
    return
  fi
  echo "setup: installing ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

install_missing
[ "${1:-}" = "--deps" ] && exit 0

JOBS=$(nproc)
source scripts/build_env.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$JOBS"
echo "setup: built build/release/attnkit"

# The Python package (docs/python.md): pip-installs ./ with its build and test requirements
# into the interpreter scripts/python_env.sh picks (python3, or .venv under PEP 668). The
# build folder build/python/<wheel tag> persists, so a second run rebuilds only what changed.
# ATTNKIT_SKIP_PYTHON=1 skips this step.
source scripts/python_env.sh
install_python_package() {
  if [ "${ATTNKIT_SKIP_PYTHON:-0}" = "1" ]; then
    echo "setup: SKIPPED the Python package (ATTNKIT_SKIP_PYTHON=1)"
    return
  fi
  # Debian's python3 may lack pip, venv or its C headers (the extension needs Python.h).
  local has_dev='import os, sysconfig; assert os.path.exists(sysconfig.get_paths()["include"] + "/Python.h")'
  if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip, venv' 2>/dev/null \
      || ! python3 -m pip --version >/dev/null 2>&1 || ! python3 -c "$has_dev" 2>/dev/null; then
    PACKAGES=(python3 python3-pip python3-venv python3-dev)
    install_missing
  fi
  local py
  py=$(attnkit_python create) || { echo "setup: no usable python3 for the Python package" >&2; exit 1; }
  py=$("$py" -c 'import sys; print(sys.executable)')  # an absolute path
  local pip=(env PIP_ROOT_USER_ACTION=ignore "$py" -m pip --disable-pip-version-check)
  echo "setup: Python package into $py"
  "${pip[@]}" install -q -r python/requirements-dev.txt
  echo "setup: building the Python extension (minutes the first time, then incremental)"
  # build/python: a fixed build tree beside build/release, so ccache hits and rebuilds are incremental.
  CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" "${pip[@]}" install -q --no-build-isolation \
    -C build-dir=build/python ./
  (cd /tmp && "$py" -c 'import attnkit; print("setup: installed attnkit", attnkit.__version__)')
}
install_python_package

if [ "${1:-}" = "--tour" ]; then
  exec build/release/attnkit tour
fi
