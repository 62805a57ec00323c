"""Low-rank (compressed FC) layers ``y = V (requant(U x))`` on the ``"dot"`` dataflow: the
DCL (U-matrix calculator + DCL-SCM, :func:`dcl`) computes latent ``k`` in ``Ku = ceil(n_in /
Qu)`` steps of ``Qu`` inputs; the DIL (V-matrix calculator + DIL-SCM, :func:`dil`, shared with
:mod:`lwfc_hw.layers.bcast_lowrank`) adds each latent into all ``n_out`` accumulators in
``Tv = ceil(n_out / Pv)`` steps of ``Pv`` outputs (lane ``p`` owns outputs ``p*Tv ... p*Tv +
Tv - 1``).

Cycles: ``Ku + (rank-1) * max(Ku, Tv) + Tv + n_out + 13 + 2 * rq_stages + tree_levels(Qu)``
(the DCL delivers latent ``k`` every ``max(Ku, Tv)`` cycles: ``Ku`` to compute it, or ``Tv``
when the DIL is slower and the DCL waits; the DIL spends ``Tv`` steps on the last latent, then
its ``n_out`` accumulators drain through the requantizer; the constant is the DCL's pipeline
(operands, MAC array, requantizer) plus the DIL's (operands, two product registers, ring,
requantizer)).

Widths: weights and latents int8, DIL products and rings 32-bit signed (``ACC_BITS``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from myhdl import Signal, always, always_comb, block, enum, intbv

from ..mac import mac_array, mac_bits, mac_signal, weight_lane
from ..memories import named
from ..plan import ACC_BITS, RQ_BITS, CorePlan, EnginePlan, LayerShape, ceil_div, clog2
from ..requant import requant
from ..rtl_common import acc_signal, delay_line, uint
from ..timing import DIL_MAC_LAT, OPERAND_LAT, mac_latency
from .base import BlockCall, LayerType, MemRequest, pad2d, register, rq_words

#: DCL-SCM states (paper: idle, compute, multiply, accumulate).
t_dcl = enum("IDLE", "COMPUTE", "MULTIPLY", "ACCUMULATE")
#: DIL-SCM states (paper: idle, run, wait).
t_dil = enum("IDLE", "RUN", "WAIT")


#: Fewest accumulators per DIL lane kept in block RAM instead of registers (see
#: :func:`ring_in_ram`).
RING_RAM_MIN = 16


def ring_in_ram(e: EnginePlan) -> bool:
    """Whether the DIL's ``Pv`` rings of ``Tv`` accumulators are block-RAM circular buffers
    (one ``Tv`` x 32-bit memory per lane, one-cycle reads) rather than shift registers: in the
    slow-clock iCE40 form (``rq_stages == 5``) for rings of at least :data:`RING_RAM_MIN`
    entries. The 50 accumulators of a one-lane DIL are 1,600 flip-flops otherwise, more than a
    quarter of the UP5K's logic cells. Same cycles either way."""
    return e.rq_stages == 5 and e.Tv >= RING_RAM_MIN


def dil_pipe(e: EnginePlan) -> int:
    """Edges of the DIL's pipeline: operands, two product registers and the ring, the
    requantizer of the layer's output (``e.out_rq_latency``)."""
    return OPERAND_LAT + DIL_MAC_LAT + e.out_rq_latency


def v_tables(layer: Any, e: EnginePlan) -> dict[str, np.ndarray]:
    """The latent requant table ``urq0`` and the ``Pv`` V banks (bank ``p`` address
    ``k*Tv + j`` = ``V[p*Tv + j, k]``, zero padded) of a low-rank layer."""
    s = e.shape
    out = {"urq0": rq_words(layer.u_multiplier, layer.u_shift)}
    v = pad2d(np.asarray(layer.v, dtype=np.int64), e.Pv * e.Tv, s.rank)
    vb = v.reshape(e.Pv, e.Tv, s.rank).transpose(0, 2, 1).reshape(e.Pv, s.rank * e.Tv)
    for b in range(e.Pv):
        out[f"v{b}"] = vb[b]
    return out


