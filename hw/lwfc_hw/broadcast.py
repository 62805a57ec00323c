"""The input-broadcast (zero-skipping) dataflow: its feature memory, its engine, its timing.

A ``"broadcast"`` layer (``EnginePlan.dataflow``) does not read its inputs in order: its input
feature memory (:func:`nz_list`, ``FmemPlan.compact``) keeps, per half, only the list of the
image's NONZERO elements as ``(index, value)`` entries, appended as they are written (up to
``w`` per cycle: one input beat per cycle from the loader, one output per cycle from the
previous layer's writer), and their number. The engine (:func:`bcast_engine`) takes one entry
per cycle and broadcasts ``x[i]`` to ``P`` output lanes; lane ``p`` reads ``W[g*P + p, i]``
from its weight bank (one read per lane per nonzero input) and accumulates the product, so the
layer's time follows the number of nonzero inputs. The arithmetic is the integer contract of
``docs/arithmetic.md`` unchanged: zero inputs add exact zeros, so skipping them changes no bit.

A low-rank layer uses the same engine for its U side (``P = rank`` lanes, one group: latent
``k`` is lane ``k``); its drain and requantizer hand the int8 latents to the DIL
(:func:`lwfc_hw.engines.dil`) through the DCL's ``(zv, z, accept)`` hand-shake, stalling while
the DIL is busy with the previous latent.

Timing (the cycle model, :func:`service_cycles`): with ``nnz`` nonzero inputs an output group
takes ``S = max(nnz, P_min)`` steps (``P_min = P`` when there are several groups, so that a
group's serial drain ends before the next group's sums are final; else 1, one pad step when
``nnz == 0``).
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, concat, intbv

from .engines import (
    OPERAND_LAT,
    delay_line,
    mac_array,
    mac_bits,
    mac_latency,
    mac_signal,
    requant,
    uint,
    weight_lane,
)
from .memories import named
from .plan import CorePlan, EnginePlan, FmemPlan, ceil_div, clog2

#: Edges from a step's list address to its operands at the multipliers: the list memory's
#: registered read, the lane select register, the weight address register (``g*n_in + i``;
#: the value register beside it), then the weight bank's ``OPERAND_LAT``.
BC_OPERAND_LAT = 3 + OPERAND_LAT


def bc_dense_pipe(e: EnginePlan) -> int:
    """Constant part of a broadcast dense layer's service time (see :func:`service_cycles`):
    operands, MAC array (``Q = 1``), the drain register, the requantizer (``e.rq_stages``)."""
    return BC_OPERAND_LAT + mac_latency(1) + 1 + e.rq_stages


def bc_lowrank_pipe(e: EnginePlan) -> int:
    """The same for a broadcast low-rank layer: U side as above, then the DIL (operands, two
    product registers, ring, requantizer) and the hand-shake cycles."""
    return bc_dense_pipe(e) + OPERAND_LAT + 3 + e.rq_stages - 1


def groups(e: EnginePlan) -> int:
    """Output groups of the broadcast part: ``ceil(outputs / P)`` (1 for a low-rank U side)."""
    return ceil_div(e.shape.rank if e.kind == "lowrank" else e.shape.n_out, e.P)


def steps(e: EnginePlan, nnz: int) -> int:
    """Issue steps per group for ``nnz`` nonzero inputs: ``max(nnz, P_min)``, ``P_min =
    P / R`` (a group's drain cycles) with several groups, else 1."""
    return max(nnz, e.P // e.R if groups(e) > 1 else 1)


def service_cycles(e: EnginePlan, nnz: int) -> int:
    """Cycles from a broadcast engine's start to its commit/release with ``nnz`` nonzero
    inputs (``0 <= nnz <= n_in``).

    * dense: ``G * S + p_last / R + bc_dense_pipe(e)`` (``G * S`` issue steps, the last
      group's ``p_last`` outputs drain ``R`` per cycle);
    * low-rank: ``S + rank * Tv + n_out + bc_lowrank_pipe(e)`` (the U sums drain as latents, the
      DIL takes one every ``Tv`` cycles, then its ``n_out`` accumulators drain).
    """
    if not 0 <= nnz <= e.shape.n_in:
        raise ValueError(f"layer {e.shape.name}: {nnz} nonzero inputs of {e.shape.n_in}")
    s = e.shape
    S = steps(e, nnz)
    if e.kind == "dense":
        G = groups(e)
        return G * S + (s.n_out - (G - 1) * e.P) // e.R + bc_dense_pipe(e)
    return S + s.rank * e.Tv + s.n_out + bc_lowrank_pipe(e)


# ----------------------------------------------------------------------------- RTL
@block
def byte_of(word, out, k: int):
    """``out`` = byte ``k`` of ``word`` (bits ``[8k+7:8k]``)."""
    LO, HI = 8 * k, 8 * k + 8

    @always_comb
    def comb():
        out.next = word[HI:LO]

    return comb


def count_bits(plan: CorePlan, layer: int) -> int:
    """Width of the nonzero-list counters of layer ``layer`` (entries, append position, the
    engine's step counter): counts up to ``n_in``, ``2 * w`` and the engine's ``P_min``."""
    f, e = plan.fmems[layer], plan.engines[layer]
    return clog2(max(f.n, 2 * f.w, e.P) + 1)


@block
def nz_pixel(wr_en, wr_cnt, pix_b, ibase, pmod, pre_in, pre_out, hit, pos, ent, b: int,
             ib: int):
    """Element ``b`` of a write to a nonzero list: ``hit`` if it is written and nonzero, its
    append position ``pos = pmod + pre_in`` (``pre_in``: nonzero elements before it in this
    write; ``pre_out`` counts it too) and its entry ``{ibase + b, value}`` (the index in
    ``ib`` bits)."""
    idx = uint(len(ibase))

    @always_comb
    def comb():
        nz = wr_en and wr_cnt > b and pix_b != 0
        hit.next = nz
        if nz:
            pre_out.next = pre_in + 1
        else:
            pre_out.next = pre_in
        pos.next = pmod + pre_in
        idx.next = ibase + b

    @always_comb
    def entry():
        ent.next = concat(idx[ib:], pix_b)

    return comb, entry


@block
def nz_lane(clk, wr_half, hit, pos, ent, pd0, pd1, rd_en, rd_half, rd_addr, rd_data, lane: int,
            W: int, abits: int, ib: int):
    """Lane ``lane`` of a ``W``-lane list memory (see :func:`nz_list`): entry ``j`` of a half
    lives in lane ``j % W`` at address ``{half, j // W}``, ``ib + 8`` bits ``{index, value}``.

    Write side: of the elements of a write (``hit``, ``pos``, ``ent`` per element, see
    :func:`nz_pixel`) this lane takes the one whose append position is ``lane`` (address
    ``pd0``) or ``lane + W`` (address ``pd1 = pd0 + 1``): at most one, as a write appends at
    most ``W`` consecutive entries. Read side: registered read of ``{rd_half, rd_addr}`` when
    ``rd_en``."""
    mem = [Signal(intbv(0)[ib + 8:]) for _ in range(2 ** (abits + 1))]
    we = Signal(bool(0))
    wa = uint(abits)
    wd = uint(ib + 8)
    LW = lane + W

    @always_comb
    def select():
        h = False
        a = intbv(0)[abits:]
        d = intbv(0)[ib + 8:]
        for b in range(W):
            if hit[b] and pos[b] == lane:
                h = True
                a[:] = pd0
                d[:] = ent[b]
            elif hit[b] and pos[b] == LW:
                h = True
                a[:] = pd1
                d[:] = ent[b]
        we.next = h
        wa.next = a
        wd.next = d

    @always(clk.posedge)
    def write():
        if we:
            mem[concat(wr_half, wa)].next = wd

    @always(clk.posedge)
    def read():
        if rd_en:
            rd_data.next = mem[concat(rd_half, rd_addr)]

    return select, write, read


@block
def nz_list(clk, rst, wr_en, wr_half, wr_div, wr_mod, wr_cnt, wr_data, commit, rd_en, rd_half,
            rd_addr, entries, count, fp: FmemPlan):
    """A ping-pong feature memory holding the list of nonzero elements of each half
    (``FmemPlan.compact``): ``fp.q == fp.w`` lanes of :func:`nz_lane`, the append position
    (``pdiv * W + pmod``), and per half the number of entries, latched on ``commit`` (the
    writer's last write may come with it).

    Write port as :func:`lwfc_hw.memories.fmem_lane`'s (the writers here always start a write
    at a multiple of ``W``: ``wr_mod == 0``): ``wr_cnt`` consecutive elements from element
    ``ibase = wr_div * W + wr_mod`` per write, ``wr_data`` = 8 bits (``W == 1``) or ``8 * W``
    bits (element ``b`` of the write in byte ``b``). Read port: ``entries[l]`` = lane ``l``
    at ``{rd_half, rd_addr}`` one edge after the address (when ``rd_en``); ``count`` = the
    number of entries of half ``rd_half`` (combinational from registers), ``len(count)`` =
    :func:`count_bits` bits, the width of every counter here.
    """
    W = fp.w
    ib = fp.index_bits
    abits = fp.abits
    XB = len(count)
    pix = [uint(8) for _ in range(W)]
    pre = [uint(XB) for _ in range(W + 1)]
    hit = [Signal(bool(0)) for _ in range(W)]
    pos = [uint(XB) for _ in range(W)]
    ent = [uint(ib + 8) for _ in range(W)]
    pmod = uint(XB)
    pdiv = uint(abits + 1)
    pd0, pd1 = uint(abits), uint(abits)
    MB = len(wr_mod)
    ibase = uint(max(ib, MB))
    runc = uint(XB)
    cnt0, cnt1 = uint(XB), uint(XB)
    tot = pre[W]
    # the lanes write one edge later, from registers (hit_r, pos_r, ent_r, pd*_r, half_r):
    # the compaction (prefix count, append position) and the lane select were one path from
    # the writer into the LUT RAM (the ECP5 critical path). The counts are still latched at
    # commit; the last entries land one edge after it, and the next engine reads a half at
    # the earliest two edges after its commit, so the schedule does not change.
    hit_r = [Signal(bool(0)) for _ in range(W)]
    pos_r = [uint(XB) for _ in range(W)]
    ent_r = [uint(ib + 8) for _ in range(W)]
    pd0_r, pd1_r = uint(abits), uint(abits)
    half_r = Signal(bool(0))
    insts = [named(f"b{k}", byte_of(wr_data, pix[k], k)) for k in range(W)]
    for k in range(W):
        insts.append(named(f"p{k}", nz_pixel(wr_en, wr_cnt, pix[k], ibase, pmod, pre[k],
                                             pre[k + 1], hit[k], pos[k], ent[k], k, ib)))
    for lane in range(W):
        insts.append(named(f"lane{lane}", nz_lane(clk, half_r, hit_r, pos_r, ent_r, pd0_r,
                                                  pd1_r, rd_en, rd_half, rd_addr,
                                                  entries[lane], lane, W, abits, ib)))

    @always(clk.posedge)
    def stage():
        for k in range(W):
            hit_r[k].next = hit[k] and not rst
            pos_r[k].next = pos[k]
            ent_r[k].next = ent[k]
        pd0_r.next = pd0
        pd1_r.next = pd1
        half_r.next = wr_half

    insts.append(stage)
    pre0 = pre[0]

    ZB = max(1, ib - MB)

    if ib > MB:

        @always_comb
        def base():
            pre0.next = 0
            ibase.next = wr_div * W + concat(intbv(0)[ZB:], wr_mod)
            pd0.next = pdiv[abits:]
            pd1.next = pdiv[abits:] + 1

    else:

        @always_comb
        def base():
            pre0.next = 0
            ibase.next = wr_div * W + wr_mod
            pd0.next = pdiv[abits:]
            pd1.next = pdiv[abits:] + 1

    @always(clk.posedge)
    def ctl():
        s = intbv(0)[XB:]
        if rst:
            pmod.next = 0
            pdiv.next = 0
            runc.next = 0
        elif commit:
            if wr_half:
                cnt1.next = runc + tot
            else:
                cnt0.next = runc + tot
            pmod.next = 0
            pdiv.next = 0
            runc.next = 0
        elif wr_en:
            runc.next = runc + tot
            s[:] = pmod + tot
            if s >= W:
                pmod.next = s - W
                pdiv.next = pdiv + 1
            else:
                pmod.next = s

    @always_comb
    def rd_count():
        if rd_half:
            count.next = cnt1
        else:
            count.next = cnt0

    return insts, base, ctl, rd_count


@block
def bcast_engine(clk, rst, start, done, rd_en, rd_addr, entries, count, ov, oidx, y, h_sel,
                 h_we, h_addr, h_wdata, rb, e: EnginePlan, plan: CorePlan, hown=None,
                 accept=None):
    """The broadcast engine of a dense layer, or the U side of a low-rank layer.

    After ``start`` it latches ``nnz = count`` and issues, for each output group ``g``
    (``G = groups(e)``), ``S = steps(e, nnz)`` steps, one per cycle: step ``j`` reads list
    entry ``j`` (``rd_addr = j // W``, lane ``j % W``), ``(i, x)``; steps ``j >= nnz`` are pad
    steps with ``x = 0`` at weight address ``g * n_in``. The weight address ``g * n_in + i``
    goes to all ``P`` weight banks; ``x`` and the weights reach the multipliers
    ``BC_OPERAND_LAT`` edges after the step, then the MAC array (``P x 1``: products, a second
    product register, accumulators). A group's sums drain one per cycle through the
    requantizer, as in :func:`lwfc_hw.engines.dense_engine`.

    Dense layer (``accept`` None): outputs ``(ov, oidx, y)`` to the next feature memory or the
    result stage, ``done`` one cycle after the last. Low-rank U side (``accept``: the DIL's;
    ``done`` None, the DIL reports the layer's end):
    the int8 latents ``(ov, oidx, y) = (zv, zidx, z)`` go to the DIL; the drain and the
    requantizer advance only while no latent waits (``not (zv and not accept)``).
    """
    s = e.shape
    lowrank = s.kind == "lowrank"
    P = e.P
    G = groups(e)
    NIN = s.n_in
    NOUT = s.rank if lowrank else s.n_out
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
    div = uint(AB)
    mod = uint(clog2(L))
    gbase = uint(WAB)
    s_v, s_f, s_l, s_p = (Signal(bool(0)) for _ in range(4))
    mod1 = uint(clog2(L))
    p1, p2 = Signal(bool(0)), Signal(bool(0))
    gb1, gb2 = uint(WAB), uint(WAB)
    ent2 = uint(IB + 8)
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
    DL = BC_OPERAND_LAT
    insts.append(named("dv", delay_line(clk, rst, one, s_v, v_op, DL)))
    insts.append(named("df", delay_line(clk, None, one, s_f, f_op, DL)))
    insts.append(named("dl", delay_line(clk, None, one, s_l, l_op, DL)))
    insts.append(named("mac", mac_array(clk, rst, one, v_op, f_op, l_op, xl, w_lanes, acc,
                                        fin, P, 1, NIN)))
    if lowrank:
        # the latent's index is not needed by the DIL (it takes them in order)
        insts.append(named("requant", requant(clk, rst, en, dv, o, dr[0], ov, None, y, h_sel,
                                              h_we, h_addr, h_wdata, rb, None, mems["urq0"],
                                              "i8", sel_bits, hown, e.rq_stages)))
    elif R == 1:
        insts.append(named("requant", requant(clk, rst, en, dv, o, dr[0], ov, oidx, y, h_sel,
                                              h_we, h_addr, h_wdata, rb, mems["bias0"],
                                              mems.get("rq0"), "u8" if s.hidden else "i32",
                                              sel_bits, hown, e.rq_stages)))
    else:
        # R requantizers side by side: number r takes output t * R + r (its own bias / requant
        # banks, address t); requantizer 0's valid / index stand for all of them
        for r in range(R):
            insts.append(named(f"requant{r}", requant(
                clk, rst, en, dv, o, dr[r], ov if r == 0 else None, oidx if r == 0 else None,
                y[r], h_sel, h_we, h_addr, h_wdata, rb,
                mems[f"bias{r}"], mems[f"rq{r}"], "u8", sel_bits, hown, e.rq_stages)))
    last_o = ceil_div(NOUT, R) - 1
    last_g = G - 1
    p_last = NOUT - (G - 1) * P
    NT, NT_LAST = P // R, p_last // R
    PMR = P - R
    LM1 = L - 1

    @always(clk.posedge)
    def issue():
        if rst:
            run.next = 0
        elif start:
            run.next = 1
            j.next = 0
            g.next = 0
            div.next = 0
            mod.next = 0
            gbase.next = 0
            nnz.next = count
            if count > PMIN:
                last_j.next = count - 1
            else:
                last_j.next = PMIN - 1
        elif run:
            if j == last_j:
                j.next = 0
                div.next = 0
                mod.next = 0
                if g == last_g:
                    run.next = 0
                else:
                    g.next = g + 1
                    gbase.next = gbase + GSTEP
            else:
                j.next = j + 1
                if mod == LM1:
                    mod.next = 0
                    div.next = div + 1
                else:
                    mod.next = mod + 1

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

    if L == 1:
        ent_in = entries[0]

        @always(clk.posedge)
        def select():
            p1.next = s_p
            gb1.next = gbase
            ent2.next = ent_in
            p2.next = p1
            gb2.next = gb1

    else:

        @always(clk.posedge)
        def select():
            mod1.next = mod
            p1.next = s_p
            gb1.next = gbase
            ent2.next = entries[mod1]
            p2.next = p1
            gb2.next = gb1

    @always(clk.posedge)
    def operands():
        if p2:
            wa.next = gb2
            x3.next = 0
        else:
            wa.next = gb2 + ent2[IB + 8 : 8]
            x3.next = ent2[8:]
        x4.next = x3
        x5.next = x4
        x6.next = x5
        xl[0].next = x6

    @always(clk.posedge)
    def drain():
        if rst:
            dn.next = 0
        elif en:
            if fin:
                for p in range(P):
                    dr[p].next = acc[p]
                if gd == last_g:
                    dn.next = NT_LAST
                else:
                    dn.next = NT
            elif dn != 0:
                for p in range(PMR):
                    dr[p].next = dr[p + R]
                dn.next = dn - 1
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

    gens = [insts, issue, step_flags, select, operands, drain, drain_valid]
    if done is not None:

        @always(clk.posedge)
        def finish():
            if rst:
                done.next = 0
            else:
                done.next = ov and oidx == last_o

        gens.append(finish)
    return gens
