"""The core's edges: the pixel loader, the sequential feature-memory writer, the argmax unit
and the result stage (double-buffered logits + class, streamed out with valid/ready)."""

from __future__ import annotations

from myhdl import Signal, always, always_comb, block, concat, intbv

from .memories import named
from .plan import FmemPlan, clog2
from .rtl_common import acc_signal, uint


@block
def loader(clk, rst, in_data, in_valid, in_ready, first_beat, wr_ok, commit, wr_en, wr_div,
           wr_mod, wr_cnt, wr_data, fp: FmemPlan, B: int):
    """Pixel loader: accepts beats of ``B`` pixels (pixel ``beat*B + b`` in bits
    ``[8b+7:8b]``) and stores ``W = fp.w`` of them per cycle into the free half of the first
    feature memory; commits the half after the image's last pixel.

    ``in_ready`` is high while an image is being loaded and the previous beat's pixels are
    (almost) stored: one beat per cycle when ``W == B``, one per ``B / W`` cycles otherwise.
    ``first_beat`` pulses when the first beat of an image is accepted.
    """
    W, Q, n = fp.w, fp.q, fp.n
    S = B // W
    nbeats = -(-n // B)
    loading = Signal(bool(0))
    left = uint(clog2(nbeats + 1))
    pend = uint(clog2(S + 1))
    breg = uint(8 * B)
    rem = uint(max(clog2(n + 1), len(wr_cnt)))
    div = uint(fp.abits)
    mod = uint(len(wr_mod))
    QW = Q - W
    rdy = Signal(bool(0))
    acc_beat = Signal(bool(0))
    wnow = Signal(bool(0))
    CB = len(wr_cnt)
    assert len(rem) >= CB

    if S == 1:

        @always_comb
        def comb():
            rdy.next = loading and left != 0
            acc_beat.next = loading and left != 0 and in_valid
            wnow.next = pend != 0

    else:

        @always_comb
        def comb():
            rdy.next = loading and pend <= 1 and left != 0
            acc_beat.next = loading and pend <= 1 and left != 0 and in_valid
            wnow.next = pend != 0

    if W == 1:

        @always_comb
        def lane_data():
            wr_data.next = breg[8:]

    elif W == Q:
        # a write fills whole rows: mod stays 0, pixel b is lane b

        @always_comb
        def lane_data():
            wr_data.next = breg[8 * W :]

    else:
        # W > 1 pixels per write, rotated into lane order: pixel b goes to lane (mod + b) % Q
        ZP = 8 * (Q - W)
        RB = len(mod)

        @always_comb
        def lane_data():
            x = intbv(0)[8 * Q :]
            r = intbv(0)[RB:]
            x[:] = concat(intbv(0)[ZP:], breg[8 * W :])
            r[:] = Q - mod
            x[:] = (x << (8 * mod)) | (x >> (8 * r))
            wr_data.next = x

    @always_comb
    def outs():
        in_ready.next = rdy
        first_beat.next = acc_beat and left == nbeats
        wr_en.next = wnow and rem != 0
        wr_div.next = div
        wr_mod.next = mod
        if rem < W:
            wr_cnt.next = rem[CB:]
        else:
            wr_cnt.next = W
        commit.next = wnow and rem != 0 and rem <= W

    @always(clk.posedge)
    def seq():
        if rst:
            loading.next = 0
            pend.next = 0
        else:
            if wnow:
                breg.next = breg >> (8 * W)
                if mod >= Q - W:
                    mod.next = mod - QW
                    div.next = div + 1
                else:
                    mod.next = mod + W
                if rem <= W:
                    rem.next = 0
                else:
                    rem.next = rem - W
                pend.next = pend - 1
            if acc_beat:
                breg.next = in_data
                pend.next = S
                left.next = left - 1
                if left == 1:
                    loading.next = 0
            elif not loading and not wnow and wr_ok:
                loading.next = 1
                left.next = nbeats
                rem.next = n
                div.next = 0
                mod.next = 0

    return comb, lane_data, outs, seq


@block
def seq_writer(clk, start, ov, y, wr_en, wr_div, wr_mod, wr_cnt, wr_data, Q: int, W: int = 1):
    """Stores an engine's outputs ``(ov, y)``, which come in order 0, 1, ..., one per cycle,
    into the next feature memory (``Q`` lanes): element ``o`` at lane ``o % Q``, address
    ``o // Q``. The counters restart on the layer's ``start``.

    ``W > 1`` (an engine with drain width ``W`` feeding a nonzero list, ``Q == W``): ``y`` is
    ``8 * W`` bits, outputs ``t*W ... t*W + W - 1`` of write ``t`` (``wr_div = t``)."""
    div = uint(len(wr_div))
    mod = uint(len(wr_mod))
    if W > 1:
        assert Q == W

        @always_comb
        def wcomb():
            wr_en.next = ov
            wr_div.next = div
            wr_mod.next = 0
            wr_cnt.next = W
            wr_data.next = y

        @always(clk.posedge)
        def wseq():
            if start:
                div.next = 0
            elif ov:
                div.next = div + 1

        return wcomb, wseq

    @always_comb
    def comb():
        wr_en.next = ov
        wr_div.next = div
        wr_mod.next = mod
        wr_cnt.next = 1
        wr_data.next = y

    @always(clk.posedge)
    def seq():
        if start:
            div.next = 0
            mod.next = 0
        elif ov:
            if mod == Q - 1:
                mod.next = 0
                div.next = div + 1
            else:
                mod.next = mod + 1

    return comb, seq


@block
def argmax_unit(clk, iv, idx, val, half, cls_we, cls_half, cls, last: int):
    """Running argmax of the logits ``(iv, idx, val)`` (int32) arriving in index order (at
    most one per cycle), ties keeping the lowest index (numpy's rule), two register stages
    deep. Logit 0 restarts the search. For the logit with ``idx == last``, sampled together
    with ``half`` (the result-memory half it goes to), ``cls_we`` pulses one edge after the
    comparison with ``cls`` (the image's class, ``len(idx)`` bits) and ``cls_half``.

    The edge after a logit is sampled (``val_r``) decides whether it wins, but the best-so-far
    register is one logit behind: ``lv`` / ``lidx`` hold the previous logit and ``lg`` whether
    it won, ``best`` / ``bi`` the best before it. So the winner test compares ``val_r`` with
    both ``lv`` and ``best`` (two 33-bit differences between registers, in parallel) and
    selects by ``lg``; its only destination is the flip-flop ``lg``, while ``best`` / ``bi``
    take ``lv`` / ``lidx`` with the registered ``lg`` as enable (no compare drives the
    32 enables). ``cls`` is ``lidx`` if ``lg`` else ``bi``.
    """
    ib = len(idx)
    iv_r = Signal(bool(0))
    idx_r = uint(ib)
    val_r = acc_signal()
    half_r = Signal(bool(0))
    best = acc_signal()
    bi = uint(ib)
    lv = acc_signal()
    lidx = uint(ib)
    lg = Signal(bool(0))

    @always(clk.posedge)
    def sample():
        iv_r.next = iv
        idx_r.next = idx
        val_r.next = val
        half_r.next = half

    @always(clk.posedge)
    def update():
        # val_r > x as the sign of the 33-bit difference x - val_r: one carry chain each
        d_last = intbv(0, min=-(2**32), max=2**32)
        d_best = intbv(0, min=-(2**32), max=2**32)
        d_last[:] = lv - val_r
        d_best[:] = best - val_r
        cls_we.next = iv_r and idx_r == last
        cls_half.next = half_r
        if lg:
            # the previous logit won: it becomes the best so far
            best.next = lv
            bi.next = lidx
        if iv_r:
            lv.next = val_r
            lidx.next = idx_r
            if idx_r == 0:
                lg.next = 1
            elif lg:
                lg.next = d_last < 0
            else:
                lg.next = d_best < 0
        else:
            lg.next = 0

    @always_comb
    def out():
        if lg:
            cls.next = lidx
        else:
            cls.next = bi

    return sample, update, out


@block
def result_stage(clk, rst, wr_en, wr_idx, wr_data, wr_half, rd_ok, rd_half, release,
                 out_data, out_valid, out_ready, out_last, C: int):
    """Double-buffered result memory and its output streamer.

    The last layer writes logit ``wr_idx`` (int32) into the half ``wr_half`` of a block-RAM
    shaped memory (one write port, one registered read port ``rdata``, read every cycle at the
    address the streamer will use on the next edge: ``{rd_half, ridx}`` after this edge's
    updates, so ``rdata`` always equals the entry the original combinational read would see; the
    half being read is never the half being written); two edges after the last logit the argmax
    unit's class goes into that half's class register. When a half is full (``rd_ok``) the
    streamer sends ``C + 1`` beats: the class (zero-extended), then logits 0 ... C-1 as 32-bit
    two's complement, ``out_last`` on the last; the half is released when its last beat has been
    loaded into the output register. Standard valid/ready: a beat is transferred on a cycle with
    ``out_valid and out_ready``; ``out_data`` holds while ``out_ready`` is low.
    """
    IB = len(wr_idx)  # clog2(max(2, C)): exactly the address bits of C logits
    cb = clog2(C + 1)
    mem = [acc_signal() for _ in range(2 ** (IB + 1))]
    cls_now = uint(IB)
    cls_we, cls_half = Signal(bool(0)), Signal(bool(0))
    cls0, cls1 = uint(IB), uint(IB)
    ridx = uint(IB)  # logit being sent: beat - 1
    ra_half = Signal(bool(0))  # read address for the next edge: {ra_half, ra_idx}
    ra_idx = uint(IB)
    rdata = acc_signal()  # registered read of the result memory (32 bits)
    sending = Signal(bool(0))
    beat = uint(cb)
    load = Signal(bool(0))
    LAST = C - 1
    insts = [named("argmax", argmax_unit(clk, wr_en, wr_idx, wr_data, wr_half, cls_we,
                                         cls_half, cls_now, LAST))]
    ZB = 32 - IB

    @always(clk.posedge)
    def write():
        if wr_en:
            mem[concat(wr_half, wr_idx)].next = wr_data
        # the class, two edges after the last logit's write (the streamer reads it at the
        # earliest three edges after that write: done, commit, rd_ok, then the class beat)
        if cls_we:
            if cls_half:
                cls1.next = cls_now
            else:
                cls0.next = cls_now

    @always_comb
    def comb():
        load.next = sending and (not out_valid or out_ready)
        release.next = sending and (not out_valid or out_ready) and beat == C

    @always_comb
    def raddr():
        # rd_half and ridx as they will be after this edge (the MCM flips rd_half on release)
        ra_half.next = rd_half ^ release
        if not sending and rd_ok:
            ra_idx.next = 0
        elif load and beat != 0 and beat != C:
            ra_idx.next = ridx + 1
        else:
            ra_idx.next = ridx

    @always(clk.posedge)
    def rport():
        rdata.next = mem[concat(ra_half, ra_idx)]

    @always(clk.posedge)
    def stream():
        if rst:
            sending.next = 0
            out_valid.next = 0
            out_last.next = 0
        else:
            if load:
                if beat == 0:
                    if rd_half:
                        out_data.next = concat(intbv(0)[ZB:], cls1)
                    else:
                        out_data.next = concat(intbv(0)[ZB:], cls0)
                else:
                    out_data.next = rdata[32:]
                    if beat != C:
                        ridx.next = ridx + 1
                out_valid.next = 1
                out_last.next = beat == C
                if beat == C:
                    sending.next = 0
                else:
                    beat.next = beat + 1
            elif out_valid and out_ready:
                out_valid.next = 0
            if not sending and rd_ok:
                sending.next = 1
                beat.next = 0
                ridx.next = 0

    return insts, write, comb, raddr, rport, stream
