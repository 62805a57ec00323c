"""Dense layers on the ``"broadcast"`` (zero-skipping) dataflow, and the broadcast engine
that the low-rank U side shares (:mod:`lwfc_hw.layers.bcast_lowrank`).

A broadcast layer does not read its inputs in order: its input feature memory
(:func:`lwfc_hw.nzlist.nz_list`) keeps only the image's nonzero elements. The engine
(:func:`bcast_engine`) takes one entry per cycle and broadcasts ``x[i]`` to ``P`` output lanes;
lane ``p`` reads ``W[g*P + p, i]`` from its weight bank (one read per lane per nonzero input,
the ``"dot"`` layout with ``Q = 1``) and accumulates the product, so the layer's time follows
the number of nonzero inputs. The arithmetic is the integer contract of
``docs/arithmetic.md`` unchanged: zero inputs add exact zeros, so skipping them changes no bit.

Timing: with ``nnz`` nonzero inputs an output group takes ``S = max(nnz, P_min)`` steps
(``P_min = P / R`` when there are several groups, so that a group's serial drain ends before
the next group's sums are final; else 1, one pad step when ``nnz == 0``); the layer takes
``G * S + p_last / R + bc_dense_pipe(e)`` cycles (the last group's ``p_last`` outputs drain
``R`` per cycle).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from myhdl import Signal, always, always_comb, block, concat, intbv

from ..mac import FANOUT_LANES, fanout_copies, mac_array, mac_bits, mac_signal, weight_lane
from ..memories import named
from ..plan import CorePlan, EnginePlan, LayerShape, ceil_div, clog2
from ..requant import requant
from ..rtl_common import delay_line, extend, uint
from ..timing import BC_OPERAND_LAT, mac_latency
from .base import BlockCall, MemRequest, register
from .dot_dense import DotDense, dense_weight_banks


def bc_dense_pipe(e: EnginePlan, latent: bool = False) -> int:
    """Constant part of a broadcast engine's time: operands (``BC_OPERAND_LAT``, plus one edge
    when the list read has an output register: ``e.list_lat == 2``), MAC array (``Q = 1``),
    the drain register, the requantizer (``e.out_rq_latency``; ``e.rq_stages`` for the U
    side of a low-rank layer, ``latent``)."""
    rq = e.rq_stages if latent else e.out_rq_latency
    return BC_OPERAND_LAT + e.list_lat - 1 + mac_latency(1, e.prod_regs) + 1 + rq


def bcast_steps(e: EnginePlan, nnz: int, groups: int) -> int:
    """Issue steps per group for ``nnz`` nonzero inputs: ``max(nnz, P_min)``, ``P_min =
    P / R`` (a group's drain cycles) with several groups, else 1."""
    return max(nnz, e.P // e.R if groups > 1 else 1)


def check_nnz(e: EnginePlan, nnz: int | None) -> int:
    """``nnz`` (None: all ``n_in``), checked to be ``0 ... n_in``."""
    n = e.shape.n_in if nnz is None else int(nnz)
    if not 0 <= n <= e.shape.n_in:
        raise ValueError(f"layer {e.shape.name}: {n} nonzero inputs of {e.shape.n_in}")
    return n


@register
class BcastDense(DotDense):
    """A dense layer on the ``"broadcast"`` dataflow (see the module docstring): ``P =
    min(lanes, n_out)`` output lanes, drain width ``R`` (``drain``) when the next layer is
    broadcast too. Shares the kind's MACs and weight layout with :class:`DotDense`."""

    dataflow = "broadcast"
    data_dependent = True
    compact_input = True
    wide_drain = True

    def engine(self, index: int, s: LayerShape, lanes: int, drain: int,
               rq_stages: int) -> EnginePlan:
        e = EnginePlan(index, s, P=min(lanes, s.n_out), Q=1, dataflow=self.dataflow, R=drain,
                       rq_stages=rq_stages)
        if e.P % drain or e.p_last % drain:
            raise ValueError(f"layer {s.name}: drain {drain} must divide P = {e.P} and the "
                             f"last group's {e.p_last} outputs")
        return e

    def memories(self, e: EnginePlan) -> list[MemRequest]:
        return [MemRequest(f"w{b}", "w", b, e.G * e.K) for b in range(e.P)]

    def q_read(self, e: EnginePlan) -> int:
        return 1

    def weight_images(self, layer: Any, e: EnginePlan) -> dict[str, np.ndarray]:
        return dense_weight_banks(layer, e)

    def service_cycles(self, e: EnginePlan, nnz: int | None = None) -> int:
        s = e.shape
        G = e.G
        S = bcast_steps(e, check_nnz(e, nnz), G)
        return G * S + (s.n_out - (G - 1) * e.P) // e.R + bc_dense_pipe(e)

    def multipliers(self, e: EnginePlan) -> int:
        return e.P

    def blocks(self, e: EnginePlan, plan: Any, ports: dict[str, Any]) -> list[BlockCall]:
        p = ports
        return [BlockCall(
            f"l{e.index}_bcast", bcast_engine,
            (p["clk"], p["rst"], p["start"], p["done"], p["rd_en"], p["rd_addr"], p["x"],
             p["count"], p["lcount"], p["ov"], p["oidx"], p["y"], p["h_sel"], p["h_we"],
             p["h_addr"], p["h_wdata"], p["rb"], e, plan, p["hown"]),
        )]


# ----------------------------------------------------------------------------- RTL
@block
def lane_last(lc, lo, lmx, ne):
    """Of a list lane's entry count ``lc`` (0 ... ``2**len(lmx)``): ``ne`` (it has entries)
    and its last address ``lmx = lc - 1`` (0 when empty), from ``lo``, the count's low bits."""
    AB = len(lmx)
    AMAX = 2**AB - 1

    @always_comb
    def low():
        lo.next = lc[AB:]

    @always_comb
    def last():
        ne.next = lc != 0
        if lo != 0:
            lmx.next = lo - 1
        elif lc != 0:
            lmx.next = AMAX
        else:
            lmx.next = 0

    return low, last


@block
def lane_link(ne, lmx, nxt, nxl, cur, cul, k: int):
    """One link of the lane chain: the first lane with entries from lane ``k`` on is ``k``
    itself when it has entries (``ne``), else the one from lane ``k + 1`` (``nxt``); ``cul``
    is that lane's last address."""

    @always_comb
    def comb():
        if ne:
            cur.next = k
            cul.next = lmx
        else:
            cur.next = nxt
            cul.next = nxl

    return comb


@block
def lane_next(clk, start, nxt, nxl, nt, nla):
    """At ``start``: latch the next lane with entries (``nxt``) after a lane and that lane's
    last address (``nxl``)."""

    @always(clk.posedge)
    def latch():
        if start:
            nt.next = nxt
            nla.next = nxl

    return latch


@block
def bcast_engine(clk, rst, start, done, rd_en, rd_addr, entries, count, lcount, ov, oidx, y,
                 h_sel, h_we, h_addr, h_wdata, rb, e: EnginePlan, plan: CorePlan, hown=None,
                 accept=None, u_side: bool = False):
    """The broadcast engine of a dense layer, or the U side of a low-rank layer.

    After ``start`` it latches ``nnz = count`` and issues, for each output group ``g``
    (``G = ceil(outputs / P)``), ``S = bcast_steps(e, nnz, G)`` steps, one per cycle: step
    ``j`` reads the list's next entry ``(i, x)``, walking lane 0's entries, then the next
    lane with entries (``lcount``, latched at ``start``), and so on; steps
    ``j >= nnz`` are pad steps with ``x = 0`` at weight address ``g * n_in``. The weight
    address ``g * n_in + i`` goes to all ``P`` weight banks; ``x`` and the weights reach the
    multipliers ``BC_OPERAND_LAT`` edges after the step (one more with ``e.list_lat == 2``),
    then the MAC array (``P x 1``: products, a second product register, accumulators). A
    group's sums drain one per cycle through the requantizer, as in
    :func:`lwfc_hw.layers.dot_dense.dense_engine`.

    Dense layer (``u_side`` False, ``accept`` None): outputs ``(ov, oidx, y)`` to the next
    feature memory or the result stage, ``done`` one cycle after the last. Low-rank U side
    (``u_side`` True; ``accept``: the DIL's; ``done`` None, the DIL reports the layer's end):
    the int8 latents ``(ov, oidx, y) = (zv, zidx, z)`` go to the DIL; the drain and the
    requantizer advance only while no latent waits (``not (zv and not accept)``).
    """
    s = e.shape
    lowrank = u_side
    P = e.P
    NIN = s.n_in
    NOUT = s.rank if lowrank else s.n_out
    G = ceil_div(NOUT, P)
    fp = plan.fmems[e.index]
    L, IB, AB = fp.q, fp.index_bits, fp.abits
    PMIN = P // e.R if G > 1 else 1
    NB = len(count)
    WAB = clog2(max(2, G * NIN))
    GSTEP = NIN if G > 1 else 0
    role = "u" if lowrank else "w"
    sel_bits = plan.sel_bits
    run = Signal(bool(0))
    j, last_j, nnz = uint(NB), uint(NB), uint(NB)
    g = uint(clog2(G))
    div = uint(AB)  # read address in the current lane
    mod = uint(clog2(L))  # the current lane
    gbase = uint(WAB)
    s_v, s_f, s_l, s_p = (Signal(bool(0)) for _ in range(4))
    mod1 = uint(clog2(L))
    p1, p2 = Signal(bool(0)), Signal(bool(0))
    gb1, gb2 = uint(WAB), uint(WAB)
    LB, EIB = fp.lane_bits, fp.entry_index_bits
    ent2 = uint(EIB + 8)
    ln2 = uint(clog2(L))  # the lane of ent2
    ei = uint(max(IB, EIB + LB))  # the input index of ent2
    wa = uint(WAB)
    x3, x4, x5, x6 = (uint(8) for _ in range(4))
    xl = [uint(8)]  # the operand register (the MAC array's one input lane)
    v_op, f_op, l_op = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    fin = Signal(bool(0))
    w_lanes = [Signal(intbv(0, min=-128, max=128)) for _ in range(P)]
    MB = mac_bits(NIN)
    acc = [mac_signal(MB) for _ in range(P)]
    R = e.R
    gd = uint(clog2(G))
    dr = [mac_signal(MB) for _ in range(P)]  # the drain register, shifted by R per cycle
    dn = uint(clog2(P + 1))
    dv = Signal(bool(0))
    o = uint(len(oidx))
    one = Signal(bool(1))
    en = Signal(bool(1))
    insts = []
    for lane in range(P):
        insts.append(named(f"w{lane}", weight_lane(clk, one, wa, w_lanes[lane], h_sel, h_we,
                                                   h_addr, h_wdata, rb,
                                                   plan.bank_chunks(e.index, role, lane),
                                                   sel_bits, hown)))
    mems = {m.role + str(m.bank): m for m in plan.mems_of(e.index) if m.chunk == 0}
    DL = BC_OPERAND_LAT + e.list_lat - 1
    insts.append(named("dv", delay_line(clk, rst, one, s_v, v_op, DL)))
    insts.append(named("df", delay_line(clk, None, one, s_f, f_op, DL)))
    insts.append(named("dl", delay_line(clk, None, one, s_l, l_op, DL)))
    # copies of fin and of "the drain is shifting" (dn != 0), one per FANOUT_LANES lanes of
    # the drain register
    NG = fanout_copies(P)
    FAN = FANOUT_LANES
    fanout_fin = [Signal(bool(0)) for _ in range(NG)]
    fanout_dz = [Signal(bool(0)) for _ in range(NG)]
    insts.append(named("mac", mac_array(clk, rst, one, v_op, f_op, l_op, xl, w_lanes, acc,
                                        fin, P, 1, NIN, plan.dsp_prims, fanout_fin,
                                        e.prod_regs)))
    if lowrank:
        # the latent's index is not needed by the DIL (it takes them in order)
        insts.append(named("requant", requant(clk, rst, en, dv, o, dr[0], ov, None, y, h_sel,
                                              h_we, h_addr, h_wdata, rb, None, mems["urq0"],
                                              "i8", sel_bits, hown, e.rq_stages,
                                              plan.dsp_prims)))
    elif R == 1:
        insts.append(named("requant", requant(clk, rst, en, dv, o, dr[0], ov, oidx, y, h_sel,
                                              h_we, h_addr, h_wdata, rb, mems["bias0"],
                                              mems.get("rq0"), "u8" if s.hidden else "i32",
                                              sel_bits, hown, e.rq_stages,
                                              plan.dsp_prims)))
    else:
        # R requantizers side by side: number r takes output t * R + r (its own bias / requant
        # banks, address t); requantizer 0's valid / index stand for all of them
        for r in range(R):
            insts.append(named(f"requant{r}", requant(
                clk, rst, en, dv, o, dr[r], ov if r == 0 else None, oidx if r == 0 else None,
                y[r], h_sel, h_we, h_addr, h_wdata, rb,
                mems[f"bias{r}"], mems[f"rq{r}"], "u8", sel_bits, hown, e.rq_stages,
                plan.dsp_prims)))
    last_o = ceil_div(NOUT, R) - 1
    last_g = G - 1
    p_last = NOUT - (G - 1) * P
    NT, NT_LAST = P // R, p_last // R
    PMR = P - R

    if L > 1:
        # the lane walk: per lane its last address (``lmx``: count - 1, 0 when empty) and, from
        # a chain over the lanes, the next lane with entries after it (``ch[l + 1]``; lane 0
        # past the last: what follows the last entry is a pad step or a new group)
        LNB = clog2(L)
        lmw = [uint(AB) for _ in range(L)]
        lmx = [uint(AB) for _ in range(L)]
        ne = [Signal(bool(0)) for _ in range(L)]
        ch = [uint(LNB) for _ in range(L + 1)]
        chl = [uint(AB) for _ in range(L + 1)]
        nt = [uint(LNB) for _ in range(L)]  # latched: the next lane with entries after lane l
        nla = [uint(AB) for _ in range(L)]  # latched: that lane's last address
        f0, fla, la = uint(LNB), uint(AB), uint(AB)
        for k in range(L):
            insts.append(named(f"lm{k}", lane_last(lcount[k], lmw[k], lmx[k], ne[k])))
            insts.append(named(f"ch{k}", lane_link(ne[k], lmx[k], ch[k + 1], chl[k + 1], ch[k],
                                                   chl[k], k)))
            insts.append(named(f"nt{k}", lane_next(clk, start, ch[k + 1], chl[k + 1], nt[k],
                                                   nla[k])))
        ch_end, chl_end, lmx0, ch0, chl0 = ch[L], chl[L], lmx[0], ch[0], chl[0]

        @always_comb
        def chain_end():
            ch_end.next = 0
            chl_end.next = lmx0

        insts.append(chain_end)

        @always(clk.posedge)
        def walk():
            if start and not rst:
                div.next = 0
                mod.next = ch0
                la.next = chl0
                f0.next = ch0
                fla.next = chl0
            elif run and not rst:
                if j == last_j:
                    div.next = 0
                    mod.next = f0
                    la.next = fla
                elif div == la:
                    div.next = 0
                    mod.next = nt[mod]
                    la.next = nla[mod]
                else:
                    div.next = div + 1

    else:

        @always(clk.posedge)
        def walk():
            if start and not rst:
                div.next = 0
            elif run and not rst:
                if j == last_j:
                    div.next = 0
                else:
                    div.next = div + 1

    @always(clk.posedge)
    def issue():
        if rst:
            run.next = 0
        elif start:
            run.next = 1
            j.next = 0
            g.next = 0
            gbase.next = 0
            nnz.next = count
            if count > PMIN:
                last_j.next = count - 1
            else:
                last_j.next = PMIN - 1
        elif run:
            if j == last_j:
                j.next = 0
                if g == last_g:
                    run.next = 0
                else:
                    g.next = g + 1
                    gbase.next = gbase + GSTEP
            else:
                j.next = j + 1

    if accept is None:

        @always_comb
        def step_flags():
            rd_addr.next = div
            rd_en.next = 1
            one.next = 1
            en.next = 1
            s_v.next = run
            s_f.next = j == 0
            s_l.next = j == last_j
            s_p.next = j >= nnz or not run

    else:

        @always_comb
        def step_flags():
            rd_addr.next = div
            rd_en.next = 1
            one.next = 1
            en.next = not (ov and not accept)
            s_v.next = run
            s_f.next = j == 0
            s_l.next = j == last_j
            s_p.next = j >= nnz or not run

    # the step's lane, pad flag and group base beside its list read: ``mod_e``, ``p_e``,
    # ``gb_e`` arrive with ``entries`` (``list_lat`` edges after the address)
    if e.list_lat == 1:
        mod_e, p_e, gb_e = mod1, p1, gb1
    else:
        mod_e, p_e, gb_e = uint(clog2(L)), Signal(bool(0)), uint(WAB)

        @always(clk.posedge)
        def align():
            p_e.next = p1
            gb_e.next = gb1

        insts.append(align)
        if L > 1:

            @always(clk.posedge)
            def align_lane():
                mod_e.next = mod1

            insts.append(align_lane)

    if L == 1:
        ent_in = entries[0]

        @always(clk.posedge)
        def select():
            p1.next = s_p
            gb1.next = gbase
            ent2.next = ent_in
            p2.next = p_e
            gb2.next = gb_e

    else:

        @always(clk.posedge)
        def select():
            mod1.next = mod
            p1.next = s_p
            gb1.next = gbase
            ent2.next = entries[mod_e]
            p2.next = p_e
            gb2.next = gb_e

    if LB > 0:

        @always(clk.posedge)
        def lane2():
            ln2.next = mod_e

        @always_comb
        def index():
            ei.next = concat(ent2[EIB + 8:8], ln2)

        insts.append(lane2)

    else:

        @always_comb
        def index():
            ei.next = ent2[EIB + 8:8]

    if len(ei) < WAB:
        # the input index widened to the weight address (a one-lane engine: address = the
        # group's base + the index)
        eiw = uint(WAB)
        insts.append(named("eiw", extend(ei, eiw)))
    else:
        eiw = ei

    @always(clk.posedge)
    def operands():
        if p2:
            wa.next = gb2
            x3.next = 0
        else:
            wa.next = gb2 + eiw
            x3.next = ent2[8:]
        x4.next = x3
        x5.next = x4
        x6.next = x5
        xl[0].next = x6

    @always(clk.posedge)
    def drain():
        if rst:
            dn.next = 0
            for k in range(NG):
                fanout_dz[k].next = 0
        elif en:
            if fin:
                if gd == last_g:
                    dn.next = NT_LAST
                else:
                    dn.next = NT
                for k in range(NG):
                    fanout_dz[k].next = 1
            elif dn != 0:
                dn.next = dn - 1
                for k in range(NG):
                    fanout_dz[k].next = dn != 1

    # the drain register: loads the sums with fin, shifts by R while dn != 0 (the copies)
    @always(clk.posedge)
    def drain_regs():
        if en:
            for p in range(P):
                if fanout_fin[p // FAN]:
                    dr[p].next = acc[p]
            for p in range(PMR):
                if fanout_dz[p // FAN] and not fanout_fin[p // FAN]:
                    dr[p].next = dr[p + R]
        if start:
            o.next = 0
            gd.next = 0
        elif en:
            if dn != 0 and o != last_o:
                o.next = o + 1
            if fin and gd != last_g:
                gd.next = gd + 1

    @always_comb
    def drain_valid():
        dv.next = dn != 0

    gens = [insts, issue, walk, step_flags, select, index, operands, drain, drain_regs,
            drain_valid]
    if done is not None:

        @always(clk.posedge)
        def finish():
            if rst:
                done.next = 0
            else:
                done.next = ov and oidx == last_o

        gens.append(finish)
    return gens
