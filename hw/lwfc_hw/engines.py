"""Layer engines: the MAC array, the requantizer, the dense FC engine, and the compressed FC
layer's DCL (U-matrix calculator + DCL-SCM) and DIL (V-matrix calculator + DIL-SCM).

Widths: pixels / hidden activations uint8, weights and latents int8, products and
accumulators 32-bit signed (``ACC_BITS``), requantization product 48-bit signed
(``PROD_BITS``). Every product is declared at accumulator width so that no expression is
narrower than its destination.
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, concat, enum, intbv

from .memories import named, param_ram
from .plan import (
    ACC_BITS,
    BANK_CHUNK,
    RQ_BITS,
    RQ_STAGE_CHOICES,
    RQ_STAGES,
    CorePlan,
    EnginePlan,
    MemSpec,
    clog2,
)

ACC_MIN, ACC_MAX = -(2 ** (ACC_BITS - 1)), 2 ** (ACC_BITS - 1)
PROD_BITS = 48
#: Edges from an engine's step address register to the step's operands at the multiplier
#: inputs: weights (block-RAM read, its output register, the chunk-select register, the
#: operand register) and inputs (feature-memory read and three registers) alike. The operand
#: register feeds only its multiplier, so placement can put it next to the DSP block.
OPERAND_LAT = 4

def tree_levels(q: int) -> int:
    """Registered two-input adder levels that reduce ``q`` products to one (0 for ``q == 1``)."""
    return (q - 1).bit_length()


def mac_latency(q: int) -> int:
    """Edges of :func:`mac_array` from operands to final accumulators: the product
    register, a second product register, ``tree_levels(q)`` adder levels and the
    accumulator."""
    return 3 + tree_levels(q)

#: DCL-SCM states (paper: idle, compute, multiply, accumulate).
t_dcl = enum("IDLE", "COMPUTE", "MULTIPLY", "ACCUMULATE")
#: DIL-SCM states (paper: idle, run, wait).
t_dil = enum("IDLE", "RUN", "WAIT")
#: L-SCM states.
t_lscm = enum("IDLE", "BUSY")


def acc_signal(val: int = 0) -> Signal:
    """A 32-bit signed accumulator-width signal."""
    return Signal(intbv(val, min=ACC_MIN, max=ACC_MAX))


def mac_bits(n_in: int) -> int:
    """Bits of a signed sum of up to ``n_in`` products uint8 x int8 (each in ``[-255*128,
    255*127]``): ``|sum| <= n_in * 32640``, so this width never wraps (26 bits for 784
    inputs, at most ``ACC_BITS``). The MAC arrays' products, adder trees and accumulators
    use it: shorter carry chains, the same values."""
    return min(ACC_BITS, (n_in * 255 * 128).bit_length() + 1)


def mac_signal(bits: int) -> Signal:
    """A ``bits``-wide signed MAC-datapath signal (see :func:`mac_bits`)."""
    return Signal(intbv(0, min=-(2 ** (bits - 1)), max=2 ** (bits - 1)))


def uint(bits: int, val: int = 0) -> Signal:
    return Signal(intbv(val)[bits:])


@block
def delay_line(clk, rst, en, din, dout, n: int):
    """``dout`` is ``din`` delayed by ``n >= 1`` clock edges with ``en`` high (same width as
    ``din``). With ``rst`` (not None) every stage clears on reset (for valid flags)."""
    assert n >= 1
    regs = [Signal(din.val) for _ in range(n)]
    NM1 = n - 1

    if rst is None:

        @always(clk.posedge)
        def seq():
            if en:
                regs[0].next = din
                for i in range(1, n):
                    regs[i].next = regs[i - 1]

    else:

        @always(clk.posedge)
        def seq():
            if rst:
                for i in range(n):
                    regs[i].next = 0
            elif en:
                regs[0].next = din
                for i in range(1, n):
                    regs[i].next = regs[i - 1]

    @always_comb
    def out():
        dout.next = regs[NM1]

    return seq, out


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
def requant(clk, rst, en, iv, idx, acc, ov, oidx, y, h_sel, h_we, h_addr, h_wdata, rb,
            bias_spec: MemSpec | None, rq_spec: MemSpec | None, out_kind: str, sel_bits: int,
            hown=None, stages: int = RQ_STAGES):
    """``stages``-stage requantizer ``y = clamp((((acc + b) * M) >>> (S - 1)) + 1 >>> 1)``.

    That is ``(acc' * M + 2**(S-1)) >> S`` of ``docs/arithmetic.md`` (one rounding, ties to
    +inf), clamped to uint8 (``out_kind == "u8"``, hidden output with ReLU) or int8 (``"i8"``,
    low-rank latent, no bias). ``"i32"``: the last layer, ``y = acc + b`` (logits).

    Stages (``RQ_STAGES``; every one ends at a register): R1 sample (the bias / requant words
    are read at ``idx`` meanwhile: two cycles), R2 wait for them, R3 bias add (32-bit) and
    unpack ``M`` (15 bits) / ``S`` (6 bits), R4 the DSP operand registers, R5 two 16 x
    15-bit partial products of ``acc' * M`` (low half unsigned, high half signed; one DSP
    block each), R6 a second product register, R7 their 48-bit sum and ``S - 1`` split into
    a multiple of 8 and a rest, R8 the coarse arithmetic shift, R9 the fine shift, R10 round
    (ties to +inf) and clamp (the clamp decisions compare the shifted value with ``2*hi`` and
    ``2*lo - 1``, so they do not wait for the rounding increment).

    ``stages == 6`` (:data:`~lwfc_hw.plan.RQ_STAGE_CHOICES`; for a slow clock) computes the
    same integers with fewer registers: R1 ... R3 as above, R4 the two partial products
    (straight from R3: the DSP blocks' own input side), R5 their 48-bit sum and the coarse
    shift in one step, R6 the fine shift, round and clamp; the logit is delayed to the same
    latency (``stages - 4`` registers after R3 in both forms).

    Input ``(iv, idx, acc)`` is sampled on an edge with ``en``; ``(ov, oidx, y)`` appear
    ``stages`` enabled edges later. ``bias[idx]`` and ``rq[idx]`` (word ``S << 15 | M``)
    are read from host-writable memories. ``ov`` / ``oidx`` may be None (no valid / index
    pipeline: a requantizer beside another that carries them). ``rb`` maps a memory id to
    its readback signal; ``hown`` (shared-port plans: the core's ``idle``) goes to every
    :func:`~lwfc_hw.memories.param_ram` of the engine, here and in the engines below.
    """
    if stages not in RQ_STAGE_CHOICES:
        raise ValueError(f"requant: stages must be one of {RQ_STAGE_CHOICES}, got {stages!r}")
    ib = len(idx)
    NV = stages - 1
    NL = stages - 4  # logit delay registers, R4 ... R(stages - 1)
    v = [Signal(bool(0)) for _ in range(NV)]
    ii = [uint(ib) for _ in range(NV)]
    a1, a2, s3, s4 = acc_signal(), acc_signal(), acc_signal(), acc_signal()
    # acc is mac_bits(n_in) wide (32 for the DIL's rings): sign-extended to 32 bits at R1
    AB = len(acc)
    XB = ACC_BITS - AB
    sx = uint(max(1, XB))  # the sign bits above acc (none when acc is 32 bits)
    XMAX = 2 ** XB - 1
    lg = [acc_signal() for _ in range(NL)]
    m3, m4 = uint(15), uint(15)
    # M as a signed 16-bit operand for the signed high-half product
    m3s = Signal(intbv(0, min=-(2**15), max=2**15))
    m4s = Signal(intbv(0, min=-(2**15), max=2**15))
    sh3, sh4, sh5, sh6 = uint(6, 1), uint(6, 1), uint(6, 1), uint(6, 1)

    def p48() -> Signal:
        return Signal(intbv(0, min=-(2 ** (PROD_BITS - 1)), max=2 ** (PROD_BITS - 1)))

    plo5, phi5, plo6, phi6, p7, r8, q9 = (p48() for _ in range(7))
    kc7, kf7, kf8 = uint(3), uint(3), uint(3)
    bias_q = acc_signal()
    rq_q = uint(RQ_BITS)
    insts = []
    if bias_spec is not None:
        insts.append(named("bias", param_ram(clk, en, idx, bias_q, h_sel, h_we, h_addr, h_wdata,
                                             rb[bias_spec.sel], bias_spec, sel_bits, hown)))
    if rq_spec is not None:
        insts.append(named("rq", param_ram(clk, en, idx, rq_q, h_sel, h_we, h_addr, h_wdata,
                                           rb[rq_spec.sel], rq_spec, sel_bits, hown)))
    has_bias = bias_spec is not None
    is_logit = out_kind == "i32"
    lo, hi = (0, 255) if out_kind == "u8" else (-128, 127)
    HI2, LO2 = 2 * hi, 2 * lo - 1
    YB = len(y)
    LASTV = NV - 1
    LASTL = NL - 1

    @always(clk.posedge)
    def stage_ctl():
        if en and not rst:
            # R0 -> R1: sample the input; bias / requant words are read at idx meanwhile
            a1.next = acc_w
            # R1 -> R2: the memory words are on their way
            a2.next = a1

    flags = []
    if ov is not None:

        @always(clk.posedge)
        def valid_flags():
            # the valid flag travels with the data (cleared on reset)
            if rst:
                for i in range(NV):
                    v[i].next = 0
                ov.next = 0
            elif en:
                v[0].next = iv
                for i in range(1, NV):
                    v[i].next = v[i - 1]
                ov.next = v[LASTV]

        flags.append(valid_flags)
    if oidx is not None:

        @always(clk.posedge)
        def index_flags():
            if en and not rst:
                ii[0].next = idx
                for i in range(1, NV):
                    ii[i].next = ii[i - 1]
                oidx.next = ii[LASTV]

        flags.append(index_flags)

    ext = []
    if XB == 0:
        acc_w = acc
    else:
        acc_w = acc_signal()  # acc sign-extended to 32 bits

        @always_comb
        def sign_ext():
            if acc[AB - 1]:
                sx.next = XMAX
            else:
                sx.next = 0

        @always_comb
        def widen():
            acc_w.next = concat(sx, acc[AB:]).signed()

        ext = [sign_ext, widen]

    if has_bias:

        @always(clk.posedge)
        def stage_bias():
            # R2 -> R3: add the bias
            if en:
                s3.next = a2 + bias_q

    else:

        @always(clk.posedge)
        def stage_bias():
            if en:
                s3.next = a2

    if is_logit:

        @always(clk.posedge)
        def stage_out():
            # R3 -> ... -> out: the logit, delayed to the same latency
            if en and not rst:
                lg[0].next = s3
                for i in range(1, NL):
                    lg[i].next = lg[i - 1]
                y.next = lg[LASTL]

    elif stages == RQ_STAGES:

        @always(clk.posedge)
        def stage_out():
            u = intbv(0)[YB:]
            k = intbv(0)[6:]
            if en and not rst:
                # R2 -> R3: unpack M and S
                m3.next = rq_q[15:]
                m3s.next = concat(False, rq_q[15:]).signed()
                sh3.next = rq_q[RQ_BITS:15]
                # R3 -> R4: DSP operand registers
                s4.next = s3
                m4.next = m3
                m4s.next = m3s
                sh4.next = sh3
                # R4 -> R5 -> R6: partial products acc' * M = hi * M * 2**16 + lo * M
                plo5.next = s4[16:] * m4
                phi5.next = s4[32:16].signed() * m4s
                sh5.next = sh4
                plo6.next = plo5
                phi6.next = phi5
                sh6.next = sh5
                # R6 -> R7: the 48-bit product; S - 1 = 8 * kc + kf
                p7.next = (phi6 << 16) + plo6
                k[:] = sh6 - 1
                kc7.next = k[6:3]
                kf7.next = k[3:]
                # R7 -> R8 -> R9: the variable arithmetic shift in two steps
                r8.next = p7 >> concat(kc7, intbv(0)[3:])
                kf8.next = kf7
                q9.next = r8 >> kf8
                # R9 -> out: round (ties to +inf), clamp
                if q9 > HI2:
                    y.next = hi
                elif q9 < LO2:
                    y.next = lo
                else:
                    # in range: the low YB bits of (q9 + 1) >> 1 = (q9 >> 1) + q9[0]
                    u[:] = q9[YB + 1 : 1] + concat(intbv(0)[YB - 1 :], q9[0])
                    y.next = u

    else:
        # the short form: no operand registers, no second product register, the 48-bit sum
        # and the coarse shift in one stage, the fine shift with the rounding and clamp
        p_c, q_c = p48(), p48()

        @always_comb
        def product_sum():
            # the 48-bit product acc' * M = hi * M * 2**16 + lo * M
            p_c.next = (phi5 << 16) + plo5

        @always_comb
        def fine_shift():
            q_c.next = r8 >> kf8

        ext = [*ext, product_sum, fine_shift]

        @always(clk.posedge)
        def stage_out():
            u = intbv(0)[YB:]
            k = intbv(0)[6:]
            if en and not rst:
                # R2 -> R3: unpack M and S
                m3.next = rq_q[15:]
                m3s.next = concat(False, rq_q[15:]).signed()
                sh3.next = rq_q[RQ_BITS:15]
                # R3 -> R4: partial products; S - 1 = 8 * kc + kf
                plo5.next = s3[16:] * m3
                phi5.next = s3[32:16].signed() * m3s
                k[:] = sh3 - 1
                kc7.next = k[6:3]
                kf7.next = k[3:]
                # R4 -> R5: the 48-bit product, shifted by the multiple of 8
                r8.next = p_c >> concat(kc7, intbv(0)[3:])
                kf8.next = kf7
                # R5 -> out: the fine shift, round (ties to +inf), clamp
                if q_c > HI2:
                    y.next = hi
                elif q_c < LO2:
                    y.next = lo
                else:
                    # in range: the low YB bits of (q + 1) >> 1 = (q >> 1) + q[0]
                    u[:] = q_c[YB + 1 : 1] + concat(intbv(0)[YB - 1 :], q_c[0])
                    y.next = u

    return insts, ext, stage_ctl, flags, stage_bias, stage_out


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


@block
def mac_array(clk, rst, en, v_in, f_in, l_in, x_lanes, w_lanes, acc, fin, P: int, Q: int,
              n_in: int):
    """``P x Q`` multipliers, ``P`` registered adder trees and ``P`` accumulators.

    ``(v_in, f_in, l_in)`` flag the step whose operands are at the multiplier inputs (valid,
    first step of a row, last step of a row). Every stage below advances on an edge with
    ``en``. Products (uint8 x int8; ``len(acc[0])`` = ``mac_bits(n_in)`` bits, as every
    register below): ``prod[p*Q+q] = x_lanes[q] * w_lanes[p*Q+q]``, except that in the
    last step of a row lanes beyond input ``n_in - 1`` give 0 (their
    feature-memory entries are never written, so they may hold X in simulation or stale data
    in silicon). A second register holds the products (the multipliers are DSP blocks at
    fixed sites: the long route from one to its adder tree gets a cycle of its own). Then
    ``tree_levels(Q)`` registered levels of two-input adders reduce
    each output's ``Q`` products to one sum, and ``acc[p] = (f ? 0 : acc[p]) + sum``. ``fin``
    (registered with the accumulators) is high in the cycle after a row's last step has been
    accumulated, so ``acc`` is final then: ``mac_latency(Q)`` edges after the operands.
    """
    N = P * Q
    LT = tree_levels(Q)
    QLAST = n_in - (-(-n_in // Q) - 1) * Q  # lanes in use in the last step, 1 ... Q
    MB = len(acc[0])  # mac_bits(n_in), chosen by the caller
    prod = [mac_signal(MB) for _ in range(N)]
    prod2 = [mac_signal(MB) for _ in range(N)]
    sizes = [Q]
    while sizes[-1] > 1:
        sizes.append((sizes[-1] + 1) // 2)
    levels = [prod2] + [[mac_signal(MB) for _ in range(P * n)] for n in sizes[1:]]
    top = levels[LT]
    # flags per stage: 0 = products, 1 = second product register, 1 + i = tree level i
    NS = LT + 2
    vs = [Signal(bool(0)) for _ in range(NS)]
    fs = [Signal(bool(0)) for _ in range(NS)]
    ls = [Signal(bool(0)) for _ in range(NS)]
    LS = NS - 1

    if QLAST == Q:

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

    @always(clk.posedge)
    def pipe():
        if en:
            for lane in range(N):
                prod2[lane].next = prod[lane]

    adders = [named(f"t{i}", adder_level(clk, en, levels[i], levels[i + 1], P, sizes[i]))
              for i in range(LT)]

    @always(clk.posedge)
    def accum():
        if en and vs[LS]:
            for p in range(P):
                if fs[LS]:
                    acc[p].next = top[p]
                else:
                    acc[p].next = acc[p] + top[p]

    return mul, flags, pipe, adders, accum


@block
def dense_engine(clk, rst, start, done, rd_en, rd_addr, x_lanes, ov, oidx, y, h_sel, h_we, h_addr,
                 h_wdata, rb, e: EnginePlan, plan: CorePlan, hown=None):
    """Dense FC layer engine (paper figure 15, widened to ``P x Q`` lanes).

    After ``start`` it issues ``G * K`` steps, one per cycle: step ``(g, c)`` reads inputs
    ``c*Q ... c*Q+Q-1`` (``rd_addr = c``) and weight bank address ``g*K + c``. The operands
    reach the multipliers ``OPERAND_LAT`` edges later (feature memory: block-RAM read plus
    three registers; weights: :func:`weight_lane`), then the MAC array (products, adder tree,
    accumulators: ``mac_latency(Q)`` edges). When a group's last step has accumulated, the
    ``P`` sums move to a drain shift register that feeds the requantizer one output per
    cycle (``K >= P`` guarantees it is empty again in time). ``done`` pulses one cycle after
    the last output ``(ov, oidx = n_out - 1, y)``.
    """
    s = e.shape
    P, Q, G, K = e.P, e.Q, e.G, e.K
    N = P * Q
    sel_bits = plan.sel_bits
    run = Signal(bool(0))
    c = uint(clog2(K))
    g = uint(clog2(G))
    wa = uint(clog2(max(2, G * K)))
    s_v, s_f, s_l = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    v_op, f_op, l_op = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    fin = Signal(bool(0))
    gd = uint(clog2(G))
    w_lanes = [Signal(intbv(0, min=-128, max=128)) for _ in range(N)]
    xd1 = [uint(8) for _ in range(Q)]
    xd2 = [uint(8) for _ in range(Q)]
    xd3 = [uint(8) for _ in range(Q)]
    MB = mac_bits(s.n_in)
    acc = [mac_signal(MB) for _ in range(P)]
    dh = mac_signal(MB)
    drest = [mac_signal(MB) for _ in range(max(1, P - 1))]
    dn = uint(clog2(P + 1))
    dv = Signal(bool(0))
    ob = clog2(max(2, s.n_out))
    o = uint(ob)
    one = Signal(bool(1))
    insts = []
    for lane in range(N):
        insts.append(named(f"w{lane}", weight_lane(clk, one, wa, w_lanes[lane], h_sel, h_we,
                                                   h_addr, h_wdata, rb,
                                                   plan.bank_chunks(e.index, "w", lane),
                                                   sel_bits, hown)))
    mems = {m.role + str(m.bank): m for m in plan.mems_of(e.index) if m.chunk == 0}
    DL = OPERAND_LAT
    insts.append(named("dv", delay_line(clk, rst, one, s_v, v_op, DL)))
    insts.append(named("df", delay_line(clk, None, one, s_f, f_op, DL)))
    insts.append(named("dl", delay_line(clk, None, one, s_l, l_op, DL)))
    insts.append(named("mac", mac_array(clk, rst, one, v_op, f_op, l_op, xd3, w_lanes, acc, fin,
                                        P, Q, s.n_in)))
    insts.append(named(
        "requant",
        requant(clk, rst, one, dv, o, dh, ov, oidx, y, h_sel, h_we, h_addr, h_wdata, rb,
                mems["bias0"], mems.get("rq0"), "u8" if s.hidden else "i32", sel_bits, hown,
                e.rq_stages),
    ))
    last_o = s.n_out - 1
    last_g = G - 1
    p_last = e.p_last
    PM1 = P - 1

    @always(clk.posedge)
    def issue():
        if rst:
            run.next = 0
        elif start:
            run.next = 1
            c.next = 0
            g.next = 0
            wa.next = 0
        elif run:
            if c == K - 1:
                c.next = 0
                if g == G - 1:
                    run.next = 0
                else:
                    g.next = g + 1
                    wa.next = wa + 1
            else:
                c.next = c + 1
                wa.next = wa + 1

    @always_comb
    def addr():
        rd_addr.next = c
        rd_en.next = 1
        one.next = 1
        s_v.next = run
        s_f.next = c == 0
        s_l.next = c == K - 1

    @always(clk.posedge)
    def xdelay():
        # feature-memory read data -> three registers: the inputs reach the multipliers
        # OPERAND_LAT edges after their address, like the weights
        for q in range(Q):
            xd1[q].next = x_lanes[q]
            xd2[q].next = xd1[q]
            xd3[q].next = xd2[q]

    @always(clk.posedge)
    def drain():
        if rst:
            dn.next = 0
        elif fin:
            dh.next = acc[0]
            for p in range(PM1):
                drest[p].next = acc[p + 1]
            if gd == last_g:
                dn.next = p_last
            else:
                dn.next = P
        elif dn != 0:
            dh.next = drest[0]
            for p in range(PM1 - 1):
                drest[p].next = drest[p + 1]
            dn.next = dn - 1
        if start:
            o.next = 0
            gd.next = 0
        else:
            if dn != 0 and o != last_o:
                o.next = o + 1
            if fin and gd != last_g:
                gd.next = gd + 1

    @always_comb
    def drain_valid():
        dv.next = dn != 0

    @always(clk.posedge)
    def finish():
        if rst:
            done.next = 0
        else:
            done.next = ov and oidx == last_o

    return insts, issue, addr, xdelay, drain, drain_valid, finish


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
    insts.append(named("dk", delay_line(clk, None, en, k, k_fin, DL + mac_latency(Qu))))
    insts.append(named("umc", mac_array(clk, rst, en, v_op, f_op, l_op, xd3, u_lanes, acc, fin,
                                        1, Qu, s.n_in)))
    insts.append(named(
        "requant",
        requant(clk, rst, en, fin, k_fin, acc[0], zv, zidx, z, h_sel, h_we, h_addr, h_wdata, rb,
                None, mems["urq0"], "i8", sel_bits, hown, e.rq_stages),
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
    ring = [acc_signal() for _ in range(Pv * Tv)]
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
        requant(clk, rst, one, dr, o, ring[TAIL], ov, oidx, y, h_sel, h_we, h_addr, h_wdata, rb,
                mems["bias0"], mems.get("rq0"), "u8" if s.hidden else "i32", sel_bits, hown,
                e.rq_stages),
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
def lscm(clk, rst, in_ok, out_ok, start, eng_done, release, commit):
    """Layer state control module: starts the layer's engine(s) when the input memory holds
    an image (``in_ok``) and the next memory has a free half (``out_ok``); when the engine
    reports ``eng_done`` it releases the input half and commits the output half (hand-shakes
    with both neighbouring layers' MCMs). ``start`` is a one-cycle registered pulse.
    """
    state = Signal(t_lscm.IDLE)

    @always(clk.posedge)
    def seq():
        if rst:
            state.next = t_lscm.IDLE
            start.next = 0
        elif state == t_lscm.IDLE:
            if in_ok and out_ok:
                state.next = t_lscm.BUSY
                start.next = 1
            else:
                start.next = 0
        else:
            start.next = 0
            if eng_done:
                state.next = t_lscm.IDLE

    @always_comb
    def hs():
        release.next = state == t_lscm.BUSY and eng_done
        commit.next = state == t_lscm.BUSY and eng_done

    return seq, hs