def v_memories(e: EnginePlan) -> list[MemRequest]:
    """The latent requant table and the V banks, in host-port order after the U banks."""
    s = e.shape
    return [MemRequest("urq", "urq", 0, s.rank, weights=False, width=RQ_BITS, signed=False),
            *(MemRequest(f"v{b}", "v", b, s.rank * e.Tv) for b in range(e.Pv))]


def dil_call(e: EnginePlan, plan: Any, p: dict[str, Any], zv: Any, z: Any,
             accept: Any) -> BlockCall:
    """The DIL block of a low-rank layer (``p``: the ports of
    :meth:`~lwfc_hw.layers.base.LayerType.blocks`), fed by ``(zv, z, accept)``."""
    return BlockCall(f"l{e.index}_dil", dil,
                     (p["clk"], p["rst"], p["start"], p["done"], zv, z, accept, p["ov"],
                      p["oidx"], p["y"], p["h_sel"], p["h_we"], p["h_addr"], p["h_wdata"],
                      p["rb"], e, plan, p["hown"]))


def latent_ports(e: EnginePlan) -> tuple[Any, Any, Any, Any]:
    """The U side -> DIL hand-shake signals ``(zv, z, zidx, accept)``."""
    zv = Signal(bool(0))
    z = Signal(intbv(0, min=-128, max=128))
    zidx = uint(clog2(max(2, e.shape.rank)))
    accept = Signal(bool(0))
    return zv, z, zidx, accept


class LowRank(LayerType):
    """What the low-rank layer types share (the kind's sizes, MACs, the V side)."""

    kind = "lowrank"

    def macs(self, s: LayerShape) -> int:
        return s.rank * (s.n_in + s.n_out)

    def validate(self, s: LayerShape) -> None:
        if min(s.n_in, s.n_out) < 1 or s.rank < 1:
            raise ValueError(f"layer {s.name}: sizes must be >= 1")

    def requantizers(self, e: EnginePlan) -> int:
        # the output's (hidden layers) and the latents'
        return int(e.shape.hidden) * e.R + 1

    def internal_memories(self, e: EnginePlan) -> list[tuple[str, int, int]]:
        # the DIL's rings, when they are memories
        if not ring_in_ram(e):
            return []
        return [(f"l{e.index}_ring{p}", e.Tv, ACC_BITS) for p in range(e.Pv)]


