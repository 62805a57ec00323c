"""The feature memory of a ``"broadcast"`` consumer (``FmemPlan.compact``): per half, the
image's NONZERO elements as ``(index, value)`` entries and their number. Element ``i`` of a
write goes to lane ``i % W`` (``W = fp.q = fp.w`` lanes: one input beat per cycle from the
loader, ``R`` outputs per cycle from the previous layer's writer), appended at that lane's
own position, so there is no compaction network: each lane keeps its own count.
:func:`nz_list` is the memory, :func:`count_bits` the width of its total counter.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, concat, intbv

from . import ecp5_bram
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
    """Width of the nonzero-list total counter of layer ``layer`` (and the engine's step
    counter): counts up to ``n_in``, ``2 * w`` and the engine's ``P_min``."""
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
def nz_sum(nz, pre_in, pre_out):
    """``pre_out = pre_in + nz``: one step of the count of a write's nonzero elements."""

    @always_comb
    def comb():
        if nz:
            pre_out.next = pre_in + 1
        else:
            pre_out.next = pre_in

    return comb


@block
def list_ram(clk, we, waddr, wdata, re, raddr, rdata, regs: int):
    """One lane's memory, inferred: ``2 ** len(waddr)`` words of ``len(wdata)`` bits, no
    initial contents. Write: ``mem[waddr] = wdata`` on an edge with ``we``. Read: on an edge
    with ``re``, the read register takes ``mem[raddr]`` (``regs == 1``: it is ``rdata``); with
    ``regs == 2`` an output register follows (``rdata``, also advancing with ``re``): two
    edges from address to data."""
    W = len(wdata)
    mem = [Signal(intbv(0)[W:]) for _ in range(2 ** len(waddr))]

    @always(clk.posedge)
    def write():
        if we:
            mem[waddr].next = wdata

    if regs == 1:

        @always(clk.posedge)
        def read():
            if re:
                rdata.next = mem[raddr]

        return write, read

    ra = uint(W)

    @always(clk.posedge)
    def read2():
        if re:
            ra.next = mem[raddr]
            rdata.next = ra

    return write, read2


@block
def dp16kd_list_ram(clk, we, waddr, wdata, re, raddr, rdata, name: str):
    """:func:`list_ram` with ``regs == 2`` as ECP5 DP16KD instances named ``name``
    (:func:`lwfc_hw.ecp5_bram.instance_text`; the block RAM's own output register, port A
    reads, port B writes); the MyHDL model behaves the same."""
    AB = len(waddr)
    W = len(wdata)
    depth = 2**AB
    mem = [0] * depth
    pipe = [0]
    mode = ecp5_bram.dp16kd_mode(depth, W)
    _template_names = (name,)  # read by the verilog_code template below

    @always(clk.posedge)
    def model():
        if re:
            rdata.next = pipe[0]
            pipe[0] = mem[int(raddr)]
        if we:
            mem[int(waddr)] = int(wdata)

    for sig in (we, waddr, wdata, re, raddr):
        sig.read = True
    rdata.driven = "wire"
    dp16kd_list_ram.verilog_code = (
        f"// {name}: {depth} x {W} bit nonzero-list lane, ECP5 DP16KD with output registers\n"
        + ecp5_bram.instance_text(name, W, AB, mode, clk="${clk}", ce_a="${re}",
                                  addr_a="${raddr}", addr_b="${waddr}", we_b="${we}",
                                  wdata_b="${wdata}", initval=False)
        + f"assign ${{rdata}} = {name}_doa[{W - 1}:0];\n")
    return model


@block
def nz_lane(clk, rst, nz, pix, ibase, half, commit, rd_en, rd_half, rd_addr, rd_data, lcount,
            lane: int, abits: int, ib: int, lb: int, name: str = "", regs: int = 1,
            prim: str = ""):
    """Lane ``lane`` of a list memory (see :func:`nz_list`): the nonzero elements ``i`` with
    ``i % W == lane`` of each half, in index order, at addresses ``{half, 0, 1, ...}``.

    Write side (from the list's input register): ``nz`` appends ``{index >> lb, value}``
    (``ib - lb`` index bits, at least 1: the lane holds the low ``lb`` bits when ``W`` is a
    power of two, else ``lb == 0``), the element's index being ``ibase + lane``. ``commit``
    latches the half's count (with the append that comes with it) and restarts the lane.
    Read side: read of ``{rd_half, rd_addr}`` when ``rd_en``, ``regs`` edges (the memory:
    :func:`list_ram`, or :func:`dp16kd_list_ram` named ``name`` when ``prim``); ``lcount`` = the
    entries of half ``rd_half`` (``FmemPlan.lane_count_bits``, from registers; None for a
    list of one lane, whose count is the total).
    """
    EIB = max(1, ib - lb)
    waddr, raddr = uint(abits + 1), uint(abits + 1)
    wdata = uint(EIB + 8)
    LCB = clog2(2**abits + 1) if lcount is None else len(lcount)
    pc = uint(LCB)
    c0, c1 = uint(LCB), uint(LCB)
    wa = uint(abits)
    sidx = uint(EIB)
    IBW = len(ibase)
    assert lb + EIB <= IBW, "the list's ibase is too narrow"

    if lb > 0:
        LO, HI = lb, lb + EIB

        @always_comb
        def index():
            sidx.next = ibase[HI:LO]
            wa.next = pc[abits:]

    else:
        full = uint(IBW)

        @always_comb
        def index():
            full.next = ibase + lane
            sidx.next = full[EIB:]
            wa.next = pc[abits:]

    @always_comb
    def ports():
        waddr.next = concat(half, wa)
        wdata.next = concat(sidx, pix)
        raddr.next = concat(rd_half, rd_addr)

    if prim:
        assert prim == "dp16kd" and regs == 2, "a DP16KD list lane has the output register"
        ram = named("ram", dp16kd_list_ram(clk, nz, waddr, wdata, rd_en, raddr, rd_data, name))
    else:
        ram = named("ram", list_ram(clk, nz, waddr, wdata, rd_en, raddr, rd_data, regs))

    @always(clk.posedge)
    def ctl():
        if rst or commit:
            pc.next = 0
        elif nz:
            pc.next = pc + 1

    @always(clk.posedge)
    def latch():
        if commit:
            if half and nz:
                c1.next = pc + 1
            elif half:
                c1.next = pc
            elif nz:
                c0.next = pc + 1
            else:
                c0.next = pc

    @always_comb
    def rd_count():
        if rd_half:
            lcount.next = c1
        else:
            lcount.next = c0

    if lcount is None:
        return index, ports, ram, ctl
    return index, ports, ram, ctl, latch, rd_count


