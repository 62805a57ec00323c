"""Elaboration plan: everything the RTL, the hex images, the cycle model and the driver derive
from a bundle's manifest and the ``lanes`` parameter.

One :class:`CorePlan` fixes, per layer, how the ``lanes`` MAC units are arranged (``P`` outputs
by ``Q`` inputs per step for a dense engine; ``Qu`` inputs per step in the DCL and ``Pv`` outputs
per step in the DIL of a low-rank layer), the geometry of every feature memory, and the
host-visible memory map (one entry per weight bank / bias / requantization table).

All sizes here are plain integers; nothing depends on weight values, so one plan (and one
compiled simulation) serves every bundle with the same layer shapes. What depends on a layer's
kind and dataflow (its lane mapping, memories, cycles, resources, RTL) is its layer type in
:mod:`lwfc_hw.layers`, found with :func:`lwfc_hw.layers.of`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .ecp5_bram import dp16kd_mode
from .timing import PROD_REGS, PROD_REGS_DSP

#: Pixels per input beat (the input port is ``8 * pixels_per_beat`` bits wide).
DEFAULT_PIXELS_PER_BEAT = 4
#: Width of the host (weight-window) data bus in bits.
HOST_DATA_BITS = 32
#: Width of an accumulator / logit (signed), as in ``arith.ACC_BITS``.
ACC_BITS = 32
#: Width of a packed requantization word: ``shift << 15 | multiplier`` (6 + 15 bits).
RQ_BITS = 21
#: Entries of one weight-bank chunk: a weight bank (role ``w``, ``u``, ``v``; 8-bit entries)
#: deeper than this is split into chunks of at most this depth, each its own memory with its
#: own registered read, so that no read-data multiplexer sits between a block RAM and its
#: first register (2048 x 9 is one ECP5 DP16KD, four iCE40 SB_RAM40_4K).
BANK_CHUNK = 2048
#: Cycles from a host-port address (``h_sel``, ``h_addr``) to its word on ``h_rdata`` (one
#: more under ``bram_prims``: ``CorePlan.readback_latency``).
READBACK_LATENCY = 3
#: Memories per first-level group of the two-level readback multiplexer
#: (``CorePlan.readback_latency``).
READBACK_GROUP = 8
#: Dataflows of a layer engine: ``"dot"`` (each step multiplies ``Q`` consecutive inputs by the
#: weights of ``P`` outputs, every input is read; :mod:`lwfc_hw.layers.dot_dense`,
#: :mod:`~lwfc_hw.layers.dot_lowrank`) and ``"broadcast"`` (each NONZERO input is sent to ``P``
#: output lanes that accumulate ``x[i] * W[:, i]``, so a layer's time follows its nonzero
#: inputs; :mod:`lwfc_hw.layers.bcast_dense`, :mod:`~lwfc_hw.layers.bcast_lowrank`).
DATAFLOWS = ("dot", "broadcast")
#: Requantizer stages (edges from a sampled accumulator to its output), see
#: :func:`lwfc_hw.requant.requant`: 10 (default; the ECP5 boards' 100 MHz), 6 (the same
#: arithmetic with fewer registers, for a slow clock such as the iCE40's 27 MHz) or 5 (6 with
#: one-cycle bias / requant table reads; shared-port plans only).
RQ_STAGES = 10
#: The requantizer depths :func:`lwfc_hw.requant.requant` can build.
RQ_STAGE_CHOICES = (5, 6, 10)
#: ``CorePlan.dsp_prims`` values: inferred multipliers, or ECP5 MULT18X18D instances.
DSP_PRIMS = ("", "ecp5")
#: ``CorePlan.bram_prims`` values: inferred block RAMs, or ECP5 DP16KD instances (with their
#: output registers) for every memory that fits one row of them (``MemSpec.prim``).
BRAM_PRIMS = ("", "ecp5")


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for positive integers."""
    return -(-a // b)


def clog2(n: int) -> int:
    """Bits needed to index ``n`` entries (at least 1)."""
    return max(1, (n - 1).bit_length())


@dataclass(frozen=True)
class LayerShape:
    """The shape of one layer, as read from a bundle manifest.

    Attributes:
        name: layer name in the bundle (e.g. ``"fc1"``).
        kind: ``"dense"`` or ``"lowrank"``.
        n_in: input features (1 ... 1024).
        n_out: output features.
        rank: latent size of a low-rank layer (0 for dense).
        hidden: True for every layer but the last (requantize + ReLU to uint8).
    """

    name: str
    kind: str
    n_in: int
    n_out: int
    rank: int = 0
    hidden: bool = True

    @property
    def macs(self) -> int:
        """Multiply-accumulates per image."""
        from .layers import layer_type

        return layer_type(self.kind, DATAFLOWS[0]).macs(self)


@dataclass(frozen=True)
class MemSpec:
    """One host-visible parameter memory (a block RAM with a registered read port).

    Attributes:
        sel: memory id on the host port (``h_sel``).
        name: unique Verilog name, also the hex file stem (``<name>.hex``).
        layer: index of the layer it belongs to.
        role: ``w`` (dense weights), ``u``/``v`` (low-rank factors), ``urq`` (latent requant),
            ``bias``, ``rq`` (output requant).
        bank: lane number for weight banks, 0 otherwise.
        width: bits per entry (8 for weights, 32 for bias, 21 for requant words).
        signed: whether entries are two's complement.
        depth: entries.
        base: bank address of entry 0 (weight-bank chunks: ``chunk * BANK_CHUNK``; else 0).
        chunk: chunk number within its bank (0 for memories that are not split).
        spram: single-port memory with no initial contents (an iCE40 SB_SPRAM256KA, 16K x
            16 bits): one address for the engine's reads and the host's writes and readback,
            loaded through the host port at run time (see :func:`plan_core`). An SPRAM bank
            is never split into chunks (``base == chunk == 0``, ``depth`` = the whole bank).
        prim: ``""`` (an inferred memory with ``$readmemh`` contents) or ``"dp16kd"`` (ECP5
            DP16KD instances using their output registers, :mod:`lwfc_hw.ecp5_bram`; the
            contents are ``INITVAL`` parameters filled in by the FuseSoC generator, so a
            simulation loads them through the host port).
    """

    sel: int
    name: str
    layer: int
    role: str
    bank: int
    width: int
    signed: bool
    depth: int
    base: int = 0
    chunk: int = 0
    spram: bool = False
    prim: str = ""

    @property
    def abits(self) -> int:
        """Address bits of this memory."""
        return clog2(self.depth)

    @property
    def hexfile(self) -> str:
        """File name of its ``$readmemh`` image."""
        return f"{self.name}.hex"


@dataclass(frozen=True)
class EnginePlan:
    """How one layer's work is scheduled on its engine(s). The fields are filled by the
    layer's type (:meth:`lwfc_hw.layers.LayerType.engine`, one module per kind and dataflow
    in :mod:`lwfc_hw.layers`); :attr:`layer_type` finds it.

    Dense ``"dot"``: each step multiplies ``Q`` inputs by the weights of ``P`` outputs
    (``P * Q <= lanes`` multipliers); ``G = ceil(n_out / P)`` output groups of
    ``K = ceil(n_in / Q)`` steps each; ``p_last`` outputs in the last group. ``K >= P`` so the
    serial drain of a group always ends before the next group's accumulators are final.

    Low-rank: the DCL computes latent ``k`` in ``Ku = ceil(n_in / Qu)`` steps of ``Qu`` inputs;
    the DIL adds one latent into all ``n_out`` accumulators in ``Tv = ceil(n_out / Pv)`` steps of
    ``Pv`` outputs (lane ``p`` owns outputs ``p * Tv ... p * Tv + Tv - 1``).

    ``dataflow == "broadcast"`` (see :data:`DATAFLOWS`): the input feature memory is a list of
    the nonzero inputs; each step takes one of them and ``P`` output lanes accumulate
    ``x[i] * W[g*P + p, i]`` (``Q == 1``, ``K == n_in``: the weight bank ``p`` of a dense layer
    holds column ``i`` of output group ``g`` at address ``g * n_in + i``, the same layout as a
    ``"dot"`` engine with ``Q = 1``). A low-rank layer does this for its U side with
    ``P == rank`` (one group; bank ``p`` holds ``U[p, :]``), then hands the latents to the
    DIL as the ``"dot"`` dataflow does.
    """

    index: int
    shape: LayerShape
    P: int = 1
    Q: int = 1
    Qu: int = 1
    Pv: int = 1
    dataflow: str = "dot"
    R: int = 1
    rq_stages: int = RQ_STAGES
    #: Edges from a broadcast engine's list address to the entry (:func:`lwfc_hw.nzlist.nz_list`):
    #: 1, the list memory's read register; 2 with ``CorePlan.bram_prims`` (and an output
    #: register: the block RAM's own in an ECP5 DP16KD instance, ``FmemPlan.prim``).
    list_lat: int = 1
    #: Product registers of the engine's MAC array (:func:`lwfc_hw.timing.mac_latency`): 2,
    #: or :data:`lwfc_hw.timing.PROD_REGS_DSP` (3) with ``CorePlan.dsp_prims == "ecp5"``.
    prod_regs: int = PROD_REGS

    @property
    def drain_width(self) -> int:
        """``R``: outputs requantized and written per cycle (``R`` requantizers; bias and
        requant tables in ``R`` banks, bank ``r`` address ``t``: output ``t * R + r``). Only a
        broadcast dense layer feeding a broadcast layer has ``R > 1``."""
        return self.R

    @property
    def kind(self) -> str:
        return self.shape.kind

    @property
    def layer_type(self) -> Any:
        """The :class:`lwfc_hw.layers.LayerType` of this engine's (kind, dataflow)."""
        from .layers import of

        return of(self)

    @property
    def broadcast(self) -> bool:
        """True for the zero-skipping input-broadcast dataflow."""
        return self.dataflow == "broadcast"

    @property
    def q_read(self) -> int:
        """Inputs read per step from this layer's input feature memory (its lane count)."""
        return int(self.layer_type.q_read(self))

    @property
    def G(self) -> int:
        return ceil_div(self.shape.n_out, self.P)

    @property
    def K(self) -> int:
        return ceil_div(self.shape.n_in, self.Q)

    @property
    def p_last(self) -> int:
        return self.shape.n_out - (self.G - 1) * self.P

    @property
    def Ku(self) -> int:
        return ceil_div(self.shape.n_in, self.Qu)

    @property
    def Tv(self) -> int:
        return ceil_div(self.shape.n_out, self.Pv)

    @property
    def multipliers(self) -> int:
        """MAC units instantiated for this layer."""
        return int(self.layer_type.multipliers(self))

    @property
    def requantizers(self) -> int:
        """Requantizers with a multiplier (hidden outputs, low-rank latents)."""
        return int(self.layer_type.requantizers(self))

    @property
    def out_rq_latency(self) -> int:
        """Edges of the requantizer of the layer's output (:func:`lwfc_hw.timing.rq_latency`:
        ``rq_stages``, 2 for the logits in the 5-stage form)."""
        from .timing import rq_latency

        return rq_latency(self.rq_stages, not self.shape.hidden)

    @property
    def internal_memories(self) -> list[tuple[str, int, int]]:
        """``(name, depth, width)`` of the engine's memories outside the host port's map."""
        return list(self.layer_type.internal_memories(self))


@dataclass(frozen=True)
class FmemPlan:
    """A ping-pong feature memory in front of a layer.

    Element ``i`` of an image lives in lane ``i % q`` at address ``i // q`` of the half being
    written; the half is the address MSB. The writer stores up to ``w`` consecutive elements per
    cycle (``w = 1`` between layers; for the image the largest divisor of ``pixels_per_beat``
    that is ``<= q``, so a beat takes ``pixels_per_beat / w`` write cycles).

    ``compact`` (the consumer is a ``"broadcast"`` engine): the memory holds, per half, the
    image's NONZERO elements as ``(index, value)`` entries: nonzero element ``i`` in lane
    ``i % q``, appended at that lane's next address (lanes in index order), and the number of
    entries, in total and per lane; ``q == w`` (the writer stores up to ``w`` elements per
    cycle: one beat per cycle from the loader). An entry keeps ``index >> lane_bits``: the
    lane is the index's low bits when ``q`` is a power of two.
    """

    index: int
    n: int
    q: int
    w: int
    compact: bool = False
    #: ``compact`` lanes built from ECP5 DP16KD instances with the output register
    #: (``"dp16kd"``, see :func:`list_prim`), else ``""`` (inferred).
    prim: str = ""

    @property
    def index_bits(self) -> int:
        """Bits of an element index (``compact`` entries are ``index_bits + 8`` wide)."""
        return clog2(self.n)

    @property
    def lane_bits(self) -> int:
        """Low index bits a ``compact`` lane implies (``log2 q`` for a power of two ``q``,
        else 0: the entry then keeps the whole index)."""
        q = self.q
        return (q - 1).bit_length() if self.compact and q > 1 and q & (q - 1) == 0 else 0

    @property
    def entry_index_bits(self) -> int:
        """Index bits stored in a ``compact`` entry (at least 1)."""
        return max(1, self.index_bits - self.lane_bits)

    @property
    def entry_bits(self) -> int:
        """Width of a lane word: ``{index >> lane_bits, value}`` when ``compact``, else 8."""
        return self.entry_index_bits + 8 if self.compact else 8

    @property
    def depth_half(self) -> int:
        return ceil_div(self.n, self.q)

    @property
    def lane_count_bits(self) -> int:
        """Width of a ``compact`` lane's entry count (0 ... ``depth_half``)."""
        return clog2(self.depth_half + 1)

    @property
    def abits(self) -> int:
        """Address bits inside one half."""
        return clog2(self.depth_half)


@dataclass(frozen=True)
class CorePlan:
    """The complete elaboration plan of one accelerator instance.

    ``shared_port``: every parameter memory has a single read port, addressed by the engine
    while images are in flight and by the host port (``h_addr``) while the core is idle, so
    host readback is valid only while ``idle`` is high. Then a memory with an engine read
    port, a host write port and host readback is one iCE40 SB_RAM40_4K (one read, one write
    port) instead of two. Memories with ``MemSpec.spram`` always work this way.

    ``dsp_prims``: ``""`` (default) leaves the lane multipliers to synthesis; ``"ecp5"``
    makes each one a Lattice ``MULT18X18D`` instance that holds its operand and product
    registers (:func:`lwfc_hw.mac.ecp5_mult`), for ECP5 builds with DSP lane multipliers: the
    DSP sites are fixed, and the routes to and from fabric registers around an unregistered
    DSP were the ULX3S build's critical path. The schedule is the same either way.

    ``bram_prims``: ``""`` (default) leaves the parameter memories to synthesis; ``"ecp5"``
    makes each two-port memory that fits one row of DP16KD an instance with the primitive's
    output register (``MemSpec.prim``), whose clock-to-output is far shorter than that of the
    array Yosys infers (``REGMODE "NOREG"``). Same two-cycle reads either way. It also gives
    the nonzero lists of broadcast layers an output register (``EnginePlan.list_lat`` 2, one
    edge more per broadcast layer), in DP16KD instances where a lane is a block RAM
    (:func:`list_prim`).
    """

    lanes: int
    pixels_per_beat: int
    engines: tuple[EnginePlan, ...]
    fmems: tuple[FmemPlan, ...]
    mems: tuple[MemSpec, ...]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    shared_port: bool = False
    dsp_prims: str = ""
    bram_prims: str = ""

    @property
    def rq_stages(self) -> int:
        """Requantizer stages of every engine (:data:`RQ_STAGE_CHOICES`; one value per core)."""
        return self.engines[0].rq_stages

    @property
    def readback_latency(self) -> int:
        """Edges from a host-port address (``h_sel``, ``h_addr``) to its word on ``h_rdata``:
        :data:`READBACK_LATENCY`, one more with ``bram_prims`` (the readback multiplexer is
        then two registered levels: :data:`READBACK_GROUP` memories, then the groups; with
        100+ block RAMs one level from their outputs was the ULX3S build's critical path)."""
        return READBACK_LATENCY + (1 if self.bram_prims else 0)

    @property
    def spram_mems(self) -> list[MemSpec]:
        """The single-port memories without initial contents (loaded through the host port)."""
        return [m for m in self.mems if m.spram]

    @property
    def prim_mems(self) -> list[MemSpec]:
        """The memories built from primitive instances (contents as parameters, filled in by
        the FuseSoC generator; a simulation loads them through the host port)."""
        return [m for m in self.mems if m.prim]

    @property
    def n_in(self) -> int:
        return self.engines[0].shape.n_in

    @property
    def classes(self) -> int:
        return self.engines[-1].shape.n_out

    @property
    def sel_bits(self) -> int:
        return clog2(len(self.mems))

    @property
    def haddr_bits(self) -> int:
        return max(m.abits for m in self.mems)

    @property
    def beats_per_image(self) -> int:
        return ceil_div(self.n_in, self.pixels_per_beat)

    @property
    def macs(self) -> int:
        return sum(e.shape.macs for e in self.engines)

    def mac_bound(self) -> float:
        """The MAC bound ``sum(MACs) / lanes`` in cycles."""
        return self.macs / self.lanes

    def mems_of(self, layer: int) -> list[MemSpec]:
        return [m for m in self.mems if m.layer == layer]

    def bank_chunks(self, layer: int, role: str, bank: int) -> list[MemSpec]:
        """The chunks of one weight bank (or the one memory of a bias / requant table), in
        address order."""
        return sorted((m for m in self.mems
                       if m.layer == layer and m.role == role and m.bank == bank),
                      key=lambda m: m.chunk)

    def mem(self, name: str) -> MemSpec:
        for m in self.mems:
            if m.name == name:
                return m
        raise KeyError(name)

    def memory_map(self) -> dict[str, Any]:
        """JSON-ready description of the host port (what ``lwfc hdl`` writes to memmap.json)."""
        return {
            "lanes": self.lanes,
            "pixels_per_beat": self.pixels_per_beat,
            "sel_bits": self.sel_bits,
            "addr_bits": self.haddr_bits,
            "data_bits": HOST_DATA_BITS,
            "readback_latency": self.readback_latency,
            "shared_port": self.shared_port,
            "layers": [
                {
                    "index": e.index,
                    "name": e.shape.name,
                    "kind": e.kind,
                    "in": e.shape.n_in,
                    "out": e.shape.n_out,
                    "rank": e.shape.rank,
                    "hidden": e.shape.hidden,
                    "dataflow": e.dataflow,
                    **e.layer_type.map_fields(e),
                }
                for e in self.engines
            ],
            "memories": [
                {
                    "sel": m.sel,
                    "name": m.name,
                    "layer": m.layer,
                    "role": m.role,
                    "bank": m.bank,
                    "width": m.width,
                    "signed": m.signed,
                    "depth": m.depth,
                    "base": m.base,
                    "chunk": m.chunk,
                    "file": m.hexfile,
                    "spram": m.spram,
                    "prim": m.prim,
                }
                for m in self.mems
            ],
        }


# ----------------------------------------------------------------------------- mapping
def _per_layer(value: Any, n: int, name: str) -> list[Any]:
    """``value`` repeated for ``n`` layers, or a sequence of ``n`` per-layer values."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name} has {len(value)} entries for {n} layers")
        return list(value)
    return [value] * n


def plan_core(
    shapes: list[LayerShape],
    lanes: int | Sequence[int],
    pixels_per_beat: int = DEFAULT_PIXELS_PER_BEAT,
    *,
    spram_min_depth: int = 0,
    shared_port: bool = False,
    dataflow: str | Sequence[str] = "dot",
    drain: int | Sequence[int] = 1,
    rq_stages: int = RQ_STAGES,
    dsp_prims: str = "",
    bram_prims: str = "",
) -> CorePlan:
    """Build the plan for ``shapes`` (input layer first) with ``lanes`` MACs per engine.

    ``drain`` (one value or one per layer): outputs requantized per cycle, ``R`` of
    :class:`EnginePlan` (> 1 only for a broadcast dense hidden layer followed by a broadcast
    layer, dividing ``P`` and the last group's outputs).

    ``lanes`` and ``dataflow`` (:data:`DATAFLOWS`) are one value for every layer or one per
    layer; each layer's type (:func:`lwfc_hw.layers.layer_type`) maps its lanes: a ``"dot"``
    dense layer gets the ``(P, Q)`` of :func:`lwfc_hw.layers.dot_dense.choose_dense_mapping`,
    a ``"broadcast"`` dense layer ``P = min(lanes, n_out)`` output lanes, a ``"broadcast"``
    low-rank layer ``P = rank`` U lanes and the DIL of ``lanes`` lanes.
    ``CorePlan.lanes`` is the largest per-layer value.

    ``spram_min_depth``: weight banks (roles ``w``, ``u``, ``v``) of at least this many
    entries become single-port memories without initial contents (``MemSpec.spram``: iCE40
    SPRAM, loaded at run time through the host port), one memory per bank (SPRAM blocks are
    16K entries deep and Yosys cascades them, so such a bank is not split into
    ``BANK_CHUNK`` chunks); 0 (default) keeps every memory in block RAM, weight banks in
    chunks. ``shared_port``: see :class:`CorePlan` (required with ``spram_min_depth``).
    ``rq_stages``: the requantizers' depth, one of :data:`RQ_STAGE_CHOICES` (stored in every
    :class:`EnginePlan`; the cycle model reads it from there). ``dsp_prims``,
    ``bram_prims``: see :class:`CorePlan` (one of :data:`DSP_PRIMS`, :data:`BRAM_PRIMS`;
    ``bram_prims`` needs two-port memories, i.e. not ``shared_port``).

    Raises:
        ValueError: for an empty network, a non-positive size or lane count, layers whose
            sizes do not chain, SPRAM memories without ``shared_port``, or an unknown
            ``rq_stages``.
    """
    from .layers import layer_type

    if not shapes:
        raise ValueError("a network needs at least one layer")
    lanes_l = _per_layer(lanes, len(shapes), "lanes")
    flows = _per_layer(dataflow, len(shapes), "dataflow")
    drains = _per_layer(drain, len(shapes), "drain")
    for v in lanes_l:
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"lanes must be >= 1, got {v}")
    for f in flows:
        if f not in DATAFLOWS:
            raise ValueError(f"unknown dataflow {f!r} (use {' or '.join(DATAFLOWS)})")
    if pixels_per_beat < 1:
        raise ValueError(f"pixels_per_beat must be >= 1, got {pixels_per_beat}")
    if spram_min_depth < 0:
        raise ValueError(f"spram_min_depth must be >= 0, got {spram_min_depth}")
    if rq_stages not in RQ_STAGE_CHOICES:
        raise ValueError(f"rq_stages must be one of {RQ_STAGE_CHOICES}, got {rq_stages!r}")
    if dsp_prims not in DSP_PRIMS:
        raise ValueError(f"dsp_prims must be one of {DSP_PRIMS}, got {dsp_prims!r}")
    if bram_prims not in BRAM_PRIMS:
        raise ValueError(f"bram_prims must be one of {BRAM_PRIMS}, got {bram_prims!r}")
    if bram_prims and shared_port:
        raise ValueError("bram_prims needs two-port memories (shared_port=False)")
    if rq_stages == 5 and (not shared_port or dsp_prims):
        raise ValueError("rq_stages=5 (one-cycle table reads) needs shared_port=True and "
                         "inferred multipliers (dsp_prims='')")
    if spram_min_depth and not shared_port:
        raise ValueError("single-port (SPRAM) weight memories need shared_port=True")
    for a, b in itertools.pairwise(shapes):
        if a.n_out != b.n_in:
            raise ValueError(f"layer {b.name} has {b.n_in} inputs but {a.name} gives {a.n_out}")
    engines: list[EnginePlan] = []
    mems: list[MemSpec] = []

    def prim(depth: int, width: int) -> str:
        return "dp16kd" if bram_prims == "ecp5" and dp16kd_mode(depth, width) else ""

    def add(name: str, layer: int, role: str, bank: int, width: int, signed: bool, depth: int):
        depth = max(2, depth)
        mems.append(MemSpec(len(mems), name, layer, role, bank, width, signed, depth,
                            prim=prim(depth, width)))

    def add_bank(name: str, layer: int, role: str, bank: int, depth: int) -> None:
        """An 8-bit signed weight bank of ``depth`` entries: one SPRAM memory when ``depth >=
        spram_min_depth > 0``, else block RAM in chunks of ``BANK_CHUNK``."""
        if 0 < spram_min_depth <= max(2, depth):
            mems.append(MemSpec(len(mems), name, layer, role, bank, 8, True, max(2, depth),
                                spram=True))
            return
        for j in range(ceil_div(max(2, depth), BANK_CHUNK)):
            base = j * BANK_CHUNK
            d = max(2, min(BANK_CHUNK, depth - base))
            mems.append(MemSpec(len(mems), name if j == 0 else f"{name}c{j}", layer, role, bank,
                                8, True, d, base, j, prim=prim(d, 8)))

    for i, s in enumerate(shapes):
        pre = f"l{i}"
        ln, flow = lanes_l[i], flows[i]
        try:
            lt = layer_type(s.kind, flow)
        except ValueError as exc:
            raise ValueError(f"layer {s.name}: {exc}") from None
        lt.validate(s)
        R = drains[i]
        if not isinstance(R, int) or R < 1:
            raise ValueError(f"drain must be >= 1, got {R}")
        if R > 1:
            nxt = flows[i + 1] if i + 1 < len(shapes) else None
            if not (lt.wide_drain and nxt == "broadcast"):
                raise ValueError(f"layer {s.name}: drain {R} needs a broadcast dense layer "
                                 "followed by a broadcast layer")
        e = lt.engine(i, s, ln, R, rq_stages)
        if dsp_prims:
            e = replace(e, prod_regs=PROD_REGS_DSP)
        for m in lt.memories(e):
            if m.weights:
                add_bank(f"{pre}_{m.suffix}", i, m.role, m.bank, m.depth)
            else:
                add(f"{pre}_{m.suffix}", i, m.role, m.bank, m.width, m.signed, m.depth)
        for r in range(R):
            sfx = "" if R == 1 else str(r)
            add(f"{pre}_bias{sfx}", i, "bias", r, ACC_BITS, True, ceil_div(s.n_out, R))
        if s.hidden:
            for r in range(R):
                sfx = "" if R == 1 else str(r)
                add(f"{pre}_rq{sfx}", i, "rq", r, RQ_BITS, False, ceil_div(s.n_out, R))
        engines.append(e)
    fmems = []
    for i, e in enumerate(engines):
        if e.layer_type.compact_input:
            # the list of nonzero inputs: the loader appends one beat per cycle, a layer
            # writer its drain width
            w = pixels_per_beat if i == 0 else engines[i - 1].R
            f = FmemPlan(i, e.shape.n_in, w, w, compact=True)
            if bram_prims:
                # the entries get an output register (two-edge reads)
                f = replace(f, prim=list_prim(f, bram_prims))
                engines[i] = replace(e, list_lat=2)
            fmems.append(f)
        else:
            fmems.append(FmemPlan(i, e.shape.n_in, e.q_read,
                                  _write_width(pixels_per_beat, e.q_read) if i == 0 else 1))
    return CorePlan(max(lanes_l), pixels_per_beat, tuple(engines), tuple(fmems), tuple(mems),
                    shared_port=shared_port, dsp_prims=dsp_prims, bram_prims=bram_prims)


#: Bits below which a list lane stays an inferred memory (LUT RAM) under ``bram_prims``.
LIST_PRIM_MIN_BITS = 2048


def list_prim(f: FmemPlan, bram_prims: str) -> str:
    """``"dp16kd"`` when the lanes of list ``f`` (``2 ** (abits + 1)`` entries of
    ``entry_bits``) are ECP5 block RAMs under ``bram_prims == "ecp5"``: one row of DP16KD of
    at least :data:`LIST_PRIM_MIN_BITS`; else ``""``."""
    depth = 2 ** (f.abits + 1)
    if (bram_prims == "ecp5" and depth * f.entry_bits >= LIST_PRIM_MIN_BITS
            and dp16kd_mode(depth, f.entry_bits)):
        return "dp16kd"
    return ""


def shapes_from_bundle(bundle: Any) -> list[LayerShape]:
    """Read the layer shapes of an :class:`lwfc.bundle.Bundle` (or anything shaped like one)."""
    layers = list(bundle.layers)
    # a dense layer has no latent size (rank 0)
    return [LayerShape(layer.name, layer.kind, layer.in_features, layer.out_features,
                       int(getattr(layer, "rank", 0)), i < len(layers) - 1)
            for i, layer in enumerate(layers)]


def plan_for_bundle(
    bundle: Any,
    lanes: int | Sequence[int],
    pixels_per_beat: int = DEFAULT_PIXELS_PER_BEAT,
    *,
    spram_min_depth: int = 0,
    shared_port: bool = False,
    dataflow: str | Sequence[str] = "dot",
    drain: int | Sequence[int] = 1,
    rq_stages: int = RQ_STAGES,
    dsp_prims: str = "",
    bram_prims: str = "",
    lowrank_dataflow: str = "",
) -> CorePlan:
    """:func:`plan_core` for the layers of ``bundle``; ``lowrank_dataflow`` (one of
    :data:`DATAFLOWS`, or empty) replaces ``dataflow`` for its low-rank layers (a target
    that broadcasts a dense first layer but cannot afford a broadcast low-rank layer's
    ``rank`` multipliers)."""
    shapes = shapes_from_bundle(bundle)
    if lowrank_dataflow:
        if lowrank_dataflow not in DATAFLOWS:
            raise ValueError(f"unknown lowrank_dataflow {lowrank_dataflow!r} (use "
                             f"{' or '.join(DATAFLOWS)})")
        flows = _per_layer(dataflow, len(shapes), "dataflow")
        dataflow = [lowrank_dataflow if sh.kind == "lowrank" else f
                    for sh, f in zip(shapes, flows, strict=True)]
    return plan_core(shapes, lanes, pixels_per_beat,
                     spram_min_depth=spram_min_depth, shared_port=shared_port,
                     dataflow=dataflow, drain=drain, rq_stages=rq_stages,
                     dsp_prims=dsp_prims, bram_prims=bram_prims)


#: Generator parameters of a build target (``fusesoc.core``, ``lwfc_gen``) that shape the
#: plan, with their defaults: lanes (one, or one per layer), beat width, dataflow and drain
#: (one or one per layer), ``dsp`` (1: ECP5 DSP and block-RAM primitives), SPRAM threshold,
#: shared ports, requantizer depth (0: :data:`RQ_STAGES`), the low-rank layers' dataflow
#: (empty: ``dataflow``).
PLAN_PARAMS: dict[str, Any] = {
    "lanes": 8, "pixels_per_beat": DEFAULT_PIXELS_PER_BEAT, "dataflow": "dot", "drain": 1,
    "dsp": 0, "spram_min_depth": 0, "shared_port": 0, "rq_stages": 0, "lowrank_dataflow": "",
}


#: The plan parameters the environment overrides (``LWFC_LANES``, ``LWFC_DATAFLOW``, ...):
#: FuseSoC 2.4 passes no command-line parameters to generators.
ENV_OVERRIDES = ("lanes", "dataflow", "drain", "dsp")


def whole_number(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; ValueError naming parameter ``name`` otherwise."""
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"parameter {name} must be a whole number, got {value!r}") from None
    if out < minimum:
        raise ValueError(f"parameter {name} must be >= {minimum}, got {out}")
    return out