@register
class DotLowRank(LowRank):
    """A low-rank layer on the ``"dot"`` dataflow: DCL + DIL (see the module docstring)."""

    dataflow = "dot"

    def engine(self, index: int, s: LayerShape, lanes: int, drain: int,
               rq_stages: int) -> EnginePlan:
        Tv = ceil_div(s.n_out, min(lanes, s.n_out))
        Ku = ceil_div(s.n_in, min(lanes, s.n_in))
        return EnginePlan(index, s, Qu=ceil_div(s.n_in, Ku), Pv=ceil_div(s.n_out, Tv),
                          rq_stages=rq_stages)

    def memories(self, e: EnginePlan) -> list[MemRequest]:
        s = e.shape
        return [*(MemRequest(f"u{b}", "u", b, s.rank * e.Ku) for b in range(e.Qu)),
                *v_memories(e)]

    def q_read(self, e: EnginePlan) -> int:
        return e.Qu

    def map_fields(self, e: EnginePlan) -> dict[str, int]:
        return {"Qu": e.Qu, "Ku": e.Ku, "Pv": e.Pv, "Tv": e.Tv}

    def weight_images(self, layer: Any, e: EnginePlan) -> dict[str, np.ndarray]:
        # U bank q address k*Ku + c = U[k, c*Qu + q]
        s = e.shape
        u = pad2d(np.asarray(layer.u, dtype=np.int64), s.rank, e.Ku * e.Qu)
        ub = u.reshape(s.rank, e.Ku, e.Qu).transpose(2, 0, 1).reshape(e.Qu, s.rank * e.Ku)
        return {**{f"u{b}": ub[b] for b in range(len(ub))}, **v_tables(layer, e)}

    def service_cycles(self, e: EnginePlan, nnz: int | None = None) -> int:
        # DCL pipeline (operands, MAC array, requantizer) + DIL pipeline (operands, two product
        # registers, ring, requantizer) + the hand-shake cycles
        s = e.shape
        pipes = (OPERAND_LAT + mac_latency(e.Qu, e.prod_regs) + e.rq_stages) + dil_pipe(e)
        return e.Ku + (s.rank - 1) * max(e.Ku, e.Tv) + e.Tv + s.n_out + pipes - 1

    def multipliers(self, e: EnginePlan) -> int:
        return e.Qu + e.Pv

    def blocks(self, e: EnginePlan, plan: Any, ports: dict[str, Any]) -> list[BlockCall]:
        p = ports
        i = e.index
        zv, z, zidx, accept = latent_ports(e)
        host = (p["h_sel"], p["h_we"], p["h_addr"], p["h_wdata"], p["rb"])
        return [
            BlockCall(f"l{i}_dcl", dcl, (p["clk"], p["rst"], p["start"], p["rd_en"],
                                         p["rd_addr"], p["x"], zv, z, zidx, accept, *host, e,
                                         plan, p["hown"])),
            dil_call(e, plan, p, zv, z, accept),
        ]


