"""The feature memory of a ``"broadcast"`` consumer (``FmemPlan.compact``): per half, the
list of the image's NONZERO elements as ``(index, value)`` entries, appended as they are
written (up to ``w`` per cycle: one input beat per cycle from the loader, ``R`` outputs per
cycle from the previous layer's writer), and their number. :func:`nz_list` is the memory,
:func:`count_bits` the width of its counters.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, concat, intbv

from .memories import named
from .plan import CorePlan, FmemPlan, clog2
from .rtl_common import uint


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
def nz_flag(wr_en, wr_cnt, pix_b, nz, b: int):
    """``nz`` = element ``b`` of a write is written (``wr_cnt > b``) and nonzero."""

    @always_comb
    def comb():
        nz.next = wr_en and wr_cnt > b and pix_b != 0

    return comb


@block
def nz_pixel(nz, pix_b, ibase, pmod, pre_in, pre_out, pos, ent, b: int, ib: int):
    """Element ``b`` of a write to a nonzero list (from the input register): ``nz`` if it is
    written and nonzero, its append position ``pos = pmod + pre_in`` (``pre_in``: nonzero
    elements before it in this write; ``pre_out`` counts it too) and its entry ``{ibase + b,
    value}`` (the index in ``ib`` bits)."""
    idx = uint(len(ibase))

    @always_comb
    def comb():
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
    (``pdiv * W + pmod``), and per half the number of entries, latched one edge after
    ``commit`` (the writer's last write may come with it). Three stages from a write to the
    lane memories (see the comment below): entries are readable three edges after their
    write, counts two edges after ``commit``.

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
    MB = len(wr_mod)
    IBW = max(ib, MB)
    # Three stages from the writer to the lane memories, each one a short path (the ECP5
    # critical path was nonzero test -> prefix count -> append position in one cycle):
    #   1. the input register: each element's nonzero flag (``nz_r``), its value, the write's
    #      first index, half and commit;
    #   2. the compaction from it: prefix counts, append positions (``hit_r``, ``pos_r``,
    #      ``ent_r``, ``pd*_r``, ``half_r``) and the append position / counters (``ctl``);
    #   3. the lane select and the write into the LUT RAM.
    # The counts are latched one edge after ``commit``, the last entries land two edges after
    # it; an L-SCM starts the next engine two edges after the commit and its first read is
    # one edge later (``lwfc_hw.handshake.lscm``, ``lwfc_hw.cycles``), so the schedule does
    # not change.
    pix = [uint(8) for _ in range(W)]
    nz_r = [Signal(bool(0)) for _ in range(W)]
    pix_r = [uint(8) for _ in range(W)]
    ibase = uint(IBW)
    ibase_r = uint(IBW)
    en_r, half_w, commit_r = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    pre = [uint(XB) for _ in range(W + 1)]
    pos = [uint(XB) for _ in range(W)]
    ent = [uint(ib + 8) for _ in range(W)]
    pmod = uint(XB)
    pdiv = uint(abits + 1)
    pd0, pd1 = uint(abits), uint(abits)
    runc = uint(XB)
    cnt0, cnt1 = uint(XB), uint(XB)
    tot = pre[W]
    hit_r = [Signal(bool(0)) for _ in range(W)]
    pos_r = [uint(XB) for _ in range(W)]
    ent_r = [uint(ib + 8) for _ in range(W)]
    pd0_r, pd1_r = uint(abits), uint(abits)
    half_r = Signal(bool(0))
    nzf = [Signal(bool(0)) for _ in range(W)]
    insts = [named(f"b{k}", byte_of(wr_data, pix[k], k)) for k in range(W)]
    for k in range(W):
        insts.append(named(f"f{k}", nz_flag(wr_en, wr_cnt, pix[k], nzf[k], k)))
        insts.append(named(f"p{k}", nz_pixel(nz_r[k], pix_r[k], ibase_r, pmod, pre[k],
                                             pre[k + 1], pos[k], ent[k], k, ib)))
    for lane in range(W):
        insts.append(named(f"lane{lane}", nz_lane(clk, half_r, hit_r, pos_r, ent_r, pd0_r,
                                                  pd1_r, rd_en, rd_half, rd_addr,
                                                  entries[lane], lane, W, abits, ib)))

    @always(clk.posedge)
    def take():
        for k in range(W):
            nz_r[k].next = nzf[k] and not rst
            pix_r[k].next = pix[k]
        ibase_r.next = ibase
        en_r.next = wr_en and not rst
        half_w.next = wr_half
        commit_r.next = commit and not rst

    @always(clk.posedge)
    def stage():
        for k in range(W):
            hit_r[k].next = nz_r[k] and not rst
            pos_r[k].next = pos[k]
            ent_r[k].next = ent[k]
        pd0_r.next = pd0
        pd1_r.next = pd1
        half_r.next = half_w

    insts += [take, stage]
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
        elif commit_r:
            if half_w:
                cnt1.next = runc + tot
            else:
                cnt0.next = runc + tot
            pmod.next = 0
            pdiv.next = 0
            runc.next = 0
        elif en_r:
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
