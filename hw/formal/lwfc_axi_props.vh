// Formal properties of lwfc_axi (the AXI IP top): immediate assertions and assumptions,
// spliced into a formal-only copy of the MyHDL-converted module before its `endmodule` by
// hw/formal/lwfc_formal.py (open-source Yosys has no SVA sequences, no `bind` and no
// hierarchical references). Port-level monitors (f_*) count handshakes at the ports; a few
// assertions tie them to the IP's registers (aw_full, bvalid, ...) so that k-induction can
// close. lwfc_formal_params.vh (written by the generator) holds the plan's constants.
//
// Property groups (defines chosen per check by lwfc_formal.py):
//   F_AXIL    AXI4-Lite slave: handshakes and payloads held while stalled, one response per
//             request and none without one, responses within a bound, every response OKAY
//             (docs/registers.md: "every response is OKAY"), the window's error cases
//             (WIN_STRB / WIN_WRITE_RANGE / WIN_BUSY flagged, the memory never written then,
//             out-of-range reads return 0)
//   F_AXIS    AXI4-Stream ports: m_axis TVALID held until TREADY, TDATA / TLAST stable while
//             stalled (SOFT_RESET excepted, as documented), results out never exceeding
//             images in, no beat outside a batch or beyond BATCH, TLAST exactly where the
//             register map puts it
//   F_CORE_CUT (with F_AXIS) the core's outputs are free values (cut by lwfc_formal.py) and
//             its output contract C1-C3 (below) is assumed instead of asserted
// The parameter memories keep no initial contents in the formal copy (any weights). NOTE:
// arithmetic and comparisons 33 bits or wider are cut with the data path
// (lwfc_formal.AXI_CUT_WIDTH): keep the properties' own narrower.

`include "lwfc_formal_params.vh"

reg f_past_valid = 1'b0;
always @(posedge aclk) f_past_valid <= 1'b1;
wire f_run = f_past_valid && aresetn;

// ------------------------------------------------------------------ environment (the masters)
always @(*) begin
    // reset in the first cycle, then none (SOFT_RESET covers the in-run resets)
    if (!f_past_valid) assume(!aresetn);
    else assume(aresetn);
end
always @(posedge aclk) if (f_past_valid && $past(aresetn)) begin
    // AXI4-Lite master: VALID held until READY, payload stable meanwhile
    if ($past(s_axi_control_awvalid && !s_axi_control_awready)) begin
        assume(s_axi_control_awvalid);
        assume(s_axi_control_awaddr == $past(s_axi_control_awaddr));
    end
    if ($past(s_axi_control_wvalid && !s_axi_control_wready)) begin
        assume(s_axi_control_wvalid);
        assume(s_axi_control_wdata == $past(s_axi_control_wdata));
        assume(s_axi_control_wstrb == $past(s_axi_control_wstrb));
    end
    if ($past(s_axi_control_arvalid && !s_axi_control_arready)) begin
        assume(s_axi_control_arvalid);
        assume(s_axi_control_araddr == $past(s_axi_control_araddr));
    end
    // AXI4-Stream master (the DMA's MM2S side)
    if ($past(s_axis_tvalid && !s_axis_tready)) begin
        assume(s_axis_tvalid);
        assume(s_axis_tdata == $past(s_axis_tdata));
        assume(s_axis_tlast == $past(s_axis_tlast));
    end
end

`ifdef F_AXIL
// ------------------------------------------------------------------ AXI4-Lite slave
reg [2:0] f_aw = 0, f_w = 0, f_b = 0, f_ar = 0, f_r = 0;  // handshakes, mod 8
always @(posedge aclk) begin
    if (!aresetn) begin
        f_aw <= 0; f_w <= 0; f_b <= 0; f_ar <= 0; f_r <= 0;
    end else begin
        if (s_axi_control_awvalid && s_axi_control_awready) f_aw <= f_aw + 3'd1;
        if (s_axi_control_wvalid && s_axi_control_wready) f_w <= f_w + 3'd1;
        if (s_axi_control_bvalid && s_axi_control_bready) f_b <= f_b + 3'd1;
        if (s_axi_control_arvalid && s_axi_control_arready) f_ar <= f_ar + 3'd1;
        if (s_axi_control_rvalid && s_axi_control_rready) f_r <= f_r + 3'd1;
    end
