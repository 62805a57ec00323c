"""``lwfc_serial``: the accelerator behind the framed serial link of :mod:`lwfc_hw.link`.

::

  rx -> uart_rx -> parser (header, CRCs) -> decoder (raw / sparse pixels, WRITE entries)
     -> input FIFO (staged, committed after the CRC) -> consumer -> lwfc_core in_* / h_*
  tx <- uart_tx <- reply sender <- error / command replies, WRITE / VERIFY replies,
                                   results (lwfc_core out_*, tags in image order)

The board tops (``hw/boards/*``) only add clocks, resets and pins. Every constant of the
protocol comes from :mod:`lwfc_hw.link`.

Design notes:

* The parser takes one byte per UART byte time (``10 * div`` clocks). A frame's payload is
  written into the FIFO at a tentative pointer and committed (made visible to the consumer)
  only when its CRC and every check passed; otherwise the pointer rolls back: a bad frame is
  never half applied. Mid-frame silence of :data:`IDLE_BYTES` byte times also rolls back and
  returns the parser to hunting for SYNC, so a truncated frame cannot wedge it.
* Images and WRITE bursts share the FIFO (``fifo_depth`` words of ``max(8B, 32)`` bits; LUT
  RAM or block RAM by ``ram_style``). A WRITE is accepted only when the FIFO has room for a
  whole burst; a CLASSIFY's beats are written while the FIFO has room (checked per beat, as
  the consumer frees words during the frame: an image may follow one the core is still
  loading), and when it runs out the frame is rolled back and answered ``ERR_BUSY``. Bytes
  are never lost: the host keeps at most ``in_flight`` images unanswered, which the FIFO and
  the core's free input half always hold.
* The consumer takes committed items in order: an image's beats go to the core's loader (the
  core loads it while it computes the previous image), a WRITE's entries go to the host port
  once the core is idle, a VERIFY reads a memory through the host port and checksums it as the
  AXI IP's SCAN (``sum``, and the sum of running sums, which equals the weighted sum).
* Results leave the core in image order; the image's tag (and its logits flag) waits in a small
  queue until then. Class-only replies drain the logit beats without sending them.
"""

from __future__ import annotations

import os
from pathlib import Path

from myhdl import ConcatSignal, Signal, always, always_comb, block, concat, enum, intbv, modbv

from . import link as K
from .core import core_ports, lwfc_core
from .memories import named
from .plan import CorePlan, clog2
from .regmap import plan_signature
from .rtl_common import uint
from .uart import uart_rx, uart_tx

TOP = "lwfc_serial"
#: Mid-frame silence, in byte times, after which the parser drops the frame and hunts.
IDLE_BYTES = 32
#: Cycles the core is held in reset by FLUSH.
FLUSH_CYCLES = 16
#: Entries of the descriptor queue (committed frames, the one the consumer works on
#: included; a memory of ``DQUEUE`` words, block RAM or LUT RAM by ``ram_style``).
DQUEUE = 4
#: Entries of the result-tag queue (images inside the core, awaiting their results; a memory
#: like the descriptor queue): bounds the images the host may keep in flight.
RQUEUE = 4

t_p = enum("HUNT", "HDR", "HCRC", "HCHK", "HGO", "PAY", "CRC0", "CRC1", "END", "ACT",
           "FLUSH")
t_c = enum("IDLE", "TAKE", "TAKE2", "TAKE3", "IMG_RD", "IMG_WAIT", "IMG_SEND", "WR_WAIT", "WR_RD",
           "WR_WAIT2", "WR_DO", "VER_WAIT", "VER_ADDR", "VER_READ", "VER_DONE", "REPLY")
t_s = enum("IDLE", "HDR", "PAY", "CRC0", "CRC1", "DRAIN")
t_d = enum("Z", "N", "L")

# payload sources of a reply
SRC_NONE, SRC_ERR, SRC_IDENT, SRC_VERIFY, SRC_RESULT = range(5)
# descriptor kinds
D_IMG, D_WR, D_VER = range(3)


