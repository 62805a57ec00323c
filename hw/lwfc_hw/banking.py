"""Memory images: how a bundle's tensors are laid out in the RTL's weight banks, bias and
requantization memories (the weight banks' layout is each layer type's ``weight_images``,
:mod:`lwfc_hw.layers`; bias and requant tables are here).

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

from .ecp5_bram import dp16kd_mode, fill_initvals
from .layers.base import rq_words
from .plan import CorePlan, EnginePlan, MemSpec


def layer_images(layer: Any, e: EnginePlan) -> dict[str, np.ndarray]:
    """Per-role images of one layer, keyed by memory role + bank (``w3``, ``bias``, ...).

    The weight banks' and tables' layout is the layer type's
    (:meth:`lwfc_hw.layers.LayerType.weight_images`); bias and requant tables are the same
    for every type. Values are Python-int-valued int64 arrays (signed values as signed
    numbers).
    """
    s = e.shape
    out = dict(e.layer_type.weight_images(layer, e))
    R = e.R
    bias = np.asarray(layer.bias, dtype=np.int64)
    rq = rq_words(layer.multiplier, layer.shift) if s.hidden else None
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


def fill_prim_contents(bundle: Any, plan: CorePlan, verilog: str | os.PathLike) -> None:
    """Write the contents of ``plan.prim_mems`` (ECP5 DP16KD instances) into the converted
    Verilog file ``verilog`` as their ``INITVAL`` parameters (:mod:`lwfc_hw.ecp5_bram`); the
    other memories keep their ``$readmemh`` files (:func:`write_hex_files`)."""
    if not plan.prim_mems:
        return
    images = memory_images(bundle, plan)
    contents = {m.name: (to_unsigned(images[m.name], m.width), m.width,
                         dp16kd_mode(m.depth, m.width)) for m in plan.prim_mems}
    path = Path(verilog)
    path.write_text(fill_initvals(path.read_text(), contents))


def host_writes(bundle: Any, plan: CorePlan) -> Iterator[tuple[int, int, int]]:
    """``(sel, addr, data)`` host-port writes that load ``bundle`` into a running core.

    ``data`` is the unsigned ``width``-bit encoding (the host bus is 32 bits wide).
    """
    images = memory_images(bundle, plan)
    for m in plan.mems:
        u = to_unsigned(images[m.name], m.width)
        for addr, value in enumerate(u):
            yield m.sel, addr, int(value)