@block
def nz_list(clk, rst, wr_en, wr_half, wr_div, wr_mod, wr_cnt, wr_data, commit, rd_en, rd_half,
            rd_addr, entries, count, lcounts, fp: FmemPlan, regs: int = 1):
    """A ping-pong feature memory holding the list of nonzero elements of each half
    (``FmemPlan.compact``): ``W = fp.q == fp.w`` lanes of :func:`nz_lane`, element ``i`` in
    lane ``i % W``. Two stages from a write to the lane memories: the input register (each
    element's nonzero flag and value, the write's first index, half and commit), then the
    lanes' appends. Entries are readable two edges after their write; the counts (``count``,
    the half's total, and ``lcounts[l]``, lane ``l``'s) are latched one edge after the
    registered ``commit`` (the writer's last write may come with it). An L-SCM starts the
    next engine two edges after the commit and its first read is one edge later
    (``lwfc_hw.handshake.lscm``, ``lwfc_hw.cycles``).

    Write port as :func:`lwfc_hw.memories.fmem_lane`'s (the writers here always start a write
    at a multiple of ``W``: ``wr_mod == 0``, so element ``b`` of a write goes to lane ``b``):
    ``wr_cnt`` consecutive elements from element ``ibase = wr_div * W + wr_mod`` per write,
    ``wr_data`` = 8 bits (``W == 1``) or ``8 * W`` bits (element ``b`` in byte ``b``). Read
    port: ``entries[l]`` = lane ``l`` at ``{rd_half, rd_addr}`` ``regs`` edges after the
    address (1, or 2 with an output register: the engine's ``EnginePlan.list_lat``; when
    ``rd_en``; ECP5 block RAMs when ``fp.prim``), ``fp.entry_bits`` wide
    ``{index >> fp.lane_bits, value}``; ``count`` and ``lcounts`` of half ``rd_half``
    (combinational from registers); ``len(count)`` = :func:`count_bits` bits.
    """
    W = fp.w
    ib = fp.index_bits
    lb = fp.lane_bits
    abits = fp.abits
    XB = len(count)
    MB = len(wr_mod)
    IBW = max(ib, MB, lb + fp.entry_index_bits)
    pix = [uint(8) for _ in range(W)]
    nz_r = [Signal(bool(0)) for _ in range(W)]
    pix_r = [uint(8) for _ in range(W)]
    ibase = uint(IBW)
    ibase_r = uint(IBW)
    en_r, half_w, commit_r = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    pre = [uint(XB) for _ in range(W + 1)]
    runc = uint(XB)
    cnt0, cnt1 = uint(XB), uint(XB)
    tot = pre[W]
    nzf = [Signal(bool(0)) for _ in range(W)]
    insts = [named(f"b{k}", byte_of(wr_data, pix[k], k)) for k in range(W)]
    for k in range(W):
        insts.append(named(f"f{k}", nz_flag(wr_en, wr_cnt, pix[k], nzf[k], k)))
        insts.append(named(f"s{k}", nz_sum(nz_r[k], pre[k], pre[k + 1])))
        insts.append(named(f"lane{k}", nz_lane(clk, rst, nz_r[k], pix_r[k], ibase_r, half_w,
                                               commit_r, rd_en, rd_half, rd_addr, entries[k],
                                               lcounts[k] if W > 1 else None, k, abits, ib,
                                               lb, f"l{fp.index}_nzl{k}", regs, fp.prim)))

    @always(clk.posedge)
    def take():
        for k in range(W):
            nz_r[k].next = nzf[k] and not rst
            pix_r[k].next = pix[k]
        ibase_r.next = ibase
        en_r.next = wr_en and not rst
        half_w.next = wr_half
        commit_r.next = commit and not rst

    pre0 = pre[0]
    ZB = max(1, IBW - MB)

    if IBW > MB:

        @always_comb
        def base():
            pre0.next = 0
            ibase.next = wr_div * W + concat(intbv(0)[ZB:], wr_mod)

    else:

        @always_comb
        def base():
            pre0.next = 0
            ibase.next = wr_div * W + wr_mod

    @always(clk.posedge)
    def ctl():
        if rst:
            runc.next = 0
        elif commit_r:
            if half_w:
                cnt1.next = runc + tot
            else:
                cnt0.next = runc + tot
            runc.next = 0
        elif en_r:
            runc.next = runc + tot

    @always_comb
    def rd_count():
        if rd_half:
            count.next = cnt1
        else:
            count.next = cnt0

    return insts, take, base, ctl, rd_count
