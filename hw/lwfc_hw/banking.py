"""Memory images: the one place that knows how a bundle's tensors are laid out in the RTL's
weight banks, bias and requantization memories.

Used by ``lwfc hdl`` (the ``$readmemh`` hex files), by the simulation testbench (run-time weight
loading through the host port) and by the board driver (the same writes over AXI-Lite).

Layouts (see :class:`~lwfc_hw.plan.EnginePlan` for P, Q, G, K, Qu, Ku, Pv, Tv):

* dense weight bank ``p * Q + q``, address ``g * K + c``: ``W[g * P + p, c * Q + q]``;
* DCL bank ``q``, address ``k * Ku + c``: ``U[k, c * Qu + q]`` (``"broadcast"`` low-rank
  layers: bank ``p``, address ``i``: ``U[p, i]``; broadcast dense layers use the dense layout
  with ``Q = 1``: bank ``p``, address ``g * n_in + i``: ``W[g * P + p, i]``);
* DIL bank ``p``, address ``k * Tv + j``: ``V[p * Tv + j, k]``;
* ``bias[o]`` at address ``o``; requantization word ``shift << 15 | multiplier`` at address
  ``o`` (``k`` for the latent table ``urq``); with a drain width ``R > 1`` both tables are
  ``R`` banks: bank ``o % R``, address ``o // R``.

A weight bank deeper than ``plan.BANK_CHUNK`` is held by several memories (chunks): chunk
``j`` holds bank addresses ``base = j * BANK_CHUNK`` onwards. Padding entries (rows or columns
beyond the tensor) are zero.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .plan import CorePlan, EnginePlan, MemSpec


def _pad(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    out = np.zeros((rows, cols), dtype=np.int64)
    out[: a.shape[0], : a.shape[1]] = a
    return out


def _rq_words(mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    return (shift << 15) | mult


def layer_images(layer: Any, e: EnginePlan) -> dict[str, np.ndarray]:
    """Per-role images of one layer, keyed by memory role + bank (``w3``, ``bias``, ...).

    Values are Python-int-valued int64 arrays (signed values as signed numbers).
    """
    s = e.shape
    out: dict[str, np.ndarray] = {}
    if e.kind == "dense":
        w = _pad(np.asarray(layer.weight, dtype=np.int64), e.G * e.P, e.K * e.Q)
        banks = w.reshape(e.G, e.P, e.K, e.Q).transpose(1, 3, 0, 2).reshape(e.P * e.Q, e.G * e.K)
        for b in range(e.P * e.Q):
            out[f"w{b}"] = banks[b]
    else:
        if e.broadcast:
            # broadcast U side: bank p holds row p of U (address i: U[p, i])
            ub = np.asarray(layer.u, dtype=np.int64)
        else:
            u = _pad(np.asarray(layer.u, dtype=np.int64), s.rank, e.Ku * e.Qu)
            ub = u.reshape(s.rank, e.Ku, e.Qu).transpose(2, 0, 1).reshape(e.Qu, s.rank * e.Ku)
        for b in range(len(ub)):
            out[f"u{b}"] = ub[b]
        out["urq0"] = _rq_words(layer.u_multiplier, layer.u_shift)
        v = _pad(np.asarray(layer.v, dtype=np.int64), e.Pv * e.Tv, s.rank)
        vb = v.reshape(e.Pv, e.Tv, s.rank).transpose(0, 2, 1).reshape(e.Pv, s.rank * e.Tv)
        for b in range(e.Pv):
            out[f"v{b}"] = vb[b]
    R = e.R
    bias = np.asarray(layer.bias, dtype=np.int64)
    rq = _rq_words(layer.multiplier, layer.shift) if s.hidden else None
    for r in range(R):
        # drain width R: bank r, address t holds output t * R + r
        out[f"bias{r}"] = bias[r::R]
        if rq is not None:
            out[f"rq{r}"] = rq[r::R]
    return out


def memory_images(bundle: Any, plan: CorePlan) -> dict[str, np.ndarray]:
    """Every host memory's full contents (length ``MemSpec.depth``), keyed by memory name."""
    if len(bundle.layers) != len(plan.engines):
        raise ValueError("bundle and plan have different layer counts")
    images: dict[str, np.ndarray] = {}
    for layer, e in zip(bundle.layers, plan.engines, strict=True):
        per_role = layer_images(layer, e)
        for m in plan.mems_of(e.index):
            data = per_role[f"{m.role}{m.bank}"][m.base : m.base + m.depth]
            full = np.zeros(m.depth, dtype=np.int64)
            full[: len(data)] = data
            images[m.name] = full
    return images


def to_unsigned(values: np.ndarray, width: int) -> np.ndarray:
    """Two's-complement encode ``values`` into ``width``-bit unsigned integers."""
    return np.asarray(values, dtype=np.int64) & ((1 << width) - 1)


def hex_lines(m: MemSpec, values: np.ndarray) -> str:
    """The ``$readmemh`` text of one memory: one entry per line, fixed width."""
    digits = (m.width + 3) // 4
    u = to_unsigned(values, m.width)
    return "".join(f"{int(v):0{digits}x}\n" for v in u)


def write_hex_files(bundle: Any, plan: CorePlan, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``<name>.hex`` for every memory of ``plan`` into ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = memory_images(bundle, plan)
    paths = []
    for m in plan.mems:
        path = out / m.hexfile
        path.write_text(hex_lines(m, images[m.name]))
        paths.append(path)
    return paths


def host_writes(bundle: Any, plan: CorePlan) -> Iterator[tuple[int, int, int]]:
    """``(sel, addr, data)`` host-port writes that load ``bundle`` into a running core.

    ``data`` is the unsigned ``width``-bit encoding (the host bus is 32 bits wide).
    """
    images = memory_images(bundle, plan)
    for m in plan.mems:
        u = to_unsigned(images[m.name], m.width)
        for addr, value in enumerate(u):
            yield m.sel, addr, int(value)
