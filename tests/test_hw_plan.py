"""Accelerator plan, weight banking and cycle model (pure Python, no simulator)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwfc_hw.banking import host_writes, layer_images, memory_images
from lwfc_hw.cycles import report, schedule, service_cycles
from lwfc_hw.layers.dot_dense import choose_dense_mapping
from lwfc_hw.plan import BANK_CHUNK, LayerShape, plan_core, plan_for_bundle
from lwfc_hw.testing import random_bundle

MNIST_DENSE = [
    LayerShape("fc1", "dense", 784, 50),
    LayerShape("fc2", "dense", 50, 100),
    LayerShape("fc3", "dense", 100, 10, 0, False),
]
MNIST_LOWRANK = [
    LayerShape("fc1", "lowrank", 784, 50, 30),
    LayerShape("fc2", "dense", 50, 100),
    LayerShape("fc3", "dense", 100, 10, 0, False),
]


@given(n_in=st.integers(1, 300), n_out=st.integers(1, 120), lanes=st.integers(1, 64))
@settings(max_examples=200, deadline=None)
def test_dense_mapping_respects_lanes_and_drain(n_in: int, n_out: int, lanes: int) -> None:
    P, Q = choose_dense_mapping(n_in, n_out, lanes)
    assert 1 <= P * Q <= lanes
    assert -(-n_in // Q) >= P  # the serial drain of a group ends before the next group's


shape_st = st.builds(
    lambda kind, n_in, n_out, rank: LayerShape(
        "x", kind, n_in, n_out, rank if kind == "lowrank" else 0, True
    ),
    st.sampled_from(["dense", "lowrank"]),
    st.integers(1, 70),
    st.integers(1, 40),
    st.integers(1, 12),
)


@given(shape=shape_st, lanes=st.integers(1, 20), seed=st.integers(0, 2**16))
@settings(max_examples=120, deadline=None)
def test_banking_is_a_permutation_with_zero_padding(shape, lanes: int, seed: int) -> None:
    """Every weight lands in exactly one (bank, address); all other entries are 0."""
    bundle = random_bundle([shape], seed)
    plan = plan_for_bundle(bundle, lanes)
    e = plan.engines[0]
    layer = bundle.layers[0]
    imgs = layer_images(layer, e)
    if e.kind == "dense":
        w = layer.weight.astype(np.int64)
        for (o, i), val in np.ndenumerate(w):
            g, p, c, q = o // e.P, o % e.P, i // e.Q, i % e.Q
            assert imgs[f"w{p * e.Q + q}"][g * e.K + c] == val
        total = sum(int(np.abs(imgs[f"w{b}"]).sum()) for b in range(e.P * e.Q))
        assert total == int(np.abs(w).sum())
    else:
        u, v = layer.u.astype(np.int64), layer.v.astype(np.int64)
        for (k, i), val in np.ndenumerate(u):
            assert imgs[f"u{i % e.Qu}"][k * e.Ku + i // e.Qu] == val
        for (o, k), val in np.ndenumerate(v):
            assert imgs[f"v{o // e.Tv}"][k * e.Tv + o % e.Tv] == val
        assert sum(int(np.abs(imgs[f"v{b}"]).sum()) for b in range(e.Pv)) == int(np.abs(v).sum())
        words = imgs["urq0"]
        assert np.array_equal(words & 0x7FFF, layer.u_multiplier)
        assert np.array_equal(words >> 15, layer.u_shift)


def test_memory_map_covers_every_memory_once() -> None:
    b = random_bundle(MNIST_LOWRANK, 3)
    plan = plan_for_bundle(b, 8)
    sels = [m.sel for m in plan.mems]
    assert sels == list(range(len(plan.mems)))
    assert len({m.name for m in plan.mems}) == len(plan.mems)
    mm = plan.memory_map()
    assert mm["sel_bits"] >= 1 and mm["addr_bits"] == max(m.abits for m in plan.mems)
    images = memory_images(b, plan)
    writes = list(host_writes(b, plan))
    assert len(writes) == sum(m.depth for m in plan.mems)
    assert all(0 <= d < 2**32 for _, _, d in writes)
    assert set(images) == {m.name for m in plan.mems}


def test_service_time_of_one_lane_is_the_mac_count_plus_constants() -> None:
    # one lane: 4 operand stages, 2 product registers, accumulator (no adder tree), drain
    # register, 10 requantizer stages, done
    plan = plan_core(MNIST_DENSE, 1)
    assert [service_cycles(e) for e in plan.engines] == [
        784 * 50 + 1 + 18,
        50 * 100 + 1 + 18,
        100 * 10 + 1 + 18,
    ]
    lr = plan_core(MNIST_LOWRANK, 1).engines[0]
    # DCL 784 cycles per latent (slower than the DIL's 50): 30 latents, then 50 drained outputs
    assert service_cycles(lr) == 784 + 29 * 784 + 50 + 50 + 33
    # eight lanes: fc1 is 1 x 8 (a three-level adder tree), fc2 4 x 2 (one), fc3 2 x 4 (two)
    plan8 = plan_core(MNIST_DENSE, 8)
    assert [service_cycles(e) for e in plan8.engines] == [
        50 * 98 + 1 + 18 + 3,
        25 * 25 + 4 + 18 + 1,
        5 * 25 + 2 + 18 + 2,
    ]


def test_deep_weight_banks_are_split_into_block_ram_chunks() -> None:
    """fc1 at 8 lanes: each 4900-entry bank is three memories (2048 + 2048 + 804 entries)
    whose images are the bank's consecutive slices."""
    b = random_bundle(MNIST_DENSE, 5)
    plan = plan_for_bundle(b, 8)
    chunks = plan.bank_chunks(0, "w", 3)
    assert [(m.name, m.base, m.depth) for m in chunks] == [
        ("l0_w3", 0, 2048), ("l0_w3c1", 2048, 2048), ("l0_w3c2", 4096, 804)]
    assert max(m.depth for m in plan.mems) == BANK_CHUNK
    images = memory_images(b, plan)
    bank = np.concatenate([images[m.name] for m in chunks])
    w = np.asarray(b.layers[0].weight)
    e = plan.engines[0]  # 1 x 8: bank q holds W[g, c*8 + q] at address g*98 + c
    assert bank[5 * 98 + 7] == w[5, 7 * 8 + 3] and bank[49 * 98 + 97] == w[49, 97 * 8 + 3]
    assert bank[30 * 98 + 10] == w[30, 10 * e.Q + 3]


