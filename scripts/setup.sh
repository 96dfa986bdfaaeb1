#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One-step set-up on Debian 12: installs the Debian packages attnkit needs (only
# the missing ones), configures and builds the release preset, and with --tour
# runs the main job `attnkit tour`. Safe to run again: it only redoes what changed.
#
#   scripts/setup.sh            install + build
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
cmake --preset release >/dev/null
cmake --build --preset release -j "$JOBS"
echo "setup: built build/release/attnkit"

if [ "${1:-}" = "--tour" ]; then
  exec build/release/attnkit tour
fi
