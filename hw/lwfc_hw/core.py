"""The top-level accelerator core ``lwfc_core``: a layer pipeline elaborated from a plan.

::

  in_* -> loader -> [FMEM 0 | MCM 0] -> layer 0 (L-SCM + engine) -> [FMEM 1 | MCM 1] -> ...
       -> layer N-1 -> [result memory | argmax | MCM] -> streamer -> out_*
  h_* (host port) -> every parameter memory (write, readback)

A layer's engine blocks come from its layer type (:meth:`lwfc_hw.layers.LayerType.blocks`,
one module per kind and dataflow in :mod:`lwfc_hw.layers`). Every feature memory is a
ping-pong pair of halves, so layer ``l`` works on image ``k`` while layer ``l-1`` writes image
``k+1``; in streaming mode the interval between images is set by the
slowest stage. Ports are documented in :func:`lwfc_core` and ``docs/hardware.md``.
"""

from __future__ import annotations

from myhdl import ConcatSignal, Signal, always, always_comb, block, intbv

from .handshake import lscm
from .memories import fmem_lane, mcm, named
from .nzlist import count_bits, nz_list
from .plan import READBACK_GROUP, READBACK_LATENCY, CorePlan, ceil_div, clog2
from .rtl_common import uint
from .stream import loader, result_stage, seq_writer


