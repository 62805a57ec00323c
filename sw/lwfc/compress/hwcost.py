"""Hardware-aware cost of a bundle: weights, on-chip memory bytes and predicted cycles per image.

The search ranks candidates by the E-score (accuracy vs weights removed) *and* by what they cost
the accelerator (the idea of seed 002: count memory as well as arithmetic):

* ``weights_nonzero``: the weights that carry information (pruned zeros and low-rank savings
  both count as removed, ``Bundle.weights_removed``).
* ``bram_bytes``: what the layer memories hold. The accelerator stores every weight of a layer
  densely (a pruned zero still occupies its int8 slot; it only saves memory once a sparse format
  exists), so this is ``weights_stored`` bytes plus the per-row parameters: int32 bias (4 bytes)
  and the requantization pair ``M`` (15 bits) / ``S`` (6 bits) packed in 4 bytes, for every
  output row and every low-rank latent row.
* ``cycles``: predicted clock cycles per image. If the accelerator package ``lwfc_hw`` exposes a
  cycle model (a function ``predict_cycles(bundle) -> int`` in ``lwfc_hw`` or
  ``lwfc_hw.cycles``/``lwfc_hw.perf``), it is used; until then the estimate is
  ``sum over stages ceil(MACs / lanes)`` (dense arithmetic, zeros are not skipped).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

from ..bundle import Bundle, LowRankLayer

#: Bytes per stored per-row parameter group.
BIAS_BYTES = 4
REQUANT_BYTES = 4
#: MAC lanes assumed by the fallback cycle estimate (one multiply-accumulate per cycle).
DEFAULT_LANES = 1

_CYCLE_MODULES = ("lwfc_hw", "lwfc_hw.cycles", "lwfc_hw.perf", "lwfc_hw.model")
_CYCLE_FUNCS = ("predict_cycles", "cycles_per_image")


def hw_cycle_model() -> Callable[[Bundle], int] | None:
    """The accelerator's cycle model from ``lwfc_hw`` if one exists, else ``None``."""
    for module_name in _CYCLE_MODULES:
        try:
            module = importlib.import_module(module_name)
        except Exception:
            continue
        for func in _CYCLE_FUNCS:
            fn = getattr(module, func, None)
            if callable(fn):
                return fn
    return None


def stage_macs(bundle: Bundle) -> list[int]:
    """MACs per compute stage (a low-rank layer has two: DCL ``rank*in``, DIL ``out*rank``)."""
    stages = []
    for layer in bundle.layers:
        if isinstance(layer, LowRankLayer):
            stages.append(layer.rank * layer.in_features)
            stages.append(layer.out_features * layer.rank)
        else:
            stages.append(layer.out_features * layer.in_features)
    return stages


def bram_bytes(bundle: Bundle) -> int:
    """Bytes of weights (dense storage, int8) plus per-row bias and requant parameters."""
    total = 0
    for layer in bundle.layers:
        total += layer.weights_stored
        total += BIAS_BYTES * layer.out_features
        if layer.relu:
            total += REQUANT_BYTES * layer.out_features
        if isinstance(layer, LowRankLayer):
            total += REQUANT_BYTES * layer.rank
    return total


def hardware_cost(
    bundle: Bundle, lanes: int = DEFAULT_LANES, use_hw_model: bool = True
) -> dict[str, Any]:
    """The hardware-aware objectives of ``bundle``.

    Returns:
        ``weights_stored``, ``weights_nonzero``, ``weights_removed`` (vs the dense 45,200),
        ``macs``, ``bram_bytes``, ``cycles`` (per image) and ``cycle_model`` (``"lwfc_hw"`` or
        ``"macs/<lanes>"``).
    """
    if lanes < 1:
        raise ValueError(f"lanes must be >= 1, got {lanes}")
    model = hw_cycle_model() if use_hw_model else None
    if model is not None:
        cycles = int(model(bundle))
        how = "lwfc_hw"
    else:
        cycles = sum(math.ceil(m / lanes) for m in stage_macs(bundle))
        how = f"macs/{lanes}"
    return {
        "weights_stored": bundle.weights_stored,
        "weights_nonzero": bundle.weights_nonzero,
        "weights_removed": bundle.weights_removed(),
        "macs": bundle.macs,
        "bram_bytes": bram_bytes(bundle),
        "cycles": cycles,
        "cycle_model": how,
    }