@pytest.mark.parametrize("shapes", [MNIST_DENSE, MNIST_LOWRANK], ids=["dense", "lowrank"])
@pytest.mark.parametrize("lanes", [1, 8, 50])
def test_cycles_per_image_within_the_mac_bound(shapes, lanes: int) -> None:
    """The issue's criterion, on the cycle model (the RTL matches it exactly, see test_hw_rtl):
    the streaming interval is <= 1.05 x (MACs / lanes) + 50."""
    rep = report(plan_core(shapes, lanes))
    assert rep.interval <= 1.05 * rep.mac_bound + 50
    if lanes <= 8:  # at 50 lanes the 196-beat image transfer alone is 30 % of the bound
        assert rep.latency <= 1.05 * rep.mac_bound + 50


def test_streaming_interval_is_the_slowest_stage() -> None:
    plan = plan_core(MNIST_DENSE, 8)
    sched = schedule(plan, 10)
    gaps = np.diff(sched.t_out)
    assert (gaps[3:] == max(service_cycles(e) for e in plan.engines) + 2).all()
    assert sched.latency == report(plan).latency


def test_spram_weight_banks_and_shared_port() -> None:
    """``spram_min_depth`` marks the large weight banks (never bias / requant tables) as
    single-port memories; it needs ``shared_port``; the memory map says both."""
    plan = plan_core(MNIST_DENSE, 1, spram_min_depth=4096, shared_port=True)
    assert [m.name for m in plan.spram_mems] == ["l0_w0", "l1_w0"]
    assert plan.shared_port and not plan_core(MNIST_DENSE, 1).shared_port
    mm = plan.memory_map()
    assert mm["shared_port"] is True
    assert [m["name"] for m in mm["memories"] if m["spram"]] == ["l0_w0", "l1_w0"]
    lowrank = plan_core(MNIST_LOWRANK, 1, spram_min_depth=4096, shared_port=True)
    assert [m.name for m in lowrank.spram_mems] == ["l0_u0", "l1_w0"]
    assert not plan_core(MNIST_DENSE, 1, shared_port=True).spram_mems
    with pytest.raises(ValueError, match="shared_port"):
        plan_core(MNIST_DENSE, 1, spram_min_depth=4096)
    with pytest.raises(ValueError, match="spram_min_depth"):
        plan_core(MNIST_DENSE, 1, spram_min_depth=-1, shared_port=True)