def _items(value: Any) -> list[Any]:
    """A comma-separated string or a sequence as a list of its items."""
    if isinstance(value, (list, tuple)):
        return list(value)
    return [v.strip() for v in str(value).split(",")]


def _whole_list(name: str, value: Any) -> int | list[int]:
    vals = [whole_number(name, v, 1) for v in _items(value)]
    return vals[0] if len(vals) == 1 else vals


def parse_plan_params(raw: dict[str, Any]) -> dict[str, Any]:
    """The :data:`PLAN_PARAMS` of ``raw`` (generator parameters as written in
    ``fusesoc.core`` or the ``LWFC_*`` environment: numbers or strings such as ``"50,50,10"``),
    defaults filled in, normalised: lanes / drain an int or a list of ints, dataflow a name or
    a list, dsp / shared_port bools, the rest ints.

    Raises:
        ValueError: naming the parameter, for a value that is not a whole number (>= 1 for
            lanes, drain and pixels_per_beat) or an unknown dataflow.
    """
    p = {**PLAN_PARAMS, **{k: v for k, v in raw.items() if k in PLAN_PARAMS and v is not None}}
    flows = [str(f) for f in _items(p["dataflow"])]
    bad = [f for f in flows if f not in DATAFLOWS]
    if bad:
        raise ValueError(f"parameter dataflow: unknown {bad[0]!r} (known: {', '.join(DATAFLOWS)})")
    lr_flow = str(p["lowrank_dataflow"] or "")
    if lr_flow and lr_flow not in DATAFLOWS:
        raise ValueError(f"parameter lowrank_dataflow: unknown {lr_flow!r} (known: "
                         f"{', '.join(DATAFLOWS)})")
    return {
        "lanes": _whole_list("lanes", p["lanes"]),
        "pixels_per_beat": whole_number("pixels_per_beat", p["pixels_per_beat"], 1),
        "dataflow": flows[0] if len(flows) == 1 else flows,
        "drain": _whole_list("drain", p["drain"]),
        "dsp": whole_number("dsp", p["dsp"], 0) != 0,
        "spram_min_depth": whole_number("spram_min_depth", p["spram_min_depth"], 0),
        "shared_port": whole_number("shared_port", p["shared_port"], 0) != 0,
        "rq_stages": whole_number("rq_stages", p["rq_stages"], 0),
        "lowrank_dataflow": lr_flow,
    }


