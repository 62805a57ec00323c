"""Fake-quantization pieces the compression toolkit needs beyond :mod:`lwfc.qat`.

The int8 weight fake quantizer is the one of :mod:`lwfc.qat` when that module provides it (so
there is one quantizer in the project); the signed int8 *latent* quantizer of a low-rank layer
(``docs/arithmetic.md``: ``z`` int8, one scale per layer) is specific to compression and lives
here. All functions use the straight-through estimator: forward = grid value, backward =
identity (inside the clamp range for activations).
"""

from __future__ import annotations

import torch

from .. import arith


def _local_fake_quant_weight(w: torch.Tensor, per_row: bool = True) -> torch.Tensor:
    """Symmetric int8 grid (``max|row| / 127``; per tensor if not ``per_row``), STE."""
    if per_row:
        scale = w.detach().abs().amax(dim=1, keepdim=True) / arith.WEIGHT_MAX
    else:
        scale = w.detach().abs().amax().reshape(1, 1).expand(w.shape[0], 1) / arith.WEIGHT_MAX
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round(w / safe), -arith.WEIGHT_MAX, arith.WEIGHT_MAX) * safe
    q = torch.where(scale > 0, q, torch.zeros_like(q))
    return w + (q - w).detach()


def fake_quant_weight(w: torch.Tensor, per_row: bool = True) -> torch.Tensor:
    """Int8 weight fake quantizer ``(out, in) -> (out, in)`` (per row, or per tensor)."""
    return _local_fake_quant_weight(w, per_row)


def fake_quant_latent(z: torch.Tensor, scale: float | torch.Tensor) -> torch.Tensor:
    """Signed int8 fake quantizer of a low-rank latent ``z`` ``(N, rank)`` with real step ``scale``.

    ``scale * clamp(round(z / scale), -128, 127)``; gradient passes where not clamped.
    """
    s = torch.as_tensor(scale, dtype=z.dtype)
    lo, hi = arith.LATENT_MIN * s, arith.LATENT_MAX * s
    zc = torch.maximum(torch.minimum(z, hi), lo)
    q = torch.clamp(torch.round(zc / s), arith.LATENT_MIN, arith.LATENT_MAX) * s
    return zc + (q - zc).detach()


def fake_quant_act(x: torch.Tensor, scale: float | torch.Tensor) -> torch.Tensor:
    """Unsigned uint8 fake quantizer of a hidden (post-ReLU) activation with real step ``scale``."""
    s = torch.as_tensor(scale, dtype=x.dtype)
    xc = torch.clamp(x, min=0.0)
    xc = torch.minimum(xc, arith.ACT_MAX * s)
    q = torch.round(xc / s) * s
    return xc + (q - xc).detach()
