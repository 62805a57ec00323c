"""Accelerator plan, weight banking and cycle model (pure Python, no simulator)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwfc_hw.banking import host_writes, layer_images, memory_images
from lwfc_hw.cycles import report, schedule, service_cycles
from lwfc_hw.plan import LayerShape, choose_dense_mapping, plan_core, plan_for_bundle
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
    plan = plan_core(MNIST_DENSE, 1)
    assert [service_cycles(e) for e in plan.engines] == [
        784 * 50 + 1 + 9,
        50 * 100 + 1 + 9,
        100 * 10 + 1 + 9,
    ]
    lr = plan_core(MNIST_LOWRANK, 1).engines[0]
    # DCL 784 cycles per latent (slower than the DIL's 50): 30 latents, then 50 drained outputs
    assert service_cycles(lr) == 784 + 29 * 784 + 50 + 50 + 15


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