# ----------------------------------------------------------------------------- RTL
@block
def dcl(clk, rst, start, en, rd_addr, x_lanes, zv, z, zidx, accept, h_sel, h_we, h_addr,
        h_wdata, rb, e: EnginePlan, plan: CorePlan, hown=None):
    """DCL: U-matrix calculator (``Qu`` lanes) and its state control module DCL-SCM.

    Computes latent ``k = 0 ... rank-1`` as ``Ku`` steps of ``Qu`` inputs (U bank address
    ``k*Ku + c``), requantizes it to int8 with ``(Mu[k], Su[k])`` and offers it to the DIL as
    ``(zv, z, zidx)``. The whole pipeline (operand reads, MAC array, requantizer) advances
    only while ``en`` is high; ``en`` drops when a finished latent is waiting and the DIL does
    not ``accept`` it (the DIL is still using the previous one), so a new result never
    overwrites an input in use.

    DCL-SCM: IDLE -> COMPUTE (issuing reads) -> MULTIPLY (last products in flight) ->
    ACCUMULATE (last latent being accumulated, requantized and handed over) -> IDLE.
    """
    s = e.shape
    Qu, Ku, R = e.Qu, e.Ku, s.rank
    sel_bits = plan.sel_bits
    state = Signal(t_dcl.IDLE)
    c = uint(clog2(Ku))
    k = uint(clog2(max(2, R)))
    ua = uint(clog2(max(2, R * Ku)))
    s_v, s_f, s_l, s_last = (Signal(bool(0)) for _ in range(4))
    v_op, f_op, l_op, lastp = (Signal(bool(0)) for _ in range(4))
    k_fin = uint(len(k))
    fin = Signal(bool(0))
    u_lanes = [Signal(intbv(0, min=-128, max=128)) for _ in range(Qu)]
    xd1 = [uint(8) for _ in range(Qu)]
    xd2 = [uint(8) for _ in range(Qu)]
    xd3 = [uint(8) for _ in range(Qu)]
    acc = [mac_signal(mac_bits(s.n_in))]
    mems = {m.role + str(m.bank): m for m in plan.mems_of(e.index) if m.chunk == 0}
    insts = []
    for lane in range(Qu):
        insts.append(named(f"u{lane}", weight_lane(clk, en, ua, u_lanes[lane], h_sel, h_we,
                                                   h_addr, h_wdata, rb,
                                                   plan.bank_chunks(e.index, "u", lane),
                                                   sel_bits, hown)))
    DL = OPERAND_LAT
    insts.append(named("dv", delay_line(clk, rst, en, s_v, v_op, DL)))
    insts.append(named("df", delay_line(clk, None, en, s_f, f_op, DL)))
    insts.append(named("dl", delay_line(clk, None, en, s_l, l_op, DL)))
    insts.append(named("dlast", delay_line(clk, rst, en, s_last, lastp, DL + 1)))
    ML = mac_latency(Qu, e.prod_regs)
    insts.append(named("dk", delay_line(clk, None, en, k, k_fin, DL + ML)))
    insts.append(named("umc", mac_array(clk, rst, en, v_op, f_op, l_op, xd3, u_lanes, acc, fin,
                                        1, Qu, s.n_in, plan.dsp_prims,
                                        prod_regs=e.prod_regs)))
    insts.append(named(
        "requant",
        requant(clk, rst, en, fin, k_fin, acc[0], zv, zidx, z, h_sel, h_we, h_addr, h_wdata, rb,
                None, mems["urq0"], "i8", sel_bits, hown, e.rq_stages, plan.dsp_prims),
    ))
    last_k = R - 1

    @always_comb
    def enable():
        en.next = not (zv and not accept)
        rd_addr.next = c
        s_v.next = state == t_dcl.COMPUTE
        s_f.next = c == 0
        s_l.next = c == Ku - 1
        s_last.next = state == t_dcl.COMPUTE and c == Ku - 1 and k == last_k

    @always(clk.posedge)
    def xdelay():
        if en:
            for q in range(Qu):
                xd1[q].next = x_lanes[q]
                xd2[q].next = xd1[q]
                xd3[q].next = xd2[q]

    @always(clk.posedge)
    def scm():
        # en is always high in IDLE (no latent is waiting then)
        if rst:
            state.next = t_dcl.IDLE
        elif en:
            if state == t_dcl.IDLE:
                if start:
                    state.next = t_dcl.COMPUTE
                    c.next = 0
                    k.next = 0
                    ua.next = 0
            elif state == t_dcl.COMPUTE:
                if c == Ku - 1:
                    c.next = 0
                    if k == last_k:
                        state.next = t_dcl.MULTIPLY
                    else:
                        k.next = k + 1
                        ua.next = ua + 1
                else:
                    c.next = c + 1
                    ua.next = ua + 1
            elif state == t_dcl.MULTIPLY:
                if lastp:
                    state.next = t_dcl.ACCUMULATE
            else:
                if zv and zidx == last_k:
                    state.next = t_dcl.IDLE

    return insts, enable, xdelay, scm


