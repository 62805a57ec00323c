"""The layer-type interface and its registry.

A *layer type* is one layer kind (``LayerShape.kind``: ``"dense"``, ``"lowrank"``) on one
dataflow (:data:`lwfc_hw.plan.DATAFLOWS`: ``"dot"``, ``"broadcast"``). Its class holds
everything the rest of the package needs to know about it, as FINN keeps an op's attributes,
execution, cycles and resources in one class:

* the plan: :meth:`LayerType.engine` (lane mapping and validation) and
  :meth:`LayerType.memories` (its weight banks and tables, in host-port order);
* the weight layout of those memories: :meth:`LayerType.weight_images`;
* the cycle model: :meth:`LayerType.service_cycles` (latencies from :mod:`lwfc_hw.timing`);
* the resource estimate: :meth:`LayerType.multipliers`, :meth:`LayerType.requantizers`;
* the RTL: :meth:`LayerType.blocks` names its engine blocks (MyHDL ``@block`` functions, in
  the layer's module) and their arguments, which ``lwfc_core`` instantiates.

This module imports no MyHDL; the layer modules (:mod:`lwfc_hw.layers.dot_dense` ...) do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..plan import EnginePlan, LayerShape


def pad2d(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``a`` (2-D) zero-padded to ``rows x cols`` (int64)."""
    out = np.zeros((rows, cols), dtype=np.int64)
    out[: a.shape[0], : a.shape[1]] = a
    return out