def fifo_geometry(plan: CorePlan, depth: int = 0) -> dict[str, int]:
    """FIFO depth (entries), width (bits), the largest WRITE burst (entries) and the images the
    host may keep in flight, for ``plan``. ``depth``: the FIFO's entries (a power of two of at
    least one image's beats and 64; a board's ``uart.fifo_depth``, 256 on the iCEBreaker: two
    block RAMs less than the default); 0: two images' beats, at least 512."""
    bpi = plan.beats_per_image
    if depth:
        if depth & (depth - 1) or depth < max(bpi, 64):
            raise ValueError(f"fifo_depth must be a power of two >= max({bpi} beats per image, "
                             f"64), got {depth}")
    else:
        depth = 1 << clog2(max(2 * bpi, 512))
    burst = min(256, depth // 2)
    return {"depth": depth, "width": max(8 * plan.pixels_per_beat, 32), "max_burst": burst,
            "in_flight": min(depth // bpi + 1, RQUEUE)}


@block
def crc_serial(clk, rst, init, go8, go16, byte, crc8, crc16, busy=None):
    """CRC-8 (poly 0x07, from 0) and CRC-16/CCITT-FALSE (poly 0x1021, from 0xFFFF) of a byte
    stream, one bit per cycle: ``init`` (or ``rst``) starts both; ``go8`` / ``go16`` (with
    ``byte``) feed ``byte`` into either or both, MSB first, in the 8 cycles that follow.
    The link's bytes are 10 bit periods (at least 80 cycles) apart, so a byte is done long
    before the next one arrives or is sent (``busy``, optional, tells)."""
    sh = uint(8)
    cnt = uint(4)
    u8, u16 = Signal(bool(0)), Signal(bool(0))

    @always(clk.posedge)
    def seq():
        if rst or init:
            crc8.next = 0
            crc16.next = 0xFFFF
            cnt.next = 0
        elif go8 or go16:
            sh.next = byte
            cnt.next = 8
            u8.next = go8
            u16.next = go16
        elif cnt != 0:
            cnt.next = cnt - 1
            sh.next = concat(sh[7:0], False)
            if u8:
                if crc8[7] ^ sh[7]:
                    crc8.next = concat(crc8[7:0], False) ^ 0x07
                else:
                    crc8.next = concat(crc8[7:0], False)
            if u16:
                if crc16[15] ^ sh[7]:
                    crc16.next = concat(crc16[15:0], False) ^ 0x1021
                else:
                    crc16.next = concat(crc16[15:0], False)

    if busy is None:
        return seq

    @always_comb
    def flags():
        busy.next = cnt != 0 or go8 or go16

    return seq, flags


@block
def fifo_ram(clk, we, waddr, wdata, raddr, rdata, depth: int, width: int, ram_style: str,
             mname: str = "fifo"):
    """``depth x width`` simple dual-port RAM, registered read (``rdata <= mem[raddr]`` every
    edge, the word before a write to the same address); ``ram_style`` ("distributed" for LUT
    RAM, "block") is passed to synthesis; ``mname`` names the memory in the Verilog."""
    mem = [0] * depth
    _template_names = (depth, width, ram_style, mname)  # read by the verilog_code template

    @always(clk.posedge)
    def model():
        if we:
            mem[int(waddr)] = int(wdata)
        rdata.next = mem[int(raddr)]

    rdata.driven = "reg"
    for s in (we, waddr, wdata, raddr):
        s.read = True
    fifo_ram.verilog_code = """
// ${mname} memory of the serial bridge: ${depth} x ${width} bit, registered read
(* ram_style = "${ram_style}" *)
reg [${width}-1:0] ${mname}_mem [0:${depth}-1];
always @(posedge ${clk}) begin
    if (${we}) ${mname}_mem[${waddr}] <= ${wdata};
    ${rdata} <= ${mname}_mem[${raddr}];
end
`ifndef SYNTHESIS
// simulation only: the words before the first write read as 0, not X (the core's input and
// host-port data are wired to this register)
integer ${mname}_i;
initial for (${mname}_i = 0; ${mname}_i < ${depth}; ${mname}_i = ${mname}_i + 1)
    ${mname}_mem[${mname}_i] = 0;
`endif
"""
    return model


@block
def ident_store(clk, we, wk, wdata, commit, clr, sid, rdata, record: tuple[int, ...],
                hash_off: int, ram_style: str):
    """The IDENTIFY record as a byte memory, with the parameter hash in two banks.

    ``record``: the record's bytes, the hash at ``hash_off ... hash_off + 3`` (little endian)
    being bank 0's configuration value. Bank 1's four bytes sit at ``2**IB ...`` (``IB``: the
    record's address bits). ``we`` writes ``wdata`` as byte ``wk`` (0 ... 3) of the bank not
    in use (SET_HASH's payload as it arrives); ``commit`` makes it the bank in use (the frame
    passed its CRC); ``clr`` makes the hash read as 0 until the next commit. The bank and
    the clear flag start at 0 and are not changed by ``rst``: the memories keep their
    contents through a reset too. ``rdata`` is record byte ``sid`` one edge after ``sid``
    (registered read); ``sid`` must not change in the cycle the byte is used.
    """
    IB = clog2(len(record) + 1)
    depth = 2 ** (IB + 1)
    init = list(record) + [0] * (depth - len(record))
    init[2**IB : 2**IB + 4] = record[hash_off : hash_off + 4]
    mem = list(init)
    state = {"bank": 0, "hz": 0, "rd": 0, "rh": 0}
    hi = hash_off + 3
    AW = IB + 1
    ZW, ZW1 = IB - 2, IB - 1
    hk0 = hash_off % 4
    assert IB > 2 and hi < 2**IB
    init_text = "\n".join(f"    ident_mem[{a}] = 8'h{v:02x};" for a, v in enumerate(init))
    _template_names = (IB, AW, ZW, ZW1, hk0, depth, ram_style, hash_off, hi, init_text)

    def addr(byte: int, bank: int) -> int:
        return (2**IB + byte) if bank else (hash_off + byte)

    @always(clk.posedge)
    def model():
        a = int(sid)
        in_hash = hash_off <= a <= hi
        if we:
            mem[addr(int(wk), 1 - state["bank"])] = int(wdata)
        rd = mem[addr(a - hash_off, state["bank"])] if in_hash else mem[a]
        state["rd"], state["rh"] = rd, int(in_hash)
        if clr:
            state["hz"] = 1
        elif commit:
            state["hz"] = 0
        if commit:
            state["bank"] ^= 1
        rdata.next = 0 if (state["rh"] and state["hz"]) else state["rd"]

    rdata.driven = "wire"
    for sig in (we, wk, wdata, commit, clr, sid):
        sig.read = True
    ident_store.verilog_code = """
// IDENTIFY record (byte ROM) with the parameter hash in two banks, kept through resets
(* ram_style = "${ram_style}" *)
reg [7:0] ident_mem [0:${depth}-1];
initial begin
${init_text}
end
reg ident_bank = 1'b0;
reg ident_hz = 1'b0;
reg [7:0] ident_rd = 8'd0;
reg ident_rh = 1'b0;
wire ident_in_hash = (${sid} >= ${IB}'d${hash_off}) && (${sid} <= ${IB}'d${hi});
wire [1:0] ident_hk = ${sid}[1:0] - 2'd${hk0};
wire [${AW}-1:0] ident_ra = (ident_in_hash && ident_bank) ? {1'b1, ${ZW}'d0, ident_hk}
    : {1'b0, ${sid}};
wire [${AW}-1:0] ident_wa = ident_bank ? ${AW}'d${hash_off} + {${ZW1}'d0, ${wk}}
    : {1'b1, ${ZW}'d0, ${wk}};
always @(posedge ${clk}) begin
    if (${we}) ident_mem[ident_wa] <= ${wdata};
    ident_rd <= ident_mem[ident_ra];
    ident_rh <= ident_in_hash;
    if (${clr}) ident_hz <= 1'b1;
    else if (${commit}) ident_hz <= 1'b0;
    if (${commit}) ident_bank <= !ident_bank;
end
assign ${rdata} = (ident_rh && ident_hz) ? 8'd0 : ident_rd;
"""
    return model


@block
def lwfc_serial(clk, rst, rx, tx, busy, error, plan: CorePlan, clk_hz: int, baud: int,
                params_hash: int = 0, ram_style: str = "block", hport_reg: bool = True,
                queue_ram_style: str = "", fifo_depth: int = 0):
    """The serial bridge and the core.

    Ports: ``clk``; ``rst`` (synchronous, active high); ``rx`` / ``tx`` (8N1 UART, idle high,
    ``link.uart_timing(clk_hz, baud).divisor`` clocks per bit); ``busy`` (images or commands
    in progress) and ``error`` (sticky: a UART framing error or a bad CRC since reset), for
    LEDs. ``params_hash``: IDENTIFY's parameter hash after configuration (the built-in
    bundle's, or 0 when some memory starts empty). ``ram_style``: the bridge's memories
    (FIFO, queues, IDENTIFY record), "block" or "distributed"; ``queue_ram_style``, when
    given, overrides it for the small ones (the descriptor and result queues and the
    IDENTIFY record: on ECP5 "distributed", since an unregistered block RAM output before
    their logic is too long a path at 100 MHz). ``hport_reg``: the host
    port's write data is a register copy of the FIFO's output (for ECP5 at 100 MHz, where
    a block RAM's output to another's write port is too long a path), else the FIFO's
    output register itself (it holds the entry until the next read; same cycles).
    ``fifo_depth``: see :func:`fifo_geometry`.
    """
    timing = K.uart_timing(clk_hz, baud)
    div = timing.divisor
    B = plan.pixels_per_beat
    NIN = plan.n_in
    C = plan.classes
    BPI = plan.beats_per_image
    geo = fifo_geometry(plan, fifo_depth)
    FD, FW, MB, INF = geo["depth"], geo["width"], geo["max_burst"], geo["in_flight"]
    if 20 * div <= 255 // B + 2 * B + 8:
        raise ValueError(f"{div} clocks per bit leave too little time to expand a zero run "
                         f"of 255 pixels at {B} pixels per beat")
    NM = len(plan.mems)
    FA = clog2(FD)
    SB = plan.sel_bits
    AB = plan.haddr_bits
    maxlen = K.max_request_payload(NIN, MB)
    LB = 16
    EB_ = clog2(MB + 1)      # WRITE entry counters (0 ... max_burst)
    CB = max(clog2(BPI), EB_)  # consumer's item index (beats of an image, entries of a WRITE)
    NPOS = FW // 8           # bytes of a FIFO word (pixels of a beat, bytes of an entry)
    BPW = clog2(NPOS + 1)    # byte position in the word being assembled
    PB_ = clog2(maxlen + 1)   # request payload counters

    # ---- the link's error codes share their high 5 bits
    errs = (K.ERR_CRC, K.ERR_COMMAND, K.ERR_LENGTH, K.ERR_BUSY, K.ERR_RANGE)
    ERR_HI = K.ERR_CRC.value >> 3
    assert all(e.value >> 3 == ERR_HI and e.value & 7 for e in errs)
    E_CRC, E_COMMAND, E_LENGTH, E_BUSY, E_RANGE = (e.value & 7 for e in errs)

    # ---- ROMs from the plan and the protocol
    pad = 2**SB - NM  # ROMs indexed by the memory id's low SB bits (ids >= NM are rejected)
    depth_rom = tuple(m.depth for m in plan.mems) + (0,) * pad
    dlast_rom = tuple(m.depth - 1 for m in plan.mems) + (0,) * pad
    # the byte position (0 ... 3) that completes an entry of each memory
    eblast_rom = tuple(K.entry_bytes(m.width) - 1 for m in plan.mems) + (3,) * pad
    ident = K.Identity(K.MAGIC, K.VERSION, NIN, C, B, plan.lanes, NM, INF, MB,
                       plan_signature(plan), 0, clk_hz, baud).pack()
    hash_off = K.identify_offset("params_hash")
    NIDENT = len(ident)
    IB = clog2(NIDENT + 1)
    record = bytearray(ident)
    record[hash_off : hash_off + 4] = params_hash.to_bytes(4, "little")

    # ---- UART
    rx_data = uint(8)
    rx_valid = Signal(bool(0))
    rx_ferr = Signal(bool(0))
    s_byte = uint(8)   # the sender's byte: the transmitter takes it the cycle after tx_go
    tx_go = Signal(bool(0))
    tx_busy = Signal(bool(0))
    insts = [named("rx", uart_rx(clk, rst, rx, rx_data, rx_valid, rx_ferr, div)),
             named("tx", uart_tx(clk, rst, s_byte, tx_go, tx_busy, tx, div))]

    # ---- core
    cp = core_ports(plan)  # the core's port signals, with their widths
    core_rst, in_data, in_valid, in_ready = cp["rst"], cp["in_data"], cp["in_valid"], \
        cp["in_ready"]
    out_data, out_valid, out_ready, out_last = cp["out_data"], cp["out_valid"], \
        cp["out_ready"], cp["out_last"]
    h_sel, h_we, h_addr, h_wdata, h_rdata, idle = cp["h_sel"], cp["h_we"], cp["h_addr"], \
        cp["h_wdata"], cp["h_rdata"], cp["idle"]
    insts.append(named("core", lwfc_core(clk, core_rst, in_data, in_valid, in_ready, out_data,
                                         out_valid, out_ready, out_last, h_sel, h_we, h_addr,
                                         h_wdata, h_rdata, idle, plan)))

    # ---- FIFO
    f_we = Signal(bool(0))
    f_waddr = uint(FA)
    f_raddr = uint(FA)
    f_rdata = uint(FW)
    # the FIFO word being assembled (the parser's): the pixels of a beat, or a WRITE entry
    # (low bytes); its bytes at bpos and above are stale, read as 0 (see bnew)
    bacc = uint(FW)
    insts.append(named("fifo", fifo_ram(clk, f_we, f_waddr, bacc, f_raddr, f_rdata, FD, FW,
                                        ram_style)))
    wp = Signal(modbv(0)[FA + 1 :])   # tentative write pointer (parser)
    cwp = Signal(modbv(0)[FA + 1 :])  # committed write pointer (parser)
    rp = Signal(modbv(0)[FA + 1 :])   # read pointer (consumer)
    used = Signal(modbv(0)[FA + 1 :])

    # ---- descriptor queue (parser writes, consumer reads)
    QB = clog2(DQUEUE)
    RB_ = clog2(RQUEUE)
    # a descriptor, LSB first: kind (2), logits flag, tag (8), memory (SB), WRITE's last
    # entry index (EB_), start address (AB)
    DW = 11 + SB + EB_ + AB
    dq_we = Signal(bool(0))
    dq_wa = uint(QB)
    dq_wd, dq_rd = uint(DW), uint(DW)
    dq_w = Signal(modbv(0)[QB + 1 :])
    dq_r = Signal(modbv(0)[QB + 1 :])
    # ---- result-tag queue (consumer writes, sender reads)
    rq_we = Signal(bool(0))
    rq_wa = uint(RB_)
    rq_wd, rq_rd = uint(9), uint(9)   # logits flag, tag
    rq_w = Signal(modbv(0)[RB_ + 1 :])
    rq_r = Signal(modbv(0)[RB_ + 1 :])
    rq_w1 = Signal(modbv(0)[RB_ + 1 :])  # rq_w one edge late: the entry is readable
    rq_ns = Signal(modbv(0)[RB_ + 1 :])  # results the sender may start
    dq_wi, dq_ri, rq_wi, rq_ri = uint(QB), uint(QB), uint(RB_), uint(RB_)
    qstyle = queue_ram_style or ram_style
    insts.append(named("dq", fifo_ram(clk, dq_we, dq_wa, dq_wd, dq_ri, dq_rd, DQUEUE, DW,
                                      qstyle, "dq")))
    insts.append(named("rq", fifo_ram(clk, rq_we, rq_wa, rq_wd, rq_ri, rq_rd, RQUEUE, 9,
                                      qstyle, "rq")))
    dq_n = Signal(modbv(0)[QB + 1 :])  # descriptors queued
    rq_n = Signal(modbv(0)[RB_ + 1 :])  # results awaited

    # ---- reply slots: valid while req != ack (producer toggles req, sender toggles ack)
    ps_req, ps_ack = Signal(bool(0)), Signal(bool(0))
    RL = clog2(max(NIDENT, K.result_payload_bytes(C, True), 8, K.ERROR_PAYLOAD) + 1)
    assert RL <= 8, "reply payloads are shorter than 256 bytes"
    ps_code, ps_tag, ps_src, ps_err = uint(8), uint(8), uint(3), uint(8)
    cs_req, cs_ack = Signal(bool(0)), Signal(bool(0))
    cs_tag, cs_src = uint(8), uint(3)  # code and length follow from cs_src

    # ---- parameter hash
    hset, hclr = Signal(bool(0)), Signal(bool(0))
    id_we = Signal(bool(0))  # SET_HASH payload byte id_wk (parser)
    id_wk, id_wdata = uint(2), uint(8)

    flush_now = Signal(bool(0))   # one cycle: every block drops what it holds
    flushing = Signal(bool(0))    # the sender starts no result reply
    s_idle = Signal(bool(0))
    err_crc = Signal(bool(0))

    # ---- ROM lookups
    p_sel = uint(8)
    rom_depth = uint(17)
    rom_eblast = uint(BPW)
    c_sel = uint(SB)
    c_dlast = uint(AB)
    sid = uint(IB)  # the IDENTIFY byte to read: s_i (stable 2+ cycles before it is sent)
    ident_byte = uint(8)
    insts.append(named("ident", ident_store(clk, id_we, id_wk, id_wdata, hset, hclr, sid,
                                            ident_byte, tuple(record), hash_off, qstyle)))

    p_seli = uint(SB)

    @always_comb
    def sel_low():
        p_seli.next = p_sel[SB:]

    @always_comb
    def roms_p():
        rom_depth.next = depth_rom[p_seli]

    @always_comb
    def roms_e():
        rom_eblast.next = eblast_rom[p_seli]

    @always_comb
    def roms_c():
        c_dlast.next = dlast_rom[c_sel]

    @always_comb
    def counts():
        used.next = wp - rp
        dq_n.next = dq_w - dq_r
        rq_n.next = rq_w - rq_r
        rq_ns.next = rq_w1 - rq_r
        dq_wi.next = dq_w[QB:]
        dq_ri.next = dq_r[QB:]
        rq_wi.next = rq_w[RB_:]
        rq_ri.next = rq_r[RB_:]

    @always(clk.posedge)
    def fifo_waddr():
        # the write pointer of the edge that pushed the word written in this cycle
        f_waddr.next = wp[FA:]

    insts += [sel_low, roms_p, roms_e, roms_c, counts, fifo_waddr]

    # ---- CRC units for the parser and the sender
    p_crc8, p_crc16 = uint(8), uint(16)
    p_cinit, p_cgo8, p_cgo16 = (Signal(bool(0)) for _ in range(3))
    s_crc8, s_crc16 = uint(8), uint(16)
    s_cinit, s_cgo8, s_cgo16, s_cbusy = (Signal(bool(0)) for _ in range(4))
    insts += [named("pcrc", crc_serial(clk, rst, p_cinit, p_cgo8, p_cgo16, rx_data, p_crc8,
                                       p_crc16)),
              named("scrc", crc_serial(clk, rst, s_cinit, s_cgo8, s_cgo16, s_byte, s_crc8, s_crc16,
                                       s_cbusy))]

    # ================================================================= parser + decoder
    pst = Signal(t_p.HUNT)
    h_cnt = uint(2)
    h_cmd, h_tag = uint(8), uint(8)
    h_len = uint(LB)
    h_ok = Signal(bool(0))
    # error codes of the parser: the low 3 bits of the link's ERR_* codes (0xE0 | n), 0 none
    h_code = uint(3)
    e_code = uint(3)
    in_use = Signal(bool(0))   # images or results in flight, or a busy core (registered)
    cst = Signal(t_c.IDLE)     # the consumer's state
    dq_full = Signal(bool(0))
    p_sel_ok = Signal(bool(0))
    room_beat = Signal(bool(0))  # room for the next two FIFO words (registered: see below)
    room_burst = Signal(bool(0))
    p_past = Signal(bool(0))   # WRITE: start address + entries > depth (registered)
    p_end = uint(17)           # p_addr + ecnt, registered (p_past a cycle later)
    p_dep = uint(17)           # rom_depth, registered
    p_elast = Signal(modbv(0)[EB_:])  # WRITE: entries - 1 (registered)
    left = uint(PB_)         # payload bytes still to come
    pidx = uint(PB_)         # payload byte index
    ferr = uint(3)           # error code of this frame (low bits, 0: none)
    crc_bad = Signal(bool(0))  # a CRC byte of the request differed
    silent = Signal(intbv(0, min=0, max=IDLE_BYTES * 10 * div + 2))
    p_addr = uint(16)
    ecnt = uint(EB_)
    mode = uint(2)
    dst = Signal(t_d.Z)
    zeros = uint(9)
    lits = uint(8)
    # pixels still to be written into the FIFO; a zero run or a literal is accepted only when
    # the previous run has expanded (zeros == 0), so wleft is also what the code may claim
    wleft = uint(max(9, clog2(NIN + 2)))
    # registered compares of the zero-run counters, written beside every assignment to
    # zeros / wleft (the iCE40 critical path at 36 MHz was zeros -> these compares -> bacc):
    # z_nz == (zeros != 0), z_geb == (zeros >= B), w_geb == (wleft >= B), w_nz == (wleft !=
    # 0), w_one == (wleft == 1), in every cycle
    z_nz = Signal(bool(0))
    z_geb = Signal(bool(0))
    w_geb = Signal(bool(0))
    w_nz = Signal(bool(0))
    w_one = Signal(bool(0))
    bpos = uint(BPW)
    fl_cnt = uint(clog2(FLUSH_CYCLES + 2))
    # bnew: bacc's bytes below bpos, rx_data at byte bpos (0 while a zero run expands), 0
    # above. Every pixel, entry byte and zero beat stores bnew into bacc; a completed word
    # (bpos back to 0) is written into the FIFO from bacc in the next cycle (f_we), in
    # which bacc changes only at the edge that ends it. One small block per byte.
    lane_px = [uint(8) for _ in range(NPOS)]
    ins_ok = Signal(bool(0))

    @block
    def pixel_slot(b: int, px):
        lo, hi = 8 * b, 8 * b + 8

        @always_comb
        def place():
            if bpos == b and ins_ok:
                px.next = rx_data
            elif bpos > b:
                px.next = bacc[hi:lo]
            else:
                px.next = 0

        return place

    insts += [pixel_slot(b, lane_px[b]) for b in range(NPOS)]
    bnew = ConcatSignal(*reversed(lane_px))
    rx_w = uint(len(wleft))  # rx_data zero-extended to the counters' widths
    rx_z = uint(len(zeros))

    WPAD, ZPAD = len(rx_w) - 8, len(zeros) - 8

    @always_comb
    def widen():
        rx_w.next = concat(intbv(0)[WPAD:], rx_data)
        rx_z.next = concat(intbv(0)[ZPAD:], rx_data)

    insts.append(widen)

    @always_comb
    def insert_ok():
        ins_ok.next = not z_nz

    insts.append(insert_ok)

    @always(clk.posedge)
    def parser_flags():
        # descriptors waiting (the one the consumer works on is not: a WRITE burst may
        # follow another while it is written), results awaited, or a busy core
        in_use.next = (dq_n != 0 and (dq_n != 1 or cst == t_c.IDLE)) or rq_n != 0 \
            or not idle
        dq_full.next = dq_n == DQUEUE
        p_sel_ok.next = p_sel < NM
        # two stages (sum and depth, then the compare): the iCE40 critical path was this
        # add + compare in one cycle; p_past is read at END, bytes after the last entry
        p_end.next = p_addr + concat(intbv(0)[17 - EB_ :], ecnt)
        p_dep.next = rom_depth
        p_past.next = p_end > p_dep
        p_elast.next = ecnt - 1
        # FIFO room, a cycle late: a WRITE's, only the consumer changes it between frames
        # (it frees); an image's per beat: at most one word is written per cycle, so a word
        # written in a cycle with room_beat (used <= FD - 2 a cycle before) always fits
        room_beat.next = used <= FD - 2
        room_burst.next = used <= FD - MB

    insts.append(parser_flags)

    @always_comb
    def parser_crc():
        # the request's CRCs: from SYNC, header bytes into both, CRC-8 and payload into CRC-16
        p_cinit.next = rx_valid and not rst and pst == t_p.HUNT and rx_data == K.SYNC
        p_cgo8.next = rx_valid and not rst and pst == t_p.HDR
        p_cgo16.next = rx_valid and not rst and (pst == t_p.HDR or pst == t_p.HCRC
                                                 or pst == t_p.PAY)

    insts.append(parser_crc)

    @always_comb
    def descriptor_write():
        # ACT of a good CLASSIFY / WRITE / VERIFY: its descriptor, from the frame's registers
        kind = intbv(0)[2:]
        if h_cmd == K.CLASSIFY.value:
            kind[:] = D_IMG
        elif h_cmd == K.WRITE.value:
            kind[:] = D_WR
        else:
            kind[:] = D_VER
        dq_we.next = pst == t_p.ACT and e_code == 0 and (
            h_cmd == K.CLASSIFY.value or h_cmd == K.WRITE.value or h_cmd == K.VERIFY.value)
        dq_wa.next = dq_wi
        dq_wd.next = concat(p_addr[AB:], p_elast, p_sel[SB:], h_tag, mode[1], kind)

    insts.append(descriptor_write)

    @always(clk.posedge)
    def parser():
        f_we.next = 0
        hset.next = 0
        id_we.next = 0
        flush_now.next = 0
        if rst:
            pst.next = t_p.HUNT
            wp.next = 0
            cwp.next = 0
            dq_w.next = 0
            ps_req.next = 0
            zeros.next = 0
            z_nz.next = 0
            z_geb.next = 0
            wleft.next = 0
            w_geb.next = 0
            w_nz.next = 0
            w_one.next = 0
            err_crc.next = 0
            flushing.next = 0
            core_rst.next = 1
            silent.next = 0
        else:
            core_rst.next = 0
            # ---- zero-run expansion, one beat or one pixel per cycle
            if z_nz and pst != t_p.HUNT:
                if not room_beat:
                    # the FIFO is full: drop the image (rolled back at ACT, ERR_BUSY)
                    ferr.next = E_BUSY
                    zeros.next = 0
                    z_nz.next = 0
                    z_geb.next = 0
                elif bpos == 0 and z_geb and w_geb:
                    f_we.next = 1
                    bacc.next = bnew  # 0
                    wp.next = wp + 1
                    zeros.next = zeros - B
                    z_nz.next = zeros != B
                    z_geb.next = zeros >= 2 * B
                    wleft.next = wleft - B
                    w_geb.next = wleft >= 2 * B
                    w_nz.next = wleft != B
                    w_one.next = wleft == B + 1
                else:
                    zeros.next = zeros - 1
                    z_nz.next = zeros != 1
                    z_geb.next = zeros > B
                    wleft.next = wleft - 1
                    w_geb.next = wleft > B
                    w_nz.next = wleft != 1
                    w_one.next = wleft == 2
                    bacc.next = bnew  # a 0 at bpos
                    if bpos == B - 1 or w_one:
                        f_we.next = 1
                        wp.next = wp + 1
                        bpos.next = 0
                    else:
                        bpos.next = bpos + 1
            # ---- silence inside a frame: drop it
            if rx_valid or pst == t_p.HUNT or pst == t_p.FLUSH:
                silent.next = 0
            elif silent == IDLE_BYTES * 10 * div:
                pst.next = t_p.HUNT
                wp.next = cwp
                zeros.next = 0
                z_nz.next = 0
                z_geb.next = 0
                silent.next = 0
            else:
                silent.next = silent + 1
            if rx_ferr:
                err_crc.next = 1

            if pst == t_p.FLUSH:
                # wait for the sender to finish its reply, then reset the core and the queues
                if fl_cnt == 0:
                    if s_idle:
                        fl_cnt.next = 1
                        flush_now.next = 1
                        wp.next = 0
                        cwp.next = 0
                        dq_w.next = 0
                        core_rst.next = 1
                elif fl_cnt == FLUSH_CYCLES:
                    if ps_req == ps_ack:
                        ps_code.next = K.FLUSH.value | K.REPLY_BIT
                        ps_tag.next = h_tag
                        ps_src.next = SRC_NONE
                        ps_req.next = not ps_req
                        flushing.next = 0
                        fl_cnt.next = 0
                        pst.next = t_p.HUNT
                else:
                    core_rst.next = 1
                    fl_cnt.next = fl_cnt + 1
            elif pst == t_p.END:
                # the cycle after the CRC: the frame's checks into e_code, acted on in ACT
                pst.next = t_p.ACT
                e_code.next = ferr
                if crc_bad:
                    e_code.next = E_CRC
                    err_crc.next = 1
                elif ferr == 0:
                    if h_cmd == K.CLASSIFY.value:
                        if w_nz or lits != 0 or z_nz:
                            e_code.next = E_LENGTH
                    elif h_cmd == K.WRITE.value:
                        if not p_sel_ok:
                            e_code.next = E_RANGE
                        elif bpos != 0 or ecnt == 0:
                            e_code.next = E_LENGTH
                        elif p_past:
                            e_code.next = E_RANGE
                    elif h_cmd == K.VERIFY.value and not p_sel_ok:
                        e_code.next = E_RANGE
            elif pst == t_p.ACT:
                pst.next = t_p.HUNT
                # a zero run of a rejected frame still expanding must not go on into the
                # next frame's header (the expansion runs in every state but HUNT)
                zeros.next = 0
                z_nz.next = 0
                z_geb.next = 0
                if e_code != 0:
                    wp.next = cwp
                    if ps_req == ps_ack:
                        ps_code.next = concat(intbv(ERR_HI)[5:], e_code)
                        ps_tag.next = h_tag
                        ps_src.next = SRC_ERR
                        ps_err.next = h_cmd
                        ps_req.next = not ps_req
                elif h_cmd == K.IDENTIFY.value or h_cmd == K.SET_HASH.value:
                    if h_cmd == K.SET_HASH.value:
                        hset.next = 1
                    if ps_req == ps_ack:
                        ps_code.next = h_cmd | K.REPLY_BIT
                        ps_tag.next = h_tag
                        ps_src.next = SRC_IDENT if h_cmd == K.IDENTIFY.value else SRC_NONE
                        ps_req.next = not ps_req
                elif h_cmd == K.FLUSH.value:
                    pst.next = t_p.FLUSH
                    flushing.next = 1
                    fl_cnt.next = 0
                else:  # CLASSIFY, WRITE, VERIFY: commit and queue
                    cwp.next = wp
                    dq_w.next = dq_w + 1  # the descriptor is written at this edge (dq_we)
            elif pst == t_p.HCHK:
                # header checks (the cycle after HCRC: no byte can arrive in between)
                pst.next = t_p.HGO
                h_code.next = 0
                if not h_ok:
                    pst.next = t_p.HUNT
                elif h_cmd == K.IDENTIFY.value or h_cmd == K.FLUSH.value:
                    if h_len != 0:
                        h_code.next = E_LENGTH
                elif h_cmd == K.SET_HASH.value:
                    if h_len != 4:
                        h_code.next = E_LENGTH
                elif h_cmd == K.VERIFY.value:
                    if h_len != 1:
                        h_code.next = E_LENGTH
                    elif dq_full:
                        h_code.next = E_BUSY
                elif h_cmd == K.WRITE.value:
                    if h_len < 4 or h_len > maxlen:
                        h_code.next = E_LENGTH
                    elif in_use or dq_full or not room_burst:
                        h_code.next = E_BUSY
                elif h_cmd == K.CLASSIFY.value:
                    if h_len < 2 or h_len > 1 + NIN:
                        h_code.next = E_LENGTH
                    elif dq_full:
                        h_code.next = E_BUSY
                else:
                    h_code.next = E_COMMAND
            elif pst == t_p.HGO:
                ferr.next = 0
                left.next = h_len[PB_:]
                pidx.next = 0
                ecnt.next = 0
                wleft.next = NIN
                w_geb.next = NIN >= B
                w_nz.next = NIN != 0
                w_one.next = NIN == 1
                bacc.next = 0
                bpos.next = 0
                zeros.next = 0
                z_nz.next = 0
                z_geb.next = 0
                lits.next = 0
                dst.next = t_d.Z
                mode.next = 0
                p_sel.next = 0
                p_addr.next = 0
                if h_code != 0:
                    pst.next = t_p.HUNT
                    if ps_req == ps_ack:
                        ps_code.next = concat(intbv(ERR_HI)[5:], h_code)
                        ps_tag.next = h_tag
                        ps_src.next = SRC_ERR
                        ps_err.next = h_cmd
                        ps_req.next = not ps_req
                elif h_len == 0:
                    pst.next = t_p.CRC0
                else:
                    pst.next = t_p.PAY
            elif rx_valid:
                if pst == t_p.HUNT:
                    if rx_data == K.SYNC:
                        pst.next = t_p.HDR
                        h_cnt.next = 0
                elif pst == t_p.HDR:
                    h_cnt.next = h_cnt + 1
                    if h_cnt == 0:
                        h_cmd.next = rx_data
                    elif h_cnt == 1:
                        h_tag.next = rx_data
                    elif h_cnt == 2:
                        h_len.next[8:] = rx_data
                    else:
                        h_len.next[16:8] = rx_data
                        pst.next = t_p.HCRC
                elif pst == t_p.HCRC:
                    h_ok.next = rx_data == p_crc8
                    pst.next = t_p.HCHK
                elif pst == t_p.PAY:
                    left.next = left - 1
                    pidx.next = pidx + 1
                    if left == 1:
                        pst.next = t_p.CRC0
                    if h_cmd == K.WRITE.value:
                        if pidx == 0:
                            p_sel.next = rx_data
                        elif pidx == 1:
                            p_addr.next[8:] = rx_data
                        elif pidx == 2:
                            p_addr.next[16:8] = rx_data
                        elif ferr == 0:
                            bacc.next = bnew
                            if bpos == rom_eblast:
                                bpos.next = 0
                                if ecnt == MB:
                                    ferr.next = E_LENGTH
                                else:
                                    ecnt.next = ecnt + 1
                                    f_we.next = 1  # the entry, from bacc
                                    wp.next = wp + 1
                            else:
                                bpos.next = bpos + 1
                    elif h_cmd == K.VERIFY.value:
                        p_sel.next = rx_data
                    elif h_cmd == K.SET_HASH.value:
                        id_we.next = 1
                        id_wk.next = pidx[2:]
                        id_wdata.next = rx_data
                    elif pidx == 0:  # CLASSIFY mode byte
                        mode.next = rx_data[2:]
                        dst.next = t_d.Z
                        lits.next = 0
                    elif ferr == 0:
                        lit = False
                        if not mode[0]:
                            lit = True
                        elif dst == t_d.Z:
                            if rx_w > wleft or z_nz:
                                ferr.next = E_LENGTH
                            else:
                                zeros.next = rx_z
                                z_nz.next = rx_data != 0
                                z_geb.next = rx_data >= B
                            dst.next = t_d.N
                        elif dst == t_d.N:
                            lits.next = rx_data
                            if rx_data != 0:
                                dst.next = t_d.L
                            else:
                                dst.next = t_d.Z
                        else:
                            lit = True
                            if lits == 1:
                                dst.next = t_d.Z
                            lits.next = lits - 1
                        if lit:
                            if not w_nz or z_nz:
                                ferr.next = E_LENGTH
                            else:
                                wleft.next = wleft - 1
                                w_geb.next = wleft > B
                                w_nz.next = wleft != 1
                                w_one.next = wleft == 2
                                bacc.next = bnew
                                if (bpos == B - 1 or w_one) and not room_beat:
                                    ferr.next = E_BUSY  # the FIFO is full: drop the image
                                elif bpos == B - 1 or w_one:
                                    f_we.next = 1  # the beat, from bacc
                                    wp.next = wp + 1
                                    bpos.next = 0
                                else:
                                    bpos.next = bpos + 1
                elif pst == t_p.CRC0:
                    crc_bad.next = rx_data != p_crc16[8:]
                    pst.next = t_p.CRC1
                else:  # CRC1
                    crc_bad.next = crc_bad or rx_data != p_crc16[16:8]
                    pst.next = t_p.END

    insts.append(parser)

    # ================================================================= consumer
    # the descriptor being worked on: the queue memory's output, read at dq_r (which moves
    # on when the item is done), registered once more (the memory's output into the host
    # port's select decode and the consumer's state was the iCE40 critical path)
    c_kind = uint(2)
    c_tag = uint(8)
    c_flag = Signal(bool(0))
    c_last = uint(EB_)  # the last entry index of a WRITE (count - 1)
    c_addr0 = uint(AB)
    c_addr = uint(AB)   # running host-port address
    c_i = uint(CB)

    @always(clk.posedge)
    def descriptor():
        c_kind.next = dq_rd[2:]
        c_flag.next = dq_rd[2]
        c_tag.next = dq_rd[11:3]
        c_sel.next = dq_rd[11 + SB : 11]
        c_last.next = dq_rd[11 + SB + EB_ : 11 + SB]
        c_addr0.next = dq_rd[DW : 11 + SB + EB_]

    insts.append(descriptor)
    c_wait = uint(3)
    RBL = plan.readback_latency
    acc1, acc2 = uint(32), uint(32)
    c_verify = Signal(bool(0))

    @always_comb
    def consumer_addr():
        # the FIFO's read register holds the word until the consumer's next read; the host
        # port's memory and address are the descriptor's and the running address (the
        # core writes only with h_we, reads back only while idle)
        in_data.next = f_rdata[8 * B :]
        h_sel.next = c_sel
        h_addr.next = c_addr

    insts.append(consumer_addr)
    if hport_reg:

        @always(clk.posedge)
        def hport_data():
            if cst == t_c.WR_DO:  # with h_we
                h_wdata.next = f_rdata[32:]

    else:

        @always_comb
        def hport_data():
            h_wdata.next = f_rdata[32:]

    insts.append(hport_data)

    @always_comb
    def tag_write():
        # the last beat of an image is taken: its tag and logits flag into the result queue
        rq_we.next = cst == t_c.IMG_SEND and in_valid and in_ready and c_i == BPI - 1
        rq_wa.next = rq_wi
        rq_wd.next = concat(c_flag, c_tag)

    insts.append(tag_write)

    @always(clk.posedge)
    def consumer():
        h_we.next = 0
        hclr.next = 0
        if rst or flush_now:
            cst.next = t_c.IDLE
            rp.next = 0
            dq_r.next = 0
            rq_w.next = 0
            in_valid.next = 0
            if rst:
                cs_req.next = 0
        elif cst == t_c.IDLE:
            if dq_n != 0:
                cst.next = t_c.TAKE
        elif cst == t_c.TAKE:
            # the descriptor is written one edge after dq_w moves and read one edge later
            cst.next = t_c.TAKE2
        elif cst == t_c.TAKE2:
            # ... and into the c_* registers one edge later
            cst.next = t_c.TAKE3
        elif cst == t_c.TAKE3:
            c_addr.next = c_addr0
            c_i.next = 0
            if c_kind == D_IMG:
                cst.next = t_c.IMG_RD
            elif c_kind == D_WR:
                cst.next = t_c.WR_WAIT
            else:
                cst.next = t_c.VER_WAIT
        elif cst == t_c.IMG_RD:
            # the first beat, once the result queue has a slot for the image's tag
            if rq_n != RQUEUE:
                f_raddr.next = rp[FA:]
                rp.next = rp + 1
                cst.next = t_c.IMG_WAIT
        elif cst == t_c.IMG_WAIT:
            # the beat read at f_raddr reaches f_rdata (in_data) at this edge
            in_valid.next = 1
            cst.next = t_c.IMG_SEND
        elif cst == t_c.IMG_SEND:
            if in_ready:
                in_valid.next = 0
                if c_i == BPI - 1:
                    rq_w.next = rq_w + 1  # the tag is written at this edge (rq_we)
                    dq_r.next = dq_r + 1
                    cst.next = t_c.IDLE
                else:
                    # the next beat's read is issued at the edge that delivers this one:
                    # two cycles per beat while the core takes them
                    c_i.next = c_i + 1
                    f_raddr.next = rp[FA:]
                    rp.next = rp + 1
                    cst.next = t_c.IMG_WAIT
        elif cst == t_c.WR_WAIT:
            if idle and rq_n == 0:
                hclr.next = 1
                cst.next = t_c.WR_RD
        elif cst == t_c.WR_RD:
            if h_we:  # the previous entry is written in this cycle, at c_addr
                c_addr.next = c_addr + 1
            f_raddr.next = rp[FA:]
            rp.next = rp + 1
            cst.next = t_c.WR_WAIT2
        elif cst == t_c.WR_WAIT2:
            cst.next = t_c.WR_DO
        elif cst == t_c.WR_DO:
            h_we.next = 1
            if c_i[EB_:] == c_last:
                cst.next = t_c.REPLY
                c_verify.next = 0
            else:
                c_i.next = c_i + 1
                cst.next = t_c.WR_RD
        elif cst == t_c.VER_WAIT:
            # acc1 / acc2 are the payload of the previous VERIFY reply until it has been sent
            if idle and rq_n == 0 and cs_req == cs_ack and not s_vbusy:
                acc1.next = 0
                acc2.next = 0
                cst.next = t_c.VER_ADDR
        elif cst == t_c.VER_ADDR:
            # h_addr is c_addr: from 0 (a VERIFY's descriptor address is 0)
            c_wait.next = 0
            cst.next = t_c.VER_READ
        elif cst == t_c.VER_READ:
            if c_wait == RBL:
                a1 = modbv(0)[32:]
                a1[:] = acc1 + h_rdata
                a2 = modbv(0)[32:]
                a2[:] = acc2 + a1
                acc1.next = a1
                acc2.next = a2
                if c_addr == c_dlast:
                    cst.next = t_c.VER_DONE
                else:
                    c_addr.next = c_addr + 1
                    cst.next = t_c.VER_ADDR
            else:
                c_wait.next = c_wait + 1
        elif cst == t_c.VER_DONE:
            c_verify.next = 1
            cst.next = t_c.REPLY
        elif cst == t_c.REPLY and cs_req == cs_ack:
            # the slot is free: fill it (never while the sender may still read it)
            cs_tag.next = c_tag
            if c_verify:
                cs_src.next = SRC_VERIFY
            else:
                cs_src.next = SRC_NONE
            cs_req.next = not cs_req
            dq_r.next = dq_r + 1
            cst.next = t_c.IDLE

    insts.append(consumer)

    # ================================================================= reply sender
    sst = Signal(t_s.IDLE)
    s_code, s_tag, s_src = uint(8), uint(8), uint(3)
    s_len = uint(RL)
    s_i = uint(RL)
    s_hdr = uint(3)
    s_err = uint(8)
    s_vbusy = Signal(bool(0))  # a VERIFY reply is being sent (acc1 / acc2 must hold)
    s_have = Signal(bool(0))   # out_data holds the next result beat (taken when it is sent)
    s_want = Signal(bool(0))   # wait for a result beat
    drain = uint(clog2(C + 2))
    oready = Signal(bool(0))
    s_logits = Signal(bool(0))
    s_txq = Signal(bool(0))    # a byte is in s_byte, waiting for the transmitter
    RES_LOGITS = K.result_payload_bytes(C, True)
    s_len8 = uint(8)

    if RL == 8:
        s_len8 = s_len
    else:

        @always_comb
        def len_byte():
            s_len8.next = concat(intbv(0)[8 - RL :], s_len)

        insts.append(len_byte)

    @always(clk.posedge)
    def rq_late():
        # the tag is written at the edge that moves rq_w and read at the next one
        rq_w1.next = rq_w

    insts.append(rq_late)

    @always_comb
    def ident_addr():
        sid.next = s_i[IB:]

    insts.append(ident_addr)

    @always_comb
    def reply_len():
        # payload bytes of the reply being sent, from its source
        if s_src == SRC_ERR:
            s_len.next = K.ERROR_PAYLOAD
        elif s_src == SRC_IDENT:
            s_len.next = NIDENT
        elif s_src == SRC_VERIFY:
            s_len.next = 8
        elif s_src == SRC_RESULT:
            if s_logits:
                s_len.next = RES_LOGITS
            else:
                s_len.next = 1
        else:
            s_len.next = 0

    insts.append(reply_len)

    @always_comb
    def sender_comb():
        out_ready.next = oready
        s_idle.next = sst == t_s.IDLE and not s_txq and drain == 0 and not s_want
        s_vbusy.next = sst != t_s.IDLE and s_src == SRC_VERIFY

    @always(clk.posedge)
    def sender():
        tx_go.next = 0
        oready.next = 0
        s_cinit.next = 0
        s_cgo8.next = 0
        s_cgo16.next = 0
        if rst:
            sst.next = t_s.IDLE
            ps_ack.next = 0
            cs_ack.next = 0
            rq_r.next = 0
            s_txq.next = 0
            s_have.next = 0
            s_want.next = 0
            drain.next = 0
        else:
            if flush_now:
                rq_r.next = 0
            # ---- result beats: drained (class-only replies) or claimed, then read in place
            # from out_data and taken (out_ready, a register) once their bytes are sent
            if out_valid and not oready:
                if drain != 0:
                    oready.next = 1
                    drain.next = drain - 1
                elif s_want and not s_have:
                    s_have.next = 1
                    s_want.next = 0
            # ---- hand a byte to the transmitter, updating the CRCs
            if s_txq and not tx_busy and not tx_go:
                tx_go.next = 1
                s_txq.next = 0
                if sst == t_s.HDR and s_hdr >= 1 and s_hdr <= 4:
                    s_cgo8.next = 1
                if not (sst == t_s.HDR and s_hdr == 0) and sst != t_s.CRC0 \
                        and sst != t_s.CRC1:
                    s_cgo16.next = 1
                if sst == t_s.HDR:
                    if s_hdr == 5:
                        sst.next = t_s.PAY if s_len != 0 else t_s.CRC0
                        s_i.next = 0
                    s_hdr.next = s_hdr + 1
                elif sst == t_s.PAY:
                    s_i.next = s_i + 1
                    if s_i == s_len - 1:
                        sst.next = t_s.CRC0
                elif sst == t_s.CRC0:
                    sst.next = t_s.CRC1
                else:
                    sst.next = t_s.IDLE
            elif not s_txq and not tx_go and not s_cbusy:
                # ---- the next byte (after the CRCs have taken the last one)
                if sst == t_s.IDLE:
                    if ps_req != ps_ack:
                        s_code.next = ps_code
                        s_tag.next = ps_tag
                        s_src.next = ps_src
                        s_err.next = ps_err
                        ps_ack.next = ps_req
                        sst.next = t_s.HDR
                        s_hdr.next = 0
                    elif cs_req != cs_ack:
                        if cs_src == SRC_VERIFY:
                            s_code.next = K.VERIFY.value | K.REPLY_BIT
                        else:
                            s_code.next = K.WRITE.value | K.REPLY_BIT
                        s_tag.next = cs_tag
                        s_src.next = cs_src
                        cs_ack.next = cs_req
                        sst.next = t_s.HDR
                        s_hdr.next = 0
                    elif rq_ns != 0 and not flushing and drain == 0 and out_valid \
                            and not s_want:
                        s_code.next = K.CLASSIFY.value | K.REPLY_BIT
                        s_tag.next = rq_rd[8:]
                        s_logits.next = rq_rd[8]
                        s_src.next = SRC_RESULT
                        rq_r.next = rq_r + 1
                        s_want.next = 1
                        s_have.next = 0
                        sst.next = t_s.HDR
                        s_hdr.next = 0
                elif sst == t_s.HDR:
                    s_txq.next = 1
                    if s_hdr == 0:
                        s_byte.next = K.SYNC
                        s_cinit.next = 1
                    elif s_hdr == 1:
                        s_byte.next = s_code
                    elif s_hdr == 2:
                        s_byte.next = s_tag
                    elif s_hdr == 3:
                        s_byte.next = s_len8
                    elif s_hdr == 4:
                        s_byte.next = 0
                    else:
                        s_byte.next = s_crc8
                elif sst == t_s.PAY:
                    if s_src == SRC_ERR:
                        s_byte.next = s_err
                        s_txq.next = 1
                    elif s_src == SRC_IDENT:
                        s_byte.next = ident_byte  # read at sid since the last byte
                        s_txq.next = 1
                    elif s_src == SRC_VERIFY:
                        if s_i == 0:
                            s_byte.next = acc1[8:]
                        elif s_i == 1:
                            s_byte.next = acc1[16:8]
                        elif s_i == 2:
                            s_byte.next = acc1[24:16]
                        elif s_i == 3:
                            s_byte.next = acc1[32:24]
                        elif s_i == 4:
                            s_byte.next = acc2[8:]
                        elif s_i == 5:
                            s_byte.next = acc2[16:8]
                        elif s_i == 6:
                            s_byte.next = acc2[24:16]
                        else:
                            s_byte.next = acc2[32:24]
                        s_txq.next = 1
                    else:  # SRC_RESULT: class, then (with logits) 4 bytes per logit
                        j = modbv(0)[2:]
                        j[:] = s_i[2:] - 1
                        if s_i == 0:
                            if s_have:
                                s_byte.next = out_data[8:]
                                s_txq.next = 1
                                oready.next = 1
                                s_have.next = 0
                                if s_logits:
                                    s_want.next = 1
                                else:
                                    drain.next = C
                        elif s_have:
                            s_txq.next = 1
                            if j == 0:
                                s_byte.next = out_data[8:]
                            elif j == 1:
                                s_byte.next = out_data[16:8]
                            elif j == 2:
                                s_byte.next = out_data[24:16]
                            else:
                                s_byte.next = out_data[32:24]
                                oready.next = 1
                                s_have.next = 0
                                if s_i != s_len - 1:
                                    s_want.next = 1
                elif sst == t_s.CRC0:
                    s_byte.next = s_crc16[8:]
                    s_txq.next = 1
                elif sst == t_s.CRC1:
                    s_byte.next = s_crc16[16:8]
                    s_txq.next = 1
                else:  # DRAIN: not used as a byte state
                    sst.next = t_s.IDLE

    insts += [sender_comb, sender]

    # ================================================================= LEDs
    @always(clk.posedge)
    def leds():
        if rst:
            error.next = 0
        elif err_crc:
            error.next = 1
        busy.next = not idle or dq_n != 0 or rq_n != 0

    insts.append(leds)
    return insts


def serial_ports() -> dict[str, Signal]:
    """Fresh top-level signals for :func:`lwfc_serial`."""
    return {name: Signal(bool(name in ("rx", "tx")))
            for name in ("clk", "rst", "rx", "tx", "busy", "error")}


def convert_serial(plan: CorePlan, out_dir: str | os.PathLike, clk_hz: int, baud: int,
                   params_hash: int = 0, ram_style: str = "block", hport_reg: bool = True,
                   queue_ram_style: str = "", fifo_depth: int = 0) -> Path:
    """Convert :func:`lwfc_serial` for ``plan`` to ``out_dir/lwfc_serial.v`` (one flat
    module, the core inside) and write ``lwfc_core_defs.vh`` beside it."""
    from .convert import convert_block

    inst = lwfc_serial(**serial_ports(), plan=plan, clk_hz=clk_hz, baud=baud,
                       params_hash=params_hash, ram_style=ram_style, hport_reg=hport_reg,
                       queue_ram_style=queue_ram_style, fifo_depth=fifo_depth)
    return convert_block(inst, plan, out_dir, TOP)