@block
def lwfc_core(clk, rst, in_data, in_valid, in_ready, out_data, out_valid, out_ready, out_last,
              h_sel, h_we, h_addr, h_wdata, h_rdata, idle, plan: CorePlan):
    """The accelerator.

    Ports (all synchronous to ``clk``, rising edge; ``rst`` synchronous, active high):

    * ``in_data[8B-1:0], in_valid, in_ready``: image pixels, ``B = plan.pixels_per_beat`` per
      beat, pixel ``i`` of an image in beat ``i // B``, bits ``[8(i%B)+7 : 8(i%B)]``; an image
      is ``ceil(n_in / B)`` beats; transfer when ``in_valid and in_ready``.
    * ``out_data[31:0], out_valid, out_ready, out_last``: per image ``1 + classes`` beats: the
      predicted class, then the int32 logits 0 ... classes-1; ``out_last`` on the last beat.
    * ``h_sel, h_addr, h_wdata[31:0], h_we``: host write of parameter memory ``h_sel`` (see
      the memory map) at ``h_addr``; ``h_rdata[31:0]``: that memory's word at
      (``h_sel``, ``h_addr``) of ``plan.readback_latency`` cycles earlier (sign-extended for
      signed memories): the memory's read register, its output register, the select register
      (3, ``READBACK_LATENCY``), and with ``plan.bram_prims`` a group register before it.
    * ``idle``: no image is inside the core (safe moment to rewrite parameters). With
      ``plan.shared_port`` the parameter memories' single read port serves the host only
      while ``idle`` is high: readback (and writes of SPRAM memories) need an idle core.
    """
    L = len(plan.engines)
    sel_bits = plan.sel_bits
    nm = len(plan.mems)
    rb = [Signal(intbv(0)[32:]) for _ in range(nm)]
    sel_r = uint(sel_bits)
    sel_r2 = uint(sel_bits)
    insts = []
    # shared-port memories: the host owns the single read port while no image is inside
    hown = idle if plan.shared_port else None

    # ---- feature memories, one per layer input: write side, read side, MCM
    wr_en = [Signal(bool(0)) for _ in range(L)]
    wr_div = [uint(f.abits) for f in plan.fmems]
    wr_mod = [uint(clog2(2 * f.q + 1)) for f in plan.fmems]
    wr_cnt = [uint(clog2(2 * f.q + 1)) for f in plan.fmems]
    wr_data = [uint(8 if f.w == 1 else 8 * f.q) for f in plan.fmems]
    commit = [Signal(bool(0)) for _ in range(L + 1)]
    release = [Signal(bool(0)) for _ in range(L + 1)]
    wr_ok = [Signal(bool(0)) for _ in range(L + 1)]
    rd_ok = [Signal(bool(0)) for _ in range(L + 1)]
    wr_half = [Signal(bool(0)) for _ in range(L + 1)]
    rd_half = [Signal(bool(0)) for _ in range(L + 1)]
    rd_en = [Signal(bool(1)) for _ in range(L)]
    rd_addr = [uint(f.abits) for f in plan.fmems]
    # read data: lanes of bytes, or lanes of {index, value} entries of a nonzero list
    lanes = [[uint(f.entry_bits) for _ in range(f.q)] for f in plan.fmems]
    counts = [uint(count_bits(plan, f.index) if f.compact else 1) for f in plan.fmems]
    # entries per lane of a nonzero list (the broadcast engine walks the lanes in turn)
    lcounts = [[uint(f.lane_count_bits) for _ in range(f.q)] if f.compact and f.q > 1
               else [] for f in plan.fmems]
    for f in plan.fmems:
        i = f.index
        insts.append(named(f"l{i}_mcm", mcm(clk, rst, commit[i], release[i], wr_ok[i],
                                            rd_ok[i], wr_half[i], rd_half[i])))
        if f.compact:
            insts.append(named(
                f"l{i}_nzl",
                nz_list(clk, rst, wr_en[i], wr_half[i], wr_div[i], wr_mod[i], wr_cnt[i],
                        wr_data[i], commit[i],
                        rd_en[i], rd_half[i], rd_addr[i], lanes[i], counts[i], lcounts[i], f,
                        plan.engines[i].list_lat),
            ))
            continue
        for q in range(f.q):
            insts.append(named(
                f"l{i}_fmem{q}",
                fmem_lane(clk, wr_en[i], wr_half[i], wr_div[i], wr_mod[i], wr_cnt[i],
                          wr_data[i], rd_en[i], rd_half[i], rd_addr[i], lanes[i][q], q, f.q, f.w,
                          f.abits),
            ))
    # result memory MCM
    insts.append(named("result_mcm", mcm(clk, rst, commit[L], release[L], wr_ok[L], rd_ok[L],
                                         wr_half[L], rd_half[L])))

    # ---- loader
    first_beat = Signal(bool(0))
    insts.append(named(
        "loader",
        loader(clk, rst, in_data, in_valid, in_ready, first_beat, wr_ok[0], commit[0], wr_en[0],
               wr_div[0], wr_mod[0], wr_cnt[0], wr_data[0], plan.fmems[0], plan.pixels_per_beat),
    ))

    # ---- layers
    start = [Signal(bool(0)) for _ in range(L)]
    done = [Signal(bool(0)) for _ in range(L)]
    C = plan.classes
    res_v = Signal(bool(0))
    res_i = uint(clog2(max(2, C)))
    res_y = Signal(intbv(0, min=-(2**31), max=2**31))
    for e in plan.engines:
        i = e.index
        last = i == L - 1
        insts.append(named(f"l{i}_lscm", lscm(clk, rst, rd_ok[i], wr_ok[i + 1], start[i], done[i],
                                              release[i], commit[i + 1])))
        if last:
            ov, oidx, y = res_v, res_i, res_y
        elif e.R > 1:
            # drain width R: R outputs per cycle, requantizer r's byte r of the write
            ov = Signal(bool(0))
            oidx = uint(clog2(max(2, ceil_div(e.shape.n_out, e.R))))
            y = [uint(8) for _ in range(e.R)]
            yw = ConcatSignal(*reversed(y))
            nf = plan.fmems[i + 1]
            insts.append(named(f"l{i}_writer", seq_writer(clk, start[i], ov, yw, wr_en[i + 1],
                                                          wr_div[i + 1], wr_mod[i + 1],
                                                          wr_cnt[i + 1], wr_data[i + 1], nf.q,
                                                          e.R)))
        else:
            ov = Signal(bool(0))
            oidx = uint(clog2(max(2, e.shape.n_out)))
            y = uint(8)
            nf = plan.fmems[i + 1]
            insts.append(named(f"l{i}_writer", seq_writer(clk, start[i], ov, y, wr_en[i + 1],
                                                          wr_div[i + 1], wr_mod[i + 1],
                                                          wr_cnt[i + 1], wr_data[i + 1], nf.q)))
        ports = {"clk": clk, "rst": rst, "start": start[i], "done": done[i], "rd_en": rd_en[i],
                 "rd_addr": rd_addr[i], "x": lanes[i], "count": counts[i],
                 "lcount": lcounts[i], "ov": ov,
                 "oidx": oidx, "y": y, "h_sel": h_sel, "h_we": h_we, "h_addr": h_addr,
                 "h_wdata": h_wdata, "rb": rb, "hown": hown}
        # the layer type's engine blocks, called here: MyHDL takes a block's sub-blocks only
        # from the block function itself
        for call in e.layer_type.blocks(e, plan, ports):
            insts.append(named(call.name, call.func(*call.args, **call.kwargs)))
    insts.append(named(
        "result",
        result_stage(clk, rst, res_v, res_i, res_y, wr_half[L], rd_ok[L],
                     rd_half[L], release[L], out_data, out_valid, out_ready, out_last, C),
    ))

    # ---- host readback: the select delayed as the memories' two-cycle read, registered mux
    if plan.readback_latency == READBACK_LATENCY + 1:
        # two registered levels: READBACK_GROUP memories per group, then the groups
        GS = READBACK_GROUP
        NGR = ceil_div(nm, GS)
        GB = clog2(GS)
        rb_grp = [uint(32) for _ in range(NGR)]
        sel_r3 = uint(sel_bits)
        lo = uint(max(1, GB))

        @always_comb
        def rb_low():
            lo.next = sel_r2 % GS

        @always(clk.posedge)
        def readback():
            sel_r.next = h_sel
            sel_r2.next = sel_r
            sel_r3.next = sel_r2
            for k in range(NGR):
                if k * GS + lo < nm:
                    rb_grp[k].next = rb[k * GS + lo]
                else:
                    rb_grp[k].next = 0
            if sel_r3 < nm:
                h_rdata.next = rb_grp[sel_r3 // GS]
            else:
                h_rdata.next = 0

        insts.append(rb_low)

    elif nm == 2**sel_bits:

        @always(clk.posedge)
        def readback():
            sel_r.next = h_sel
            sel_r2.next = sel_r
            h_rdata.next = rb[sel_r2]

    else:

        @always(clk.posedge)
        def readback():
            sel_r.next = h_sel
            sel_r2.next = sel_r
            if sel_r2 < nm:
                h_rdata.next = rb[sel_r2]
            else:
                h_rdata.next = 0

    # ---- images in flight (for idle)
    inflight = uint(clog2(2 * L + 8))
    out_done = Signal(bool(0))

    @always_comb
    def flight_comb():
        out_done.next = out_valid and out_ready and out_last

    @always(clk.posedge)
    def flight():
        if rst:
            inflight.next = 0
        elif first_beat and not out_done:
            inflight.next = inflight + 1
        elif out_done and not first_beat:
            inflight.next = inflight - 1

    @always_comb
    def idle_comb():
        idle.next = inflight == 0

    return insts, readback, flight_comb, flight, idle_comb


def core_ports(plan: CorePlan) -> dict[str, Signal]:
    """Fresh top-level signals for :func:`lwfc_core`, with their port widths."""
    return {
        "clk": Signal(bool(0)),
        "rst": Signal(bool(0)),
        "in_data": uint(8 * plan.pixels_per_beat),
        "in_valid": Signal(bool(0)),
        "in_ready": Signal(bool(0)),
        "out_data": uint(32),
        "out_valid": Signal(bool(0)),
        "out_ready": Signal(bool(0)),
        "out_last": Signal(bool(0)),
        "h_sel": uint(plan.sel_bits),
        "h_we": Signal(bool(0)),
        "h_addr": uint(plan.haddr_bits),
        "h_wdata": uint(32),
        "h_rdata": uint(32),
        "idle": Signal(bool(0)),
    }