def test_spram_banks_are_not_chunked() -> None:
    """An SPRAM weight bank is one memory of the whole bank's depth (Yosys cascades the 16K x
    16 SPRAM blocks), while a bank below ``spram_min_depth`` is still split into block-RAM
    chunks; host writes of the SPRAM bank cover it in order from address 0."""
    bundle = random_bundle(MNIST_DENSE, 0)
    plan = plan_core(MNIST_DENSE, 1, spram_min_depth=10000, shared_port=True)
    (l0,) = plan.bank_chunks(0, "w", 0)
    assert l0.spram and (l0.depth, l0.base, l0.chunk) == (784 * 50, 0, 0)
    l1 = plan.bank_chunks(1, "w", 0)
    assert [(m.spram, m.base, m.depth) for m in l1] == [
        (False, 0, BANK_CHUNK), (False, BANK_CHUNK, BANK_CHUNK), (False, 2 * BANK_CHUNK, 904)]
    addrs = [a for sel, a, _ in host_writes(bundle, plan) if sel == l0.sel]
    assert addrs == list(range(l0.depth))
    images = memory_images(bundle, plan)
    assert np.concatenate([images[m.name] for m in l1]).shape == (50 * 100,)


# ----------------------------------------------------------------------------- broadcast
@given(shape=shape_st, lanes=st.integers(1, 20), seed=st.integers(0, 2**16))
@settings(max_examples=80, deadline=None)
def test_broadcast_banking_puts_each_weight_once(shape, lanes: int, seed: int) -> None:
    """Broadcast banks: dense bank p address g*n_in + i holds W[g*P + p, i]; low-rank U bank
    p holds U[p, :]; nothing else is nonzero."""
    bundle = random_bundle([shape], seed)
    plan = plan_for_bundle(bundle, lanes, dataflow="broadcast")
    e = plan.engines[0]
    assert e.broadcast and e.q_read == 1 and plan.fmems[0].compact
    layer = bundle.layers[0]
    imgs = layer_images(layer, e)
    if e.kind == "dense":
        w = layer.weight.astype(np.int64)
        for (o, i), val in np.ndenumerate(w):
            assert imgs[f"w{o % e.P}"][(o // e.P) * shape.n_in + i] == val
        assert sum(int(np.abs(imgs[f"w{b}"]).sum()) for b in range(e.P)) == int(np.abs(w).sum())
    else:
        assert shape.rank == e.P
        for k in range(shape.rank):
            assert np.array_equal(imgs[f"u{k}"], layer.u[k].astype(np.int64))


def test_broadcast_service_time_follows_the_nonzero_inputs() -> None:
    from lwfc_hw.layers.bcast_dense import bc_dense_pipe

    plan = plan_core(MNIST_DENSE, [50, 50, 10], dataflow="broadcast", drain=[5, 1, 1])
    fc1, fc2, fc3 = plan.engines
    # operands (7), MAC array (3), drain register, requantizer (10 stages by default)
    BC_DENSE_PIPE = bc_dense_pipe(fc1)
    assert BC_DENSE_PIPE == 21
    short = plan_core(MNIST_DENSE, [50, 50, 10], dataflow="broadcast", drain=[5, 1, 1],
                      rq_stages=6)
    assert short.rq_stages == 6 and bc_dense_pipe(short.engines[0]) == 17
    assert service_cycles(short.engines[2], 43) == 43 + 10 + 17
    # one group: one step per nonzero input (one pad step for none), 50 / 5 drain cycles
    assert [service_cycles(fc1, n) for n in (0, 1, 151, 784)] == [
        1 + 10 + BC_DENSE_PIPE, 1 + 10 + BC_DENSE_PIPE, 151 + 10 + BC_DENSE_PIPE,
        784 + 10 + BC_DENSE_PIPE]
    # two groups of 50: each takes max(nnz, 50) steps (the drain of a group is 50 cycles)
    assert service_cycles(fc2, 28) == 2 * 50 + 50 + BC_DENSE_PIPE
    assert service_cycles(fc2, 50) == 2 * 50 + 50 + BC_DENSE_PIPE
    assert service_cycles(fc3, 43) == 43 + 10 + BC_DENSE_PIPE
    assert service_cycles(fc1) == service_cycles(fc1, 784)  # no activity: the worst case
    with pytest.raises(ValueError):
        service_cycles(fc1, 785)
    # the data-dependent schedule: more nonzero pixels never make an image earlier
    act = np.array([[n, 30, 40] for n in (0, 100, 200, 300, 784)])
    outs = [schedule(plan, 1, act[k : k + 1]).t_out[0] for k in range(len(act))]
    assert outs == sorted(outs) and outs[0] < outs[-1]


def test_broadcast_plan_options_are_checked() -> None:
    with pytest.raises(ValueError, match="rq_stages"):
        plan_core(MNIST_DENSE, 8, rq_stages=7)
    with pytest.raises(ValueError, match="dataflow"):
        plan_core(MNIST_DENSE, 8, dataflow="sideways")
    with pytest.raises(ValueError, match="entries for 3 layers"):
        plan_core(MNIST_DENSE, [8, 8], dataflow="broadcast")
    with pytest.raises(ValueError, match="drain"):  # the next layer must be broadcast
        plan_core(MNIST_DENSE, 50, dataflow=["broadcast", "dot", "dot"], drain=[5, 1, 1])
    with pytest.raises(ValueError, match="divide"):
        plan_core(MNIST_DENSE, [50, 50, 10], dataflow="broadcast", drain=[3, 1, 1])
    with pytest.raises(ValueError, match="drain"):  # the last layer writes the logits 1 by 1
        plan_core(MNIST_DENSE, [50, 50, 10], dataflow="broadcast", drain=[1, 1, 2])
    plan = plan_core(MNIST_DENSE, [50, 50, 10], dataflow="broadcast", drain=[5, 1, 1])
    assert [f.q for f in plan.fmems] == [4, 5, 1]  # list lanes: the beat, then the drain width
    assert len(plan.bank_chunks(0, "bias", 4)) == 1 and plan.mem("l0_bias4").depth == 10


def test_fold_meets_the_target_and_respects_the_input_bound() -> None:
    from lwfc_hw.fold import fold, mean_interval

    rng = np.random.default_rng(0)
    act = np.stack([rng.integers(60, 320, 300), rng.integers(10, 45, 300),
                    rng.integers(20, 70, 300)], axis=1)
    for fps in (50_000, 200_000, 400_000):
        res = fold(MNIST_DENSE, act, fps)
        assert res.mean_interval <= 100e6 / fps
        assert res.mean_interval == mean_interval(res.plan, act)
    cheap, fast = fold(MNIST_DENSE, act, 50_000), fold(MNIST_DENSE, act, 400_000)
    assert sum(e.multipliers for e in cheap.plan.engines) < sum(
        e.multipliers for e in fast.plan.engines)
    with pytest.raises(ValueError, match="input bound"):
        fold(MNIST_DENSE, act, 100e6 / 190)  # 190 cycles < 196 beats + 2


def test_every_kind_and_dataflow_has_one_layer_type() -> None:
    import subprocess
    import sys

    from lwfc_hw.layers import layer_type, registered
    from lwfc_hw.plan import DATAFLOWS

    types = registered()
    assert set(types) == {(k, f) for k in ("dense", "lowrank") for f in DATAFLOWS}
    for (kind, flow), lt in types.items():
        assert (lt.kind, lt.dataflow) == (kind, flow) and layer_type(kind, flow) is lt
    with pytest.raises(ValueError, match="layer x: unknown kind 'conv'"):
        plan_core([LayerShape("x", "conv", 4, 4)], 1)
    # the latencies the cycle model shares with the RTL need no MyHDL
    code = "import sys, lwfc_hw.timing; assert 'myhdl' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_target_parameters_give_the_plan_keywords() -> None:
    """``fusesoc.core`` generator parameters (numbers or comma strings) -> plan keywords, the
    one parser the generator and the drivers share; bad values name the parameter."""
    from lwfc_hw.plan import parse_plan_params, plan_kwargs

    raw = {"lanes": "50,50,10", "dataflow": "broadcast", "drain": "5,1,1", "dsp": 1,
           "bundle": "ignored"}
    p = parse_plan_params(raw)
    assert p["lanes"] == [50, 50, 10] and p["drain"] == [5, 1, 1] and p["dsp"] is True
    assert parse_plan_params(p) == p  # parsed values parse to themselves
    ecp5, ice40 = plan_kwargs(raw, "ecp5"), plan_kwargs(raw, "ice40")
    assert ecp5["dsp_prims"] == ecp5["bram_prims"] == "ecp5"
    assert "dsp_prims" not in ice40 and "rq_stages" not in ice40
    plan = plan_core(MNIST_DENSE, **{k: v for k, v in ecp5.items()})
    assert plan.bram_prims == "ecp5" and [e.P for e in plan.engines] == [50, 50, 10]
    assert plan_kwargs({"rq_stages": 6, "shared_port": 1}) == {
        "lanes": 8, "pixels_per_beat": 4, "spram_min_depth": 0, "shared_port": True,
        "dataflow": "dot", "drain": 1, "rq_stages": 6}
    for bad, msg in (({"lanes": "8,x"}, "parameter lanes must be a whole number"),
                     ({"drain": 0}, "parameter drain must be >= 1"),
                     ({"dataflow": "dot,sideways"}, "parameter dataflow: unknown 'sideways'"),
                     ({"lowrank_dataflow": "up"}, "parameter lowrank_dataflow: unknown 'up'")):
        with pytest.raises(ValueError, match=msg):
            parse_plan_params(bad)
    # a low-rank layer takes lowrank_dataflow, the dense ones dataflow
    kw = plan_kwargs({"lanes": 1, "dataflow": "broadcast", "lowrank_dataflow": "dot"})
    assert kw["lowrank_dataflow"] == "dot"
    shapes = [LayerShape("fc1", "lowrank", 30, 12, 3, True), LayerShape("fc2", "dense", 12, 9)]
    plan = plan_for_bundle(random_bundle(shapes, 1), **kw)
    assert [e.dataflow for e in plan.engines] == ["dot", "broadcast"]
    with pytest.raises(ValueError, match="lowrank_dataflow"):
        plan_for_bundle(random_bundle(shapes, 1), 1, lowrank_dataflow="sideways")


def test_driver_finds_a_per_layer_broadcast_build() -> None:
    """A build whose lanes differ per layer reports only the largest (``IDENTIFY`` /
    ``PLAN``): the driver finds its plan from the target's options (lanes, dataflow, drain,
    primitives) by the plan signature, and still finds a plain build's."""
    from types import SimpleNamespace

    from lwfc.driver.base import Accelerator
    from lwfc.driver.errors import PlanMismatchError
    from lwfc.driver.serial import plan_options_of
    from lwfc_hw.regmap import plan_signature

    class Fake(Accelerator):
        def __init__(self, info, options):
            self.info, self._options = info, options

        def plan_options(self):
            return [{}, *self._options]

        load_bundle = classify = throughput_test = close = None

    Fake.__abstractmethods__ = frozenset()
    bundle = random_bundle(MNIST_DENSE, 3, "random")
    params = {"lanes": "50,50,10", "dataflow": "broadcast", "drain": "5,1,1", "dsp": 1}
    built = plan_for_bundle(bundle, [50, 50, 10], dataflow="broadcast", drain=[5, 1, 1],
                            dsp_prims="ecp5", bram_prims="ecp5")
    info = SimpleNamespace(n_in=784, classes=10, pixels_per_beat=4, lanes=built.lanes,
                           n_mems=len(built.mems), plan_hash=plan_signature(built))
    assert Fake(info, [plan_options_of(params, "ecp5")]).plan_for(bundle) == built
    with pytest.raises(PlanMismatchError, match="does not match the hardware's plan"):
        Fake(info, [plan_options_of(params, "ice40")]).plan_for(bundle)  # no primitives
    plain = plan_for_bundle(bundle, 4)  # a --lanes 4 build of a dot target
    info4 = SimpleNamespace(**{**vars(info), "lanes": 4, "plan_hash": plan_signature(plain)})
    assert Fake(info4, [plan_options_of({"lanes": 8}, "ecp5")]).plan_for(bundle) == plain
