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
from .plan import ACC_BITS, RQ_BITS, CorePlan, EnginePlan, MemSpec, clog2

ACC_MIN, ACC_MAX = -(2 ** (ACC_BITS - 1)), 2 ** (ACC_BITS - 1)
PROD_BITS = 48

#: DCL-SCM states (paper: idle, compute, multiply, accumulate).
t_dcl = enum("IDLE", "COMPUTE", "MULTIPLY", "ACCUMULATE")
#: DIL-SCM states (paper: idle, run, wait).
t_dil = enum("IDLE", "RUN", "WAIT")
#: L-SCM states.
t_lscm = enum("IDLE", "BUSY")


def acc_signal(val: int = 0) -> Signal:
    """A 32-bit signed accumulator-width signal."""
    return Signal(intbv(val, min=ACC_MIN, max=ACC_MAX))


def uint(bits: int, val: int = 0) -> Signal:
    return Signal(intbv(val)[bits:])


@block
def requant(clk, rst, en, iv, idx, acc, ov, oidx, y, h_sel, h_we, h_addr, h_wdata, rb,
            bias_spec: MemSpec | None, rq_spec: MemSpec | None, out_kind: str, sel_bits: int,
            hown=None):
    """Five-stage requantizer ``y = clamp((((acc + b) * M) >>> (S - 1)) + 1 >>> 1)``.

    That is ``(acc' * M + 2**(S-1)) >> S`` of ``docs/arithmetic.md`` (one rounding, ties to
    +inf), clamped to uint8 (``out_kind == "u8"``, hidden output with ReLU) or int8 (``"i8"``,
    low-rank latent, no bias). ``"i32"``: the last layer, ``y = acc + b`` (logits).

    Stages: sample (the bias / requant words are read meanwhile), bias add, 48-bit product,
    variable shift, round + clamp. Input ``(iv, idx, acc)`` is sampled on an edge with ``en``;
    ``(ov, oidx, y)`` appear five enabled edges later. ``bias[idx]`` and ``rq[idx]`` (word
    ``S << 15 | M``) are read from host-writable memories. ``rb`` maps a memory id to its
    readback signal; ``hown`` (shared-port plans: the core's ``idle``) goes to every
    :func:`~lwfc_hw.memories.param_ram` of the engine, here and in the engines below.
    """
    ib = len(idx)
    v1, v2, v3, v4 = (Signal(bool(0)) for _ in range(4))
    i1, i2, i3, i4 = (uint(ib) for _ in range(4))
    a1 = acc_signal()
    s2 = acc_signal()
    l3, l4 = acc_signal(), acc_signal()
    m2 = uint(15)
    sh2 = uint(6, 1)  # the shift S (SHIFT_MIN = 1 ... SHIFT_MAX = 40)
    sh3 = uint(6)  # S - 1, computed a stage early: no subtractor before the 48-bit shifter
    p3 = Signal(intbv(0, min=-(2 ** (PROD_BITS - 1)), max=2 ** (PROD_BITS - 1)))
    q4 = Signal(intbv(0, min=-(2 ** (PROD_BITS - 1)), max=2 ** (PROD_BITS - 1)))
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
    assert is_logit or len(y) == 8, "u8 / i8 outputs are 8 bits wide"

    @always(clk.posedge)
    def stage_ctl():
        if rst:
            v1.next = 0
            v2.next = 0
            v3.next = 0
            v4.next = 0
        elif en:
            # R0 -> R1: sample the input; bias / requant words are read at idx meanwhile
            v1.next = iv
            i1.next = idx
            a1.next = acc
            v2.next = v1
            i2.next = i1
            v3.next = v2
            i3.next = i2
            v4.next = v3
            i4.next = i3

    if has_bias:

        @always(clk.posedge)
        def stage_bias():
            # R1 -> R2: add the bias
            if en:
                s2.next = a1 + bias_q

    else:

        @always(clk.posedge)
        def stage_bias():
            if en:
                s2.next = a1

    if is_logit:

        @always(clk.posedge)
        def stage_out():
            # R2 -> R3 -> R4 -> out: the logit, delayed to the same latency
            if rst:
                ov.next = 0
            elif en:
                l3.next = s2
                l4.next = l3
                ov.next = v4
                oidx.next = i4
                y.next = l4

    else:

        # Round and clamp without a 48-bit adder or comparator (long carry chains on iCE40):
        # with t = (q4 + 1) >> 1 = (q4 >> 1) + q4[0] and K = 8 (u8) or 7 (i8), t's low K bits
        # are those of the (K+1)-bit sum q4[K:1] + q4[0], whose carry c says q4[K:0] is all
        # ones, and t >> K = H + c with H = q4 >> (K+1) (signed). u8: t in [0, 255] iff
        # H + c == 0; i8: t in [-128, 127] iff H + c is 0 or -1. Otherwise H's sign gives
        # the saturation side.
        K = 8 if out_kind == "u8" else 7
        SGN = PROD_BITS - 1

        @always(clk.posedge)
        def stage_out():
            if rst:
                ov.next = 0
            elif en:
                # R1 -> R2: unpack M and S
                m2.next = rq_q[15:]
                sh2.next = rq_q[RQ_BITS:15]
                # R2 -> R3: 48-bit product
                p3.next = s2 * m2
                sh3.next = sh2 - 1
                # R3 -> R4: the variable shift, registered
                q4.next = p3 >> sh3
                # R4 -> out: round (ties to +inf), clamp (stage_clamp)
                ov.next = v4
                oidx.next = i4

        if out_kind == "u8":

            @always(clk.posedge)
            def stage_clamp():
                low = intbv(0)[K + 1 :]
                c = bool(0)
                s0 = bool(0)
                if en and not rst:
                    # (q4 + 1) >> 1 = (q4 >> 1) + q4[0]: low K bits, carry out of them
                    if q4[0]:
                        low[:] = q4[K + 1 : 1] + 1
                    else:
                        low[K:] = q4[K + 1 : 1]
                        low[K] = 0
                    c = bool(low[K])
                    # s0: t >> K == 0
                    s0 = (q4[PROD_BITS : K + 1] == 0 and not c) or (
                        q4[PROD_BITS : K + 1].signed() == -1 and c)
                    # the in-range value comes last so that an X in simulation reaches y
                    if not s0 and not q4[SGN]:
                        y.next = hi
                    elif not s0 and q4[SGN]:
                        y.next = lo
                    else:
                        y.next = low[K:]

        else:

            @always(clk.posedge)
            def stage_clamp():
                low = intbv(0)[K + 1 :]
                c = bool(0)
                s0 = bool(0)
                s1 = bool(0)
                if en and not rst:
                    if q4[0]:
                        low[:] = q4[K + 1 : 1] + 1
                    else:
                        low[K:] = q4[K + 1 : 1]
                        low[K] = 0
                    c = bool(low[K])
                    # s0: t >> K == 0; s1: t >> K == -1
                    s0 = (q4[PROD_BITS : K + 1] == 0 and not c) or (
                        q4[PROD_BITS : K + 1].signed() == -1 and c)
                    s1 = (q4[PROD_BITS : K + 1].signed() == -1 and not c) or (
                        q4[PROD_BITS : K + 1].signed() == -2 and c)
                    if not s0 and not s1 and not q4[SGN]:
                        y.next = hi
                    elif not s0 and not s1 and q4[SGN]:
                        y.next = lo
                    elif s1:
                        y.next = low[K:] + lo
                    else:
                        y.next = concat(False, low[K:])

        return insts, stage_ctl, stage_bias, stage_out, stage_clamp

    return insts, stage_ctl, stage_bias, stage_out


