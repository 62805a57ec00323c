"""Weight storage of a bundle in bytes: everything needed to rebuild the weights.

Per dense layer the cheapest of three encodings of its integer weights is counted:

* **dense**: every weight as a code of ``b`` bits (``b`` = the layer's ``weight_bits``; a
  ternary layer packs 5 codes per byte, ``log2 3`` bits each; with a codebook of ``K``
  entries (plus 0 if any weight is 0), ``ceil(log2 K)``-bit indices);
* **bitmap**: one bit per position (kept or zero) plus the nonzero weights' codes;
* **relative index** (Deep Compression): per nonzero weight its code and the gap to the
  previous one in ``r`` bits (best ``r`` of 1 ... 8), a filler zero where a gap exceeds
  ``2**r - 1``.

In the two sparse encodings a code only has to tell the nonzero values apart: a ternary
weight's sign (1 bit), a codebook index among the ``K`` nonzero entries (``ceil(log2 K)``
bits); an ``int-b`` code keeps its ``b`` bits (a filler of the relative index is a code of
0, so ternary and codebook layers keep their dense code width there).

A codebook adds its entries (1 byte each). A low-rank layer's factors count as two dense
int8 matrices. Biases (int32) and the per-row requantization constants (15-bit multiplier,
6-bit shift: 3 bytes a row) are reported beside the weight storage, not in it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..bundle import Bundle, DenseLayer


def _code_bits(layer: DenseLayer) -> tuple[float, float, int]:
    """Bits per code in the dense encoding (zeros included), bits per nonzero code of the
    bitmap encoding, and codebook bytes."""
    w = np.asarray(layer.weight)
    if layer.codebook is not None:
        nonzero = int(np.count_nonzero(np.asarray(layer.codebook)))
        entries = len(layer.codebook) + int(np.any(w == 0) and nonzero == len(layer.codebook))
        dense = float(max(1, math.ceil(math.log2(max(entries, 2)))))
        return dense, float(max(1, math.ceil(math.log2(max(nonzero, 2))))), len(layer.codebook)
    if layer.weight_bits == 2:
        return math.log2(3), 1.0, 0
    return float(layer.weight_bits), float(layer.weight_bits), 0


def _matrix_bits(w: np.ndarray, bits: float, nz_bits: float | None = None) -> tuple[float, str]:
    """Cheapest encoding of one integer matrix whose codes take ``bits`` bits (``nz_bits``
    for a nonzero code in the bitmap encoding; default ``bits``)."""
    flat = np.asarray(w).reshape(-1)
    n = flat.size
    nz = np.flatnonzero(flat)
    nzb = bits if nz_bits is None else nz_bits
    options = {"dense": n * bits, "bitmap": n + len(nz) * nzb}
    if len(nz):
        gaps = np.diff(np.concatenate([[-1], nz]))  # >= 1
        best = math.inf
        for r in range(1, 9):
            cap = 2**r
            fillers = int(np.sum((gaps - 1) // cap))
            best = min(best, (len(nz) + fillers) * (r + bits))
        options["relative"] = best
    kind = min(options, key=lambda k: options[k])
    return options[kind], kind


def weight_storage(bundle: Bundle) -> dict[str, Any]:
    """Bytes to rebuild the weights, per layer and in all, with the other constants beside.

    Returns:
        ``{"weight_bytes", "other_bytes", "layers": [{"name", "encoding", "weight_bytes",
        "codebook_bytes", "bias_bytes", "requant_bytes"}, ...]}``.
    """
    layers = []
    for layer in bundle.layers:
        if isinstance(layer, DenseLayer):
            bits, nz_bits, cb_bytes = _code_bits(layer)
            total, kind = _matrix_bits(layer.weight, bits, nz_bits)
            rows = layer.out_features if layer.relu else 0
        else:
            tu, ku = _matrix_bits(layer.u, 8.0)
            tv, kv = _matrix_bits(layer.v, 8.0)
            total, kind, cb_bytes = tu + tv, f"{ku}+{kv}", 0
            rows = layer.rank + (layer.out_features if layer.relu else 0)
        entry = {
            "name": layer.name,
            "encoding": kind,
            "weight_bytes": math.ceil(total / 8) + cb_bytes,
            "codebook_bytes": cb_bytes,
            "bias_bytes": 4 * layer.out_features,
            "requant_bytes": 3 * rows,
        }
        layers.append(entry)
    return {
        "weight_bytes": sum(e["weight_bytes"] for e in layers),
        "other_bytes": sum(e["bias_bytes"] + e["requant_bytes"] for e in layers),
        "layers": layers,
    }
