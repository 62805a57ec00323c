"""E-score (eq. 11), Pareto front and the hardware cost of bundles."""

from __future__ import annotations

import math

import pytest

from conftest import random_bundle
from lwfc.compress import escore, hardware_cost, pareto_front
from lwfc.compress.escore import BETA, dominates
from lwfc.compress.hwcost import bram_bytes, stage_macs


def test_escore_is_the_weighted_harmonic_mean() -> None:
    a, r = 0.906, 14180 / 39200
    expected = (1 + 144) / (144 / a + 1 / r)
    assert escore(a, r) == pytest.approx(expected, rel=1e-12)
    assert BETA == 12.0


def test_escore_limits_and_monotonicity() -> None:
    assert escore(0.9, 0.0) == 0.0
    assert escore(0.0, 0.5) == 0.0
    assert escore(1.0, 1.0) == pytest.approx(1.0)
    assert escore(0.8, 0.8) == pytest.approx(0.8)  # equal terms: the mean is that value
    # beta -> infinity: the accuracy alone; beta = 1: the plain harmonic mean (F1).
    assert escore(0.9, 0.3, beta=1e6) == pytest.approx(0.9, rel=1e-6)
    assert escore(0.9, 0.3, beta=1.0) == pytest.approx(2 * 0.9 * 0.3 / 1.2)
    # Increasing in both arguments; beta = 12 weighs accuracy more than removal.
    assert escore(0.95, 0.3) > escore(0.90, 0.3)
    assert escore(0.90, 0.4) > escore(0.90, 0.3)
    gain_acc = escore(0.91, 0.3) - escore(0.90, 0.3)
    gain_rem = escore(0.90, 0.31) - escore(0.90, 0.3)
    assert gain_acc > gain_rem


@pytest.mark.parametrize("bad", [(-0.1, 0.5), (0.5, 1.5), (math.nan, 0.5)])
def test_escore_rejects_out_of_range(bad: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        escore(*bad)
    with pytest.raises(ValueError):
        escore(0.5, 0.5, beta=0)


def test_pareto_front() -> None:
    pts = [(1, 5), (2, 2), (5, 1), (3, 3), (2, 2), (6, 6), (1, 6)]
    front = pareto_front(pts, lambda p: p)
    assert front == [(1, 5), (2, 2), (5, 1), (2, 2)]
    assert dominates((1, 1), (1, 2)) and not dominates((1, 2), (1, 2))


def test_hardware_cost_fallback_estimate() -> None:
    dense = random_bundle(0)
    cost = hardware_cost(dense, lanes=1, use_hw_model=False)
    assert cost["weights_stored"] == 45_200 and cost["macs"] == 45_200
    assert cost["cycles"] == 45_200 and cost["cycle_model"] == "macs/1"
    # weights + 4 B bias per row + 4 B requant per hidden row
    assert cost["bram_bytes"] == 45_200 + 4 * 160 + 4 * 150
    low = random_bundle(1, lowrank={0: 20})
    assert stage_macs(low)[:2] == [20 * 784, 50 * 20]
    assert bram_bytes(low) == 20 * 834 + 6000 + 4 * 160 + 4 * 150 + 4 * 20
    assert hardware_cost(low, lanes=8, use_hw_model=False)["cycles"] == sum(
        math.ceil(m / 8) for m in stage_macs(low)
    )
    with pytest.raises(ValueError):
        hardware_cost(low, lanes=0)


def test_hardware_cost_uses_the_accelerator_cycle_model() -> None:
    dense, low = random_bundle(0), random_bundle(1, lowrank={0: 20})
    cd, cl = hardware_cost(dense, lanes=8), hardware_cost(low, lanes=8)
    assert cd["cycle_model"] == cl["cycle_model"] == "lwfc_hw"
    # the cycle model is never faster than the MAC bound; low rank saves cycles and memory
    assert cd["cycles"] >= 45_200 / 8 and cl["cycles"] < cd["cycles"]
    assert cl["bram_bytes"] < cd["bram_bytes"]
    assert cd["bram_bytes"] >= 45_200
