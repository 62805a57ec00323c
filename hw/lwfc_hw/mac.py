"""The multiply-accumulate datapath of the engines: a lane's weight bank with its operand
registers (:func:`weight_lane`), the MAC array (multipliers, registered adder trees,
accumulators) and the width of its signals.

Widths: pixels / hidden activations uint8, weights int8, products and accumulators signed of
:func:`mac_bits` (at most 32, ``ACC_BITS``). Latencies are in :mod:`lwfc_hw.timing`.
"""

from __future__ import annotations

import itertools

from myhdl import Signal, always, block, intbv

from .memories import named, param_ram
from .plan import ACC_BITS, BANK_CHUNK, MemSpec, clog2
from .rtl_common import extend, uint
from .timing import PROD_REGS, PROD_REGS_DSP, tree_levels

#: Lanes served by one copy of a control register that the whole lane array would otherwise
#: share (the accumulators' valid / first flags here, the broadcast drain's load / shift
#: flags): with 50 lanes one register drove 1,300 - 2,500 flip-flop enables and multiplexer
#: selects across the ECP5, the worst nets of the ULX3S build. The copies are signals named
#: ``fanout_*``; ``hw/fusesoc/yosys_lwfc.tcl`` keeps Yosys from merging them back into one.
FANOUT_LANES = 8