end
wire [2:0] f_dw_a = f_aw - f_b;  // write addresses accepted and not yet answered (B taken)
wire [2:0] f_dw_d = f_w - f_b;   // write data accepted and not yet answered
wire [2:0] f_dr = f_ar - f_r;    // read addresses accepted and not yet answered
// requests accepted whose response has not been raised yet
wire f_wpend = (f_dw_a - {2'b0, s_axi_control_bvalid}) != 0 && (f_dw_d - {2'b0, s_axi_control_bvalid}) != 0;
wire f_rpend = (f_dr - {2'b0, s_axi_control_rvalid}) != 0;
reg [15:0] f_bwait = 0, f_rwait = 0;
always @(posedge aclk) begin
    f_bwait <= (!aresetn || s_axi_control_bvalid || !f_wpend) ? 16'd0 : f_bwait + 16'd1;
    f_rwait <= (!aresetn || s_axi_control_rvalid || !f_rpend) ? 16'd0 : f_rwait + 16'd1;
end

always @(*) if (f_run) begin
    // every response is OKAY (docs/registers.md), window errors included
    assert(s_axi_control_bresp == 2'b00);
    assert(s_axi_control_rresp == 2'b00);
    // none without a request: a response only for an accepted address (and data)
    if (s_axi_control_bvalid) assert(f_dw_a != 0 && f_dw_d != 0);
    if (s_axi_control_rvalid) assert(f_dr != 0);
    // at most one request held and one being answered per channel
    assert(f_dw_a <= 2 && f_dw_d <= 2 && f_dr <= 2);
    // the monitors agree with the slave's holding registers (makes induction close)
    assert(f_dw_a == {2'b0, aw_full} + {2'b0, bvalid});
    assert(f_dw_d == {2'b0, w_full} + {2'b0, bvalid});
    assert(f_dr == {2'b0, ar_full} + {2'b0, rvalid});
    // a window read in progress holds its address and has not answered yet
    if (rd_busy) assert(ar_full && !rvalid && ar_win && rd_cnt != 0 && rd_cnt <= 3'd4);
`ifdef F_AXIL_BOUND
    // one response per request: it is raised within a bound (scan / readback waits included)
    assert(f_bwait < F_WRITE_BOUND);
    assert(f_rwait < F_READ_BOUND);
`endif
    // a parameter memory is written only for a whole-word window write inside memory WSEL
    // while the IP is IDLE (no batch, no image in the core, no scan, not in reset)
    if (h_we) begin
        assert(do_write && aw_win);
        assert(w_strb == 4'hF);
        assert(wsel < F_N_MEMS && aw_entry < f_depth(wsel));
        assert(!busy && !scan_busy && !rst_core && core_idle);
    end
end

always @(posedge aclk) if (f_past_valid && $past(aresetn) && aresetn) begin
    // handshakes and payloads held while stalled
    if ($past(s_axi_control_bvalid && !s_axi_control_bready)) begin
        assert(s_axi_control_bvalid);
        assert(s_axi_control_bresp == $past(s_axi_control_bresp));
    end
    if ($past(s_axi_control_rvalid && !s_axi_control_rready)) begin
        assert(s_axi_control_rvalid);
        assert(s_axi_control_rdata == $past(s_axi_control_rdata));
        assert(s_axi_control_rresp == $past(s_axi_control_rresp));
    end
    // the window's error cases are flagged (ERROR bits, docs/registers.md)
    if ($past(do_write && aw_win)) begin
        if ($past(w_strb) != 4'hF) assert(err[F_E_STRB]);
        else if (!($past(wsel) < F_N_MEMS && $past(aw_entry) < f_depth($past(wsel))))
            assert(err[F_E_WRANGE]);
        else if (!$past(!busy && !scan_busy && !rst_core && core_idle))
            assert(err[F_E_BUSY]);
        else assert($past(h_we));  // a good write is not lost
    end
    // a window read outside memory WSEL returns 0 and flags WIN_READ_RANGE (one cycle later)
    if (f_rr_bad) assert(s_axi_control_rdata == 32'd0);
    if ($past(f_rr_bad)) assert(err[F_E_RRANGE]);
end
// the cycle a window read's response is raised, for an entry outside memory WSEL
reg f_rr_bad = 0;
always @(posedge aclk)
    f_rr_bad <= aresetn && rd_busy && rd_cnt == 1 && !(wsel < F_N_MEMS && ar_entry < f_depth(wsel));

always @(*) if (f_run) begin
    cover(s_axi_control_bvalid && s_axi_control_bready && err[F_E_BUSY]);
    cover(s_axi_control_bvalid && s_axi_control_bready && err[F_E_WRANGE]);
    cover(s_axi_control_rvalid && s_axi_control_rready && ar_win);
    cover(h_we);
end
`endif

`ifdef F_AXIS
`ifdef F_TREADY
always @(*) assume(m_axis_tready);
`endif
// ------------------------------------------------------------------ the core's output contract
// Monitors of the core's ports inside the IP (in_* / out_*), reset with the core. Its
// contract, proven of lwfc_core by core_pingpong (lwfc_core_props.vh, F_PINGPONG):
//   C1 out_last marks exactly the last of the 1 + CLASSES beats of a result
//   C2 a result beat only while an image whose last beat was accepted has no complete
//      result yet ("no result without an image")
//   C3 out_valid / out_data / out_last held while out_ready is low
// With F_CORE_CUT (check axi_stream) the core's outputs (out_valid, out_data, out_last,
// in_ready, core_idle, h_rdata) are cut to free values by lwfc_formal.py and the contract is
// ASSUMED: the core's pipeline drops out of the proof and a result can follow its image by
// one cycle, so a few results are a few cycles. Without it (the full-core checks) the same
// statements are ASSERTED of the real core.
`ifdef F_CORE_CUT
`define F_CONTRACT assume
`else
`define F_CONTRACT assert
`endif
reg [7:0] f_cib = 0;    // beats of the current image accepted at the core's in_*
reg [7:0] f_cob = 0;    // beats of the current result sent at the core's out_*
reg [7:0] f_cfull = 0;  // images whose last beat the core accepted, result not complete
wire f_cin = in_valid && in_ready;
wire f_cout = out_valid && out_ready;
wire f_cin_end = f_cin && f_cib == F_BEATS - 1;
wire f_cout_end = f_cout && f_cob == F_CLASSES;
reg f_cstall = 0, f_clast = 0;
reg [31:0] f_cdata = 0;
always @(posedge aclk) begin
    if (rst_core) begin
        f_cib <= 0; f_cob <= 0; f_cfull <= 0;
    end else begin
        if (f_cin) f_cib <= f_cin_end ? 8'd0 : f_cib + 8'd1;
        if (f_cout) f_cob <= f_cout_end ? 8'd0 : f_cob + 8'd1;
        f_cfull <= f_cfull + (f_cin_end ? 8'd1 : 8'd0) - (f_cout_end ? 8'd1 : 8'd0);
    end
    f_cstall <= !rst_core && out_valid && !out_ready;
    f_cdata <= out_data;
    f_clast <= out_last;
end
always @(*) if (f_past_valid && !rst_core) begin
    if (out_valid) `F_CONTRACT(out_last == (f_cob == F_CLASSES));       // C1
    if (out_valid) `F_CONTRACT(f_cfull != 0);                           // C2
    if (f_cstall) `F_CONTRACT(out_valid && out_data == f_cdata && out_last == f_clast);  // C3
end

// ------------------------------------------------------------------ AXI4-Stream ports
// port-level monitors, cleared like the IP's counters (START of a batch, SOFT_RESET)
wire f_clear = rst_core || (start_req && !busy);
wire f_ix = s_axis_tvalid && s_axis_tready;
wire f_ox = m_axis_tvalid && m_axis_tready;
reg [7:0] f_ibeat = 0;   // beats of the current image received at s_axis
reg [31:0] f_iimg = 0;   // images received at s_axis (ended by their last beat or TLAST)
reg [7:0] f_obeat = 0;   // beats of the current result sent at m_axis
reg [31:0] f_oimg = 0;   // results sent at m_axis
wire f_iend = f_ix && (f_ibeat == F_BEATS - 1 || s_axis_tlast);
wire [7:0] f_rbeats = logits_r ? F_CLASSES + 1 : 8'd1;  // beats per result this batch
wire f_oend = f_ox && f_obeat == f_rbeats - 1;
wire [31:0] f_inside = f_iimg - f_oimg;  // images in whose result is not out (mod 2**32)
// TLAST expected on the last result beat of one image, picked by the solver among all (at
// its last input beat): its last input beat carried TLAST, or it is the batch's last image
// (docs/registers.md). f_ahead: results to go out at m_axis before the tracked one's.
(* anyseq *) wire f_pick;
reg f_track = 0, f_exp = 0;
reg [7:0] f_ahead = 0;
reg [F_QB-1:0] f_kslot = 0;  // the TLAST queue entry of the tracked image
always @(posedge aclk) begin
    if (f_clear) begin
        f_ibeat <= 0; f_iimg <= 0; f_obeat <= 0; f_oimg <= 0; f_track <= 0;
    end else begin
        if (f_ix) f_ibeat <= f_iend ? 8'd0 : f_ibeat + 8'd1;
        if (f_iend) f_iimg <= f_iimg + 32'd1;
        if (f_ox) f_obeat <= f_oend ? 8'd0 : f_obeat + 8'd1;
        if (f_oend) f_oimg <= f_oimg + 32'd1;
        if (!f_track) begin
            if (f_iend && f_pick) begin
                f_track <= 1;
                f_ahead <= f_inside[7:0] - (f_oend ? 8'd1 : 8'd0);
                f_exp <= s_axis_tlast || (batch_n != 0 && f_iimg + 32'd1 == batch_n);
                f_kslot <= wptr;
            end
        end else if (f_oend) begin
            if (f_ahead != 0) f_ahead <= f_ahead - 8'd1;
            else f_track <= 0;
        end
    end
end
wire f_cur = f_track && f_ahead == 0;  // m_axis is sending (or next sends) the tracked result

always @(*) if (f_run && !rst_core) begin
    // results out never exceed images in (modulo 2**32 when BATCH = 0), nor trail them by
    // more than the TLAST queue holds; a result beat only for a received image
    assert(f_inside <= F_QD);
    if (batch_n != 0) assert(f_oimg <= f_iimg && f_iimg <= batch_n);
    if (m_axis_tvalid) assert(f_inside != 0);
    // no beat accepted outside a batch or beyond BATCH
    if (f_ix) assert(busy && (batch_n == 0 || f_iimg < batch_n));
    // TLAST only on the last beat of a result, and there exactly as the register map says
    if (m_axis_tvalid && m_axis_tlast) assert(f_obeat == f_rbeats - 1);
    if (m_axis_tvalid && f_cur && f_obeat == f_rbeats - 1) assert(m_axis_tlast == f_exp);
    // the counters the host reads (IMAGES_IN / IMAGES_OUT) agree with the ports
    assert(f_iimg == img_in + pad);
    assert(f_oimg == img_out + (!logits_r && !first_o));
    // ---- glue: the monitors and the framing registers (this is what lets induction close)
    if (pad) assert(f_ibeat == 0 && beat_cnt != 0 && pend < F_QD - 1);
    else assert(f_ibeat == beat_cnt);
    assert(f_cib == beat_cnt);
    assert(f_cfull == pend);
    assert(pend <= F_QD - 1);
    assert(wptr - rptr == pend[F_QB-1:0]);
    assert(img_in - img_out == pend);
    assert(first_o == (f_cob == 0));
    assert(f_cob <= F_CLASSES);
    if (logits_r) assert(f_obeat == f_cob);
    else assert(f_obeat == 0);
    if (!busy) assert(!pad && beat_cnt == 0 && pend == 0 && f_cob == 0);
    if (busy && batch_n != 0) begin
        assert(img_out < batch_n && img_in <= batch_n);
        if (beat_cnt != 0) assert(img_in < batch_n);
    end
    if (f_track) begin
        assert(f_ahead < f_inside);
        assert(f_kslot - rptr == f_ahead[F_QB-1:0] + (!logits_r && !first_o));
        if (pad && f_ahead + 1 == f_inside) assert(f_kslot == wptr && f_exp);
        else assert(tq[f_kslot] == f_exp);
    end
end

always @(posedge aclk) if (f_past_valid && $past(aresetn) && !rst_core && !$past(rst_core)) begin
    // m_axis: TVALID held until TREADY, TDATA / TLAST stable meanwhile
    if ($past(m_axis_tvalid && !m_axis_tready)) begin
        assert(m_axis_tvalid);
        assert(m_axis_tdata == $past(m_axis_tdata));
        assert(m_axis_tlast == $past(m_axis_tlast));
    end
end

always @(*) if (f_run && !rst_core) begin
    cover(f_oend && m_axis_tlast && f_oimg == 1 && batch_n == 2);  // a 2-image batch ends
    cover(f_oend && m_axis_tlast && batch_n == 0);   // TLAST from the input's TLAST
    cover(f_oend && logits_r);                        // a logits result
    cover(f_iend && f_ibeat != F_BEATS - 1);          // a short image (padded)
    cover(f_ox && !m_axis_tlast && f_obeat == f_rbeats - 1);  // a result without TLAST
end
`endif
