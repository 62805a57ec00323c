"""The requantizer: bias add, ``(acc' * M + 2**(S-1)) >> S``, clamp (``docs/arithmetic.md``),
in ``RQ_STAGES`` (10) or 6 pipeline stages. Requantization product 48-bit signed
(``PROD_BITS``).
"""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, concat, intbv

from .mac import ecp5_ids, ecp5_mult
from .memories import named, param_ram
from .plan import ACC_BITS, RQ_BITS, RQ_STAGE_CHOICES, RQ_STAGES, MemSpec
from .rtl_common import acc_signal, extend, uint
from .timing import rq_latency

PROD_BITS = 48
#: Bits of the shifted value the clamp and the rounding read: a value in ``[-512, 511]``
#: (10-bit two's complement) holds every in-range result of both clamps (``[2*lo - 1,
#: 2*hi]``); anything outside saturates by its sign.
Q_BITS = 10
#: Bits kept after the coarse shift (by a multiple of 8): the fine shift (0 ... 7) then needs
#: bits ``0 ... Q_BITS + 6``.
R_BITS = Q_BITS + 7


@block
def requant(clk, rst, en, iv, idx, acc, ov, oidx, y, h_sel, h_we, h_addr, h_wdata, rb,
            bias_spec: MemSpec | None, rq_spec: MemSpec | None, out_kind: str, sel_bits: int,
            hown=None, stages: int = RQ_STAGES, dsp_prims: str = ""):
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

    The shift and the clamp do not carry the whole 48-bit product: the coarse shift keeps
    bits ``0 ... R_BITS - 1`` of ``p >>> 8*kc``, the sign of ``p``, and a flag that bits
    ``16 + 8*kc ... 47`` of ``p`` all equal that sign (byte-wise); the fine shift keeps the
    low ``Q_BITS`` bits of ``q = p >>> (S - 1)`` and whether ``q`` fits them (the flag, and
    the bits of the kept window above the fine shift's ``Q_BITS``). A ``q`` that does not fit
    lies outside ``[-512, 511]``, beyond both clamps, and saturates by the sign; one that fits
    is clamped and rounded from its ``Q_BITS`` bits. Same integers as shifting all 48 bits
    (``tests/test_requant.py`` checks the block against ``lwfc.arith`` on edge and random
    cases), for fewer multiplexer bits and registers.

    ``stages == 6`` (:data:`~lwfc_hw.plan.RQ_STAGE_CHOICES`; for a slow clock) computes the
    same integers with fewer registers: R1 ... R3 as above, R4 the two partial products
    (straight from R3: the DSP blocks' own input side), R5 their 48-bit sum and the coarse
    shift in one step, R6 the fine shift, round and clamp; the logit is delayed to the same
    latency (``stages - 4`` registers after R3 in both forms). ``stages == 5`` is the 6-stage
    form without R2: the tables are read in one cycle (``param_ram(reads=1)``, shared-port
    plans), so R2 adds the bias to the R1 sample; on iCE40 this drops some 85 flip-flops per
    requantizer that took a logic cell each (the tables' output registers and the
    accumulator's second delay: nothing packs with a register fed by a register or a
    block RAM); a logit there takes 2 edges, the sample and the bias add
    (:func:`lwfc_hw.timing.rq_latency`): no delay registers.

    ``dsp_prims == "ecp5"`` (``CorePlan.dsp_prims``, 10 stages): the R4 operand registers and
    the R5 products are the input and output registers of two MULT18X18D instances
    (:func:`lwfc_hw.mac.ecp5_mult`); the same integers at the same latency.

    Input ``(iv, idx, acc)`` is sampled on an edge with ``en``; ``(ov, oidx, y)`` appear
    ``rq_latency(stages, out_kind == "i32")`` enabled edges later. Only the valid flags
    reset: the data registers ignore ``rst`` (holding them in reset made ``rst`` the enable
    of some 300 flip-flops per requantizer, a net of 2,500 loads in the 50-lane ULX3S
    build). ``bias[idx]`` and
    ``rq[idx]`` (word ``S << 15 | M``) are read from host-writable memories. ``ov`` /
    ``oidx`` may be None (no valid / index pipeline: a requantizer beside another that
    carries them). ``rb`` maps a memory id to its readback signal; ``hown`` (shared-port
    plans: the core's ``idle``) goes to every :func:`~lwfc_hw.memories.param_ram` of the
    engine, here and in the layer engines.
    """
    if stages not in RQ_STAGE_CHOICES:
        raise ValueError(f"requant: stages must be one of {RQ_STAGE_CHOICES}, got {stages!r}")
    ib = len(idx)
    is_logit = out_kind == "i32"
    LAT = rq_latency(stages, is_logit)  # edges from the sample to the output
    NV = LAT - 1
    # table reads: two cycles (R1, R2), one in the 5-stage form
    READS = 1 if stages == 5 else 2
    NL = stages - 2 - READS  # logit delay registers, after the bias add up to R(stages - 1)
    v = [Signal(bool(0)) for _ in range(NV)]
    ii = [uint(ib) for _ in range(NV)]
    a1, a2, s3, s4 = acc_signal(), acc_signal(), acc_signal(), acc_signal()
    # acc is mac_bits(n_in) wide (32 for the DIL's rings): sign-extended to 32 bits at R1
    AB = len(acc)
    XB = ACC_BITS - AB
    lg = [acc_signal() for _ in range(NL)]
    m3, m4 = uint(15), uint(15)
    # M as a signed 16-bit operand for the signed high-half product (a wire of m3)
    m3s = Signal(intbv(0, min=-(2**15), max=2**15))
    sh3, sh4, sh5, sh6 = uint(6, 1), uint(6, 1), uint(6, 1), uint(6, 1)

    def p48() -> Signal:
        return Signal(intbv(0, min=-(2 ** (PROD_BITS - 1)), max=2 ** (PROD_BITS - 1)))

    plo5, phi5, plo6, phi6, p7 = (p48() for _ in range(5))
    kc7, kf7, kf8 = uint(3), uint(3), uint(3)
    # the coarse shift's register: the kept window, the product's sign, the upper-bits flag
    r8 = uint(R_BITS)
    sg8, up8 = Signal(bool(0)), Signal(bool(0))
    bias_q = acc_signal()
    rq_q = uint(RQ_BITS)
    insts = []
    if bias_spec is not None:
        insts.append(named("bias", param_ram(clk, en, idx, bias_q, h_sel, h_we, h_addr, h_wdata,
                                             rb[bias_spec.sel], bias_spec, sel_bits, hown,
                                             READS)))
    if rq_spec is not None:
        insts.append(named("rq", param_ram(clk, en, idx, rq_q, h_sel, h_we, h_addr, h_wdata,
                                           rb[rq_spec.sel], rq_spec, sel_bits, hown, READS)))
    has_bias = bias_spec is not None
    # the clamp's combinational result, registered into y by the last stage
    y_c = Signal(intbv(0, min=y.min, max=y.max)) if not is_logit else None
    LASTV = NV - 1
    LASTL = NL - 1

    @always_comb
    def m_signed():
        m3s.next = concat(False, m3).signed()

    if READS == 2:

        @always(clk.posedge)
        def stage_ctl():
            if en:
                # R0 -> R1: sample the input; bias / requant words are read at idx meanwhile
                a1.next = acc_w
                # R1 -> R2: the memory words are on their way
                a2.next = a1

        a_b = a2  # the sample beside the table words

    else:

        @always(clk.posedge)
        def stage_ctl():
            if en:
                # R0 -> R1: sample the input; the table words arrive at the same edge
                a1.next = acc_w

        a_b = a1

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
            if en:
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
        ext = [named("widen", extend(acc, acc_w))]

    if is_logit and LAT == 2:

        @always(clk.posedge)
        def stage_bias():
            # R1 -> out (5-stage form): the logit is the sample plus the bias
            if en:
                y.next = a_b + bias_q

    elif has_bias:

        @always(clk.posedge)
        def stage_bias():
            # R2 -> R3 (R1 -> R2 with one-cycle reads): add the bias
            if en:
                s3.next = a_b + bias_q

    else:

        @always(clk.posedge)
        def stage_bias():
            if en:
                s3.next = a_b

    if is_logit and LAT == 2:
        stage_out = []

    elif is_logit:

        @always(clk.posedge)
        def stage_out():
            # R3 -> ... -> out: the logit, delayed to the same latency
            if en:
                lg[0].next = s3
                for i in range(1, NL):
                    lg[i].next = lg[i - 1]
                y.next = lg[LASTL]

    elif stages == RQ_STAGES:

        @always(clk.posedge)
        def stage_out():
            k = intbv(0)[6:]
            if en:
                # R2 -> R3: unpack M and S
                m3.next = rq_q[15:]
                sh3.next = rq_q[RQ_BITS:15]
                # R3 -> R4 -> R5: the shift beside the operand registers and the products
                sh4.next = sh3
                sh5.next = sh4
                plo6.next = plo5
                phi6.next = phi5
                sh6.next = sh5
                # R6 -> R7: the 48-bit product; S - 1 = 8 * kc + kf
                p7.next = (phi6 << 16) + plo6
                # S - 1 modulo 64, as the Verilog wraps (S = 0 is no valid word)
                if sh6 == 0:
                    k[:] = 63
                else:
                    k[:] = sh6 - 1
                kc7.next = k[6:3]
                kf7.next = k[3:]
                # R7 -> R8 (block "shift"): the shift by the multiple of 8
                kf8.next = kf7
                # R8 -> R9 ("shift"): the fine shift, and whether q fits Q_BITS
                # R9 -> out: round (ties to +inf), clamp
                y.next = y_c

        q9, fit9, sg9 = uint(Q_BITS), Signal(bool(0)), Signal(bool(0))
        insts.append(named("shift", _shift_clamp(clk, en, p7, kc7, kf8, r8, sg8, up8, q9, fit9,
                                                 sg9, y_c, out_kind)))

        if dsp_prims == "ecp5":
            # R3 -> R4 -> R5 inside two DSP blocks: acc' * M = hi * M * 2**16 + lo * M
            lo18, hi18, m18, ms18 = (Signal(intbv(0)[18:]) for _ in range(4))
            s_lo, s_hi = uint(16), Signal(intbv(0, min=-(2**15), max=2**15))

            @always_comb
            def halves():
                s_lo.next = s3[16:]
                s_hi.next = s3[32:16].signed()

            insts += [halves, named("elo", extend(s_lo, lo18)),
                      named("ehi", extend(s_hi, hi18)), named("em", extend(m3, m18)),
                      named("ems", extend(m3s, ms18)),
                      named("dlo", ecp5_mult(clk, en, lo18, m18, plo5, ecp5_ids())),
                      named("dhi", ecp5_mult(clk, en, hi18, ms18, phi5, ecp5_ids()))]

        else:

            @always(clk.posedge)
            def products():
                if en:
                    # R3 -> R4: DSP operand registers
                    s4.next = s3
                    m4.next = m3
                    # R4 -> R5: partial products acc' * M = hi * M * 2**16 + lo * M
                    plo5.next = s4[16:] * m4
                    phi5.next = s4[32:16].signed() * concat(False, m4).signed()

            insts.append(products)

    else:
        # the short form: no operand registers, no second product register, the 48-bit sum
        # and the coarse shift in one stage, the fine shift with the rounding and clamp
        p_c = p48()

        @always_comb
        def product_sum():
            # the 48-bit product acc' * M = hi * M * 2**16 + lo * M
            p_c.next = (phi5 << 16) + plo5

        ext = [*ext, product_sum]
        insts.append(named("shift", _shift_clamp(clk, en, p_c, kc7, kf8, r8, sg8, up8, None,
                                                 None, None, y_c, out_kind)))

        @always(clk.posedge)
        def stage_out():
            k = intbv(0)[6:]
            if en:
                # R2 -> R3: unpack M and S
                m3.next = rq_q[15:]
                sh3.next = rq_q[RQ_BITS:15]
                # R3 -> R4: partial products; S - 1 = 8 * kc + kf
                plo5.next = s3[16:] * m3
                phi5.next = s3[32:16].signed() * m3s
                if sh3 == 0:
                    k[:] = 63
                else:
                    k[:] = sh3 - 1
                kc7.next = k[6:3]
                kf7.next = k[3:]
                # R4 -> R5 (block "shift"): the 48-bit product, shifted by the multiple of 8
                kf8.next = kf7
                # R5 -> out: the fine shift, round (ties to +inf), clamp
                y.next = y_c

    if not is_logit and (stages != RQ_STAGES or dsp_prims == "ecp5"):
        # the DSP instances (ECP5) and the short form multiply by m3s; the 10-stage logic
        # form by its operand register m4
        ext = [*ext, m_signed]
    return insts, ext, stage_ctl, flags, stage_bias, stage_out


@block
def _shift_clamp(clk, en, p, kc, kf, r, sg, up, q_r, fit_r, sg_r, y_c, out_kind: str):
    """The shift ``q = p >>> (8*kc + kf)`` and the clamp / rounding of ``q`` into ``y_c``
    (combinational), on the bits they read (see :func:`requant`).

    On an edge with ``en``: ``r`` = bits ``0 ... R_BITS - 1`` of ``p >>> 8*kc``, ``sg`` = the
    sign of ``p``, ``up`` = bits ``16 + 8*kc ... 47`` of ``p`` all equal ``sg``. With ``q_r``
    (the 10-stage form) the next enabled edge registers the low ``Q_BITS`` bits of ``q``,
    whether ``q`` fits them and the sign into ``q_r`` / ``fit_r`` / ``sg_r``, and ``y_c``
    follows those registers; with ``q_r`` None (6 stages) ``y_c`` follows ``r`` directly."""
    lo, hi = (0, 255) if out_kind == "u8" else (-128, 127)
    HI2, LO2 = 2 * hi, 2 * lo - 1
    YB = len(y_c)
    SB = PROD_BITS - 1
    y_signed = y_c.min is not None and y_c.min < 0
    r_w = uint(R_BITS)
    ext9, ext17 = uint(9), uint(R_BITS)
    z0, z1, z2, z3, o0, o1, o2, o3, up_z, up_o, up_c = (Signal(bool(0)) for _ in range(11))
    mask, mid, msh = uint(8), uint(8), uint(8)
    q_f, fit_f = uint(Q_BITS), Signal(bool(0))
    qv = Signal(intbv(0, min=-(2 ** (Q_BITS - 1)), max=2 ** (Q_BITS - 1)))
    t9 = uint(YB + 1)
    assert PROD_BITS == 48 and R_BITS == 17 and Q_BITS == 10

    @always_comb
    def sign_fill():
        if p[SB]:
            ext9.next = 2**9 - 1
            ext17.next = 2**R_BITS - 1
        else:
            ext9.next = 0
            ext17.next = 0

    @always_comb
    def coarse_comb():
        # bits 8*kc ... 8*kc + 16 of p (the sign above bit 47): a byte-aligned select
        if kc == 0:
            r_w.next = p[17:0]
        elif kc == 1:
            r_w.next = p[25:8]
        elif kc == 2:
            r_w.next = p[33:16]
        elif kc == 3:
            r_w.next = p[41:24]
        elif kc == 4:
            r_w.next = concat(p[SB], p[48:32])
        elif kc == 5:
            r_w.next = concat(ext9, p[48:40])
        else:
            r_w.next = ext17

    @always_comb
    def upper_bytes():
        # bytes 2 ... 5 of p all zero / all one, tested beside the sign (which arrives last:
        # the top of the product's carry chain), not after it
        z0.next = p[24:16] == 0
        z1.next = p[32:24] == 0
        z2.next = p[40:32] == 0
        z3.next = p[48:40] == 0
        o0.next = p[24:16] == 255
        o1.next = p[32:24] == 255
        o2.next = p[40:32] == 255
        o3.next = p[48:40] == 255

    @always_comb
    def upper_kc():
        # bits 16 + 8*kc ... 47 of p: bytes 2 + kc ... 5
        if kc == 0:
            up_z.next = z0 and z1 and z2 and z3
            up_o.next = o0 and o1 and o2 and o3
        elif kc == 1:
            up_z.next = z1 and z2 and z3
            up_o.next = o1 and o2 and o3
        elif kc == 2:
            up_z.next = z2 and z3
            up_o.next = o2 and o3
        elif kc == 3:
            up_z.next = z3
            up_o.next = o3
        else:
            up_z.next = 1
            up_o.next = 1

    @always_comb
    def upper_flag():
        if p[SB]:
            up_c.next = up_o
        else:
            up_c.next = up_z

    @always(clk.posedge)
    def coarse():
        if en:
            r.next = r_w
            sg.next = p[SB]
            up.next = up_c

    @always_comb
    def fine_mask():
        if sg:
            mask.next = 255
        else:
            mask.next = 0

    @always_comb
    def fine_shift():
        # window bits 9 ... 16 against the sign; bits kf ... kf + 9 of the window are q's
        mid.next = r[R_BITS:Q_BITS - 1] ^ mask
        if kf == 0:
            q_f.next = r[10:0]
        elif kf == 1:
            q_f.next = r[11:1]
        elif kf == 2:
            q_f.next = r[12:2]
        elif kf == 3:
            q_f.next = r[13:3]
        elif kf == 4:
            q_f.next = r[14:4]
        elif kf == 5:
            q_f.next = r[15:5]
        elif kf == 6:
            q_f.next = r[16:6]
        else:
            q_f.next = r[17:7]

    @always_comb
    def fine_fit():
        # q fits Q_BITS when window bits 9 + kf ... 16 and the bits above the window equal
        # the sign
        msh.next = mid >> kf

    @always_comb
    def fine_out():
        fit_f.next = up and msh == 0

    insts = [sign_fill, coarse_comb, upper_bytes, upper_kc, upper_flag, coarse, fine_mask,
             fine_shift, fine_fit, fine_out]
    if q_r is not None:

        @always(clk.posedge)
        def fine():
            if en:
                q_r.next = q_f
                fit_r.next = fit_f
                sg_r.next = sg

        insts.append(fine)
        q_in, fit_in, sg_in = q_r, fit_r, sg_r
    else:
        q_in, fit_in, sg_in = q_f, fit_f, sg

    @always_comb
    def q_value():
        qv.next = q_in.signed()
        # (q + 1) >> 1 = (q >> 1) + q[0], YB + 1 bits (the low YB are the result in range)
        t9.next = concat(False, q_in[YB + 1 : 1]) + concat(intbv(0)[YB:], q_in[0])

    insts.append(q_value)
    if y_signed:

        @always_comb
        def clamp():
            if not fit_in:
                if sg_in:
                    y_c.next = lo
                else:
                    y_c.next = hi
            elif qv > HI2:
                y_c.next = hi
            elif qv < LO2:
                y_c.next = lo
            else:
                y_c.next = t9[YB:].signed()

    else:

        @always_comb
        def clamp():
            if not fit_in:
                if sg_in:
                    y_c.next = lo
                else:
                    y_c.next = hi
            elif qv > HI2:
                y_c.next = hi
            elif qv < LO2:
                y_c.next = lo
            else:
                y_c.next = t9[YB:]

    insts.append(clamp)
    return insts
