"""Accelerator plan, weight banking and cycle model (pure Python, no simulator)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwfc_hw.banking import host_writes, layer_images, memory_images
from lwfc_hw.cycles import report, schedule, service_cycles
from lwfc_hw.plan import (
    BANK_CHUNK,
    LayerShape,
    choose_dense_mapping,
    plan_core,
    plan_for_bundle,
)
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
