#!/usr/bin/env bash
# Install everything lwfc needs on a fresh Debian/Ubuntu machine, idempotently:
#   - system packages from apt (simulators, Fashion-MNIST), when run as root or with sudo;
#   - the Python packages, in one pip resolution, into ./.venv (editable install of lwfc[dev]).
# Usage: bash scripts/install.sh            (re-running it only installs what is missing)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(iverilog verilator dataset-fashion-mnist)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    sudo=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo)
  else
    echo "install.sh: error: apt packages missing (${missing[*]}) and no root or sudo;" \
         "install them with 'apt-get install ${missing[*]}' and run again" >&2
    exit 1
  fi
  echo "install.sh: apt-get install ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "install.sh: error: Python >= 3.10 is needed ($python)" >&2
  exit 1
fi
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
# One resolution for everything: torch 2.13.0 (CPU wheel), numpy<2 (pynq pins it), tools.
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
echo "install.sh: ready (.venv: $(.venv/bin/python --version))"