def rq_words(mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Packed requantization words ``shift << 15 | mult`` (``RQ_BITS`` = 21 bits, int64)."""
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    return (shift << 15) | mult


@dataclass(frozen=True)
class MemRequest:
    """One parameter memory of a layer besides its bias and output-requant tables (which every
    layer has, see :func:`lwfc_hw.plan.plan_core`).

    Attributes:
        suffix: name after the layer prefix (``w3`` -> ``l0_w3``; ``urq`` -> ``l0_urq``).
        role: :class:`lwfc_hw.plan.MemSpec` role (``w``, ``u``, ``v``, ``urq``).
        bank: lane number (0 for a table).
        depth: entries.
        weights: an int8 weight bank (chunked or SPRAM as the plan decides) rather than a
            table of ``width``-bit words.
        width: bits per entry of a table.
        signed: entries of a table are two's complement.
    """

    suffix: str
    role: str
    bank: int
    depth: int
    weights: bool = True
    width: int = 8
    signed: bool = True


@dataclass(frozen=True)
class BlockCall:
    """One block instance of a layer: ``named(name, func(*args, **kwargs))`` in ``lwfc_core``
    (``name`` is the prefix of its signals in the Verilog)."""

    name: str
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


class LayerType:
    """One (layer kind, dataflow): see the module docstring. Subclasses are stateless; the
    registry keeps one instance of each."""

    kind: ClassVar[str]
    dataflow: ClassVar[str]
    #: The service time depends on the image's nonzero inputs (``nnz`` of
    #: :meth:`service_cycles`); else it is a constant of the plan.
    data_dependent: ClassVar[bool] = False
    #: Its input feature memory is the list of the image's nonzero elements
    #: (``FmemPlan.compact``, :func:`lwfc_hw.nzlist.nz_list`) rather than the dense array.
    compact_input: ClassVar[bool] = False
    #: Can requantize ``R > 1`` outputs per cycle (``drain``) when the next layer is broadcast.
    wide_drain: ClassVar[bool] = False

    # ---- plan
    def macs(self, s: LayerShape) -> int:
        """Multiply-accumulates per image of a layer of this kind."""
        raise NotImplementedError

    def validate(self, s: LayerShape) -> None:
        """Raise ValueError for sizes this kind cannot have."""
        if min(s.n_in, s.n_out) < 1:
            raise ValueError(f"layer {s.name}: sizes must be >= 1")

    def engine(self, index: int, s: LayerShape, lanes: int, drain: int,
               rq_stages: int) -> EnginePlan:
        """The layer's :class:`EnginePlan` for ``lanes`` MAC units and drain width ``drain``
        (already checked against :attr:`wide_drain`)."""
        raise NotImplementedError

    def memories(self, e: EnginePlan) -> list[MemRequest]:
        """Its weight banks and tables, in host-port order (before bias and requant)."""
        raise NotImplementedError

    def q_read(self, e: EnginePlan) -> int:
        """Inputs read per step from the layer's input feature memory (its lane count)."""
        return 1

    def map_fields(self, e: EnginePlan) -> dict[str, int]:
        """The lane-mapping entries of the layer in the memory map (``memmap.json``)."""
        raise NotImplementedError

    def weight_images(self, layer: Any, e: EnginePlan) -> dict[str, np.ndarray]:
        """Contents of the memories of :meth:`memories`, keyed by role + bank (``w3``,
        ``urq0``), from a bundle layer (int64 arrays of signed values)."""
        raise NotImplementedError

    # ---- cycle model
    def service_cycles(self, e: EnginePlan, nnz: int | None = None) -> int:
        """Cycles from the engine's first issue to its commit/release; ``nnz``: the image's
        nonzero inputs (data-dependent types; None: all ``n_in``, the worst case)."""
        raise NotImplementedError

    # ---- resources
    def multipliers(self, e: EnginePlan) -> int:
        """MAC (lane) multipliers instantiated."""
        raise NotImplementedError

    def requantizers(self, e: EnginePlan) -> int:
        """Requantizers with a multiplier (hidden outputs, low-rank latents; two DSP blocks
        each, :data:`lwfc.fpga.REQUANT_DSPS`); a logit output has none."""
        return int(e.shape.hidden) * e.R

    def internal_memories(self, e: EnginePlan) -> list[tuple[str, int, int]]:
        """``(name, depth, width)`` of the engine's own memories that the host cannot see
        (for the block-RAM estimate); none by default."""
        return []

    # ---- RTL
    def blocks(self, e: EnginePlan, plan: Any, ports: dict[str, Any]) -> list[BlockCall]:
        """The engine block(s) of the layer, in instantiation order, with the signals between
        them made here; ``lwfc_core`` calls each (MyHDL accepts sub-blocks only when the
        block function itself calls them, so this returns the calls instead of making them).

        ``ports``: ``clk, rst, start, done, rd_en, rd_addr, x`` (the input feature memory's
        read lanes), ``count`` and ``lcount`` (nonzero-list entries, in total and per
        lane, broadcast only), the output
        ``ov, oidx, y``, the host port ``h_sel, h_we, h_addr, h_wdata``, ``rb`` (readback
        signal per memory) and ``hown`` (see :func:`lwfc_hw.memories.param_ram`)."""
        raise NotImplementedError


_REGISTRY: dict[tuple[str, str], LayerType] = {}


def register(cls: type[LayerType]) -> type[LayerType]:
    """Class decorator: make ``cls`` the layer type of its ``(kind, dataflow)``."""
    key = (cls.kind, cls.dataflow)
    if key in _REGISTRY:
        raise ValueError(f"layer type {key} registered twice")
    _REGISTRY[key] = cls()
    return cls


def registered() -> dict[tuple[str, str], LayerType]:
    """Every registered layer type by ``(kind, dataflow)``."""
    return dict(_REGISTRY)


def layer_type(kind: str, dataflow: str) -> LayerType:
    """The layer type of ``(kind, dataflow)``; ValueError for an unknown one."""
    try:
        return _REGISTRY[(kind, dataflow)]
    except KeyError:
        kinds = sorted({k for k, _ in _REGISTRY})
        if kind not in kinds:
            raise ValueError(f"unknown kind {kind!r} (known: {', '.join(kinds)})") from None
        raise ValueError(f"no {dataflow!r} dataflow for {kind!r} layers") from None


def of(e: EnginePlan) -> LayerType:
    """The layer type of an engine plan."""
    return layer_type(e.kind, e.dataflow)
