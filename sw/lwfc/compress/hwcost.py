"""Hardware-aware cost of a bundle: weights, on-chip memory bytes and predicted cycles per image.

The search ranks candidates by the E-score (accuracy vs weights removed) *and* by what they cost
the accelerator (the idea of seed 002: count memory as well as arithmetic):

* ``weights_nonzero``: the weights that carry information (pruned zeros and low-rank savings
  both count as removed, ``Bundle.weights_removed``).
* ``bram_bytes``: what the accelerator's memories hold for this network. The accelerator stores
  every weight of a layer densely (a pruned zero still occupies its int8 slot; only low-rank
  factorisation shrinks memory). With the accelerator package ``lwfc_hw`` present this is the
  sum over its elaboration plan (``lwfc_hw.plan.plan_for_bundle``) of every parameter memory
  (weight banks, bias, requantization tables, padding included) plus the ping-pong feature
  memories; otherwise weights (1 byte) + bias (4 bytes) + requant word (4 bytes) per row.
* ``cycles``: predicted clock cycles per image: the latency of one image through an empty
  pipeline from the exact cycle model ``lwfc_hw.cycles.report`` (``interval_cycles`` is the
  steady-state interval when streaming); without ``lwfc_hw`` the estimate
  ``sum over stages ceil(MACs / lanes)`` (dense arithmetic: zeros are not skipped).

``lanes`` is the accelerator's number of MAC units per engine (its build parameter).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..bundle import Bundle, LowRankLayer

#: Bytes per stored per-row parameter group (fallback estimate without ``lwfc_hw``).
BIAS_BYTES = 4
REQUANT_BYTES = 4
#: MAC lanes per engine assumed for the hardware objectives.
DEFAULT_LANES = 8


def hw_model() -> tuple[Callable[..., Any], Callable[..., Any]] | None:
    """``(plan_for_bundle, report)`` of the accelerator package if importable, else ``None``."""
    try:
        from lwfc_hw.cycles import report
        from lwfc_hw.plan import plan_for_bundle
    except Exception:  # absent or broken hw package: fall back to the estimate
        return None
    return plan_for_bundle, report


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
    """Fallback estimate: int8 weights (dense storage) + per-row bias and requant words."""
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
    """The hardware-aware objectives of ``bundle`` for an accelerator with ``lanes`` MACs.

    Returns:
        ``weights_stored``, ``weights_nonzero``, ``weights_removed`` (vs the dense reference),
        ``macs``, ``bram_bytes``, ``cycles`` (latency per image), ``interval_cycles``
        (streaming), ``lanes`` and ``cycle_model`` (``"lwfc_hw"`` or ``"macs/<lanes>"``).
    """
    if lanes < 1:
        raise ValueError(f"lanes must be >= 1, got {lanes}")
    model = hw_model() if use_hw_model else None
    if model is not None:
        plan_for_bundle, report = model
        plan = plan_for_bundle(bundle, lanes)
        rep = report(plan)
        cycles, interval = int(rep.latency), int(rep.interval)
        param_bits = sum(m.width * m.depth for m in plan.mems)
        feature_bytes = sum(2 * f.q * f.depth_half for f in plan.fmems)
        memory = math.ceil(param_bits / 8) + feature_bytes
        how = "lwfc_hw"
    else:
        cycles = sum(math.ceil(m / lanes) for m in stage_macs(bundle))
        interval = max(math.ceil(m / lanes) for m in stage_macs(bundle))
        memory = bram_bytes(bundle)
        how = f"macs/{lanes}"
    return {
        "weights_stored": bundle.weights_stored,
        "weights_nonzero": bundle.weights_nonzero,
        "weights_removed": bundle.weights_removed(),
        "macs": bundle.macs,
        "bram_bytes": memory,
        "cycles": cycles,
        "interval_cycles": interval,
        "lanes": lanes,
        "cycle_model": how,
    }
