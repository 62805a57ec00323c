"""MNIST test images through the RTL (``lwfc hdl`` / ``lwfc sim``), bit-exact against the golden
model.

Uses ``deploy/models/mnist-dense`` (and ``deploy/models/mnist-lowrank``) when they exist, else
random bundles of the same shapes. The Icarus runs are small; the Verilator runs are marked
slow; ``pytest --full`` turns them into the closing measurement (the 10,000 test images at
lanes 1, 8 and 50).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, full, random_bundle
from lwfc import fpga, golden
from lwfc.bundle import load_bundle, save_bundle
from lwfc.cli import main
from lwfc.commands import sim as sim_cmd
from lwfc_hw import sim
from lwfc_hw.plan import plan_for_bundle

FULL = full()
needs_iverilog = pytest.mark.tools("iverilog")
needs_verilator = pytest.mark.tools("verilator")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``dense`` and ``lowrank`` bundle folders (deployed ones when present)."""
    out = {}
    tmp = tmp_path_factory.mktemp("bundles")
    for kind, fallback in (
        ("dense", lambda: random_bundle(11)),
        ("lowrank", lambda: random_bundle(12, lowrank={0: 30})),
    ):
        deployed = REPO / "deploy" / "models" / f"mnist-{kind}"
        out[kind] = deployed if (deployed / "manifest.json").exists() else save_bundle(
            fallback(), tmp / kind
        )
    return out


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return int(code or 0), out, err


def sim_json(capsys, bundle: Path, data_dir: Path, *extra: str) -> tuple[int, dict]:
    code, out, err = run_cli(
        capsys, "sim", str(bundle), "--data", str(data_dir), "--json", *extra
    )
    assert code in (0, 1), err
    return code, json.loads(out)


@needs_iverilog
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dense", "lowrank"])
def test_small_mnist_run_with_icarus(kind, bundles, data_dir, capsys):
    code, res = sim_json(capsys, bundles[kind], data_dir, "--images", "6", "--lanes", "8")
    assert code == 0
    assert res["mismatches"] == 0 and res["images"] == 6
    assert res["cycle_model_exact"] is True
    assert res["cycles_per_image"] == res["model_interval_cycles"]
    assert res["cycles_per_image"] <= 1.05 * res["mac_bound_cycles"] + 50
    from lwfc.data import load_dataset

    images, labels = load_dataset("mnist", "test", data_dir, progress=False)
    pred = golden.predict(load_bundle(bundles[kind]), images[:6])
    assert res["accuracy"] == res["golden_accuracy"] == np.mean(pred == labels[:6])


@needs_iverilog
@pytest.mark.slow
def test_icebreaker_configuration_loaded_through_the_host_port(bundles, data_dir, tmp_path):
    """The iCEBreaker build's core (dense bundle, lanes 1,1,1, broadcast,dot,dot, every
    weight bank in single-port SPRAM without initial contents, shared read ports): weights
    written through the host port and read back, then MNIST test images bit-exact against the
    golden model and the cycle model; every other memory starts from a stale image and is
    loaded too. Two images (back to back) in CI, four with --full. The core has the 5-stage
    requantizer (one-cycle table reads)."""
    from lwfc.data import load_dataset
    from lwfc_hw.banking import memory_images
    from lwfc_hw.cycles import activity, schedule
    from lwfc_hw.plan import plan_kwargs

    params = fpga.target_generator_params("icebreaker")
    bundle = load_bundle(bundles["dense"])
    plan = plan_for_bundle(bundle, **plan_kwargs(params, "ice40"))
    assert plan.spram_mems and plan.shared_port and plan.rq_stages == 5
    images, _ = load_dataset("mnist", "test", data_dir, progress=False)
    pixels = golden.as_pixels(images[: 4 if FULL else 2], bundle.in_features)
    exe = sim.build(sim.prepare(plan), "icarus")
    stale = {k: v[::-1].copy() for k, v in memory_images(bundle, plan).items()}
    res = sim.run(exe, plan, pixels, tmp_path, memories=stale,
                  host_load=memory_images(bundle, plan))
    assert "all read back" in res.log
    ref = golden.forward(bundle, pixels)
    assert (res.logits == ref).all() and (res.classes == ref.argmax(axis=1)).all()
    # the first layer is broadcast: its time follows each image's nonzero pixels
    sched = schedule(plan, len(pixels), activity(bundle, pixels))
    assert tuple(int(t) for t in res.t_out - res.t_in[0]) == sched.t_out


