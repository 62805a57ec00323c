"""The FuseSoC core: sim target against the golden model, lint, generator errors, the Vivado
target's consistency, the YoWASP shim's Tcl translation and the fit estimate.

Each FuseSoC run is a subprocess with a timeout, with the virtual environment first on PATH
(as ``lwfc build`` and docs/fpga.md do). Bundles are random (conftest.random_bundle): the sim
checks bit-exactness, not accuracy. About a minute in all.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, random_bundle
from lwfc import fpga, golden
from lwfc.bundle import load_bundle, save_bundle
from lwfc_hw import link

sys.path.insert(0, str(REPO / "hw" / "fusesoc"))
import edatools
import lwfc_gen

pytestmark = pytest.mark.tools("fusesoc", "iverilog", "verilator")


@pytest.fixture(scope="module")
def dense_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "dense"
    save_bundle(random_bundle(7), out)
    return out


@pytest.fixture(scope="module")
def build_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fusesoc")


def fusesoc(target: str, build_root: Path, bundle: Path | None, *args: str,
            setup: bool = False, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    env = {"LWFC_BUNDLE": str(bundle)} if bundle else {"LWFC_BUNDLE": ""}
    extra = ["--setup"] if setup else []
    res, _ = fpga.run_fusesoc(target, build_root=build_root, env=env, args=extra,
                              params=list(args), timeout=timeout)
    return res


def test_sim_target_matches_golden(dense_bundle: Path, build_root: Path, data_dir: Path) -> None:
    """fusesoc run --target=sim lwfc --N=4: 0 mismatches, the golden model's accuracy and the
    cycle model's interval and latency printed."""
    from lwfc.data import load_dataset
    from lwfc_hw.cycles import schedule
    from lwfc_hw.plan import plan_for_bundle

    res = fusesoc("sim", build_root, dense_bundle, "--N=4")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "PASS" in out
    bundle = load_bundle(dense_bundle)
    images, labels = load_dataset("mnist", "test", data_dir, progress=False)
    correct = int((golden.predict(bundle, images[:4]) == labels[:4]).sum())
    assert f"accuracy {correct}/4 (golden {correct}/4), mismatches 0" in out, out[-2000:]
    p = lwfc_gen.resolve_params(fpga.target_generator_params("sim"), REPO)
    sched = schedule(plan_for_bundle(bundle, p["lanes"], p["pixels_per_beat"]), 4)
    m = re.search(r"cycles/image (\d+) \(streaming\), latency (\d+) cycles", out)
    assert m, out[-2000:]
    assert int(m.group(1)) == (sched.t_out[-1] - sched.t_out[0]) // 3
    assert int(m.group(2)) == sched.t_out[0] - sched.t_in[0]


