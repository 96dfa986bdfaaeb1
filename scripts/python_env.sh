# SPDX-License-Identifier: Apache-2.0
# Sourced by scripts/setup.sh and scripts/test.sh: picks the Python interpreter that the attnkit
# package is pip-installed into and tested with, so both scripts always use the same one.
#
#   $ATTNKIT_PYTHON if set; else .venv/bin/python if that exists; else python3, unless python3
#   is Debian's externally managed interpreter (PEP 668), in which case .venv is created
#   (python3 -m venv --system-site-packages .venv) and used.

# Prints the chosen interpreter; with "create", makes .venv when one is needed.
attnkit_python() {
  if [ -n "${ATTNKIT_PYTHON:-}" ]; then
    echo "$ATTNKIT_PYTHON"
    return
  fi
  if [ -x .venv/bin/python ]; then
    echo ".venv/bin/python"
    return
  fi
  command -v python3 >/dev/null || return 1
  local managed
  managed=$(python3 -c 'import os, sys, sysconfig
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
print(int(sys.prefix == sys.base_prefix and os.path.exists(marker)))')
  if [ "$managed" = "0" ]; then
    echo "python3"
    return
  fi
  if [ "${1:-}" = "create" ]; then
    echo "setup: python3 is externally managed (PEP 668): creating .venv for the Python package" >&2
    python3 -m venv --system-site-packages .venv >&2 || return 1
    echo ".venv/bin/python"
    return
  fi
  return 1
}
