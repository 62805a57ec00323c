"""Cycle model of ``lwfc_core``: exact cycle counts from the plan alone.

Per-layer service time ``T`` (cycles from the edge at which the engine starts issuing to the
edge at which it commits its output and releases its input) comes from the layer's type
(:meth:`lwfc_hw.layers.LayerType.service_cycles`, latencies in :mod:`lwfc_hw.timing`):

* dot dense (:mod:`lwfc_hw.layers.dot_dense`): ``T = G*K + p_last + 8 + rq_stages +
  tree_levels(Q)`` (``rq_stages`` = 10: 18)
  (``G*K`` issue steps; ``OPERAND_LAT = 4`` edges until a step's operands are at the
  multipliers, ``mac_latency(Q) = 3 + tree_levels(Q)`` to the accumulator (two product
  registers, registered adder tree, accumulator); 1 to the drain register; the ``p_last``
  outputs of the last group drain one per cycle through the ``e.rq_stages``-stage (10 by default)
  requantizer; 1 cycle for ``done``); one edge more in every MAC array with ECP5 DSP
  primitives (``EnginePlan.prod_regs`` 3: a fabric register behind the MULT18X18D);
* dot low-rank (:mod:`lwfc_hw.layers.dot_lowrank`): ``T = Ku + (rank-1) * max(Ku, Tv) + Tv +
  n_out + 13 + 2 * rq_stages + tree_levels(Qu)`` (33 + ... for 10 stages);
* broadcast dense / low-rank (:mod:`lwfc_hw.layers.bcast_dense`,
  :mod:`~lwfc_hw.layers.bcast_lowrank`): data dependent, from the image's nonzero inputs.

Hand-shakes: an L-SCM starts its engine 2 cycles after both its input half is committed and
its output half is free (and 2 cycles after its own previous image ended). The loader stores
an image in ``ceil(n_in / w)`` write cycles after its first beat and accepts the next image's
first beat ``beats * (B / w) + 2`` cycles after this one's. The result streamer sends the
class 2 cycles after the last layer commits, then one beat per cycle.

:func:`schedule` runs this recurrence for N images streamed back to back (input always
valid, output always ready) and returns the cycle of every image's first accepted beat and
first result beat, which the RTL simulation must reproduce exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .plan import CorePlan, EnginePlan, ceil_div

NEG = -(10**18)


def service_cycles(e: EnginePlan, nnz: int | None = None) -> int:
    """Cycles from an engine's first issue to its commit/release (see module docstring).

    ``nnz``: the image's nonzero inputs of this layer, for a data-dependent (``"broadcast"``)
    engine; None means all ``n_in`` (the worst case). Ignored by ``"dot"`` engines. The model
    is the layer type's (:meth:`lwfc_hw.layers.LayerType.service_cycles`)."""
    return int(e.layer_type.service_cycles(e, nnz))


@dataclass(frozen=True)
class Schedule:
    """Cycle numbers (edge indices) of a streamed run of ``n`` images, relative to the first
    image's first accepted input beat (cycle 0)."""

    t_in: tuple[int, ...]
    t_out: tuple[int, ...]

    @property
    def latency(self) -> int:
        """First image: first input beat accepted -> class beat transferred."""
        return self.t_out[0] - self.t_in[0]


def activity(bundle: Any, images: np.ndarray) -> np.ndarray:
    """Nonzero inputs of every layer for every image, int64 ``(N, layers)``: column 0 counts
    the image's nonzero pixels, column ``l`` the nonzero outputs of layer ``l - 1`` (from the
    golden model, :func:`lwfc.golden.layer_forward`). This is what a ``"broadcast"`` engine's
    time depends on."""
    from lwfc import golden

    x = golden.as_pixels(images, bundle.in_features).astype(np.int64)
    cols = []
    for layer in bundle.layers:
        cols.append((x != 0).sum(axis=1))
        x, _ = golden.layer_forward(layer, x)
    return np.stack(cols, axis=1).astype(np.int64)