@needs_iverilog
def test_sim_exit_status_is_1_on_a_mismatch(bundles, data_dir, capsys, monkeypatch):
    real = sim_cmd.golden.forward

    def off_by_one(bundle, images, *args, **kwargs):
        logits = real(bundle, images, *args, **kwargs)
        logits[1, 3] += 1
        return logits

    monkeypatch.setattr(sim_cmd.golden, "forward", off_by_one)
    code, res = sim_json(capsys, bundles["dense"], data_dir, "--images", "3", "--lanes", "8")
    assert code == 1 and res["mismatches"] == 1 and res["mismatched_images"] == [1]


def test_hdl_writes_verilog_hex_and_memory_map(bundles, tmp_path, capsys):
    out = tmp_path / "hdl"
    code, stdout, err = run_cli(
        capsys, "hdl", str(bundles["lowrank"]), "--out", str(out), "--lanes", "4", "--json"
    )
    assert code == 0, err
    summary = json.loads(stdout)
    memmap = json.loads((out / "memmap.json").read_text())
    assert (out / "lwfc_core.v").exists() and (out / "lwfc_core_defs.vh").exists()
    assert summary["hex_files"] == len(memmap["memories"])
    for m in memmap["memories"]:
        lines = (out / m["file"]).read_text().splitlines()
        assert len(lines) == m["depth"]
    assert memmap["layers"][0]["kind"] == "lowrank" and memmap["layers"][0]["Qu"] == 4
    assert summary["interval_cycles"] <= summary["latency_cycles"]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["hdl", "{missing}", "--out", "{tmp}/o"], "no such bundle"),
        (["hdl", "{bundle}", "--out", "{tmp}/o", "--lanes", "0"], "--lanes"),
        (["hdl", "{bundle}", "--out", "{file}"], "--out"),
        (["sim", "{bundle}", "--simulator", "modelsim"], "--simulator"),
        (["sim", "{bundle}", "--images", "0"], "--images"),
        (["sim", "{bundle}", "--offset", "20000", "--data", "{data}"], "--offset"),
    ],
)
def test_bad_arguments_exit_2(argv, needle, bundles, tmp_path, data_dir, capsys):
    (tmp_path / "afile").write_text("x")
    subs = {
        "{missing}": str(tmp_path / "nope"),
        "{tmp}": str(tmp_path),
        "{bundle}": str(bundles["dense"]),
        "{file}": str(tmp_path / "afile"),
        "{data}": str(data_dir),
    }
    args = []
    for a in argv:
        for k, v in subs.items():
            a = a.replace(k, v)
        args.append(a)
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


#: Lane counts of the Verilator runs: 8 in CI; 1, 8 and 50 for the closing measurement.
VERILATOR_LANES = [1, 8, 50] if FULL else [8]


@needs_verilator
@pytest.mark.slow
@pytest.mark.parametrize("lanes", VERILATOR_LANES)
@pytest.mark.parametrize("kind", ["dense", "lowrank"])
def test_mnist_with_verilator(kind, lanes, bundles, data_dir, capsys):
    """The done-criterion runs: 0 mismatches, cycles within 1.05 x MAC bound + 50.
    150 images at 8 lanes in CI; all 10,000 at lanes 1, 8 and 50 with --full."""
    n = "10000" if FULL else "150"
    code, res = sim_json(
        capsys, bundles[kind], data_dir, "--images", n, "--lanes", str(lanes),
        "--simulator", "verilator",
    )
    assert code == 0 and res["mismatches"] == 0 and res["images"] == int(n)
    assert res["cycle_model_exact"] is True
    assert res["cycles_per_image"] <= 1.05 * res["mac_bound_cycles"] + 50


@needs_iverilog
def test_hdl_output_runs_from_another_folder_with_lwfc_memdir(tmp_path, capsys):
    """The files ``lwfc hdl`` writes are a complete simulation input: compiled with
    ``-DLWFC_MEMDIR`` the core finds its hex images from any working directory."""
    bdir = save_bundle(random_bundle(21, sizes=(30, 12, 7), lowrank={0: 4}), tmp_path / "b")
    out = tmp_path / "hdl"
    code, _, err = run_cli(capsys, "hdl", str(bdir), "--out", str(out), "--lanes", "3")
    assert code == 0, err
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    exe = elsewhere / "tb.vvp"
    subprocess.run(
        ["iverilog", "-g2012", "-Wall", "-I", str(out), f'-DLWFC_MEMDIR="{out}/"', "-o",
         str(exe), str(sim.TB_FILE), str(out / "lwfc_core.v")],
        check=True, timeout=300, capture_output=True,
    )
    bundle = load_bundle(bdir)
    images = np.random.default_rng(0).integers(0, 256, (5, 30)).astype(np.uint8)
    res = sim.run(exe, plan_for_bundle(bundle, 3), images, elsewhere)
    assert [p.name for p in elsewhere.glob("*.hex")] == ["images.hex"]  # no weight images here
    assert (res.logits == golden.forward(bundle, images)).all()


