"""RTL of the accelerator in Icarus Verilog against the golden model and the cycle model.

Random-weight / random-input vectors over a spread of architectures (dense and low-rank layers,
1 ... 50 lanes, 1 ... 8 pixels per beat) including the extremes of the integer contract; every
run also checks every input/output cycle against the cycle model. A few minutes on 2 cores.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from lwfc import golden
from lwfc_hw import sim
from lwfc_hw.banking import memory_images
from lwfc_hw.cycles import activity, report, schedule
from lwfc_hw.plan import LayerShape, plan_core
from lwfc_hw.testing import PATTERNS, random_bundle, random_images

pytestmark = pytest.mark.tools("iverilog")

D, LR = "dense", "lowrank"
#: (layers as (kind, n_in, n_out, rank), lanes, pixels per beat)
ARCHS = [
    ([(D, 20, 12, 0), (LR, 12, 9, 5), (D, 9, 7, 0)], 3, 4),
    ([(D, 17, 25, 0)], 1, 1),
    ([(LR, 31, 5, 11), (LR, 5, 12, 2)], 50, 1),
    ([(LR, 36, 17, 6), (LR, 17, 2, 6), (D, 2, 29, 0)], 8, 2),
    ([(D, 32, 11, 0), (D, 11, 14, 0)], 13, 8),
    ([(D, 3, 6, 0), (D, 6, 22, 0), (LR, 22, 32, 7)], 13, 2),
    ([(LR, 22, 19, 5)], 3, 2),
    ([(D, 13, 26, 0)], 13, 3),  # 3-pixel beats rotated into 13 lanes
    ([(LR, 10, 40, 1), (D, 40, 3, 0)], 4, 4),  # DIL slower than DCL: the DCL waits
    ([(D, 784, 3, 0)], 50, 4),  # the largest accumulator: 784 x 255 x 127 + bias
    ([(LR, 1, 1, 1)], 1, 3),  # one pixel in a 3-pixel beat
    ([(D, 40, 8, 0), (D, 8, 8, 0)], 2, 8),  # power-of-two class count
]


def shapes_of(arch: list[tuple[str, int, int, int]]) -> list[LayerShape]:
    return [
        LayerShape(f"l{i}", kind, n_in, n_out, rank, i < len(arch) - 1)
        for i, (kind, n_in, n_out, rank) in enumerate(arch)
    ]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hwcache")


def check(bundle, plan, images, res) -> None:
    """Bit-exact logits and class, and the exact cycle schedule (data dependent for
    broadcast layers: from the golden model's activations)."""
    ref = golden.forward(bundle, images)
    bad = np.flatnonzero((res.logits != ref).any(axis=1) | (res.classes != ref.argmax(axis=1)))
    assert bad.size == 0, f"images {bad[:5]}: rtl {res.logits[bad[0]]} golden {ref[bad[0]]}"
    sched = schedule(plan, len(images), activity(bundle, images))
    assert tuple(int(t) for t in res.t_in - res.t_in[0]) == sched.t_in
    assert tuple(int(t) for t in res.t_out - res.t_in[0]) == sched.t_out


@pytest.mark.parametrize("arch,lanes,beat", ARCHS, ids=[f"a{i}" for i in range(len(ARCHS))])
def test_random_vectors_match_golden_and_cycle_model(arch, lanes, beat, cache, tmp_path):
    """6 weight patterns x 2 requantization regimes x 15 images per architecture, with
    all-255 / all-0 / random images (ARCHS x 180 = 2160 vectors)."""
    shapes = shapes_of(arch)
    plan = plan_core(shapes, lanes, beat)
    exe = sim.build(sim.prepare(plan, cache), "icarus")
    for k, pattern in enumerate(PATTERNS):
        for extreme in (False, True):
            seed = 100 * k + extreme
            bundle = random_bundle(shapes, seed, pattern, extreme_requant=extreme)
            images = random_images(15, shapes[0].n_in, seed, "mixed")
            res = sim.run(exe, plan, images, tmp_path, memories=memory_images(bundle, plan))
            check(bundle, plan, images, res)


#: (layers, lanes, beat, dataflow, drain, single-port memories) for the short requantizer
SHORT_RQ_ARCHS = [
    (ARCHS[0][0], 3, 4, "dot", 1, False),  # dense, low-rank (i8 latents), dense (logits)
    (ARCHS[9][0], 50, 4, "dot", 1, False),  # the largest accumulator
    (ARCHS[8][0], 4, 4, "dot", 1, True),  # DIL slower than DCL, iCE40-style memories
    ([(D, 30, 10, 0), (D, 10, 9, 0), (LR, 9, 7, 3)], [10, 9, 2], 3, "broadcast", [5, 1, 1],
     False),  # five requantizers side by side, a broadcast low-rank layer
    ([(D, 30, 10, 0), (D, 10, 9, 0), (D, 9, 7, 0)], [1, 1, 1], 4, ["broadcast", "dot", "dot"],
     1, True),  # the iCEBreaker target's shape: one lane each, every weight bank single-port
    # two DIL rings of 20 (block RAM rings with 5 stages: the drain chains them) and one of 16
    ([(LR, 30, 40, 3), (LR, 40, 16, 2), (D, 16, 9, 0)], [2, 1, 1], 4, "dot", 1, True),
]


@pytest.mark.parametrize("stages", [6, 5])
@pytest.mark.parametrize("arch,lanes,beat,flow,drain,spram", SHORT_RQ_ARCHS,
                         ids=[f"s{i}" for i in range(len(SHORT_RQ_ARCHS))])
def test_short_requantizer_matches_golden_and_cycle_model(arch, lanes, beat, flow, drain,
                                                          spram, stages, cache, tmp_path):
    """``rq_stages=6`` (the short requantizer) and ``5`` (the iCEBreaker build's: one-cycle
    table reads, shared-port memories only): every weight pattern x both requantization
    regimes bit-exact, and every cycle equal to the cycle model (which reads the depth from
    the plan: 4 or 5 cycles less per requantizer than the default). With single-port
    memories the weights go in and are read back through the host port."""
    shapes = shapes_of(arch)
    opts = {"spram_min_depth": 20, "shared_port": True} if spram else {}
    if stages == 5:
        opts["shared_port"] = True
    plan = plan_core(shapes, lanes, beat, dataflow=flow, drain=drain, rq_stages=stages, **opts)
    deep = plan_core(shapes, lanes, beat, dataflow=flow, drain=drain, **opts)
    assert plan.rq_stages == stages and deep.rq_stages == 10
    assert report(plan).latency < report(deep).latency
    exe = sim.build(sim.prepare(plan, cache), "icarus")
    for k, pattern in enumerate(PATTERNS):
        for extreme in (False, True):
            seed = 700 + 10 * k + extreme
            bundle = random_bundle(shapes, seed, pattern, extreme_requant=extreme)
            images = (_sparse_images(12, shapes[0].n_in, seed) if flow == "broadcast"
                      else random_images(12, shapes[0].n_in, seed, "mixed"))
            mem = memory_images(bundle, plan)
            if spram:
                res = sim.run(exe, plan, images, tmp_path,
                              memories=memory_images(random_bundle(shapes, 1), plan),
                              host_load=mem)
            else:
                res = sim.run(exe, plan, images, tmp_path, memories=mem)
            check(bundle, plan, images, res)


@pytest.mark.parametrize("arch,lanes,beat", [ARCHS[0], ARCHS[3], ARCHS[8]])
def test_host_port_loading_and_backpressure(arch, lanes, beat, cache, tmp_path):
    """Weights written (and read back) through the host port replace the hex images, and
    random in_valid / out_ready stalls change only the timing, never a result."""
    shapes = shapes_of(arch)
    plan = plan_core(shapes, lanes, beat)
    exe = sim.build(sim.prepare(plan, cache), "icarus")
    stale = random_bundle(shapes, 1)
    bundle = random_bundle(shapes, 2, "random", extreme_requant=True)
    images = random_images(12, shapes[0].n_in, 3, "mixed")
    res = sim.run(exe, plan, images, tmp_path, memories=memory_images(stale, plan),
                  host_load=memory_images(bundle, plan), stall=30, seed=lanes)
    assert "all read back" in res.log
    ref = golden.forward(bundle, images)
    assert (res.logits == ref).all() and (res.classes == ref.argmax(axis=1)).all()


@pytest.mark.parametrize("arch,lanes,beat", [ARCHS[0], ARCHS[3], ARCHS[1]])
def test_single_port_spram_memories_loaded_through_the_host_port(arch, lanes, beat, cache,
                                                                 tmp_path):
    """``shared_port`` plans (one read port per memory, the host's while the core is idle)
    with weight banks as single-port memories without initial contents (iCE40 SPRAM): the
    weights written through the host port are read back, give the golden logits and the exact
    cycle schedule, and stall patterns change only the timing."""
    shapes = shapes_of(arch)
    plan = plan_core(shapes, lanes, beat, spram_min_depth=20, shared_port=True)
    assert plan.spram_mems and len(plan.spram_mems) < len(plan.mems)
    exe = sim.build(sim.prepare(plan, cache), "icarus")
    stale = random_bundle(shapes, 1)
    bundle = random_bundle(shapes, 2, "random", extreme_requant=True)
    images = random_images(10, shapes[0].n_in, 3, "mixed")
    res = sim.run(exe, plan, images, tmp_path, memories=memory_images(stale, plan),
                  host_load=memory_images(bundle, plan))
    assert "all read back" in res.log
    check(bundle, plan, images, res)
    res = sim.run(exe, plan, images, tmp_path, memories=memory_images(stale, plan),
                  host_load=memory_images(bundle, plan), stall=30, seed=lanes)
    ref = golden.forward(bundle, images)
    assert (res.logits == ref).all() and (res.classes == ref.argmax(axis=1)).all()


def test_spram_memories_have_no_initial_contents(cache, tmp_path):
    """The SPRAM memories ignore the hex images: without the host load the results are X."""
    shapes = shapes_of(ARCHS[0][0])
    plan = plan_core(shapes, 3, 4, spram_min_depth=20, shared_port=True)
    exe = sim.build(sim.prepare(plan, cache), "icarus")
    bundle = random_bundle(shapes, 5)
    with pytest.raises(sim.SimError, match="X in result"):
        sim.run(exe, plan, random_images(2, shapes[0].n_in, 5), tmp_path,
                memories=memory_images(bundle, plan))


def test_missing_hex_file_fails_the_testbench(cache, tmp_path):
    shapes = shapes_of(ARCHS[0][0])
    plan = plan_core(shapes, 3, 4)
    exe = sim.build(sim.prepare(plan, cache), "icarus")
    bundle = random_bundle(shapes, 5)
    images = random_images(2, shapes[0].n_in, 5)
    sim.write_memories(memory_images(bundle, plan), plan, tmp_path)
    (tmp_path / plan.mems[0].hexfile).unlink()
    with pytest.raises(sim.SimError, match="X in result"):
        sim.run(exe, plan, images, tmp_path)


def test_truncated_image_file_fails_the_testbench(cache, tmp_path):
    shapes = shapes_of(ARCHS[1][0])
    plan = plan_core(shapes, 1, 1)
    exe = sim.build(sim.prepare(plan, cache), "icarus")
    sim.write_memories(memory_images(random_bundle(shapes, 5), plan), plan, tmp_path)
    sim.write_images(random_images(3, shapes[0].n_in, 5), 1, tmp_path / "images.hex")
    lines = (tmp_path / "images.hex").read_text().splitlines()
    (tmp_path / "short.hex").write_text("\n".join(lines[:20]) + "\n")
    out = subprocess.run(
        ["vvp", "-n", str(exe), f"+IMAGES={tmp_path / 'short.hex'}", "+N=3",
         f"+OUT={tmp_path / 'r.txt'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert out.returncode != 0 and "ended at image" in out.stdout


# ----------------------------------------------------------------------------- broadcast
B = "broadcast"
#: (layers, lanes per layer, pixels per beat, dataflow per layer, drain width per layer)
BCAST_ARCHS = [
    ([(D, 20, 12, 0), (D, 12, 9, 0), (D, 9, 7, 0)], [4, 3, 7], 4, B, 1),  # several groups
    ([(D, 30, 10, 0), (D, 10, 9, 0), (LR, 9, 7, 3)], [10, 9, 2], 3, B, [5, 1, 1]),
    ([(D, 13, 26, 0)], 5, 3, B, 1),  # partial last group, 3-pixel beats
    ([(LR, 31, 5, 11), (LR, 5, 12, 2)], 50, 1, B, 1),
    ([(LR, 10, 40, 1), (D, 40, 3, 0)], 4, 4, B, 1),  # DIL slower: the U drain stalls
    ([(D, 40, 8, 0), (D, 8, 8, 0)], [8, 2], 8, [B, "dot"], [1, 1]),  # mixed dataflows
    ([(D, 17, 6, 0), (D, 6, 6, 0), (D, 6, 4, 0)], [6, 6, 4], 2, ["dot", B, B], [1, 3, 1]),
    ([(D, 784, 3, 0)], 2, 4, B, 1),  # the largest accumulator
    ([(LR, 1, 1, 1)], 1, 3, B, 1),
]


def _sparse_images(n: int, features: int, seed: int) -> np.ndarray:
    """all-255, all-0, one nonzero pixel (first / last), random sparsity from 0 to 100 %."""
    rng = np.random.default_rng(seed)
    imgs = random_images(n, features, seed, "mixed")
    imgs[4] = 0
    imgs[4, 0] = 7
    imgs[5] = 0
    imgs[5, -1] = 255
    for k in range(6, n):
        keep = rng.random(features) < rng.random()
        imgs[k] = np.where(keep, imgs[k], 0)
    return imgs


def _zero_columns(bundle, seed: int) -> None:
    """Zero some input columns of every layer (weights of inputs that never count)."""
    rng = np.random.default_rng(seed)
    for layer in bundle.layers:
        w = layer.weight if hasattr(layer, "weight") else layer.u
        w[:, rng.random(w.shape[1]) < 0.4] = 0


@pytest.mark.parametrize("arch,lanes,beat,flow,drain", BCAST_ARCHS,
                         ids=[f"b{i}" for i in range(len(BCAST_ARCHS))])
def test_broadcast_dataflow_matches_golden_and_cycle_model(arch, lanes, beat, flow, drain,
                                                           cache, tmp_path):
    """The zero-skipping dataflow: weight patterns (random, zero rows, 80 % sparse, zero
    columns, +-127) x requantization regimes x images of every sparsity (all 255, all 0, one
    pixel, random 0 ... 100 % zeros); every logit bit-exact and every input / output cycle
    equal to the data-dependent cycle model (from the golden model's activations)."""
    shapes = shapes_of(arch)
    plan = plan_core(shapes, lanes, beat, dataflow=flow, drain=drain)
    assert any(e.broadcast for e in plan.engines)
    exe = sim.build(sim.prepare(plan, cache), "icarus")
    for k, pattern in enumerate(("random", "zero_rows", "sparse", "zero_cols", "max")):
        for extreme in (False, True) if pattern == "random" else (k % 2 == 1,):
            seed = 300 + 10 * k + extreme
            bundle = random_bundle(shapes, seed, "random" if pattern == "zero_cols" else pattern,
                                   extreme_requant=extreme)
            if pattern == "zero_cols":
                _zero_columns(bundle, seed)
            images = _sparse_images(14, shapes[0].n_in, seed)
            res = sim.run(exe, plan, images, tmp_path, memories=memory_images(bundle, plan))
            check(bundle, plan, images, res)


@pytest.mark.parametrize("arch,lanes,beat,flow,drain", [BCAST_ARCHS[1], BCAST_ARCHS[4]])
def test_broadcast_host_loading_and_backpressure(arch, lanes, beat, flow, drain, cache,
                                                 tmp_path):
    """Host-port loading and random stalls with the broadcast dataflow: results unchanged."""
    shapes = shapes_of(arch)
    plan = plan_core(shapes, lanes, beat, dataflow=flow, drain=drain)
    exe = sim.build(sim.prepare(plan, cache), "icarus")
    bundle = random_bundle(shapes, 2, "sparse", extreme_requant=True)
    images = _sparse_images(12, shapes[0].n_in, 3)
    res = sim.run(exe, plan, images, tmp_path, memories=memory_images(random_bundle(shapes, 1),
                                                                       plan),
                  host_load=memory_images(bundle, plan), stall=30, seed=7)
    assert "all read back" in res.log
    ref = golden.forward(bundle, images)
    assert (res.logits == ref).all() and (res.classes == ref.argmax(axis=1)).all()


def test_broadcast_with_single_port_spram_banks(cache, tmp_path):
    """The iCEBreaker shape of the broadcast dataflow: shared read ports, SPRAM weight banks
    loaded (and read back) through the host port; bit-exact, exact cycles."""
    shapes = shapes_of(BCAST_ARCHS[1][0])
    plan = plan_core(shapes, 1, 3, dataflow="broadcast", spram_min_depth=20, shared_port=True)
    assert plan.spram_mems and any(e.broadcast for e in plan.engines)
    exe = sim.build(sim.prepare(plan, cache), "icarus")
    bundle = random_bundle(shapes, 4, "sparse", extreme_requant=True)
    images = _sparse_images(10, shapes[0].n_in, 4)
    res = sim.run(exe, plan, images, tmp_path, memories=memory_images(random_bundle(shapes, 1),
                                                                       plan),
                  host_load=memory_images(bundle, plan))
    assert "all read back" in res.log
    check(bundle, plan, images, res)


@pytest.mark.parametrize("arch,lanes,beat,flow,drain", [
    ([(D, 30, 10, 0), (D, 10, 9, 0), (D, 9, 7, 0)], [10, 9, 7], 4, B, [5, 1, 1]),
    ([(D, 20, 12, 0), (D, 12, 7, 0)], 4, 4, "dot", 1),
    ([(LR, 10, 40, 1), (D, 40, 3, 0)], 4, 4, B, 1),
    ([(D, 400, 12, 0), (D, 12, 7, 0)], [6, 7], 4, B, 1),
], ids=["bcast", "dot", "bcast-lowrank", "bcast-bram-list"])
def test_ecp5_dsp_instances_match_golden(arch, lanes, beat, flow, drain, cache, tmp_path):
    """``dsp_prims="ecp5"``, ``bram_prims="ecp5"``: the lane multipliers and the requantizer
    products are MULT18X18D instances with their input and output registers, the parameter
    memories DP16KD instances with their output registers (simulated with
    hw/tb/ecp5_mult18x18d.v, ecp5_dp16kd.v; the DP16KD start empty and are loaded through
    the host port, and read back), the nonzero lists' reads two edges (DP16KD instances where a
    lane is a block RAM: "bcast-bram-list"); every logit equals the golden model and every
    cycle the cycle model (the same schedule as with inferred multipliers and memories but
    for one edge more per broadcast layer, the list's output register, and one more per
    layer, the fabric product register behind the DSPs: ``EnginePlan.prod_regs``)."""
    assert all(e.prod_regs == 3 for e in plan_core(shapes_of(arch), lanes, beat, dataflow=flow,
                                                      drain=drain, dsp_prims="ecp5").engines)
    from lwfc_hw.plan import list_prim

    shapes = shapes_of(arch)
    plan = plan_core(shapes, lanes, beat, dataflow=flow, drain=drain, dsp_prims="ecp5",
                     bram_prims="ecp5")
    assert plan.prim_mems == list(plan.mems)  # every memory here fits one row of DP16KD
    lists = [f for f in plan.fmems if f.compact]
    assert all(plan.engines[f.index].list_lat == 2 for f in lists)
    assert [f.prim for f in lists] == [list_prim(f, "ecp5") for f in lists]
    if len(arch) == 2 and arch[0][1] == 400:
        assert lists[0].prim == "dp16kd"
    rtl = sim.prepare(plan, cache)
    text = (rtl / "lwfc_core.v").read_text()
    assert text.count("DP16KD #(") == (sum(-(-m.width // 18) for m in plan.mems)
                                       + sum(f.q for f in lists if f.prim))
    # dense layers: the lane multipliers and two per requantizer with a multiplier (the
    # low-rank DIL keeps its inferred multipliers)
    want = sum(e.multipliers + 2 * e.requantizers for e in plan.engines)
    if any(e.kind == "lowrank" for e in plan.engines):
        assert 0 < text.count("MULT18X18D #(") < want
    else:
        assert text.count("MULT18X18D #(") == want
    exe = sim.build(rtl, "icarus")
    for k, pattern in enumerate(("random", "max")):
        bundle = random_bundle(shapes, 500 + k, pattern, extreme_requant=k == 1)
        images = _sparse_images(12, shapes[0].n_in, 500 + k)
        res = sim.run(exe, plan, images, tmp_path, memories=memory_images(bundle, plan),
                      host_load=memory_images(bundle, plan))
        assert "all read back" in res.log
        check(bundle, plan, images, res)


def test_ecp5_dp16kd_initvals_match_golden(cache, tmp_path):
    """The generator's path for DP16KD memories: their contents go into the converted core as
    ``INITVAL_xx`` parameters (:func:`lwfc_hw.banking.fill_prim_contents`), with no host-port
    load; a 9-bit-mode memory (deeper than 1024) among them. Every logit equals the golden
    model, so the packing and the simulation model agree on where each word lives."""
    import shutil

    from lwfc_hw.banking import fill_prim_contents
    from lwfc_hw.ecp5_bram import dp16kd_mode

    arch = [(D, 200, 30, 0), (D, 30, 5, 0)]  # l0 banks: 1200 x 8 bits, 9-bit mode
    shapes = shapes_of(arch)
    plan = plan_core(shapes, [5, 5], 4, dataflow=B, drain=[1, 1], dsp_prims="ecp5",
                     bram_prims="ecp5")
    modes = {dp16kd_mode(m.depth, m.width) for m in plan.prim_mems}
    assert plan.prim_mems == list(plan.mems) and modes == {9, 18}
    rtl = sim.prepare(plan, cache)
    bundle = random_bundle(shapes, 77, "random")
    images = _sparse_images(10, shapes[0].n_in, 77)
    filled = tmp_path / "rtl"
    shutil.copytree(rtl, filled, ignore=shutil.ignore_patterns("build-*"))
    fill_prim_contents(bundle, plan, filled / "lwfc_core.v")
    text = (filled / "lwfc_core.v").read_text()
    assert "lwfc INITVAL" not in text and ".INITVAL_3F(320'h" in text
    exe = sim.build(filled, "icarus")
    # the DP16KD read no hex file: give theirs zeros, so only the INITVALs can be right
    prim = {m.name for m in plan.prim_mems}
    hexes = {k: np.zeros_like(v) if k in prim else v
             for k, v in memory_images(bundle, plan).items()}
    res = sim.run(exe, plan, images, tmp_path / "run", memories=hexes)
    check(bundle, plan, images, res)
