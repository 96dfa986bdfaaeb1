# SPDX-License-Identifier: Apache-2.0
# Sourced by scripts/setup.sh and scripts/test.sh: compiler caching for the three builds of the
# same sources (release, the Python extension, asan). With ccache (installed by setup.sh) the
# Python extension's build reuses the release build's objects: both build trees sit at the same
# depth under the repository (build/release, build/python) and ccache rewrites paths relative to
# the repository root, so the compile commands hash alike. Without ccache nothing changes.
if command -v ccache >/dev/null 2>&1 && [ "${ATTNKIT_NO_CCACHE:-0}" != "1" ]; then
  export CMAKE_C_COMPILER_LAUNCHER=ccache
  export CMAKE_CXX_COMPILER_LAUNCHER=ccache
  export CCACHE_BASEDIR="$PWD"
  export CCACHE_NOHASHDIR=1
  export CCACHE_DIR="${CCACHE_DIR:-$PWD/build/ccache}"
  export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
fi