#: broadcast configurations of the closing measurement: (lanes, drain) per bundle kind
BCAST_CONFIGS = {
    "dense": [("50,50,10", "5,1,1", "broadcast"), ("25,25,5", "5,1,1", "broadcast"),
              ("13,10,5", "1,1,1", "broadcast,dot,broadcast")],
    "lowrank": [("50,50,10", "1,5,1", "broadcast"), ("25,25,5", "1,5,1", "broadcast"),
                ("10,10,5", "1,1,1", "broadcast,dot,dot")],
}


@needs_iverilog
@pytest.mark.parametrize("kind", ["dense", "lowrank"])
def test_broadcast_mnist_run_with_icarus(kind, bundles, data_dir, capsys):
    """The zero-skipping dataflow on MNIST images: bit-exact, every cycle as the
    data-dependent model predicts, a mean interval the model gives too."""
    # a small configuration (Icarus is slow on the wide ones; those run in Verilator below)
    code, res = sim_json(capsys, bundles[kind], data_dir, "--images", "5", "--lanes", "5,4,2",
                         "--dataflow", "broadcast")
    assert code == 0 and res["mismatches"] == 0 and res["cycle_model_exact"] is True
    assert res["data_dependent_cycles"] is True
    assert res["mean_interval_cycles"] == res["model_mean_interval_cycles"]
    assert res["all255_interval_cycles"] >= res["worst_image_interval_cycles"]


#: broadcast configurations run in CI: the widest (wide drain) and the mixed dataflows; the
#: middle one (25,25,5: the same structure with fewer lanes) only with --full
BCAST_RUN = [0, 1, 2] if FULL else [0, 2]


@needs_verilator
@pytest.mark.slow
@pytest.mark.parametrize("config", BCAST_RUN)
@pytest.mark.parametrize("kind", ["dense", "lowrank"])
def test_broadcast_mnist_with_verilator(kind, config, bundles, data_dir, capsys):
    """Broadcast configurations per bundle (two in CI, three with --full): 200 images in CI,
    all 10,000 with --full (0 mismatches, the cycle model exact on every image)."""
    lanes, drain, flow = BCAST_CONFIGS[kind][config]
    n = "10000" if FULL else "200"
    code, res = sim_json(capsys, bundles[kind], data_dir, "--images", n, "--lanes", lanes,
                         "--drain", drain, "--dataflow", flow, "--simulator", "verilator")
    assert code == 0 and res["mismatches"] == 0 and res["images"] == int(n)
    assert res["cycle_model_exact"] is True


def test_target_fps_chooses_a_plan_meeting_it(bundles, tmp_path, data_dir, capsys):
    code, out, err = run_cli(capsys, "hdl", str(bundles["dense"]), "--out", str(tmp_path / "h"),
                             "--target-fps", "50000", "--json")
    assert code == 0, err
    layers = json.loads(out)["layers"]
    assert any(layer["dataflow"] == "broadcast" for layer in layers)
    code, out, err = run_cli(capsys, "hdl", str(bundles["dense"]), "--out", str(tmp_path / "h"),
                             "--target-fps", "2000000")
    assert code == 2 and "input bound" in err
    code, out, err = run_cli(capsys, "hdl", str(bundles["dense"]), "--out", str(tmp_path / "h"),
                             "--target-fps", "1000", "--lanes", "4")
    assert code == 2 and "leave those out" in err


def test_board_option_gives_the_target_plan(bundles, tmp_path, capsys):
    """``--board NAME``: the core of the board's build (its target's lanes, dataflow, drain
    and primitives, as ``lwfc.fpga.target_plan``); other plan options with it are refused."""
    from lwfc.bundle import load_bundle
    from lwfc.fpga import get_board, target_plan

    want = target_plan(get_board("ulx3s"), load_bundle(bundles["dense"]))
    code, out, err = run_cli(capsys, "hdl", str(bundles["dense"]), "--out", str(tmp_path / "h"),
                             "--board", "ulx3s", "--json")
    assert code == 0, err
    layers = json.loads(out)["layers"]
    assert [(x["dataflow"], x["P"], x["R"]) for x in layers] == [
        (e.dataflow, e.P, e.R) for e in want.engines]
    assert want.bram_prims == "ecp5" and "DP16KD #(" in (tmp_path / "h" / "lwfc_core.v").read_text()
    code, out, err = run_cli(capsys, "hdl", str(bundles["dense"]), "--out", str(tmp_path / "h"),
                             "--board", "ulx3s", "--lanes", "4")
    assert code == 2 and "leave out" in err
    code, out, err = run_cli(capsys, "sim", str(bundles["dense"]), "--board", "nosuch")
    assert code == 2 and "unknown board 'nosuch'" in err
