"""Integer primitives of the contract ``lwfc-int8-v2`` (see ``docs/arithmetic.md``).

Everything here is exact integer arithmetic on numpy int64; the hardware widths are the
constants below. The golden model (:mod:`lwfc.golden`) is built from these functions only.
"""

from __future__ import annotations

import math

import numpy as np

CONTRACT = "lwfc-int8-v2"
#: Contracts a bundle may name: v2 adds per-layer weight widths and codebooks to v1; the
#: arithmetic of both is the same, so a v1 bundle is a v2 bundle with 8-bit weights.
CONTRACTS = ("lwfc-int8-v1", "lwfc-int8-v2")

#: Input pixels: uint8, real value ``p * INPUT_SCALE``.
INPUT_SCALE = 1.0 / 255.0
#: Symmetric int8 weights use -127 ... 127 (never -128).
WEIGHT_MAX = 127
#: Weight widths a layer may declare (contract v2): 8, 4 (-7 ... 7), 2 = ternary (-1, 0, 1).
WEIGHT_BITS = (2, 3, 4, 5, 6, 7, 8)
#: Most entries of a per-layer weight codebook (its indices are at most 8 bits).
CODEBOOK_MAX = 256


def weight_max(bits: int) -> int:
    """Largest weight code of a ``bits``-bit layer: ``2**(bits - 1) - 1`` (127, 7, 1 for 2)."""
    if bits not in WEIGHT_BITS:
        raise ValueError(f"weight bits must be one of {WEIGHT_BITS}, got {bits}")
    return 2 ** (bits - 1) - 1
#: Hidden activations are uint8.
ACT_MIN, ACT_MAX = 0, 255
#: Low-rank latents are int8.
LATENT_MIN, LATENT_MAX = -128, 127
#: Biases are bounded so that any accumulator fits far inside ACC_BITS (|b| <= 2**23 - 1).
BIAS_MAX = 2**23 - 1
#: Accumulator and logit width in hardware (signed); the proven bound is < 2**26.
ACC_BITS = 32
#: Requantization multiplier width (unsigned), normalised into [2**14, 2**15).
MULT_BITS = 15
MULT_MAX = 2**MULT_BITS - 1
#: Requantization shift width (unsigned) and its legal range.
SHIFT_BITS = 6
SHIFT_MIN, SHIFT_MAX = 1, 40
#: Width of the requantization product ``acc * M + rounding`` in hardware (signed).
PROD_BITS = 48


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Represent a positive real multiplier ``real`` as ``M / 2**S``.

    Returns ``(M, S)`` with ``S`` in ``[SHIFT_MIN, SHIFT_MAX]`` and ``M`` in ``[2**14, 2**15)``
    where the shift range allows it (15 significant bits). Multipliers below
    ``2**14 / 2**40`` keep ``S = 40`` and a smaller ``M`` (0 for a zero multiplier).

    Raises:
        ValueError: for a negative, non-finite or too large (``>= 2**14``) multiplier.
    """
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"requantization multiplier must be finite and >= 0, got {real!r}")
    if real == 0.0:
        return 0, SHIFT_MAX
    exponent = math.floor(math.log2(real))
    shift = (MULT_BITS - 1) - exponent
    if shift < SHIFT_MIN:
        raise ValueError(f"requantization multiplier {real!r} is too large (max {2**14})")
    shift = min(shift, SHIFT_MAX)
    mult = round(real * 2.0**shift)
    if mult > MULT_MAX:  # rounding reached 2**15: one bit less of shift
        shift -= 1
        if shift < SHIFT_MIN:
            raise ValueError(f"requantization multiplier {real!r} is too large (max {2**14})")
        mult = round(real * 2.0**shift)
    return int(mult), int(shift)


def requantize(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``(acc * mult + 2**(shift - 1)) >> shift`` exactly, broadcasting over the last axis.

    Args:
        acc: int64 accumulators, ``|acc| < 2**31``.
        mult: per-row multipliers, 0 ... ``MULT_MAX``.
        shift: per-row shifts, ``SHIFT_MIN`` ... ``SHIFT_MAX``.

    Returns:
        int64 array, the rounded value before any clamp (ties round towards +infinity).
    """
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    rounding = np.left_shift(np.int64(1), shift - 1)
    return np.right_shift(acc * mult + rounding, shift)


def relu_u8(values: np.ndarray) -> np.ndarray:
    """ReLU and saturation to uint8: ``clamp(v, 0, 255)`` (returned as int64)."""
    return np.clip(values, ACT_MIN, ACT_MAX)


def clamp_i8(values: np.ndarray) -> np.ndarray:
    """Saturation of a low-rank latent to int8: ``clamp(v, -128, 127)`` (returned as int64)."""
    return np.clip(values, LATENT_MIN, LATENT_MAX)


def acc_bound(n_inputs: int, input_abs_max: int, bias_abs_max: int = BIAS_MAX) -> int:
    """Worst-case ``|acc|`` of a layer: ``|b|max + n * |x|max * 127`` (see docs/arithmetic.md)."""
    return int(bias_abs_max) + int(n_inputs) * int(input_abs_max) * WEIGHT_MAX


def matmul_exact(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact integer ``x @ w.T`` for ``x`` (N, n) and ``w`` (m, n), returned as int64 (N, m).

    Uses float64 BLAS, which is exact while every partial sum stays below 2**53; the contract's
    bounds (|x| <= 255, |w| <= 127, n <= 2**20) keep them far below, and this is checked.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    n = x.shape[-1]
    if n != w.shape[-1]:
        raise ValueError(f"inner dimensions differ: {x.shape} @ {w.shape}.T")
    xmax = int(np.abs(x).max(initial=0))
    wmax = int(np.abs(w).max(initial=0))
    if n * xmax * wmax >= 2**53:
        raise ValueError("matmul_exact: operands too large for exact float64 accumulation")
    out = x.astype(np.float64) @ w.astype(np.float64).T
    return out.astype(np.int64)