@block
def dil(clk, rst, start, done, zv, z, accept, ov, oidx, y, h_sel, h_we, h_addr, h_wdata, rb,
        e: EnginePlan, plan: CorePlan, hown=None):
    """DIL: V-matrix calculator (``Pv`` lanes) and its state control module DIL-SCM.

    Each latent ``z[k]`` taken from the DCL is multiplied by column ``k`` of V and added into
    all ``n_out`` accumulators in ``Tv`` steps (V bank address ``k*Tv + j``; the V entries and
    the latent reach the multipliers ``OPERAND_LAT`` edges after the step is issued). The
    accumulators are ``Pv`` rings of ``Tv`` registers (lane ``p``, output ``p*Tv + j``).
    After the last latent the rings are shifted out as one chain (outputs in order 0, 1, ...)
    through the requantizer; ``done`` pulses one cycle after the last output.

    With :func:`ring_in_ram` each ring is a memory (:func:`ram_rings`), same behaviour.

    DIL-SCM: IDLE; WAIT (ready for the next latent: takes it, ``accept``, as soon as the DCL
    offers one and issues its first step in the same cycle); RUN (steps 1 ... Tv-1 of the
    latent in use, during which the DCL may not hand over another).
    """
    s = e.shape
    Pv, Tv, R, M = e.Pv, e.Tv, s.rank, s.n_out
    sel_bits = plan.sel_bits
    state = Signal(t_dil.IDLE)
    j = uint(clog2(Tv))
    k = uint(clog2(max(2, R)))
    va = uint(clog2(max(2, R * Tv)))
    zw = Signal(intbv(0, min=-128, max=128))
    zw_op = Signal(intbv(0, min=-128, max=128))
    issue = Signal(bool(0))
    s_fk, s_lt = Signal(bool(0)), Signal(bool(0))
    v_op, fk_op, lt_op = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    v2, fk2, lt2 = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    v3, fk3, lt3 = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    v_lanes = [Signal(intbv(0, min=-128, max=128)) for _ in range(Pv)]
    prod = [acc_signal() for _ in range(Pv)]
    prod2 = [acc_signal() for _ in range(Pv)]
    # the rings: registers, or (ring_in_ram) memories; `tails` are their oldest entries
    in_ram = ring_in_ram(e)
    ring = [] if in_ram else [acc_signal() for _ in range(Pv * Tv)]
    tails = [acc_signal() for _ in range(Pv)] if in_ram else \
        [ring[p * Tv + Tv - 1] for p in range(Pv)]
    dr = Signal(bool(0))
    ob = clog2(max(2, M))
    o = uint(ob)
    mems = {m.role + str(m.bank): m for m in plan.mems_of(e.index) if m.chunk == 0}
    one = Signal(bool(1))
    insts = []
    for lane in range(Pv):
        insts.append(named(f"v{lane}", weight_lane(clk, one, va, v_lanes[lane], h_sel, h_we,
                                                   h_addr, h_wdata, rb,
                                                   plan.bank_chunks(e.index, "v", lane),
                                                   sel_bits, hown)))
    DL = OPERAND_LAT
    insts.append(named("dv", delay_line(clk, rst, one, issue, v_op, DL)))
    insts.append(named("dfk", delay_line(clk, None, one, s_fk, fk_op, DL)))
    insts.append(named("dlt", delay_line(clk, None, one, s_lt, lt_op, DL)))
    insts.append(named("dz", delay_line(clk, None, one, zw, zw_op, DL - 1)))
    TAIL = Tv - 1
    insts.append(named(
        "requant",
        requant(clk, rst, one, dr, o, tails[0], ov, oidx, y, h_sel, h_we, h_addr, h_wdata, rb,
                mems["bias0"], mems.get("rq0"), "u8" if s.hidden else "i32", sel_bits, hown,
                e.rq_stages, plan.dsp_prims),
    ))
    last_k = R - 1
    last_o = M - 1

    @always_comb
    def handshake():
        accept.next = state == t_dil.WAIT and zv
        issue.next = (state == t_dil.WAIT and zv) or state == t_dil.RUN
        one.next = 1
        s_fk.next = k == 0
        s_lt.next = j == TAIL and k == last_k

    @always(clk.posedge)
    def scm():
        if rst:
            state.next = t_dil.IDLE
        elif start:
            state.next = t_dil.WAIT
            j.next = 0
            k.next = 0
            va.next = 0
        elif issue:
            if state == t_dil.WAIT:
                zw.next = z
            if j == TAIL:
                j.next = 0
                if k == last_k:
                    state.next = t_dil.IDLE
                else:
                    k.next = k + 1
                    va.next = va + 1
                    state.next = t_dil.WAIT
            else:
                j.next = j + 1
                va.next = va + 1
                state.next = t_dil.RUN

    @always(clk.posedge)
    def mul():
        # product, then a second product register (DSP block -> ring adder route)
        if rst:
            v2.next = 0
            v3.next = 0
        else:
            v2.next = v_op
            fk2.next = fk_op
            lt2.next = lt_op
            v3.next = v2
            fk3.next = fk2
            lt3.next = lt2
        for p in range(Pv):
            prod[p].next = zw_op * v_lanes[p]
            prod2[p].next = prod[p]

    if in_ram:
        rings = ram_rings(clk, rst, v3, fk3, dr, prod2, tails, Pv, Tv)
    else:

        @always(clk.posedge)
        def rings():
            if v3:
                for p in range(Pv):
                    for i in range(1, Tv):
                        ring[p * Tv + i].next = ring[p * Tv + i - 1]
                    if fk3:
                        ring[p * Tv].next = prod2[p]
                    else:
                        ring[p * Tv].next = ring[p * Tv + TAIL] + prod2[p]
            elif dr:
                for p in range(Pv):
                    for i in range(1, Tv):
                        ring[p * Tv + i].next = ring[p * Tv + i - 1]
                    if p < Pv - 1:
                        ring[p * Tv].next = ring[(p + 1) * Tv + TAIL]
                    else:
                        ring[p * Tv].next = 0

    @always(clk.posedge)
    def drain():
        if rst:
            dr.next = 0
        elif v3 and lt3:
            dr.next = 1
            o.next = 0
        elif dr:
            if o == last_o:
                dr.next = 0
            else:
                o.next = o + 1

    @always(clk.posedge)
    def finish():
        if rst:
            done.next = 0
        else:
            done.next = ov and oidx == last_o

    return insts, handshake, scm, mul, rings, drain, finish


