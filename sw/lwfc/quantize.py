"""From real-valued layers to the integer contract (what export does).

The float-side choices here (scales, rounding of weights and biases) only affect accuracy; the
integer model they produce is executed exactly as ``docs/arithmetic.md`` states.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import arith
from .bundle import Bundle, DenseLayer, LowRankLayer, validate
from .errors import LwfcError


def weight_scales(weight: np.ndarray, per_row: bool = True) -> np.ndarray:
    """Real scale of one int8 step: ``max|w| / 127`` per row (or one shared value), float64.

    All-zero rows (or an all-zero tensor) get 0 here; callers replace it (see quantize_dense).
    """
    w = np.abs(np.asarray(weight, dtype=np.float64))
    if per_row:
        return w.max(axis=1) / arith.WEIGHT_MAX
    return np.full(w.shape[0], w.max(initial=0.0) / arith.WEIGHT_MAX)


def quantize_weight(weight: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """``clamp(round_half_even(w / s_row), -127, 127)`` as int8 ``(out, in)``."""
    w = np.asarray(weight, dtype=np.float64) / np.asarray(scales, dtype=np.float64)[:, None]
    return np.clip(np.rint(w), -arith.WEIGHT_MAX, arith.WEIGHT_MAX).astype(np.int8)


def quantize_bias(bias: np.ndarray, unit: np.ndarray, name: str) -> np.ndarray:
    """``round(b / unit)`` as int32, checked against the contract's bias bound."""
    q = np.rint(np.asarray(bias, dtype=np.float64) / unit)
    if np.any(np.abs(q) > arith.BIAS_MAX):
        raise LwfcError(f"layer {name!r}: a quantized bias exceeds the bound 2**23 - 1")
    return q.astype(np.int32)


