"""Writing a built bitstream into a board: openFPGALoader (ULX3S, iCEBreaker), dfu-util
(OrangeCrab's DFU bootloader).

:func:`program_board` finds the bitstream (default: where ``lwfc build --board NAME`` puts it,
``build/lwfc_<version>/<board>/``), runs the tool with a timeout and turns its failures into
one-line :class:`~lwfc.errors.LwfcError` s (no board attached, tool missing, no bitstream).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import LwfcError

#: Per board: bitstream suffix and how it is written (``{bit}`` is the bitstream).
PROGRAMMERS: dict[str, dict[str, Any]] = {
    "ulx3s": {"ext": ".bit", "cmd": ["openFPGALoader", "-b", "ulx3s", "{bit}"]},
    "icebreaker": {"ext": ".bin", "cmd": ["openFPGALoader", "-b", "ice40_generic", "{bit}"]},
    # the DFU bootloader (hold the button while plugging in) wants a DFU suffix: added to a
    # copy, the build's bitstream stays as it is
    "orangecrab": {"ext": ".bit", "suffix": ["dfu-suffix", "-v", "1209", "-p", "5af0", "-a"],
                   "cmd": ["dfu-util", "-d", "1209:5af0", "-a", "0", "-D", "{bit}"]},
}
#: Lines of tool output that say no board is attached.
NO_BOARD = ("unable to open ftdi device", "no dfu capable usb device", "jtag init failed",
            "cable not found", "no device found", "device not found")


def default_bitstream(board: str, build_root: Path | None = None) -> Path:
    """The bitstream ``lwfc build --board board`` wrote (the first one in its work folder).

    Raises:
        LwfcError: none there.
    """
    from .. import fpga

    spec = _spec(board)
    work = fpga.work_root((build_root or fpga.REPO / "build").resolve(), board)
    found = sorted(work.glob(f"*{spec['ext']}")) if work.is_dir() else []
    if not found:
        raise LwfcError(f"no {spec['ext']} bitstream in {work}: run 'lwfc build --board {board}' "
                        "first, or name the bitstream")
    return found[0]


def _spec(board: str) -> dict[str, Any]:
    from .. import fpga

    fpga.get_board(board)  # unknown names: the list of known boards
    if board not in PROGRAMMERS:
        raise LwfcError(f"lwfc program knows the open-flow boards ({', '.join(PROGRAMMERS)}); "
                        f"{board} is programmed another way (see deploy/boards/{board}.json)")
    return PROGRAMMERS[board]


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise LwfcError(f"{cmd[0]} not found: install it (apt-get install openfpgaloader "
                        "dfu-util, or bash scripts/install.sh)") from None
    except subprocess.TimeoutExpired:
        raise LwfcError(f"{cmd[0]} did not finish within {timeout:g} s") from None


def _first_error(text: str) -> str:
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    for line in lines:
        if any(k in line.lower() for k in ("error", "unable", "no dfu", "failed", "cannot")):
            return line
    return lines[-1] if lines else "no output"


def program_board(board: str, bitstream: Path | None = None, *, timeout: float = 300.0,
                  build_root: Path | None = None) -> dict[str, Any]:
    """Write ``bitstream`` (default :func:`default_bitstream`) into ``board``.

    Returns:
        ``{"board", "bitstream", "command", "seconds"}``.

    Raises:
        LwfcError: unknown board, missing or wrong bitstream, tool missing, no board attached,
            the tool failed or timed out.
    """
    spec = _spec(board)
    if timeout <= 0:
        raise LwfcError(f"--timeout must be > 0, got {timeout}")
    bit = Path(bitstream) if bitstream is not None else default_bitstream(board, build_root)
    if not bit.is_file():
        raise LwfcError(f"bitstream {bit}: no such file")
    if bit.suffix != spec["ext"]:
        raise LwfcError(f"bitstream {bit}: the {board} takes a {spec['ext']} file")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lwfc-program-") as tmp:
        target = bit
        if "suffix" in spec:
            target = Path(tmp) / bit.name
            shutil.copy2(bit, target)
            res = _run([*spec["suffix"], str(target)], timeout)
            if res.returncode != 0:
                raise LwfcError(f"{spec['suffix'][0]} failed on {bit}: "
                                f"{_first_error(res.stdout + res.stderr)}")
        cmd = [str(target) if a == "{bit}" else a for a in spec["cmd"]]
        res = _run(cmd, timeout)
    if res.returncode != 0:
        text = res.stdout + res.stderr
        if any(k in text.lower() for k in NO_BOARD):
            raise LwfcError(f"no {board} attached ({cmd[0]}: {_first_error(text)}); plug it in"
                            + (" holding its button (DFU bootloader)" if board == "orangecrab"
                               else "") + " and try again")
        raise LwfcError(f"{cmd[0]} could not program the {board}: {_first_error(text)}")
    return {"board": board, "bitstream": str(bit), "command": " ".join([*cmd[:-1], str(bit)]),
            "seconds": round(time.monotonic() - t0, 2)}