@block
def ram_ring(clk, rst, adv, wdata, tail, Tv: int):
    """One DIL ring of ``Tv >= 2`` accumulators as a circular buffer in block RAM: on an edge
    with ``adv`` the ring shifts by one (``wdata`` becomes the newest entry, the oldest leaves);
    ``tail`` is the oldest entry, a registered read of the next position, so it is the
    memory's own read register (one-cycle reads). The write goes to the position of the
    leaving entry and the read to the one after it, never the same address (``Tv >= 2``).
    ``rst`` resets the position only (which entry is the oldest does not matter: each
    image's first latent overwrites them all)."""
    assert Tv >= 2
    mem = [acc_signal() for _ in range(Tv)]
    w = uint(clog2(Tv))  # the oldest entry's position
    w_nx = uint(clog2(Tv))
    LAST = Tv - 1

    @always_comb
    def next_pos():
        if adv:
            if w == LAST:
                w_nx.next = 0
            else:
                w_nx.next = w + 1
        else:
            w_nx.next = w

    @always(clk.posedge)
    def write():
        if adv:
            mem[w].next = wdata
        if rst:
            w.next = 0
        else:
            w.next = w_nx

    @always(clk.posedge)
    def read():
        tail.next = mem[w_nx]

    return next_pos, write, read


@block
def ram_rings(clk, rst, v3, fk3, dr, prod2, tails, Pv: int, Tv: int):
    """The ``Pv`` rings of :func:`dil` as :func:`ram_ring` memories (oldest entries
    ``tails``): a step of a latent adds its product into the oldest entry (the first latent's
    replaces it) and makes it the newest; the drain shifts the rings as one chain, lane
    ``p + 1``'s oldest entry into lane ``p``, zeros into the last."""
    adv = Signal(bool(0))
    heads = [acc_signal() for _ in range(Pv)]
    insts = [named(f"r{p}", ram_ring(clk, rst, adv, heads[p], tails[p], Tv)) for p in range(Pv)]

    @always_comb
    def advance():
        adv.next = v3 or dr

    @always_comb
    def head_values():
        for p in range(Pv):
            if v3:
                if fk3:
                    heads[p].next = prod2[p]
                else:
                    heads[p].next = tails[p] + prod2[p]
            elif p < Pv - 1:
                heads[p].next = tails[p + 1]
            else:
                heads[p].next = 0

    return insts, advance, head_values