@block
def mac_array(clk, en, l1, v2, f2, x_lanes, w_lanes, acc, P: int, Q: int, n_in: int):
    """``P x Q`` multipliers and ``P`` accumulators.

    Stage 1 -> 2 (edge with ``en``): ``prod[p*Q+q] = x_lanes[q] * w_lanes[p*Q+q]`` (uint8 x
    int8, 32-bit product), except that in the last step of a row (``l1``) lanes beyond input
    ``n_in - 1`` give 0 (their feature-memory entries are never written, so they may hold X
    in simulation or stale data in silicon). Stage 2 -> 3 (edge with ``en`` and ``v2``):
    ``acc[p] = (f2 ? 0 : acc[p]) + sum_q prod[p*Q+q]``. The caller keeps the flags in step.
    """
    prod = [acc_signal() for _ in range(P * Q)]
    N = P * Q
    QLAST = n_in - (-(-n_in // Q) - 1) * Q  # lanes in use in the last step, 1 ... Q

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
                    if l1 and lane % Q >= QLAST:
                        prod[lane].next = 0
                    else:
                        prod[lane].next = x_lanes[lane % Q] * w_lanes[lane]

    @always(clk.posedge)
    def accum():
        s = intbv(0, min=ACC_MIN, max=ACC_MAX)
        if en and v2:
            for p in range(P):
                s[:] = 0
                for q in range(Q):
                    s[:] = s + prod[p * Q + q]
                if f2:
                    acc[p].next = s
                else:
                    acc[p].next = acc[p] + s

    return mul, accum


@block
def dense_engine(clk, rst, start, done, rd_en, rd_addr, x_lanes, ov, oidx, y, h_sel, h_we, h_addr,
                 h_wdata, rb, e: EnginePlan, plan: CorePlan, hown=None):
    """Dense FC layer engine (paper figure 15, widened to ``P x Q`` lanes).

    After ``start`` it issues ``G * K`` steps, one per cycle: step ``(g, c)`` reads inputs
    ``c*Q ... c*Q+Q-1`` (``rd_addr = c``) and weight bank address ``g*K + c``. Stage 1: memory
    data; stage 2: products; stage 3: accumulators. When a group's last step has accumulated,
    the ``P`` sums move to a drain shift register that feeds the requantizer one output per
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
    v1, f1, l1, lg1 = (Signal(bool(0)) for _ in range(4))
    v2, f2, l2, lg2 = (Signal(bool(0)) for _ in range(4))
    fin3, lg3 = Signal(bool(0)), Signal(bool(0))
    w_lanes = [Signal(intbv(0, min=-128, max=128)) for _ in range(N)]
    acc = [acc_signal() for _ in range(P)]
    dh = acc_signal()
    drest = [acc_signal() for _ in range(max(1, P - 1))]
    dn = uint(clog2(P + 1))
    dv = Signal(bool(0))
    ob = clog2(max(2, s.n_out))
    o = uint(ob)
    one = Signal(bool(1))
    mems = {m.role + str(m.bank): m for m in plan.mems_of(e.index)}
    insts = []
    for lane in range(N):
        m = mems[f"w{lane}"]
        insts.append(named(f"w{lane}", param_ram(clk, one, wa, w_lanes[lane], h_sel, h_we,
                                                 h_addr, h_wdata, rb[m.sel], m, sel_bits, hown)))
    insts.append(named("mac", mac_array(clk, one, l1, v2, f2, x_lanes, w_lanes, acc, P, Q, s.n_in)))
    insts.append(named(
        "requant",
        requant(clk, rst, one, dv, o, dh, ov, oidx, y, h_sel, h_we, h_addr, h_wdata, rb,
                mems["bias0"], mems.get("rq0"), "u8" if s.hidden else "i32", sel_bits, hown),
    ))
    last_o = s.n_out - 1
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

    @always(clk.posedge)
    def flags():
        if rst:
            v1.next = 0
            v2.next = 0
            fin3.next = 0
        else:
            v1.next = run
            f1.next = c == 0
            l1.next = c == K - 1
            lg1.next = g == G - 1
            v2.next = v1
            f2.next = f1
            l2.next = l1
            lg2.next = lg1
            fin3.next = v2 and l2
            lg3.next = lg2

    @always(clk.posedge)
    def drain():
        if rst:
            dn.next = 0
        elif fin3:
            dh.next = acc[0]
            for p in range(PM1):
                drest[p].next = acc[p + 1]
            if lg3:
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
        elif dn != 0 and o != last_o:
            o.next = o + 1

    @always_comb
    def drain_valid():
        dv.next = dn != 0

    @always(clk.posedge)
    def finish():
        if rst:
            done.next = 0
        else:
            done.next = ov and oidx == last_o

    return insts, issue, addr, flags, drain, drain_valid, finish


@block
def dcl(clk, rst, start, en, rd_addr, x_lanes, zv, z, zidx, accept, h_sel, h_we, h_addr,
        h_wdata, rb, e: EnginePlan, plan: CorePlan, hown=None):
    """DCL: U-matrix calculator (``Qu`` lanes) and its state control module DCL-SCM.

    Computes latent ``k = 0 ... rank-1`` as ``Ku`` steps of ``Qu`` inputs (U bank address
    ``k*Ku + c``), requantizes it to int8 with ``(Mu[k], Su[k])`` and offers it to the DIL as
    ``(zv, z, zidx)``. The whole pipeline advances only while ``en`` is high; ``en`` drops when
    a finished latent is waiting and the DIL does not ``accept`` it (the DIL is still using the
    previous one), so a new result never overwrites an input in use.

    DCL-SCM: IDLE -> COMPUTE (issuing reads) -> MULTIPLY (last products in flight) ->
    ACCUMULATE (last latent being accumulated, requantized and handed over) -> IDLE.
    """
    s = e.shape
    Qu, Ku, R = e.Qu, e.Ku, s.rank
    sel_bits = plan.sel_bits
    state = Signal(t_dcl.IDLE)
    run = Signal(bool(0))
    c = uint(clog2(Ku))
    k = uint(clog2(max(2, R)))
    ua = uint(clog2(max(2, R * Ku)))
    v1, f1, l1, lk1 = (Signal(bool(0)) for _ in range(4))
    v2, f2, l2, lk2 = (Signal(bool(0)) for _ in range(4))
    k1, k2, k3 = (uint(len(k)) for _ in range(3))
    fin3 = Signal(bool(0))
    u_lanes = [Signal(intbv(0, min=-128, max=128)) for _ in range(Qu)]
    acc = [acc_signal()]
    mems = {m.role + str(m.bank): m for m in plan.mems_of(e.index)}
    insts = []
    for lane in range(Qu):
        m = mems[f"u{lane}"]
        insts.append(named(f"u{lane}", param_ram(clk, en, ua, u_lanes[lane], h_sel, h_we,
                                                 h_addr, h_wdata, rb[m.sel], m, sel_bits, hown)))
    insts.append(named("umc", mac_array(clk, en, l1, v2, f2, x_lanes, u_lanes, acc, 1, Qu,
                                        s.n_in)))
    insts.append(named(
        "requant",
        requant(clk, rst, en, fin3, k3, acc[0], zv, zidx, z, h_sel, h_we, h_addr, h_wdata, rb,
                None, mems["urq0"], "i8", sel_bits, hown),
    ))
    last_k = R - 1

    @always_comb
    def enable():
        en.next = not (zv and not accept)
        run.next = state == t_dcl.COMPUTE
        rd_addr.next = c

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
                if v2 and l2 and lk2:
                    state.next = t_dcl.ACCUMULATE
            else:
                if zv and zidx == last_k:
                    state.next = t_dcl.IDLE

    @always(clk.posedge)
    def flags():
        if rst:
            v1.next = 0
            v2.next = 0
            fin3.next = 0
        elif en:
            v1.next = run
            f1.next = c == 0
            l1.next = c == Ku - 1
            lk1.next = k == last_k
            k1.next = k
            v2.next = v1
            f2.next = f1
            l2.next = l1
            lk2.next = lk1
            k2.next = k1
            fin3.next = v2 and l2
            k3.next = k2

    return insts, enable, scm, flags


@block
def dil(clk, rst, start, done, zv, z, accept, ov, oidx, y, h_sel, h_we, h_addr, h_wdata, rb,
        e: EnginePlan, plan: CorePlan, hown=None):
    """DIL: V-matrix calculator (``Pv`` lanes) and its state control module DIL-SCM.

    Each latent ``z[k]`` taken from the DCL is multiplied by column ``k`` of V and added into
    all ``n_out`` accumulators in ``Tv`` steps (V bank address ``k*Tv + j``). The accumulators
    are ``Pv`` rings of ``Tv`` registers (lane ``p``, output ``p*Tv + j``). After the last
    latent the rings are shifted out as one chain (outputs in order 0, 1, ...) through the
    requantizer; ``done`` pulses one cycle after the last output.

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
    issue = Signal(bool(0))
    v1, fk1, lt1 = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    v2, fk2, lt2 = Signal(bool(0)), Signal(bool(0)), Signal(bool(0))
    v_lanes = [Signal(intbv(0, min=-128, max=128)) for _ in range(Pv)]
    prod = [acc_signal() for _ in range(Pv)]
    ring = [acc_signal() for _ in range(Pv * Tv)]
    dr = Signal(bool(0))
    ob = clog2(max(2, M))
    o = uint(ob)
    mems = {m.role + str(m.bank): m for m in plan.mems_of(e.index)}
    one = Signal(bool(1))
    insts = []
    for lane in range(Pv):
        m = mems[f"v{lane}"]
        insts.append(named(f"v{lane}", param_ram(clk, one, va, v_lanes[lane], h_sel, h_we,
                                                 h_addr, h_wdata, rb[m.sel], m, sel_bits, hown)))
    TAIL = Tv - 1
    insts.append(named(
        "requant",
        requant(clk, rst, one, dr, o, ring[TAIL], ov, oidx, y, h_sel, h_we, h_addr, h_wdata, rb,
                mems["bias0"], mems.get("rq0"), "u8" if s.hidden else "i32", sel_bits, hown),
    ))
    last_k = R - 1
    last_o = M - 1

    @always_comb
    def handshake():
        accept.next = state == t_dil.WAIT and zv
        issue.next = (state == t_dil.WAIT and zv) or state == t_dil.RUN
        one.next = 1

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
        if rst:
            v1.next = 0
            v2.next = 0
        else:
            v1.next = issue
            fk1.next = k == 0
            lt1.next = j == TAIL and k == last_k
            v2.next = v1
            fk2.next = fk1
            lt2.next = lt1
        for p in range(Pv):
            prod[p].next = zw * v_lanes[p]

    @always(clk.posedge)
    def rings():
        if v2:
            for p in range(Pv):
                for i in range(1, Tv):
                    ring[p * Tv + i].next = ring[p * Tv + i - 1]
                if fk2:
                    ring[p * Tv].next = prod[p]
                else:
                    ring[p * Tv].next = ring[p * Tv + TAIL] + prod[p]
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
        elif v2 and lt2:
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
