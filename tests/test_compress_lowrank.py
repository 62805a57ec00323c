"""Low-rank approximation: rank from R_comp (eq. 5-7), SVD factors (eq. 8-9), LRA-learn (eq. 10)."""

from __future__ import annotations

import numpy as np
import pytest

from lwfc.compress import lowrank
from lwfc.errors import LwfcError


@pytest.mark.parametrize(
    ("out", "inp", "r_comp", "rank", "removed"),
    [  # the paper's Table 3: N_reduced = m*n - r*(m+n)
        (50, 784, 0.36, 30, 14180),
        (50, 784, 0.24, 35, 10010),
        (50, 784, 0.20, 37, 8342),
        (50, 784, 0.18, 38, 7508),
        (100, 50, 0.26, 24, 1400),
        (100, 50, 0.30, 23, 1550),
        (100, 50, 0.44, 18, 2300),
        (100, 50, 0.36, 21, 1850),
    ],
)
def test_rank_from_rcomp_matches_table3(
    out: int, inp: int, r_comp: float, rank: int, removed: int
) -> None:
    r = lowrank.rank_for_rcomp(out, inp, r_comp)
    assert r == rank
    assert out * inp - r * (out + inp) == removed
    assert lowrank.pays_off(out, inp, r)
    assert lowrank.rcomp_for_rank(out, inp, r) >= r_comp  # eq. 7 meets the requested rate


def test_rank_from_rcomp_is_the_largest_rank_meeting_the_rate() -> None:
    for out, inp in [(50, 784), (100, 50), (10, 100), (7, 3)]:
        for r_comp in np.arange(0.02, 0.99, 0.02):
            r_comp = round(float(r_comp), 2)
            try:
                r = lowrank.rank_for_rcomp(out, inp, r_comp)
            except LwfcError:
                assert lowrank.rcomp_for_rank(out, inp, 1) < r_comp
                continue
            assert lowrank.rcomp_for_rank(out, inp, r) >= r_comp - 1e-12
            if r < min(out, inp):
                assert lowrank.rcomp_for_rank(out, inp, r + 1) < r_comp
    with pytest.raises(LwfcError):
        lowrank.rank_for_rcomp(50, 784, 1.0)
    with pytest.raises(LwfcError):
        lowrank.rank_for_rcomp(50, 784, 0.99)  # rank 0


def test_svd_factors_fold_sqrt_s_into_both() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(30, 80))
    u, v = lowrank.svd_factors(w, 30)
    np.testing.assert_allclose(v @ u, w, atol=1e-10)  # full rank: exact
    u5, v5 = lowrank.svd_factors(w, 5)
    s = np.linalg.svd(w, compute_uv=False)
    # each rank-1 term has its singular value split evenly: ||u_k|| = ||v_k|| = sqrt(s_k)
    np.testing.assert_allclose(np.linalg.norm(u5, axis=1), np.sqrt(s[:5]))
    np.testing.assert_allclose(np.linalg.norm(v5, axis=0), np.sqrt(s[:5]))
    # Eckart-Young: the error is the energy of the dropped singular values
    err = np.linalg.norm(w - v5 @ u5)
    assert err == pytest.approx(np.sqrt(np.sum(s[5:] ** 2)))
    with pytest.raises(LwfcError):
        lowrank.svd_factors(w, 31)


def test_quantized_factors_lie_on_the_int8_grid() -> None:
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.05, size=(10, 40))
    u, v = lowrank.quantized_factors(w, 4, last=True)
    su = np.abs(u).max(axis=1, keepdims=True) / 127
    np.testing.assert_allclose(u / su, np.rint(u / su), atol=1e-9)
    sv = np.abs(v).max() / 127  # last layer: one scale for v
    np.testing.assert_allclose(v / sv, np.rint(v / sv), atol=1e-9)
    uf, vf = lowrank.svd_factors(w, 4)
    assert lowrank.approximation_error(w, u, v) < lowrank.approximation_error(w, uf, vf) + 0.01


def test_lra_learn_fits_the_product_and_keeps_the_grid() -> None:
    rng = np.random.default_rng(2)
    # a matrix of decaying spectrum, coarse start: LRA-learn must reduce the fitting error
    a = rng.normal(size=(20, 6)) @ rng.normal(size=(6, 60)) + 0.05 * rng.normal(size=(20, 60))
    u0, v0 = lowrank.quantized_factors(a, 6)
    u0 = u0 + rng.normal(0, 0.2 * np.abs(u0).mean(), u0.shape)  # perturbed start
    u0 = lowrank.grid_quantize(u0)
    e0 = lowrank.approximation_error(a, u0, v0)
    u1, v1 = lowrank.lra_learn(a, u0, v0, steps=200)
    e1 = lowrank.approximation_error(a, u1, v1)
    assert e1 < 0.5 * e0
    np.testing.assert_array_equal(u1, lowrank.grid_quantize(u1))
    np.testing.assert_array_equal(v1, lowrank.grid_quantize(v1))
    # masks stay zero
    mask = (rng.random(u0.shape) > 0.3).astype(np.uint8)
    u2, _ = lowrank.lra_learn(a, u0 * mask, v0, steps=50, u_mask=mask)
    assert np.all(u2[mask == 0] == 0)


def test_lra_learn_data_fit() -> None:
    rng = np.random.default_rng(3)
    w = rng.normal(size=(8, 30))
    x = np.abs(rng.normal(size=(200, 30)))
    x[:, 10:] = 0.0  # inputs that never fire: the data fit may ignore those columns
    u0, v0 = lowrank.quantized_factors(w, 3)
    u1, v1 = lowrank.lra_learn(w, u0, v0, steps=300, fit="data", inputs=x)
    err0 = np.linalg.norm(x @ (w - v0 @ u0).T)
    err1 = np.linalg.norm(x @ (w - v1 @ u1).T)
    assert err1 < err0
    with pytest.raises(LwfcError):
        lowrank.lra_learn(w, u0, v0, fit="data")


def test_paper_grid_factors_are_integers_on_the_weight_scale() -> None:
    rng = np.random.default_rng(4)
    w = rng.normal(size=(12, 5)) @ rng.normal(size=(5, 50)) * 0.01
    u, v = lowrank.quantized_factors(w, 5, grid="paper")
    units = lowrank.paper_units(w)
    np.testing.assert_array_equal(u, np.rint(u))  # integers
    np.testing.assert_allclose(v / units, np.rint(v / units), atol=1e-9)
    assert np.abs(u).max() < 127  # coarse: a few integer levels
    e_paper = lowrank.approximation_error(w, u, v)
    e_int8 = lowrank.approximation_error(w, *lowrank.quantized_factors(w, 5))
    assert e_paper > 5 * e_int8  # the paper's rounding is much coarser than ours
    u1, v1 = lowrank.lra_learn(w, u, v, steps=200, grid="paper")
    np.testing.assert_array_equal(u1, np.rint(u1))
    assert lowrank.approximation_error(w, u1, v1) < e_paper  # LRA-learn repairs the rounding
    with pytest.raises(LwfcError):
        lowrank.quantized_factors(w, 5, grid="int4")
