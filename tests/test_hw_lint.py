"""The generated Verilog lints clean: ``verilator --lint-only -Wall`` and ``iverilog -g2012
-Wall`` (core and testbench) print nothing, with no waivers.

Each configuration is converted once, into the plan-keyed cache of ``lwfc_hw.sim.prepare``
(the layers are named as in a bundle, so the MNIST plans are the ones ``lwfc sim`` and the
other tests simulate)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import full
from lwfc_hw.plan import LayerShape, plan_core
from lwfc_hw.sim import TB_FILE, prepare

CONFIGS = {
    "mnist-dense-l8": ([("dense", 784, 50, 0), ("dense", 50, 100, 0), ("dense", 100, 10, 0)], 8, 4),
    # the shipped low-rank bundle's plan (rank 20) at 8 lanes, as lwfc sim runs it
    "mnist-lowrank-l8": (
        [("lowrank", 784, 50, 20), ("dense", 50, 100, 0), ("dense", 100, 10, 0)],
        8,
        4,
    ),
    # 50 lanes (a 6-bit, non-power-of-two lane index) on small layers; the MNIST shapes at 50
    # lanes (the same structure, larger memories: 24 s of CPU) with --full
    "lowrank-l50": ([("lowrank", 100, 50, 30), ("dense", 50, 12, 0)], 50, 4),
    "odd-l3": ([("dense", 20, 12, 0), ("lowrank", 12, 9, 5), ("dense", 9, 7, 0)], 3, 4),
    "rotating-writes-l5": ([("lowrank", 27, 8, 6), ("lowrank", 8, 8, 3)], 5, 4),
    "tiny-l1": ([("lowrank", 5, 3, 1)], 1, 1),
    # the 6-stage requantizer (the iCEBreaker's) for all three kinds of output:
    # (layers, lanes, beat, dataflow, drain, rq_stages)
    "odd-l3-rq6": ([("dense", 20, 12, 0), ("lowrank", 12, 9, 5), ("dense", 9, 7, 0)], 3, 4,
                   "dot", 1, 6),
    # the 5-stage requantizer (one-cycle table reads, shared ports): the iCEBreaker target's
    "bcast-l3-rq5": ([("dense", 20, 12, 0), ("lowrank", 12, 9, 5), ("dense", 9, 7, 0)],
                     [1, 1, 1], 3, ["broadcast", "dot", "dot"], 1, 5),
    # ... and a DIL ring of 20 accumulators in block RAM (5 stages, Tv >= RING_RAM_MIN)
    "dil-ram-rq5": ([("lowrank", 30, 20, 3), ("dense", 20, 9, 0)], 1, 3, "dot", 1, 5),
    # the broadcast dataflow: (layers, lanes, beat, dataflow, drain)
    "bcast-lowrank-mixed": ([("lowrank", 30, 10, 3), ("dense", 10, 9, 0), ("lowrank", 9, 7, 3)],
                            [10, 9, 2], 3, ["broadcast", "dot", "broadcast"], 1),
    "bcast-drain-b1": ([("dense", 17, 6, 0), ("dense", 6, 6, 0), ("dense", 6, 4, 0)],
                       [6, 6, 4], 1, ["dot", "broadcast", "broadcast"], [1, 3, 1]),
}
if full():
    CONFIGS["bcast-mnist-dense"] = (
        [("dense", 784, 50, 0), ("dense", 50, 100, 0), ("dense", 100, 10, 0)],
        [50, 50, 10], 4, "broadcast", [5, 1, 1])
    CONFIGS["mnist-lowrank-l50"] = (
        [("lowrank", 784, 50, 30), ("dense", 50, 100, 0), ("dense", 100, 10, 0)], 50, 4)


def convert(name: str) -> Path:
    """``lwfc_core.v`` of configuration ``name`` (converted once per plan)."""
    layers, lanes, beat, *flow = CONFIGS[name]
    shapes = [
        LayerShape(f"fc{i + 1}", kind, n_in, n_out, rank, i < len(layers) - 1)
        for i, (kind, n_in, n_out, rank) in enumerate(layers)
    ]
    dataflow, drain, *rq = flow if flow else ("dot", 1)
    opts = {"rq_stages": rq[0]} if rq else {}
    if rq == [5]:
        opts["shared_port"] = True
    plan = plan_core(shapes, lanes, beat, dataflow=dataflow, drain=drain, **opts)
    return prepare(plan) / "lwfc_core.v"


@pytest.mark.tools("verilator")
@pytest.mark.parametrize("name", list(CONFIGS))
def test_verilator_lint_wall_is_clean(name: str) -> None:
    verilog = convert(name)
    res = subprocess.run(
        ["verilator", "--lint-only", "-Wall", str(verilog)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert res.returncode == 0 and res.stdout + res.stderr == "", res.stderr[:3000]


@pytest.mark.tools("iverilog")
@pytest.mark.parametrize("name", ["mnist-dense-l8", "odd-l3", "odd-l3-rq6", "rotating-writes-l5",
                                  "bcast-lowrank-mixed", "bcast-drain-b1"])
def test_iverilog_wall_is_clean(name: str, tmp_path: Path) -> None:
    verilog = convert(name)
    res = subprocess.run(
        ["iverilog", "-g2012", "-Wall", "-I", str(verilog.parent), "-o", str(tmp_path / "a.vvp"),
         str(TB_FILE), str(verilog)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert res.returncode == 0 and res.stdout + res.stderr == "", res.stderr[:3000]


def test_weights_come_from_readmemh_not_initial_blocks() -> None:
    verilog = convert("mnist-dense-l8").read_text()
    # two branches of `ifdef LWFC_MEMDIR per memory: 29 banks / tables, the 8 fc1 banks of
    # 4900 entries in 3 block-RAM chunks each
    assert verilog.count("$readmemh(") == 2 * (29 + 8 * 2)
    assert len(verilog) < 400_000