def plan_kwargs(params: dict[str, Any], family: str = "") -> dict[str, Any]:
    """:func:`plan_for_bundle` keywords (``lanes`` and ``pixels_per_beat`` included) of a
    build target's generator parameters (raw or :func:`parse_plan_params` output) on a board
    of FPGA ``family`` (``"ecp5"``, ``"ice40"``, ``""`` for none): with ``dsp`` on ECP5 the
    MULT18X18D and DP16KD primitives. The generator and the host drivers both use it, so a
    driver rebuilds exactly the plan a target was built with."""
    p = parse_plan_params(params)
    prims = "ecp5" if p["dsp"] and family == "ecp5" else ""
    out: dict[str, Any] = {k: p[k] for k in ("lanes", "pixels_per_beat", "spram_min_depth",
                                             "shared_port", "dataflow", "drain")}
    if p["rq_stages"]:
        out["rq_stages"] = p["rq_stages"]
    if p["lowrank_dataflow"]:
        out["lowrank_dataflow"] = p["lowrank_dataflow"]
    if prims:
        out["dsp_prims"] = out["bram_prims"] = prims
    return out


def _write_width(beat: int, q: int) -> int:
    """Pixels stored per cycle: the largest divisor of the beat width that is <= q."""
    return max(d for d in range(1, beat + 1) if beat % d == 0 and d <= q)