def test_sim_testbench_fails_on_a_mismatch(dense_bundle: Path, build_root: Path) -> None:
    """The testbench exits non-zero when one logit differs from the expectations."""
    work = fpga.work_root(build_root, "sim")
    expect = work / "lwfc_expect.txt"
    if not expect.exists():
        res = fusesoc("sim", build_root, dense_bundle, "--N=1")
        assert res.returncode == 0, (res.stdout + res.stderr)[-2000:]
    lines = expect.read_text().splitlines()
    row = lines[1].split()
    row[5] = str(int(row[5]) + 1)  # logit 3 of image 1
    bad = work / "bad_expect.txt"
    bad.write_text("\n".join([lines[0], " ".join(row), *lines[2:5]]) + "\n")
    exe = work / fpga.core_build_name()
    res = subprocess.run(["vvp", "-n", str(exe), "+N=3", f"+EXPECT={bad}"], cwd=work,
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode != 0
    assert "MISMATCH image 1" in res.stdout and "mismatches 1" in res.stdout


def test_lint_target_is_clean(dense_bundle: Path, build_root: Path) -> None:
    """Verilator --lint-only -Wall on the core and the UART bridge: no warning at all."""
    res = fusesoc("lint", build_root, dense_bundle)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "%Warning" not in out and "%Error" not in out


def test_missing_bundle_is_a_clear_error(build_root: Path, tmp_path: Path) -> None:
    res = fusesoc("lint", build_root, tmp_path / "no-such-bundle")
    assert res.returncode != 0
    msg = fpga.generator_error(res.stdout + res.stderr)
    assert msg is not None and "no-such-bundle" in msg and "not found" in msg


def test_generator_rejects_unknown_parameters(tmp_path: Path) -> None:
    with pytest.raises(lwfc_gen.GenError, match="unknown parameter"):
        lwfc_gen.resolve_params({"lane": 4}, tmp_path)
    with pytest.raises(lwfc_gen.GenError, match="lanes must be >= 1"):
        lwfc_gen.resolve_params({"lanes": 0}, tmp_path)


def test_generator_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LWFC_LANES", "3")
    monkeypatch.setenv("LWFC_BUNDLE", "/abs/bundle")
    p = lwfc_gen.resolve_params({"bundle": "deploy/models/x", "lanes": 8}, tmp_path)
    assert p["lanes"] == 3 and p["bundle"] == Path("/abs/bundle")
    monkeypatch.delenv("LWFC_BUNDLE")
    p = lwfc_gen.resolve_params({"bundle": "deploy/models/x"}, tmp_path)
    assert p["bundle"] == tmp_path / "deploy/models/x"


def test_vivado_target_is_consistent(dense_bundle: Path, build_root: Path) -> None:
    """pynq_z2 --setup writes a Vivado project script for the right part, top and files, and
    the XDC constrains exactly the top's ports."""
    res = fusesoc("pynq_z2", build_root, dense_bundle, setup=True)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    work = fpga.work_root(build_root, "pynq_z2")
    tcl = (work / f"{fpga.core_build_name()}.tcl").read_text()
    board = fpga.get_board("pynq_z2")
    assert board.device in tcl
    assert "lwfc_pynq_z2" in tcl
    for name in ("lwfc_pynq_z2.v", "lwfc_serial.v", "pynq_z2.xdc", "lwfc_vivado_reports.tcl"):
        assert name in tcl, name
    assert (work / "l0_w0.hex").exists()  # $readmemh images beside the project
    # Run the project script in Tcl with every Vivado command recorded (a Vivado stand-in).
    cwd = Path.cwd()
    try:
        os.chdir(work)
        cmds = edatools.tcl_to_commands(Path(f"{fpga.core_build_name()}.tcl"))
    finally:
        os.chdir(cwd)
    flat = [" ".join(c) for c in cmds]
    assert f"set_property part {board.device}" in " | ".join(flat)
    assert "set_property top lwfc_pynq_z2" in " | ".join(flat)
    added = [c for c in cmds if c[:2] == ["add_files", "-norecurse"]]
    assert len(added) == 1  # one Tcl list of files
    assert sorted(added[0][2].split()) == sorted(p.name for p in work.glob("*.hex"))
    assert any(c[:2] == ["set_property", "STEPS.ROUTE_DESIGN.TCL.POST"] for c in cmds)
    core = fpga.load_core()
    assert core["targets"]["pynq_z2"]["flow_options"]["part"] == board.device
    top = (REPO / "hw/boards/pynq_z2/lwfc_pynq_z2.v").read_text()
    header = top[top.index("(\n    input"): top.index(");")]
    ports = set(re.findall(r"(?:input|output)\s+wire\s+(?:\[[^\]]+\]\s+)?(\w+)", header))
    xdc = (REPO / "constraints/pynq_z2.xdc").read_text()
    pins = re.findall(r"PACKAGE_PIN \w+ .*get_ports \{ ([\w\[\]]+) \}", xdc)
    constrained = {p.split("[")[0] for p in pins}
    assert ports == constrained


def test_board_descriptions_match_the_core() -> None:
    """Every board has a target of the same name whose flow and device agree."""
    core = fpga.load_core()
    flows = {"ice40": "icestorm", "ecp5": "trellis", "xilinx": "vivado"}
    for name, board in fpga.boards().items():
        target = core["targets"][name]
        assert target["flow"] == flows[board.family], name
        opts = " ".join(target["flow_options"].get("nextpnr_options", []))
        if board.family == "ice40":
            assert f"--{board.device}" in opts and board.package in opts
        elif board.family == "ecp5":
            size = board.device.split("-")[1].lower().replace("f", "k")  # LFE5U-25F -> 25k
            assert f"--{size}" in opts and board.package in opts
        params = fpga.target_generator_params(name)
        assert params.get("board") == name  # the generator takes clock and baud from the board
        timing = link.uart_timing(round(board.clock_mhz * 1e6), int(board.uart["baud"]))
        assert abs(timing.error) <= timing.tolerance / 3, name
        if board.family == "ice40":  # nextpnr's constraint is the board's core clock
            assert f"--freq {board.clock_mhz:g}" in opts


def test_fit_estimate_is_a_lower_bound() -> None:
    """The estimate never exceeds what Yosys mapped (measured: 56 DP16KD for the dense bundle
    at 8 lanes on the OrangeCrab) and rejects what cannot fit."""
    from lwfc_hw.plan import plan_for_bundle

    bundle = random_bundle(0)
    assert fpga.estimate_brams(plan_for_bundle(bundle, 8), "ecp5") <= 56
    board = fpga.get_board("orangecrab")
    fpga.check_fit(plan_for_bundle(bundle, 8), board)
    with pytest.raises(fpga.LwfcError, match="does not fit"):
        fpga.check_fit(plan_for_bundle(bundle, 64), board)


def test_icebreaker_fit_needs_spram_for_the_dense_bundle() -> None:
    """On the UP5K the dense bundle's first layer only fits as SPRAM (2 of 4 blocks, Yosys
    packs two int8 entries per 16-bit word); in block RAM the fit check rejects it in one
    line; an SPRAM plan cannot go to a board without SPRAM; and the icebreaker target's
    generator parameters are such a plan."""
    from lwfc_hw.plan import plan_for_bundle, plan_kwargs

    bundle = random_bundle(0)
    ice = fpga.get_board("icebreaker")
    params = fpga.target_generator_params("icebreaker")
    spram = {"spram_min_depth": int(params["spram_min_depth"]),
             "shared_port": bool(params["shared_port"])}
    assert spram["spram_min_depth"] > 0 and spram["shared_port"]
    target = plan_for_bundle(bundle, **plan_kwargs(params, "ice40"))
    fit = fpga.check_fit(target, ice)
    assert fit["spram"] <= ice.resources["spram"] and fit["bram"] <= ice.resources["bram"]
    # the target's lane and requantizer multipliers fit the 8 SB_MAC16 too
    assert fpga.estimate_dsps(target) <= ice.resources["dsp"]
    assert fpga.estimate_sprams(plan_for_bundle(bundle, 1, spram_min_depth=30000,
                                                shared_port=True)) == 2
    with pytest.raises(fpga.LwfcError, match="SB_RAM40_4K") as err:
        fpga.check_fit(plan_for_bundle(bundle, 1), ice)
    assert "\n" not in str(err.value)
    with pytest.raises(fpga.LwfcError, match="SB_SPRAM256KA"):
        fpga.check_fit(plan_for_bundle(bundle, 1, **spram), fpga.get_board("orangecrab"))
    # every multiplier fits the UP5K's 8 DSPs: the lane multipliers stay in SB_MAC16
    assert fpga.estimate_dsps(plan_for_bundle(bundle, 1, **spram)) <= ice.resources["dsp"]


def test_generator_writes_the_spram_load_stream(tmp_path: Path) -> None:
    """With SPRAM memories the generator writes the serial link's WRITE frames that load them:
    every entry of every SPRAM memory, data as in the hex image, each frame valid."""
    bundle_dir = save_bundle(random_bundle(4), tmp_path / "b")
    out = tmp_path / "gen"
    out.mkdir()
    config = {"files_root": str(REPO), "vlnv": "::lwfc-gen:0",
              "parameters": {"bundle": str(bundle_dir), "lanes": 1, "board": "icebreaker",
                             "spram_min_depth": 8192, "shared_port": 1}}
    lwfc_gen.generate(config, out)
    memmap = yaml.safe_load((out / "memmap.json").read_text())
    spram = [m for m in memmap["memories"] if m["spram"]]
    assert [m["name"] for m in spram] == ["l0_w0"]
    data = (out / "lwfc_spram_load.bin").read_bytes()
    parser = link.Parser()
    frames = parser.feed(data)
    assert parser.skipped == 0 and parser.bad_crc == 0 and frames
    hexes = [int(h, 16) for h in (out / "l0_w0.hex").read_text().split()]
    got = [0] * spram[0]["depth"]
    for f in frames:
        assert f.cmd == link.WRITE.value and f.payload[0] == spram[0]["sel"]
        addr = int.from_bytes(f.payload[1:3], "little")
        for k, v in enumerate(f.payload[3:]):  # 8-bit entries: one byte each
            got[addr + k] = v
    assert got == hexes
    assert "set ::lwfc_booth 0" in (out / "lwfc_params.tcl").read_text()
    assert "$readmemh" not in (out / "lwfc_serial.v").read_text().split("l0_w0:")[1][:600]


def test_generator_fills_the_dp16kd_memories(tmp_path: Path) -> None:
    """ULX3S with ``dsp: 1``: every parameter memory is a DP16KD instance whose INITVALs
    the generator fills; the generated core lists no hex file for them (and stays valid
    CAPI2 when that leaves none), and the Yosys parameter list names no memory."""
    bundle_dir = save_bundle(random_bundle(4), tmp_path / "b")
    out = tmp_path / "gen"
    out.mkdir()
    config = {"files_root": str(REPO), "vlnv": "::lwfc-gen:0",
              "parameters": {"bundle": str(bundle_dir), "lanes": "4,4,2",
                             "dataflow": "broadcast", "dsp": 1, "board": "ulx3s"}}
    lwfc_gen.generate(config, out)
    memmap = yaml.safe_load((out / "memmap.json").read_text())
    assert memmap["memories"] and all(m["prim"] == "dp16kd" for m in memmap["memories"])
    text = (out / "lwfc_serial.v").read_text()
    assert "lwfc INITVAL" not in text and text.count("DP16KD #(") >= len(memmap["memories"])
    from fusesoc.capi2.coreparser import Core2Parser
    from fusesoc.core import Core

    core_file = next(out.glob("*.core"))
    Core(Core2Parser(), str(core_file))  # FuseSoC's own schema check
    core = yaml.safe_load(core_file.read_text())
    assert "memories" not in core["filesets"]
    assert core["targets"]["default"]["filesets"] == ["rtl", "synth_params"]
    assert "MULT18X18D #(" in text


def test_edatools_runs_tcl_templates(tmp_path: Path) -> None:
    """The YoWASP shim records Yosys commands issued from Tcl, with Tcl semantics."""
    (tmp_path / "procs.tcl").write_text("proc read_files {} {\nread_verilog {a b.v}\n}\n")
    (tmp_path / "t.tcl").write_text(
        "yosys -import\nsource procs.tcl\nset top core\nread_files\n"
        "foreach m {x y} { lappend s m:$m }\nsetattr -set no_rw_check 1 {*}$s\n"
        "yosys synth_ecp5 -top $top\nchparam -set P {\"s\"} $top\n"
    )
    cwd = Path.cwd()
    try:
        os.chdir(tmp_path)
        cmds = edatools.tcl_to_commands(Path("t.tcl"))
    finally:
        os.chdir(cwd)
    assert cmds == [
        ["read_verilog", "a b.v"],
        ["setattr", "-set", "no_rw_check", "1", "m:x", "m:y"],
        ["synth_ecp5", "-top", "core"],
        ["chparam", "-set", "P", '"s"', "core"],
    ]
    assert edatools.quote("a b.v") == '"a b.v"' and edatools.quote("m:x") == "m:x"


def test_core_has_a_full_vlnv_that_the_short_name_finds() -> None:
    """vendor:library:name:version, the version being the package's; ``fusesoc ... lwfc``
    (the documented commands) resolves the short name to it."""
    from lwfc import __version__

    vendor, library, name, version = fpga.core_vlnv().split(":")
    assert (vendor, library, name, version) == ("lwfc", "accel", "lwfc", __version__)
    assert fpga.core_build_name() == f"lwfc_accel_lwfc_{__version__}"
    res = subprocess.run([*fpga.fusesoc_cmd(), "core-info", fpga.CORE_NAME], cwd=REPO,
                         env=fpga.tool_env(), capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert re.search(r"^Name:\s+lwfc:accel:lwfc:" + re.escape(__version__) + "$", res.stdout,
                     re.M), res.stdout


def test_core_file_names_existing_files() -> None:
    """Every file a fileset of fusesoc.core names is in the repository."""
    core = yaml.safe_load((REPO / "fusesoc.core").read_text().split("\n", 1)[1])
    for fs in core["filesets"].values():
        for entry in fs["files"]:
            name = next(iter(entry)) if isinstance(entry, dict) else entry
            assert (REPO / name).is_file(), name


def test_booth_groups_move_just_enough_lane_multipliers() -> None:
    """Too few DSP blocks: the smallest lane product arrays go to logic until they hold the
    excess; the requantizers' products (not named *_prod) never do."""
    verilog = "\n".join([
        "reg signed [16:0] core_l0_bcast_mac_prod [0:4-1];",
        "reg signed [16:0] core_l1_dense_mac_prod [0:1-1];",
        "reg signed [31:0] core_l1_dense_requant_phi5;",
        "reg signed [16:0] core_l2_dil_prod [0:2-1];",
    ])
    assert lwfc_gen.booth_groups(verilog, 1) == ["core_l1_dense_mac_prod"]
    assert lwfc_gen.booth_groups(verilog, 2) == ["core_l1_dense_mac_prod", "core_l2_dil_prod"]
    assert lwfc_gen.booth_groups(verilog, 4) == ["core_l1_dense_mac_prod", "core_l2_dil_prod",
                                                 "core_l0_bcast_mac_prod"]
    with pytest.raises(lwfc_gen.GenError, match="only 7 lane multipliers"):
        lwfc_gen.booth_groups(verilog, 8)


def test_nextpnr_seed_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``lwfc build --seed N`` reaches nextpnr (``LWFC_NEXTPNR_SEED``), not the other tools."""
    args = ["--json", "x.json"]
    monkeypatch.delenv("LWFC_NEXTPNR_SEED", raising=False)
    assert edatools.nextpnr_args("nextpnr-ecp5", args) == args
    monkeypatch.setenv("LWFC_NEXTPNR_SEED", "3")
    assert edatools.nextpnr_args("nextpnr-ecp5", args) == [*args, "--seed", "3"]
    assert edatools.nextpnr_args("ecppack", args) == args
    monkeypatch.setenv("LWFC_NEXTPNR_SEED", "x")
    with pytest.raises(SystemExit, match="LWFC_NEXTPNR_SEED"):
        edatools.nextpnr_args("nextpnr-ice40", args)
