"""``lwfc_axi``: the AXI IP top around :func:`lwfc_hw.core.lwfc_core`.

::

  s_axi_control (AXI4-Lite, 32 bit) -> register file, weight window -> h_* (every parameter RAM)
  s_axis (8*B bit)  -> image framing (beat count, TLAST checks, padding) -> in_*  lwfc_core
  m_axis (32 bit)   <- result filter (class only / class + logits), TLAST queue <- out_*

Ports use Xilinx names so Vivado's IP packager infers the interfaces: ``aclk``, ``aresetn``
(synchronous, active low), ``s_axi_control_*``, ``s_axis_*``, ``m_axis_*``. The register map
(offsets, fields, reset values) comes from :mod:`lwfc_hw.regmap`; ``docs/registers.md`` is
generated from it and describes the behaviour seen from the bus.

Design notes:

* AXI4-Lite: the write address and data are latched independently (``awready`` / ``wready``
  high while the respective holding register is empty); a write is performed when both are
  present and no response is pending, then ``bvalid`` is held until ``bready``. Reads are
  latched the same way; a register read answers the next cycle, a window read after the
  readback latency of the core's host port (``plan.readback_latency``: 3 or 4, one cycle more
  in all).
  Reads and writes are serialised: a write waits while a window read or a SCAN is in
  progress (at most ``WDEPTH + 5`` cycles), a window read waits while a SCAN runs. Every
  response is OKAY.
* Streams: ``s_axis_tready`` and ``m_axis_tvalid`` are combinational from registers (the
  core's ``in_ready`` / ``out_valid`` and the framing state), never from the other side's
  valid/ready, and ``m_axis_tdata`` / ``m_axis_tlast`` hold while ``m_axis_tready`` is low
  (the core holds ``out_data``; the framing state changes only on a transfer), so the AXI4-Stream
  rules hold under any TVALID / TREADY pattern.
* A per-image TLAST bit queue (:data:`~lwfc_hw.regmap.TLAST_QUEUE` entries, input stalls when
  full) carries "this image ended with TLAST or is the batch's last" from the input side to the
  last result beat of the same image.
* ``SOFT_RESET`` and the end of ``aresetn`` hold the core in reset for
  :data:`~lwfc_hw.regmap.RESET_CYCLES` cycles; the framing state is reset with it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from myhdl import Signal, always, always_comb, block, concat, intbv

from . import regmap as R
from .core import lwfc_core
from .plan import CorePlan, clog2
from .rtl_common import uint

TOP = "lwfc_axi"


def _w(reg: R.Register) -> int:
    """Word index (byte offset / 4) of a register."""
    return reg.offset >> 2


@block
def lwfc_axi(aclk, aresetn,
             s_axi_control_awaddr, s_axi_control_awvalid, s_axi_control_awready,
             s_axi_control_wdata, s_axi_control_wstrb, s_axi_control_wvalid,
             s_axi_control_wready,
             s_axi_control_bresp, s_axi_control_bvalid, s_axi_control_bready,
             s_axi_control_araddr, s_axi_control_arvalid, s_axi_control_arready,
             s_axi_control_rdata, s_axi_control_rresp, s_axi_control_rvalid,
             s_axi_control_rready,
             s_axis_tdata, s_axis_tvalid, s_axis_tready, s_axis_tlast,
             m_axis_tdata, m_axis_tvalid, m_axis_tready, m_axis_tlast,
             plan: CorePlan):
    """The IP top. Widths: ``s_axi_control_awaddr/araddr`` :data:`~lwfc_hw.regmap.ADDR_BITS`,
    ``wdata/rdata`` 32, ``wstrb`` 4, ``bresp/rresp`` 2; ``s_axis_tdata`` ``8 *
    plan.pixels_per_beat``; ``m_axis_tdata`` 32. See the module docstring and
    ``docs/registers.md``."""
    R.check_plan(plan)
    # short aliases (the converter names signals after the ports, not these locals)
    awaddr, awvalid, awready = s_axi_control_awaddr, s_axi_control_awvalid, s_axi_control_awready
    wdata, wstrb, wvalid, wready = (s_axi_control_wdata, s_axi_control_wstrb,
                                    s_axi_control_wvalid, s_axi_control_wready)
    bresp, bvalid_o, bready = s_axi_control_bresp, s_axi_control_bvalid, s_axi_control_bready
    araddr, arvalid, arready = s_axi_control_araddr, s_axi_control_arvalid, s_axi_control_arready
    rdata_o, rresp, rvalid_o, rready = (s_axi_control_rdata, s_axi_control_rresp,
                                        s_axi_control_rvalid, s_axi_control_rready)

    # ---------------------------------------------------------------- constants (elaboration)
    AW = R.ADDR_BITS
    WB = AW - 2  # word-address bits
    WIN_BIT = (R.WINDOW_BASE >> 2).bit_length() - 1  # word-address bit that selects the window
    assert R.WINDOW_BASE == 1 << (WIN_BIT + 2) and WIN_BIT == WB - 1
    EB = R.WINDOW_ENTRY_BITS
    assert WIN_BIT >= EB
    NM = len(plan.mems)
    SB = plan.sel_bits
    HB = plan.haddr_bits
    DEPTHS = tuple([m.depth for m in plan.mems] + [0] * (2**SB - NM))
    BEATS = plan.beats_per_image
    CB = clog2(BEATS)
    QD = R.TLAST_QUEUE
    QB = clog2(QD)
    RST_N = R.RESET_CYCLES
    RBL = plan.readback_latency

    # read as intbv(X)[32:] in the read mux: a plain int >= 2**31 would convert to a 33-bit
    # literal, an intbv object in the closure to an undriven reg
    ID_V = R.ID_VALUE
    VER_V = R.version_word()
    GEO_V = R.geometry_word(plan)
    PLAN_V = R.plan_word(plan)
    HASH_V = R.plan_signature(plan)

    W_ID, W_VERSION, W_GEOMETRY, W_PLAN, W_HASH = (
        _w(R.ID), _w(R.VERSION), _w(R.GEOMETRY), _w(R.PLAN), _w(R.PLAN_HASH))
    W_CTRL, W_STATUS, W_ERROR, W_BATCH = _w(R.CTRL), _w(R.STATUS), _w(R.ERROR), _w(R.BATCH)
    W_IMG_IN, W_IMG_OUT, W_CYC_LO, W_CYC_HI = (
        _w(R.IMAGES_IN), _w(R.IMAGES_OUT), _w(R.CYCLES_LO), _w(R.CYCLES_HI))
    W_WSEL, W_WDEPTH, W_SUM, W_WSUM = _w(R.WSEL), _w(R.WDEPTH), _w(R.SCAN_SUM), _w(R.SCAN_WSUM)

    C_START = R.CTRL.field("START").lsb
    C_SOFT = R.CTRL.field("SOFT_RESET").lsb
    C_LOGITS = R.CTRL.field("LOGITS").lsb
    C_SCAN = R.CTRL.field("SCAN").lsb
    assert max(C_START, C_SOFT, C_LOGITS, C_SCAN) < 8  # all in byte 0

    S_IDLE = R.STATUS.field("IDLE").lsb
    S_BUSY = R.STATUS.field("BUSY").lsb
    S_DONE = R.STATUS.field("DONE").lsb
    S_ERROR = R.STATUS.field("ERROR").lsb
    S_SCAN = R.STATUS.field("SCAN_BUSY").lsb
    S_CORE_IDLE = R.STATUS.field("CORE_IDLE").lsb
    S_RST = R.STATUS.field("RESETTING").lsb

    EBITS = len(R.ERROR.fields)
    E_SHORT = R.ERROR.field("IMG_SHORT").lsb
    E_LONG = R.ERROR.field("IMG_LONG").lsb
    E_WRANGE = R.ERROR.field("WIN_WRITE_RANGE").lsb
    E_RRANGE = R.ERROR.field("WIN_READ_RANGE").lsb
    E_BUSY = R.ERROR.field("WIN_BUSY").lsb
    E_STRB = R.ERROR.field("WIN_STRB").lsb
    assert sorted(f.lsb for f in R.ERROR.fields) == list(range(EBITS))
    WSEL_BITS = R.WSEL.fields[0].width

    # ---------------------------------------------------------------- signals
    # (all declared before the first block: MyHDL infers sensitivity lists at decoration)
    # core
    rst_core = Signal(bool(1))
    in_data = uint(8 * plan.pixels_per_beat)
    in_valid = Signal(bool(0))
    in_ready = Signal(bool(0))
    out_data = uint(32)
    out_valid = Signal(bool(0))
    out_ready = Signal(bool(0))
    out_last = Signal(bool(0))
    h_sel = uint(SB)
    h_we = Signal(bool(0))
    h_addr = uint(HB)
    h_rdata = uint(32)
    core_idle = Signal(bool(0))
    # reset
    rst_cnt = uint(clog2(RST_N + 1), RST_N)
    soft_req = Signal(bool(0))
    # AXI4-Lite write side
    aw_full = Signal(bool(0))
    aw_word = uint(WB)
    aw_win = Signal(bool(0))
    aw_entry = uint(EB + 1)
    w_full = Signal(bool(0))
    w_data = uint(32)  # the latched write data doubles as the host port's h_wdata
    w_strb = uint(4)
    wmask = uint(32)
    bvalid = Signal(bool(0))
    do_write = Signal(bool(0))
    # AXI4-Lite read side
    ar_full = Signal(bool(0))
    ar_word = uint(WB)
    ar_entry = uint(EB + 1)
    ar_win = Signal(bool(0))
    rvalid = Signal(bool(0))
    rdata = uint(32)
    rd_busy = Signal(bool(0))
    rd_cnt = uint(3)
    rd_ok = Signal(bool(0))
    cyc_hi = uint(32)
    ev_rd = Signal(bool(0))
    # register file
    batch_reg = uint(32)
    wsel = uint(WSEL_BITS)
    wsel_ok = Signal(bool(0))
    wdepth = uint(EB + 1)
    wr_in_range = Signal(bool(0))
    logits_bit = Signal(bool(0))
    err = uint(EBITS)
    start_req = Signal(bool(0))
    scan_req = Signal(bool(0))
    ev_rrange = Signal(bool(0))
    status_w = uint(32)
    idle_all = Signal(bool(0))
    # SCAN
    scan_busy = Signal(bool(0))
    scan_addr = uint(EB + 1)
    scan_end = uint(EB + 1)
    scan_issued = Signal(bool(0))
    scan_p1 = Signal(bool(0))
    scan_p2 = Signal(bool(0))
    scan_p3 = Signal(bool(0))
    sum1 = uint(32)
    sum2 = uint(32)
    ev_scan_range = Signal(bool(0))
    # batch / stream framing
    busy = Signal(bool(0))
    done = Signal(bool(0))
    logits_r = Signal(bool(0))
    batch_n = uint(32)
    img_in = uint(32)
    img_out = uint(32)
    beat_cnt = uint(CB)
    pad = Signal(bool(0))
    pend = uint(QB + 1)
    wptr = uint(QB)
    rptr = uint(QB)
    tq = uint(QD)
    first_o = Signal(bool(1))
    cycles = uint(64)
    accept_en = Signal(bool(0))
    beat_x = Signal(bool(0))
    ox = Signal(bool(0))
    fwd = Signal(bool(0))
    last_img = Signal(bool(0))
    ev_short = Signal(bool(0))
    ev_long = Signal(bool(0))

    core = lwfc_core(aclk, rst_core, in_data, in_valid, in_ready, out_data, out_valid, out_ready,
                     out_last, h_sel, h_we, h_addr, w_data, h_rdata, core_idle, plan)

    # ---------------------------------------------------------------- reset
    @always(aclk.posedge)
    def reset_gen():
        if not aresetn or soft_req:
            rst_cnt.next = RST_N
        elif rst_cnt != 0:
            rst_cnt.next = rst_cnt - 1

    @always_comb
    def reset_comb():
        rst_core.next = rst_cnt != 0

    # ---------------------------------------------------------------- AXI4-Lite write channels
    @always(aclk.posedge)
    def axil_write():
        if not aresetn:
            aw_full.next = 0
            w_full.next = 0
            bvalid.next = 0
        else:
            if do_write:
                aw_full.next = 0
                w_full.next = 0
                bvalid.next = 1
            else:
                if awvalid and not aw_full:
                    aw_full.next = 1
                    aw_word.next = awaddr[AW:2]
                if wvalid and not w_full:
                    w_full.next = 1
                    w_data.next = wdata
                    w_strb.next = wstrb
                if bvalid and bready:
                    bvalid.next = 0

    @always_comb
    def axil_write_comb():
        awready.next = not aw_full
        wready.next = not w_full
        bvalid_o.next = bvalid
        bresp.next = 0
        do_write.next = aw_full and w_full and not bvalid and not rd_busy and not scan_busy

    @always_comb
    def strobe_mask():
        m = intbv(0)[32:]
        if w_strb[0]:
            m[8:0] = 0xFF
        if w_strb[1]:
            m[16:8] = 0xFF
        if w_strb[2]:
            m[24:16] = 0xFF
        if w_strb[3]:
            m[32:24] = 0xFF
        wmask.next = m

    # ---------------------------------------------------------------- register file, window
    @always_comb
    def window_decode():
        aw_win.next = aw_word[WIN_BIT]
        aw_entry.next = concat(False, aw_word[EB:])
        ar_win.next = ar_word[WIN_BIT]
        ar_entry.next = concat(False, ar_word[EB:])
        wsel_ok.next = wsel < NM
        if wsel < NM:
            wdepth.next = DEPTHS[wsel[SB:]]
        else:
            wdepth.next = 0

    @always_comb
    def window_range():
        wr_in_range.next = wsel_ok and aw_entry < wdepth
        scan_end.next = wdepth - 1

    @always(aclk.posedge)
    def regfile():
        e = intbv(0)[EBITS:]
        clr = intbv(0)[EBITS:]
        if not aresetn:
            batch_reg.next = 0
            wsel.next = 0
            logits_bit.next = 0
            err.next = 0
            start_req.next = 0
            soft_req.next = 0
            scan_req.next = 0
        else:
            start_req.next = 0
            soft_req.next = 0
            scan_req.next = 0
            e[E_SHORT] = ev_short
            e[E_LONG] = ev_long
            e[E_RRANGE] = ev_rrange
            if do_write:
                if aw_win:
                    if w_strb != 0xF:
                        e[E_STRB] = 1
                    elif not wr_in_range:
                        e[E_WRANGE] = 1
                    elif not idle_all:
                        e[E_BUSY] = 1
                elif aw_word == W_CTRL:
                    if w_strb[0]:
                        start_req.next = w_data[C_START]
                        soft_req.next = w_data[C_SOFT]
                        scan_req.next = w_data[C_SCAN]
                        logits_bit.next = w_data[C_LOGITS]
                elif aw_word == W_ERROR:
                    clr[:] = w_data[EBITS:] & wmask[EBITS:]
                elif aw_word == W_BATCH:
                    batch_reg.next = (batch_reg & ~wmask) | (w_data & wmask)
                elif aw_word == W_WSEL:
                    wsel.next = ((wsel & ~wmask[WSEL_BITS:])
                                 | (w_data[WSEL_BITS:] & wmask[WSEL_BITS:]))
            if soft_req:
                err.next = 0
            else:
                err.next = (err & ~clr) | e

    @always_comb
    def host_port():
        h_sel.next = wsel[SB:]
        h_we.next = (do_write and aw_win and w_strb == 0xF and wr_in_range and idle_all)
        if scan_busy:
            h_addr.next = scan_addr[HB:]
        elif rd_busy:
            h_addr.next = ar_entry[HB:]
        else:
            h_addr.next = aw_entry[HB:]

    # ---------------------------------------------------------------- SCAN (checksum readback)
    @always(aclk.posedge)
    def scan():
        if not aresetn:
            scan_busy.next = 0
            scan_p1.next = 0
            scan_p2.next = 0
            scan_p3.next = 0
            sum1.next = 0
            sum2.next = 0
            ev_scan_range.next = 0
        else:
            ev_scan_range.next = 0
            if scan_req and not scan_busy:
                if wsel_ok:
                    scan_busy.next = 1
                    scan_addr.next = 0
                    scan_issued.next = 0
                    scan_p1.next = 0
                    scan_p2.next = 0
                    scan_p3.next = 0
                    sum1.next = 0
                    sum2.next = 0
                else:
                    ev_scan_range.next = 1
            elif scan_busy:
                scan_p1.next = not scan_issued
                scan_p2.next = scan_p1
                scan_p3.next = scan_p2
                if not scan_issued:
                    if scan_addr == scan_end:
                        scan_issued.next = 1
                    else:
                        scan_addr.next = scan_addr + 1
                if scan_p3:
                    sum1.next = sum1 + h_rdata
                    sum2.next = sum2 + sum1 + h_rdata
                if scan_issued and not scan_p1 and not scan_p2 and not scan_p3:
                    scan_busy.next = 0

    # ---------------------------------------------------------------- batch / stream framing
    @always_comb
    def framing_comb():
        accept_en.next = (busy and not pad and pend < QD - 1
                          and (batch_n == 0 or img_in < batch_n))
        last_img.next = batch_n != 0 and img_in + 1 == batch_n
        fwd.next = logits_r or first_o

    @always_comb
    def stream_comb():
        s_axis_tready.next = in_ready and accept_en
        in_valid.next = pad or (s_axis_tvalid and accept_en)
        if pad:
            in_data.next = 0
        else:
            in_data.next = s_axis_tdata
        beat_x.next = (pad or (s_axis_tvalid and accept_en)) and in_ready
        m_axis_tvalid.next = out_valid and fwd
        m_axis_tdata.next = out_data
        if logits_r:
            m_axis_tlast.next = out_last and tq[rptr]
        else:
            m_axis_tlast.next = first_o and tq[rptr]
        out_ready.next = m_axis_tready or not fwd
        ox.next = out_valid and (m_axis_tready or not fwd)

    @always(aclk.posedge)
    def framing():
        if rst_core:
            busy.next = 0
            done.next = 0
            img_in.next = 0
            img_out.next = 0
            beat_cnt.next = 0
            pad.next = 0
            pend.next = 0
            wptr.next = 0
            rptr.next = 0
            first_o.next = 1
            cycles.next = 0
            ev_short.next = 0
            ev_long.next = 0
        else:
            ev_short.next = 0
            ev_long.next = 0
            if start_req and not busy:
                busy.next = 1
                done.next = 0
                img_in.next = 0
                img_out.next = 0
                cycles.next = 0
                logits_r.next = logits_bit
                batch_n.next = batch_reg
            elif busy:
                cycles.next = cycles + 1
            # input side
            if beat_x:
                if beat_cnt == BEATS - 1:
                    beat_cnt.next = 0
                    pad.next = 0
                    img_in.next = img_in + 1
                    wptr.next = wptr + 1
                    if pad:
                        tq.next[wptr] = 1
                    else:
                        tq.next[wptr] = s_axis_tlast or last_img
                        if last_img and not s_axis_tlast:
                            ev_long.next = 1
                else:
                    beat_cnt.next = beat_cnt + 1
                    if not pad and s_axis_tlast:
                        ev_short.next = 1
                        pad.next = 1
            # output side
            if ox:
                if out_last:
                    first_o.next = 1
                    img_out.next = img_out + 1
                    rptr.next = rptr + 1
                    if batch_n != 0 and img_out + 1 == batch_n:
                        busy.next = 0
                        done.next = 1
                else:
                    first_o.next = 0
            # images between their last input beat and their last result beat
            if beat_x and beat_cnt == BEATS - 1:
                if not (ox and out_last):
                    pend.next = pend + 1
            elif ox and out_last:
                pend.next = pend - 1

    # ---------------------------------------------------------------- status
    @always_comb
    def status_comb():
        idle_all.next = core_idle and not busy and not scan_busy and not rst_core
        s = intbv(0)[32:]
        s[S_IDLE] = core_idle and not busy and not scan_busy and not rst_core
        s[S_BUSY] = busy
        s[S_DONE] = done
        s[S_ERROR] = err != 0
        s[S_SCAN] = scan_busy
        s[S_CORE_IDLE] = core_idle
        s[S_RST] = rst_core
        status_w.next = s

    # ---------------------------------------------------------------- AXI4-Lite read channels
    @always_comb
    def axil_read_comb():
        arready.next = not ar_full
        rvalid_o.next = rvalid
        rdata_o.next = rdata
        rresp.next = 0
        ev_rrange.next = ev_rd or ev_scan_range

    @always(aclk.posedge)
    def axil_read():
        if not aresetn:
            ar_full.next = 0
            rvalid.next = 0
            rd_busy.next = 0
            ev_rd.next = 0
            cyc_hi.next = 0
        else:
            ev_rd.next = 0
            if arvalid and not ar_full:
                ar_full.next = 1
                ar_word.next = araddr[AW:2]
            if rvalid and rready:
                rvalid.next = 0
            if rd_busy:
                rd_cnt.next = rd_cnt - 1
                if rd_cnt == 1:
                    rd_busy.next = 0
                    rvalid.next = 1
                    ar_full.next = 0
                    if rd_ok:
                        rdata.next = h_rdata
                    else:
                        rdata.next = 0
                        ev_rd.next = 1
            elif ar_full and not rvalid and not do_write:
                if ar_win:
                    if not scan_busy:
                        rd_busy.next = 1
                        rd_cnt.next = RBL + 1
                        rd_ok.next = wsel_ok and ar_entry < wdepth
                else:
                    ar_full.next = 0
                    rvalid.next = 1
                    if ar_word == W_ID:
                        rdata.next = intbv(ID_V)[32:]
                    elif ar_word == W_VERSION:
                        rdata.next = intbv(VER_V)[32:]
                    elif ar_word == W_GEOMETRY:
                        rdata.next = intbv(GEO_V)[32:]
                    elif ar_word == W_PLAN:
                        rdata.next = intbv(PLAN_V)[32:]
                    elif ar_word == W_HASH:
                        rdata.next = intbv(HASH_V)[32:]
                    elif ar_word == W_CTRL:
                        rdata.next = concat(intbv(0)[32 - C_LOGITS - 1:], logits_bit,
                                            intbv(0)[C_LOGITS:])
                    elif ar_word == W_STATUS:
                        rdata.next = status_w
                    elif ar_word == W_ERROR:
                        rdata.next = concat(intbv(0)[32 - EBITS:], err)
                    elif ar_word == W_BATCH:
                        rdata.next = batch_reg
                    elif ar_word == W_IMG_IN:
                        rdata.next = img_in
                    elif ar_word == W_IMG_OUT:
                        rdata.next = img_out
                    elif ar_word == W_CYC_LO:
                        rdata.next = cycles[32:]
                        cyc_hi.next = cycles[64:32]
                    elif ar_word == W_CYC_HI:
                        rdata.next = cyc_hi
                    elif ar_word == W_WSEL:
                        rdata.next = concat(intbv(0)[32 - WSEL_BITS:], wsel)
                    elif ar_word == W_WDEPTH:
                        rdata.next = concat(intbv(0)[32 - EB - 1:], wdepth)
                    elif ar_word == W_SUM:
                        rdata.next = sum1
                    elif ar_word == W_WSUM:
                        rdata.next = sum2
                    else:
                        rdata.next = 0

    return (core, reset_gen, reset_comb, axil_write, axil_write_comb, strobe_mask,
            window_decode, window_range, regfile, host_port, scan, framing_comb, stream_comb,
            framing, status_comb, axil_read_comb, axil_read)


def axi_ports(plan: CorePlan) -> dict[str, Signal]:
    """Fresh top-level signals for :func:`lwfc_axi`, with their port widths."""
    aw = R.ADDR_BITS
    return {
        "aclk": Signal(bool(0)),
        "aresetn": Signal(bool(0)),
        "s_axi_control_awaddr": uint(aw),
        "s_axi_control_awvalid": Signal(bool(0)),
        "s_axi_control_awready": Signal(bool(0)),
        "s_axi_control_wdata": uint(32),
        "s_axi_control_wstrb": uint(4),
        "s_axi_control_wvalid": Signal(bool(0)),
        "s_axi_control_wready": Signal(bool(0)),
        "s_axi_control_bresp": uint(2),
        "s_axi_control_bvalid": Signal(bool(0)),
        "s_axi_control_bready": Signal(bool(0)),
        "s_axi_control_araddr": uint(aw),
        "s_axi_control_arvalid": Signal(bool(0)),
        "s_axi_control_arready": Signal(bool(0)),
        "s_axi_control_rdata": uint(32),
        "s_axi_control_rresp": uint(2),
        "s_axi_control_rvalid": Signal(bool(0)),
        "s_axi_control_rready": Signal(bool(0)),
        "s_axis_tdata": uint(8 * plan.pixels_per_beat),
        "s_axis_tvalid": Signal(bool(0)),
        "s_axis_tready": Signal(bool(0)),
        "s_axis_tlast": Signal(bool(0)),
        "m_axis_tdata": uint(32),
        "m_axis_tvalid": Signal(bool(0)),
        "m_axis_tready": Signal(bool(0)),
        "m_axis_tlast": Signal(bool(0)),
    }


def convert_axi(plan: CorePlan, out_dir: str | os.PathLike) -> Path:
    """Convert ``lwfc_axi`` for ``plan`` to ``out_dir/lwfc_axi.v``; return the path.

    Raises:
        ValueError: the plan does not fit the register map (see
            :func:`lwfc_hw.regmap.check_plan`).
        RuntimeError: MyHDL printed a conversion warning other than the expected "port is not
            used" of the parameter-RAM templates.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    inst = lwfc_axi(**axi_ports(plan), plan=plan)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inst.convert(hdl="Verilog", path=str(out), name=TOP, testbench=False)
    bad = [str(w.message) for w in caught if "Port is not used" not in str(w.message)]
    if bad:
        raise RuntimeError("MyHDL conversion warnings: " + "; ".join(sorted(set(bad))[:10]))
    return out / f"{TOP}.v"
