"""Fake-quantization pieces the compression toolkit needs beyond :mod:`lwfc.qat`.

The int8 weight, bias and uint8 activation fake quantizers are those of :mod:`lwfc.qat`
(re-exported here: there is one quantizer in the project); the signed int8 *latent* quantizer
of a low-rank layer (``docs/arithmetic.md``: ``z`` int8, one scale per layer) is specific to
compression and lives here. All use the straight-through estimator: forward = grid value,
backward = identity (inside the clamp range for activations and latents).
"""

from __future__ import annotations

import torch

from .. import arith
from ..qat import fake_quant_act, fake_quant_bias, fake_quant_weight

__all__ = ["fake_quant_act", "fake_quant_bias", "fake_quant_latent", "fake_quant_weight"]


def fake_quant_latent(z: torch.Tensor, scale: float | torch.Tensor) -> torch.Tensor:
    """Signed int8 fake quantizer of a low-rank latent ``z`` ``(N, rank)`` with real step ``scale``.

    ``scale * clamp(round(z / scale), -128, 127)``; gradient passes where not clamped.
    """
    s = torch.as_tensor(scale, dtype=z.dtype)
    lo, hi = arith.LATENT_MIN * s, arith.LATENT_MAX * s
    zc = torch.maximum(torch.minimum(z, hi), lo)
    q = torch.clamp(torch.round(zc / s), arith.LATENT_MIN, arith.LATENT_MAX) * s
    return zc + (q - zc).detach()
