"""Automatic folding: choose, per layer, the dataflow and the lanes for a throughput target.

``fold(shapes, act, target_fps, clock_mhz)`` returns the cheapest plan found whose MEAN
streaming interval over the images of ``act`` (their per-layer nonzero inputs,
:func:`lwfc_hw.cycles.activity`) is at most ``clock_mhz * 1e6 / target_fps`` cycles, like
FINN's ``target_fps``. The search is greedy: every layer starts at its cheapest option (one
lane, ``"dot"``); while the exact mean interval (:func:`lwfc_hw.cycles.schedule` on the images)
misses the target, the layer with the longest mean service time moves to its next option,
the one that shortens its mean service time for the smallest extra cost. Options of a layer:
``"dot"`` with ``lanes`` multipliers, ``"broadcast"`` with ``P`` output lanes and a drain width
``R`` (``R > 1`` only when the next layer is broadcast too). Cost: :func:`cost`, multipliers
plus :data:`REQUANT_COST` per requantizer (a requantizer is two DSP blocks and about as much
logic as a few lane multipliers).

The input bound (``ceil(n_in / B)`` beats per image, plus the loader's 2-cycle re-arm) is a
floor no plan can beat: a target below it raises ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cycles import schedule, service_cycles
from .layers import layer_type
from .plan import DEFAULT_PIXELS_PER_BEAT, CorePlan, LayerShape, ceil_div, plan_core

#: Cost of one extra requantizer, in lane multipliers.
REQUANT_COST = 4
#: Lane counts tried for the ``"dot"`` dataflow and output lanes for ``"broadcast"``.
LANE_STEPS = (1, 2, 3, 4, 5, 8, 10, 13, 16, 20, 25, 32, 40, 50, 64, 100, 128)


@dataclass(frozen=True)
class Option:
    """One layer configuration: dataflow, lanes, drain width."""

    dataflow: str
    lanes: int
    drain: int = 1


@dataclass(frozen=True)
class FoldResult:
    """What :func:`fold` chose: the plan, its exact mean interval on the images, the target
    interval and the per-layer options."""

    plan: CorePlan
    mean_interval: float
    target_interval: float
    options: tuple[Option, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "mean_interval_cycles": round(self.mean_interval, 2),
            "target_interval_cycles": round(self.target_interval, 2),
            "layers": [o.__dict__ for o in self.options],
        }


def _options(s: LayerShape) -> list[Option]:
    """Every option of a layer (drain widths are added by :func:`fold` as neighbours allow)."""
    out = [Option("dot", n) for n in LANE_STEPS if n <= max(s.n_in, s.n_out) * 2]
    out += [Option("broadcast", n) for n in LANE_STEPS if n <= s.n_out]
    return out


def cost(plan: CorePlan) -> int:
    """Multipliers plus :data:`REQUANT_COST` per requantizer beyond one per layer."""
    return sum(e.multipliers + REQUANT_COST * (e.R - 1) for e in plan.engines)


def _plan(shapes: list[LayerShape], opts: list[Option], beat: int) -> CorePlan | None:
    try:
        return plan_core(shapes, [o.lanes for o in opts], beat,
                         dataflow=[o.dataflow for o in opts], drain=[o.drain for o in opts])
    except ValueError:
        return None


def _mean_service(plan: CorePlan, act: np.ndarray, layer: int) -> float:
    e = plan.engines[layer]
    if not e.layer_type.data_dependent:
        return float(service_cycles(e))
    vals, counts = np.unique(act[:, layer], return_counts=True)
    return float(sum(service_cycles(e, int(v)) * c for v, c in zip(vals, counts, strict=True))
                 / counts.sum())


def mean_interval(plan: CorePlan, act: np.ndarray) -> float:
    """Exact mean streaming interval of ``plan`` over the images of ``act``."""
    s = schedule(plan, len(act), act)
    return (s.t_out[-1] - s.t_out[0]) / (len(act) - 1)


def fold(shapes: list[LayerShape], act: np.ndarray, target_fps: float, clock_mhz: float = 100.0,
         pixels_per_beat: int = DEFAULT_PIXELS_PER_BEAT, max_rounds: int = 200) -> FoldResult:
    """The cheapest plan found (see the module docstring) whose mean interval over ``act``
    (``(N, layers)``, ``N >= 2``) meets ``target_fps`` images/s at ``clock_mhz``.

    Raises:
        ValueError: a bad argument, a target below the input bound, or no option meeting it.
    """
    act = np.asarray(act, dtype=np.int64)
    if target_fps <= 0 or clock_mhz <= 0:
        raise ValueError("target_fps and clock_mhz must be > 0")
    if act.ndim != 2 or act.shape[1] != len(shapes) or len(act) < 2:
        raise ValueError(f"activity must be (N >= 2, {len(shapes)}), got {act.shape}")
    target = clock_mhz * 1e6 / target_fps
    floor = ceil_div(shapes[0].n_in, pixels_per_beat) + 2
    if target < floor:
        raise ValueError(
            f"{target_fps:g} images/s at {clock_mhz:g} MHz is {target:.1f} cycles per image, "
            f"below the input bound of {floor} cycles ({shapes[0].n_in} pixels at "
            f"{pixels_per_beat} per beat): use a wider beat or a faster clock")
    opts = [Option("dot", 1) for _ in shapes]
    plan = _plan(shapes, opts, pixels_per_beat)
    assert plan is not None
    for _ in range(max_rounds):
        mi = mean_interval(plan, act)
        if mi <= target:
            return FoldResult(plan, mi, target, tuple(opts))
        # the slowest layer on average moves to its best next option
        means = [_mean_service(plan, act, i) for i in range(len(shapes))]
        order = sorted(range(len(shapes)), key=lambda i: -means[i])
        moved = False
        for i in order:
            best = None
            for o in _candidates(shapes, opts, i):
                trial = [*opts[:i], o, *opts[i + 1:]]
                p = _plan(shapes, trial, pixels_per_beat)
                if p is None:
                    continue
                gain = means[i] - _mean_service(p, act, i)
                if gain <= 0:
                    continue
                extra = cost(p) - cost(plan)
                key = (extra / gain if extra > 0 else -gain, cost(p))
                if best is None or key < best[0]:
                    best = (key, trial, p)
            if best is not None:
                opts, plan = best[1], best[2]
                moved = True
                break
        if not moved:
            break
    mi = mean_interval(plan, act)
    if mi <= target:
        return FoldResult(plan, mi, target, tuple(opts))
    raise ValueError(f"no plan found for {target_fps:g} images/s at {clock_mhz:g} MHz "
                     f"(best: {mi:.1f} cycles per image, target {target:.1f})")


def _candidates(shapes: list[LayerShape], opts: list[Option], i: int) -> list[Option]:
    """Options of layer ``i`` to try next: any dataflow / lanes, and wider drains when the
    next layer is broadcast."""
    out = _options(shapes[i])
    nxt = opts[i + 1] if i + 1 < len(opts) else None
    if (nxt is not None and nxt.dataflow == "broadcast"
            and layer_type(shapes[i].kind, "broadcast").wide_drain):
        out += [Option("broadcast", o.lanes, r) for o in out if o.dataflow == "broadcast"
                for r in (2, 5, 10) if o.lanes % r == 0]
    return out