def fanout_copies(lanes: int) -> int:
    """Copies of a lane-array control register: one per :data:`FANOUT_LANES` lanes."""
    return -(-lanes // FANOUT_LANES)


def mac_bits(n_in: int) -> int:
    """Bits of a signed sum of up to ``n_in`` products uint8 x int8 (each in ``[-255*128,
    255*127]``): ``|sum| <= n_in * 32640``, so this width never wraps (26 bits for 784
    inputs, at most ``ACC_BITS``). The MAC arrays' products, adder trees and accumulators
    use it: shorter carry chains, the same values."""
    return min(ACC_BITS, (n_in * 255 * 128).bit_length() + 1)


def mac_signal(bits: int) -> Signal:
    """A ``bits``-wide signed MAC-datapath signal (see :func:`mac_bits`)."""
    return Signal(intbv(0, min=-(2 ** (bits - 1)), max=2 ** (bits - 1)))


@block
def weight_lane(clk, en, addr, dout, h_sel, h_we, h_addr, h_wdata, rb, chunks: list[MemSpec],
                sel_bits: int, hown=None):
    """One lane's weight bank (int8 entries): ``dout`` is the entry at bank address ``addr``
    ``OPERAND_LAT`` (4) edges with ``en`` later.

    The bank is held by ``len(chunks)`` memories of at most ``BANK_CHUNK`` entries
    (:func:`~lwfc_hw.plan.plan_core`); each reads with two cycles of latency (block RAM, then
    its own output register), a third register selects the chunk of the address
    (``addr >> log2(BANK_CHUNK)``, delayed with the read) and a fourth, ``dout``, is the
    multiplier's operand register. ``addr`` is ``clog2(bank depth)`` bits wide.

    A single-port (SPRAM) bank (``MemSpec.spram``, only with ``plan.shared_port``) is never
    split: it is one memory whose depth is the whole bank's; Yosys cascades the SPRAM blocks
    and its read-data multiplexer ends at the memory's output register, so the latency is
    the same four edges (the third register then only repeats the word). ``hown``: see
    :func:`~lwfc_hw.memories.param_ram`.
    """
    n = len(chunks)
    insts = []
    wq = Signal(intbv(0, min=-128, max=128))
    if n == 1:
        q = Signal(intbv(0, min=-128, max=128))
        m = chunks[0]
        insts.append(named("c0", param_ram(clk, en, addr, q, h_sel, h_we, h_addr, h_wdata,
                                           rb[m.sel], m, sel_bits, hown)))

        @always(clk.posedge)
        def mux():
            if en:
                wq.next = q
                dout.next = wq

        return insts, mux
    outs = [Signal(intbv(0, min=-128, max=128)) for _ in range(n)]
    for j, m in enumerate(chunks):
        insts.append(named(f"c{j}", param_ram(clk, en, addr, outs[j], h_sel, h_we, h_addr,
                                              h_wdata, rb[m.sel], m, sel_bits, hown)))
    AB = len(addr)
    LO = clog2(BANK_CHUNK)
    CB = clog2(n)
    assert AB - LO == CB, (AB, LO, CB)
    cs1, cs2 = uint(CB), uint(CB)

    @always(clk.posedge)
    def mux():
        if en:
            cs1.next = addr[AB:LO]
            cs2.next = cs1
            wq.next = outs[cs2]
            dout.next = wq

    return insts, mux


@block
def adder_level(clk, en, src, dst, P: int, nin: int):
    """One registered adder-tree level: for each of ``P`` groups of ``nin`` signed words
    (``mac_bits`` wide) in ``src`` (group ``p`` at ``p*nin ...``), ``dst`` gets
    ``ceil(nin/2)`` words: the pairwise sums, and the odd last word passed through; on an
    edge with ``en``."""
    nout = (nin + 1) // 2
    npair = nin // 2
    odd = nin - 2 * npair
    last = nin - 1

    if odd:

        @always(clk.posedge)
        def add():
            if en:
                for p in range(P):
                    for j in range(npair):
                        dst[p * nout + j].next = src[p * nin + 2 * j] + src[p * nin + 2 * j + 1]
                    dst[p * nout + npair].next = src[p * nin + last]

    else:

        @always(clk.posedge)
        def add():
            if en:
                for p in range(P):
                    for j in range(npair):
                        dst[p * nout + j].next = src[p * nin + 2 * j] + src[p * nin + 2 * j + 1]

    return add


_ECP5_IDS = itertools.count()


def _mult18_ports() -> str:
    """The bit-level port connections of a MULT18X18D template (A, B from ``${a18}`` /
    ``${b18}``, P into ``${uid}_p``; the C inputs tied low, the cascade ports left open, as
    nextpnr wants)."""
    a = ", ".join(f".A{k}(${{a18}}[{k}])" for k in range(18))
    b = ", ".join(f".B{k}(${{b18}}[{k}])" for k in range(18))
    c = ", ".join(f".C{k}(1'b0)" for k in range(18))
    p = ", ".join(f".P{k}(${{uid}}_p[{k}])" for k in range(36))
    return f"{a},\n    {b},\n    {c},\n    {p}"


@block
def ecp5_mult(clk, en, a18, b18, p, uid: str):
    """``p = a18 * b18`` (two's-complement 18-bit operands; ``p`` signed, ``len(p)`` <= 72
    bits: the low bits of the sign-extended 36-bit product) two edges after the operands,
    advancing with ``en``: one Lattice ECP5 ``MULT18X18D`` with its A and B input registers
    and its output register on ``clk`` / ``en`` (CE0), signed 18 x 18 bits. The registers are
    inside the DSP, so the routes to and from the fabric start and end at registers (an
    unregistered DSP between fabric registers was the ULX3S build's critical path). ``uid``:
    the instance name, unique in the design. Simulation needs a model of the primitive
    (``hw/tb/ecp5_mult18x18d.v``); :func:`lwfc_hw.rtl_common.extend` makes the operands."""
    ar = Signal(intbv(0)[18:])
    br = Signal(intbv(0)[18:])
    MB = len(p)

    @always(clk.posedge)
    def model():
        if en:
            ar.next = a18
            br.next = b18
            p.next = ar.signed() * br.signed()

    p.driven = "reg"
    for sig in (clk, en, a18, b18):
        sig.read = True
    _template_names = (uid, MB)  # read by the verilog_code template below
    return model


ecp5_mult.verilog_code = (
    """
// ${uid}: ${p} = ${a18} * ${b18}, a MULT18X18D with input and output registers (2 edges)
wire [35:0] ${uid}_p;
wire signed [71:0] ${uid}_x = $$signed(${uid}_p);
MULT18X18D #(
    .REG_INPUTA_CLK("CLK0"), .REG_INPUTA_CE("CE0"), .REG_INPUTA_RST("RST0"),
    .REG_INPUTB_CLK("CLK0"), .REG_INPUTB_CE("CE0"), .REG_INPUTB_RST("RST0"),
    .REG_OUTPUT_CLK("CLK0"), .REG_OUTPUT_CE("CE0"), .REG_OUTPUT_RST("RST0"),
    .GSR("DISABLED"), .RESETMODE("SYNC")
) ${uid} (
    .SIGNEDA(1'b1), .SIGNEDB(1'b1), .SOURCEA(1'b0), .SOURCEB(1'b0),
    .CLK0(${clk}), .CE0(${en}), .RST0(1'b0),
    """ + _mult18_ports() + """
);
always @(*) ${p} = ${uid}_x[${MB}-1:0];
"""
)


def ecp5_ids() -> str:
    """A fresh MULT18X18D instance name."""
    return f"lwfc_mult{next(_ECP5_IDS)}"


@block
def mac_array(clk, rst, en, v_in, f_in, l_in, x_lanes, w_lanes, acc, fin, P: int, Q: int,
              n_in: int, dsp_prims: str = "", fin_copies=None, prod_regs: int = PROD_REGS):
    """``P x Q`` multipliers, ``P`` registered adder trees and ``P`` accumulators.

    ``(v_in, f_in, l_in)`` flag the step whose operands are at the multiplier inputs (valid,
    first step of a row, last step of a row). Every stage below advances on an edge with
    ``en``. Products (uint8 x int8; ``len(acc[0])`` = ``mac_bits(n_in)`` bits, as every
    register below): ``prod[p*Q+q] = x_lanes[q] * w_lanes[p*Q+q]``, except that in the
    last step of a row lanes beyond input ``n_in - 1`` give 0 (their
    feature-memory entries are never written, so they may hold X in simulation or stale data
    in silicon). A second register holds the products (the multipliers are DSP blocks at
    fixed sites: the long route from one to its adder tree gets a cycle of its own), and with
    ``prod_regs == 3`` (:data:`lwfc_hw.timing.PROD_REGS_DSP`) a third one. Then
    ``tree_levels(Q)`` registered levels of two-input adders reduce
    each output's ``Q`` products to one sum, and ``acc[p] = (f ? 0 : acc[p]) + sum``. ``fin``
    (registered with the accumulators) is high in the cycle after a row's last step has been
    accumulated, so ``acc`` is final then: ``mac_latency(Q, prod_regs)`` edges after the
    operands.
    ``fin_copies`` (optional, :func:`fanout_copies` ``(P)`` signals): copies of ``fin``, one
    per :data:`FANOUT_LANES` output lanes, for a consumer of all ``P`` sums; the
    accumulators' own valid / first flags are copied the same way.

    ``dsp_prims == "ecp5"`` (``CorePlan.dsp_prims``; when every step uses all ``Q`` lanes):
    each multiplier and its two product registers are one :func:`ecp5_mult` (operand and
    product registers inside the DSP), with the same latency; the third product register
    (``prod_regs == 3``) is in the fabric, so the route from the DSP site ends at a register.
    """
    if prod_regs not in (PROD_REGS, PROD_REGS_DSP):
        raise ValueError(f"prod_regs must be {PROD_REGS} or {PROD_REGS_DSP}, got {prod_regs}")
    N = P * Q
    LT = tree_levels(Q)
    QLAST = n_in - (-(-n_in // Q) - 1) * Q  # lanes in use in the last step, 1 ... Q
    MB = len(acc[0])  # mac_bits(n_in), chosen by the caller
    prod = [mac_signal(MB) for _ in range(N)]
    prod2 = [mac_signal(MB) for _ in range(N)]
    prod3 = [mac_signal(MB) for _ in range(N)] if prod_regs == 3 else prod2
    sizes = [Q]
    while sizes[-1] > 1:
        sizes.append((sizes[-1] + 1) // 2)
    levels = [prod3] + [[mac_signal(MB) for _ in range(P * n)] for n in sizes[1:]]
    top = levels[LT]
    # flags per stage: 0 = products, 1 (, 2) = the further product registers, then one per
    # tree level
    NS = LT + prod_regs
    vs = [Signal(bool(0)) for _ in range(NS)]
    fs = [Signal(bool(0)) for _ in range(NS)]
    ls = [Signal(bool(0)) for _ in range(NS)]
    LS = NS - 1

    if dsp_prims == "ecp5" and QLAST == Q:
        x18 = [Signal(intbv(0)[18:]) for _ in range(Q)]
        w18 = [Signal(intbv(0)[18:]) for _ in range(N)]
        mul = [named(f"x{q}", extend(x_lanes[q], x18[q])) for q in range(Q)]
        for lane in range(N):
            mul.append(named(f"e{lane}", extend(w_lanes[lane], w18[lane])))
            mul.append(named(f"m{lane}", ecp5_mult(clk, en, x18[lane % Q], w18[lane],
                                                   prod2[lane], ecp5_ids())))

    elif QLAST == Q:

        @always(clk.posedge)
        def mul():
            if en:
                for lane in range(N):
                    prod[lane].next = x_lanes[lane % Q] * w_lanes[lane]

    else:

        @always(clk.posedge)
        def mul():
            if en:
                for lane in range(N):
                    if l_in and lane % Q >= QLAST:
                        prod[lane].next = 0
                    else:
                        prod[lane].next = x_lanes[lane % Q] * w_lanes[lane]

    @always(clk.posedge)
    def flags():
        if rst:
            for i in range(NS):
                vs[i].next = 0
            fin.next = 0
        elif en:
            vs[0].next = v_in
            fs[0].next = f_in
            ls[0].next = l_in
            for i in range(1, NS):
                vs[i].next = vs[i - 1]
                fs[i].next = fs[i - 1]
                ls[i].next = ls[i - 1]
            fin.next = vs[LS] and ls[LS]

    # the last stage's valid / first flags, one copy per FANOUT_LANES accumulators (the
    # copies of vs[LS] / fs[LS]); fin's copies for the caller
    NG = fanout_copies(P)
    FAN = FANOUT_LANES
    fanout_v = [Signal(bool(0)) for _ in range(NG)]
    fanout_f = [Signal(bool(0)) for _ in range(NG)]
    vp, fp = vs[LS - 1], fs[LS - 1]

    @always(clk.posedge)
    def copies():
        if rst:
            for k in range(NG):
                fanout_v[k].next = 0
        elif en:
            for k in range(NG):
                fanout_v[k].next = vp
                fanout_f[k].next = fp

    if fin_copies is not None:
        fanout_fin = fin_copies
        assert len(fanout_fin) == NG, "fin_copies: one per FANOUT_LANES lanes"
        vl, ll = vs[LS], ls[LS]

        @always(clk.posedge)
        def fin_copy():
            if rst:
                for k in range(NG):
                    fanout_fin[k].next = 0
            elif en:
                for k in range(NG):
                    fanout_fin[k].next = vl and ll

        copies = [copies, fin_copy]

    if dsp_prims == "ecp5" and QLAST == Q:
        pipe = []  # the DSPs hold the first two product registers
    else:

        @always(clk.posedge)
        def pipe():
            if en:
                for lane in range(N):
                    prod2[lane].next = prod[lane]

    if prod_regs == 3:

        @always(clk.posedge)
        def pipe3():
            if en:
                for lane in range(N):
                    prod3[lane].next = prod2[lane]

        pipe = [pipe3] if isinstance(pipe, list) else [pipe, pipe3]

    adders = [named(f"t{i}", adder_level(clk, en, levels[i], levels[i + 1], P, sizes[i]))
              for i in range(LT)]

    @always(clk.posedge)
    def accum():
        if en:
            for p in range(P):
                if fanout_v[p // FAN]:
                    if fanout_f[p // FAN]:
                        acc[p].next = top[p]
                    else:
                        acc[p].next = acc[p] + top[p]

    return mul, flags, copies, pipe, adders, accum