def schedule(plan: CorePlan, n: int, act: np.ndarray | Sequence[Sequence[int]] | None = None
             ) -> Schedule:
    """Exact input / output cycles of ``n`` images streamed back to back (see module doc).

    ``act``: ``(n, layers)`` nonzero inputs per image and layer (:func:`activity`), needed
    for exact times of ``"broadcast"`` engines; None takes every input as nonzero."""
    L = len(plan.engines)
    if act is not None:
        act = np.asarray(act, dtype=np.int64)
        if act.shape != (n, L):
            raise ValueError(f"activity has shape {act.shape}, expected {(n, L)}")
    const = [None if e.layer_type.data_dependent else service_cycles(e) for e in plan.engines]

    def service(layer: int, k: int) -> int:
        c = const[layer]
        if c is not None:
            return c
        return service_cycles(plan.engines[layer], None if act is None else act[k, layer])
    f0 = plan.fmems[0]
    B = plan.pixels_per_beat
    load_steps = plan.beats_per_image * (B // f0.w)
    store = ceil_div(plan.n_in, f0.w)
    C = plan.classes
    A: list[int] = []  # first beat accepted
    D = [[NEG] * n for _ in range(L)]  # commit/release edge of layer l for image k
    R: list[int] = []  # result half released (last beat loaded)
    out: list[int] = []

    def d(layer: int, k: int) -> int:
        return D[layer][k] if k >= 0 else NEG

    for k in range(n):
        # the loader re-arms after the previous image's last write step, once its next half
        # has been released by layer 0 (image k-2 done)
        a = 0 if k == 0 else max(A[k - 1] + load_steps, d(0, k - 2)) + 2
        A.append(a)
        commit = a + store
        for layer in range(L):
            ready = commit if layer == 0 else D[layer - 1][k]
            # the output half is free once the next stage is done with image k-2
            last_free = R[k - 2] if k >= 2 else NEG
            free = last_free if layer == L - 1 else d(layer + 1, k - 2)
            start = max(ready, free, d(layer, k - 1)) + 2
            D[layer][k] = start + service(layer, k)
        g = max(D[L - 1][k], R[k - 1] if k >= 1 else NEG) + 1
        out.append(g + 2)
        R.append(g + C + 1)
    return Schedule(tuple(A), tuple(out))


@dataclass(frozen=True)
class CycleReport:
    """Predicted performance of one plan.

    Attributes:
        latency: cycles from an image's first input beat to its class beat, pipeline empty.
        interval: steady-state cycles between consecutive results when streaming.
        mac_bound: ``sum(MACs) / lanes``.
        service: per-layer service times.
    """

    latency: int
    interval: int
    mac_bound: float
    service: tuple[int, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "latency_cycles": self.latency,
            "interval_cycles": self.interval,
            "mac_bound_cycles": round(self.mac_bound, 2),
            "layer_service_cycles": list(self.service),
        }


def report(plan: CorePlan, warmup: int = 12) -> CycleReport:
    """Latency and steady-state interval of ``plan`` (broadcast engines: every input
    nonzero, their worst case; see :func:`stream_report` for a data set)."""
    sched = schedule(plan, warmup + 4)
    tail = sched.t_out[warmup:]
    gaps = {b - a for a, b in itertools.pairwise(tail)}
    # steady state is one constant gap; otherwise report the mean over the window
    interval = gaps.pop() if len(gaps) == 1 else (tail[-1] - tail[0]) // (len(tail) - 1)
    return CycleReport(
        latency=schedule(plan, 1).latency,
        interval=interval,
        mac_bound=plan.mac_bound(),
        service=tuple(service_cycles(e) for e in plan.engines),
    )


@dataclass(frozen=True)
class StreamReport:
    """Data-dependent performance of a plan on a set of images streamed back to back.

    Attributes:
        mean_interval: ``(t_out[-1] - t_out[0]) / (n - 1)``: mean cycles per image.
        mean_latency: mean of ``t_out - t_in`` in the stream (waiting included).
        worst_image: index of the image with the longest steady-state interval alone.
        worst_interval: that interval (the image streamed repeatedly).
        worst_latency: its latency alone (pipeline empty).
        full_interval / full_latency: the same for an image whose inputs are all nonzero
            at every layer (the bound of every broadcast engine; for an all-255 image see
            :func:`image_report`).
    """

    images: int
    mean_interval: float
    mean_latency: float
    worst_image: int
    worst_interval: int
    worst_latency: int
    full_interval: int
    full_latency: int

    def as_dict(self) -> dict[str, object]:
        return {k: (round(v, 2) if isinstance(v, float) else v)
                for k, v in self.__dict__.items()}


def image_report(plan: CorePlan, act_row: Sequence[int], copies: int = 16) -> tuple[int, int]:
    """``(interval, latency)`` of one image's activity streamed ``copies`` times (steady
    state) and alone."""
    rows = np.tile(np.asarray(act_row, dtype=np.int64), (copies, 1))
    s = schedule(plan, copies, rows)
    return s.t_out[-1] - s.t_out[-2], schedule(plan, 1, rows[:1]).latency


def stream_report(plan: CorePlan, act: np.ndarray) -> StreamReport:
    """Mean interval over the images of ``act`` (:func:`activity`), the worst image's interval
    and latency, and the all-nonzero bound."""
    act = np.asarray(act, dtype=np.int64)
    n = len(act)
    if n < 2:
        raise ValueError("a stream report needs at least two images")
    s = schedule(plan, n, act)
    # the slowest image alone: the largest per-layer service time decides its interval
    rows = np.unique(act, axis=0)
    per = np.array([[service_cycles(e, a[i]) for i, e in enumerate(plan.engines)]
                    for a in rows])
    worst_row = rows[int(np.argmax(per.max(axis=1)))]
    worst = int(np.flatnonzero((act == worst_row).all(axis=1))[0])
    wi, wl = image_report(plan, worst_row)
    full = [e.shape.n_in for e in plan.engines]
    fi, fl = image_report(plan, full)
    return StreamReport(
        images=n,
        mean_interval=(s.t_out[-1] - s.t_out[0]) / (n - 1),
        mean_latency=float(np.mean(np.array(s.t_out) - np.array(s.t_in))),
        worst_image=worst,
        worst_interval=wi,
        worst_latency=wl,
        full_interval=fi,
        full_latency=fl,
    )
