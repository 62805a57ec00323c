"""The golden model against hand-computed cases, overflow corners and a loop reference."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import random_bundle
from lwfc import arith, golden, quantize
from lwfc.bundle import DenseLayer, LowRankLayer
from lwfc.errors import LwfcError


def dense(name, w, b, m=None, s=None, scale_out=None):
    w = np.asarray(w, dtype=np.int8)
    out = w.shape[0]
    return DenseLayer(
        name=name,
        weight=w,
        bias=np.asarray(b, dtype=np.int32),
        multiplier=None if m is None else np.asarray(m, dtype=np.int32),
        shift=None if s is None else np.asarray(s, dtype=np.int32),
        weight_scale=np.ones(out, dtype=np.float32),
        input_scale=1.0,
        output_scale=scale_out,
    )


# ------------------------------------------------------------------------ the rounding rule
@pytest.mark.parametrize(
    ("acc", "m", "s", "expected"),
    [
        (5, 1, 1, 3),  # 2.5 -> 3 (ties towards +inf)
        (-5, 1, 1, -2),  # -2.5 -> -2
        (-6, 1, 1, -3),
        (7, 1, 2, 2),  # 1.75 -> 2
        (-7, 1, 2, -2),  # -1.75 -> -2
        (6, 1, 2, 2),  # 1.5 -> 2
        (-6, 1, 2, -1),  # -1.5 -> -1
        (1000, 16384, 15, 500),  # * 0.5
        (2**26, 2**15 - 1, 40, 2),  # largest product: 2**26 * 32767 / 2**40 = 1.99997 -> 2
        (-(2**26), 2**15 - 1, 40, -2),
        (123456, 0, 20, 0),  # zero multiplier
    ],
)
def test_requantize_hand_cases(acc, m, s, expected):
    assert int(arith.requantize(np.array([acc]), m, s)[0]) == expected


def test_requantize_matches_exact_rational_rounding():
    rng = np.random.default_rng(1)
    acc = rng.integers(-(2**26), 2**26, 5000)
    m = rng.integers(0, 2**15, 5000)
    s = rng.integers(1, 41, 5000)
    got = arith.requantize(acc, m, s)
    import math
    from fractions import Fraction

    for a, mm, ss, g in zip(acc[:500], m[:500], s[:500], got[:500], strict=True):
        exact = Fraction(int(a) * int(mm), 2 ** int(ss))
        assert g == math.floor(exact + Fraction(1, 2))


@pytest.mark.parametrize("real", [1e-9, 1e-5, 0.0123, 0.5, 0.75, 1.0, 3.3, 1000.0, 16383.0])
def test_quantize_multiplier_precision(real):
    m, s = arith.quantize_multiplier(real)
    assert arith.SHIFT_MIN <= s <= arith.SHIFT_MAX
    assert 0 <= m <= arith.MULT_MAX
    if s < arith.SHIFT_MAX:
        assert 2**14 <= m < 2**15
        assert abs(m / 2**s - real) <= real * 2**-15
    else:
        assert abs(m / 2**s - real) <= 2**-41


def test_quantize_multiplier_rejects_bad_values():
    for bad in (-1.0, float("nan"), float("inf"), 2.0**14):
        with pytest.raises(ValueError):
            arith.quantize_multiplier(bad)
    assert arith.quantize_multiplier(0.0) == (0, arith.SHIFT_MAX)


# --------------------------------------------------------------------- hand-computed network
def test_tiny_dense_network_by_hand():
    # x = [10, 20]; layer 1: W = [[1, 2], [-3, 1]], b = [5, 0], M/2^S = 1/2 (16384/2^15)
    # acc = [5 + 10 + 40, -30 + 20] = [55, -10]; requant: (55*16384 + 2^14) >> 15 = 28 (27.5 -> 28),
    # (-10 * 0.5) = -5 -> ReLU 0.  layer 2: W = [[1, 1], [2, -1]], b = [0, 1]
    # logits = [28, 56 + 1] = [28, 57] -> class 1
    l1 = dense("a", [[1, 2], [-3, 1]], [5, 0], [16384, 16384], [15, 15], 1.0)
    l2 = dense("b", [[1, 1], [2, -1]], [0, 1])
    from lwfc.bundle import Bundle

    b = Bundle(layers=[l1, l2])
    x = np.array([[10, 20]], dtype=np.uint8)
    outs = golden.layer_outputs(b, x)
    assert outs[0].tolist() == [[28, 0]]
    assert outs[1].tolist() == [[28, 57]]
    assert golden.predict(b, x).tolist() == [1]


def test_saturation_to_uint8():
    l1 = dense("a", [[127, 127]], [0], [2**14], [14], 1.0)  # multiplier 1.0
    l2 = dense("b", [[1]], [0])
    from lwfc.bundle import Bundle

    b = Bundle(layers=[l1, l2])
    assert golden.layer_outputs(b, np.array([[255, 255]], np.uint8))[0].tolist() == [[255]]
    assert golden.layer_outputs(b, np.array([[1, 0]], np.uint8))[0].tolist() == [[127]]


def test_lowrank_by_hand_with_latent_clamp():
    # x = [100, 50]; U = [[2, 1], [-1, -3]] -> zacc = [250, -250]; Mu/2^Su = 1/2 -> z = [125, -125]
    # second row with multiplier 1 instead -> z = [250 -> 127, -250 -> -128]
    u = np.array([[2, 1], [-1, -3]], np.int8)
    v = np.array([[1, 0], [1, 1], [0, -1]], np.int8)
    layer = LowRankLayer(
        name="lr",
        u=u,
        v=v,
        u_multiplier=np.array([2**14, 2**14], np.int32),
        u_shift=np.array([14, 14], np.int32),
        bias=np.array([0, 3, 0], np.int32),
        multiplier=None,
        shift=None,
        u_scale=np.ones(2, np.float32),
        v_scale=np.ones(3, np.float32),
        input_scale=1.0,
        latent_scale=1.0,
        output_scale=None,
    )
    from lwfc.bundle import Bundle

    b = Bundle(layers=[layer])
    outs = golden.layer_outputs(b, np.array([[100, 50]], np.uint8))
    assert outs[0].tolist() == [[127, -128]]
    assert outs[1].tolist() == [[127, 127 - 128 + 3, 128]]
    assert golden.predict(b, np.array([[100, 50]], np.uint8)).tolist() == [2]


def test_overflow_corner_full_first_layer():
    # All 784 inputs 255 with all weights +127 / -127 and the largest bias: the documented bound.
    w = np.full((2, 784), 127, np.int8)
    w[1] = -127
    bias = [arith.BIAS_MAX, -arith.BIAS_MAX]
    l1 = dense("a", w, bias)
    from lwfc.bundle import Bundle

    logits = golden.forward(Bundle(layers=[l1]), np.full((1, 784), 255, np.uint8))
    expected = arith.BIAS_MAX + 784 * 255 * 127
    assert logits.tolist() == [[expected, -expected]]
    assert expected == 33_778_447 < 2**26
    assert arith.acc_bound(784, 255) == expected


def test_argmax_ties_go_to_lowest_index():
    l1 = dense("a", np.zeros((4, 3), np.int8), [5, 7, 7, 7])
    from lwfc.bundle import Bundle

    assert golden.predict(Bundle(layers=[l1]), np.zeros((1, 3), np.uint8)).tolist() == [1]


# ------------------------------------------------------------ against a loop reference
def loop_reference(bundle, image):
    """The contract written out with Python integers, one value at a time."""
    x = [int(v) for v in image]
    for li, layer in enumerate(bundle.layers):
        last = li == len(bundle.layers) - 1

        def rq(acc, m, s):
            return (acc * int(m) + (1 << (int(s) - 1))) >> int(s)

        if isinstance(layer, LowRankLayer):
            z = []
            for k in range(layer.rank):
                acc = sum(x[i] * int(layer.u[k, i]) for i in range(len(x)))
                z.append(min(max(rq(acc, layer.u_multiplier[k], layer.u_shift[k]), -128), 127))
            x, w = z, layer.v
        else:
            w = layer.weight
        out = []
        for o in range(w.shape[0]):
            acc = int(layer.bias[o]) + sum(x[i] * int(w[o, i]) for i in range(len(x)))
            out.append(
                acc if last else min(max(rq(acc, layer.multiplier[o], layer.shift[o]), 0), 255)
            )
        x = out
    return x


@pytest.mark.parametrize("lowrank", [None, {0: 12}, {1: 7, 2: 4}])
def test_golden_matches_loop_reference(lowrank):
    bundle = random_bundle(3, sizes=(64, 20, 16, 10), lowrank=lowrank)
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (25, 64), dtype=np.uint8)
    images[0] = 255
    images[1] = 0
    logits = golden.forward(bundle, images)
    for img, row in zip(images, logits, strict=True):
        assert row.tolist() == loop_reference(bundle, img)


def test_as_pixels_shapes_and_errors():
    img = np.zeros((3, 28, 28), np.uint8)
    assert golden.as_pixels(img).shape == (3, 784)
    assert golden.as_pixels(np.zeros(784, np.uint8)).shape == (1, 784)
    with pytest.raises(LwfcError, match="uint8"):
        golden.as_pixels(np.zeros((3, 784), np.float32))
    with pytest.raises(LwfcError, match="shape"):
        golden.as_pixels(np.zeros((3, 783), np.uint8))


def test_quantized_layer_tracks_float_layer():
    rng = np.random.default_rng(5)
    w = rng.normal(0, 0.05, (30, 784))
    b = rng.normal(0, 0.1, 30)
    layer = quantize.quantize_dense("fc", w, b, 1 / 255, 0.02)
    x = rng.integers(0, 256, (200, 784)).astype(np.uint8)
    real = np.maximum(x / 255 @ w.T + b, 0)
    got, _ = golden.layer_forward(layer, x.astype(np.int64))
    expect = np.clip(np.round(real / 0.02), 0, 255)
    assert np.max(np.abs(got - expect)) <= 1