def multipliers(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ``(M, S)`` int32 arrays for real multipliers (see arith.quantize_multiplier)."""
    pairs = [arith.quantize_multiplier(float(r)) for r in np.asarray(real, dtype=np.float64)]
    return (
        np.array([p[0] for p in pairs], dtype=np.int32),
        np.array([p[1] for p in pairs], dtype=np.int32),
    )


def _row_scales(weight: np.ndarray, per_row: bool, placeholder: float) -> np.ndarray:
    scales = weight_scales(weight, per_row)
    scales[scales == 0] = placeholder
    return scales


def quantize_dense(
    name: str,
    weight: np.ndarray,
    bias: np.ndarray,
    input_scale: float,
    output_scale: float | None,
    mask: np.ndarray | None = None,
) -> DenseLayer:
    """Quantize a float dense layer ``y = W x + b`` (``weight`` (out, in), ``bias`` (out,)).

    Args:
        input_scale: real value of one input step (1/255 for pixels).
        output_scale: real value of one uint8 output step for a hidden layer; ``None`` for the
            last layer, which keeps int32 logits and uses one weight scale for all rows.
        mask: optional (out, in) 0/1 array of kept weights (pruning); pruned weights become 0.
    """
    matrix, mask = _masked(weight, mask)
    hidden = output_scale is not None
    placeholder = (output_scale / input_scale) if hidden else 1.0  # type: ignore[operator]
    scales = _row_scales(matrix, per_row=hidden, placeholder=placeholder)
    return quantize_dense_codes(
        name, quantize_weight(matrix, scales), scales, bias, input_scale, output_scale, mask=mask
    )


def quantize_dense_codes(
    name: str,
    codes: np.ndarray,
    scales: np.ndarray,
    bias: np.ndarray,
    input_scale: float,
    output_scale: float | None,
    *,
    weight_bits: int = 8,
    codebook: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> DenseLayer:
    """A dense layer from integer weight ``codes`` ``(out, in)`` already on their grid.

    For low-bit and shared weights (contract v2): ``scales`` ``(out,)`` is the real value of
    one code step per row, ``codes`` fit ``weight_bits`` and, with a ``codebook``, are its
    entries (or 0). The bias goes on ``input_scale * scales``; hidden layers get their
    requantization to ``output_scale`` as in :func:`quantize_dense`.
    """
    q = np.asarray(codes)
    if np.any(q != np.rint(q)):
        raise LwfcError(f"layer {name!r}: weight codes must be integers")
    q = q.astype(np.int8)
    scales = np.asarray(scales, dtype=np.float64)
    if mask is not None:
        mask = (np.asarray(mask) != 0).astype(np.uint8)
        q = (q * mask).astype(np.int8)
    b_q = quantize_bias(bias, input_scale * scales, name)
    mult = shift = None
    if output_scale is not None:
        mult, shift = multipliers(input_scale * scales / output_scale)
    return DenseLayer(
        name=name,
        weight=q,
        bias=b_q,
        multiplier=mult,
        shift=shift,
        weight_scale=scales.astype(np.float32),
        input_scale=float(input_scale),
        output_scale=None if output_scale is None else float(output_scale),
        mask=mask,
        weight_bits=int(weight_bits),
        codebook=None if codebook is None else np.asarray(codebook, dtype=np.int8),
    )


def quantize_lowrank(
    name: str,
    u: np.ndarray,
    v: np.ndarray,
    bias: np.ndarray,
    input_scale: float,
    latent_scale: float,
    output_scale: float | None,
    u_mask: np.ndarray | None = None,
    v_mask: np.ndarray | None = None,
) -> LowRankLayer:
    """Quantize float factors of ``y = V (U x) + b`` (``u`` (rank, in), ``v`` (out, rank)).

    ``latent_scale`` is the real value of one int8 step of ``z = U x`` (calibrated, signed).
    """
    u, u_mask = _masked(u, u_mask)
    u_scales = _row_scales(u, per_row=True, placeholder=latent_scale / input_scale)
    u_q = quantize_weight(u, u_scales)
    u_mult, u_shift = multipliers(input_scale * u_scales / latent_scale)
    v_q, v_scales, b_q, mult, shift, v_mask = _output_stage(
        name, v, v_mask, bias, latent_scale, output_scale
    )
    return LowRankLayer(
        name=name,
        u=u_q,
        v=v_q,
        u_multiplier=u_mult,
        u_shift=u_shift,
        bias=b_q,
        multiplier=mult,
        shift=shift,
        u_scale=u_scales.astype(np.float32),
        v_scale=v_scales.astype(np.float32),
        input_scale=float(input_scale),
        latent_scale=float(latent_scale),
        output_scale=None if output_scale is None else float(output_scale),
        u_mask=u_mask,
        v_mask=v_mask,
    )


def build_bundle(
    layers: list[DenseLayer | LowRankLayer],
    name: str = "model",
    dataset: str = "mnist",
    provenance: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    dense_reference: int | None = None,
) -> Bundle:
    """Assemble and validate a bundle from quantized layers (``dense_reference``: see Bundle)."""
    bundle = Bundle(
        layers=list(layers),
        dense_reference=dense_reference,
        name=name,
        dataset=dataset,
        provenance=dict(provenance or {}),
        metrics=dict(metrics or {}),
    )
    validate(bundle)
    return bundle


def _masked(
    matrix: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``matrix`` as float64 with pruned entries zeroed, and the mask as a 0/1 uint8 array."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if mask is None:
        return matrix, None
    mask = (np.asarray(mask) != 0).astype(np.uint8)
    return matrix * mask, mask


def _output_stage(
    name: str,
    matrix: np.ndarray,
    mask: np.ndarray | None,
    bias: np.ndarray,
    input_scale: float,
    output_scale: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any, Any, np.ndarray | None]:
    """Quantize the matrix that produces a layer's output (dense ``W`` or low-rank ``V``).

    Rows get their own int8 scale in a hidden layer and one shared scale in the last layer;
    the bias is quantized on the accumulator's scale ``input_scale * row_scale``, and hidden
    layers get the requantization ``(M, S)`` to ``output_scale``.

    Returns:
        ``(int8 matrix, row scales, int32 bias, multiplier or None, shift or None, mask)``.
    """
    matrix, mask = _masked(matrix, mask)
    hidden = output_scale is not None
    placeholder = (output_scale / input_scale) if hidden else 1.0
    scales = _row_scales(matrix, per_row=hidden, placeholder=placeholder)
    q = quantize_weight(matrix, scales)
    b_q = quantize_bias(bias, input_scale * scales, name)
    mult = shift = None
    if hidden:
        mult, shift = multipliers(input_scale * scales / output_scale)
    return q, scales, b_q, mult, shift, mask
