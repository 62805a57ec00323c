// Formal properties of lwfc_core: immediate assertions and assumptions (open-source Yosys
// has no SVA sequences, no `bind` and no hierarchical references, so this file is spliced
// into a formal-only copy of the MyHDL-converted module, just before its `endmodule`, by
// hw/formal/lwfc_formal.py; the RTL itself is never edited). It sees every internal signal of
// the flat converted module by its MyHDL name (l<i>_mcm_*, l<i>_lscm_*, loader_*, ...).
//
// The plan-dependent part comes from two files the generator writes next to this one:
//   lwfc_formal_params.vh  localparams from the plan and the cycle model (lwfc_hw.cycles)
//   lwfc_core_formal_map.vh one macro call per ping-pong memory and per layer (names of the
//                          plan's signals), using the macros below
//
// Property groups (defines chosen per check by lwfc_formal.py):
//   F_PINGPONG  a half in READ is never written; commit only into a WRITE half, release only
//               a READ half; a busy layer holds its input half (READ, same half) and its
//               output half (WRITE) until it is done
//   F_RELEASE   with out_ready held high, every committed half is released within
//               F_RELEASE_BOUND cycles (bounded liveness)
//   F_RESPONSE  with out_ready held high and images sent contiguously, an image's class beat
//               comes exactly F_LATENCY cycles after its first beat when the core was empty,
//               and at most F_RESPONSE_BOUND cycles after it otherwise
// Parameter memories keep no initial contents in the formal copy: the solver picks them, so
// every proof holds for any weights, biases and requantization words. NOTE: comparisons and
// arithmetic 17 bits or wider are cut with the data path (lwfc_formal.CORE_CUT_WIDTH): write
// wide comparisons here as XOR reductions.

`include "lwfc_formal_params.vh"

reg f_past_valid = 1'b0;
always @(posedge clk) f_past_valid <= 1'b1;

// ---- environment: a synchronous reset in the first cycle; host writes only while idle
always @(*) begin
    if (!f_past_valid) assume(rst);
    assume(!h_we || idle);
end

`ifdef F_OUT_READY
always @(*) assume(out_ready);
`endif

// ---- one ping-pong memory: its MCM (st0/st1: 0 = WRITE, 1 = READ) and its write enable
`define LWFC_F_PINGPONG(NAME, WE, WR_HALF, ST0, ST1, COMMIT, RELEASE, WR_OK, RD_OK, RD_HALF) \
generate if (1) begin : NAME \
    reg [15:0] age0 = 0, age1 = 0; \
    always @(*) if (f_past_valid && !rst) begin \
        if (`F_PINGPONG_ON) begin \
            if (WE) assert((WR_HALF ? ST1 : ST0) == 1'b0); \
            if (COMMIT) assert(WR_OK); \
            if (RELEASE) assert(RD_OK); \
        end \
        if (`F_RELEASE_ON) begin \
            assert(age0 < F_RELEASE_BOUND); \
            assert(age1 < F_RELEASE_BOUND); \
        end \
    end \
    always @(posedge clk) begin \
        age0 <= (rst || ST0 == 1'b0) ? 16'd0 : age0 + 16'd1; \
        age1 <= (rst || ST1 == 1'b0) ? 16'd0 : age1 + 16'd1; \
    end \
    always @(*) cover(f_past_valid && !rst && ST0 == 1'b1 && ST1 == 1'b1); \
end endgenerate

// ---- one layer: its L-SCM (state 1 = BUSY) between its input and its output memory
`define LWFC_F_LAYER(NAME, STATE, IN_RD_OK, IN_RD_HALF, OUT_WR_OK, OUT_WR_HALF) \
generate if (1) begin : NAME \
    always @(posedge clk) if (f_past_valid && !rst && !$past(rst) && `F_PINGPONG_ON) begin \
        if ($past(STATE) == 1'b1 && STATE == 1'b1) begin \
            assert(IN_RD_HALF == $past(IN_RD_HALF)); \
            assert(OUT_WR_HALF == $past(OUT_WR_HALF)); \
        end \
        if (STATE == 1'b1) begin \
            assert(IN_RD_OK); \
            assert(OUT_WR_OK); \
        end \
    end \
end endgenerate

`ifdef F_PINGPONG
`define F_PINGPONG_ON 1'b1
`else
`define F_PINGPONG_ON 1'b0
`endif
`ifdef F_RELEASE
`define F_RELEASE_ON 1'b1
`else
`define F_RELEASE_ON 1'b0
`endif

`include "lwfc_core_formal_map.vh"

// ---- port-level monitor: beats in, result beats out
reg [7:0] f_ibeat = 0;     // beats of the current input image accepted so far
reg [7:0] f_obeat = 0;     // beats of the current result sent so far
reg [7:0] f_owed = 0;      // images whose first beat was accepted and whose result is not out
reg [7:0] f_full = 0;      // images whose last beat was accepted and whose result is not out
wire f_in_x = in_valid && in_ready;
wire f_out_x = out_valid && out_ready;
wire f_first_in = f_in_x && f_ibeat == 0;
wire f_class_out = f_out_x && f_obeat == 0;
wire f_result_done = f_out_x && f_obeat == F_CLASSES;
always @(posedge clk) begin
    if (rst) begin
        f_ibeat <= 0;
        f_obeat <= 0;
        f_owed <= 0;
        f_full <= 0;
    end else begin
        if (f_in_x) f_ibeat <= (f_ibeat == F_BEATS - 1) ? 8'd0 : f_ibeat + 8'd1;
        if (f_out_x) f_obeat <= (f_obeat == F_CLASSES) ? 8'd0 : f_obeat + 8'd1;
        f_owed <= f_owed + (f_first_in ? 8'd1 : 8'd0) - (f_result_done ? 8'd1 : 8'd0);
        f_full <= f_full + ((f_in_x && f_ibeat == F_BEATS - 1) ? 8'd1 : 8'd0)
                  - (f_result_done ? 8'd1 : 8'd0);
    end
end

always @(*) if (f_past_valid && !rst) begin
    // out_last marks exactly the last of the 1 + CLASSES beats of a result
    if (out_valid) assert(out_last == (f_obeat == F_CLASSES));
    // no result without an image; never more images inside than the pipeline holds
    if (out_valid) assert(f_owed != 0);
    // ... and none before the image's last beat was accepted (the contract lwfc_axi's
    // axi_stream check assumes of the core: lwfc_axi_props.vh, C2)
    if (out_valid) assert(f_full != 0);
    assert(f_owed <= F_MAX_INFLIGHT);
    assert(idle == (f_owed == 0));
    assert(f_owed == inflight);          // glue to the core's own count (for induction)
    assert(f_obeat == (out_valid ? result_beat - (out_last ? 8'd0 : 8'd1) : f_obeat));
end

// out_valid / out_data / out_last hold while out_ready is low (f_*_q: last cycle's values)
reg f_stall_q = 0, f_last_q = 0;
reg [31:0] f_data_q = 0;
always @(posedge clk) begin
    f_stall_q <= !rst && out_valid && !out_ready;
    f_data_q <= out_data;
    f_last_q <= out_last;
end
always @(*) if (f_past_valid && !rst && f_stall_q) begin
    assert(out_valid);
    // (as an XOR reduction: a 32-bit comparison would be cut with the data path, CUT_CELLS)
    assert(!(|(out_data ^ f_data_q)));
    assert(out_last == f_last_q);
end

`ifdef F_RESPONSE
// images arrive contiguously (a DMA sends an image without gaps once it started)
always @(*) if (f_past_valid && !rst && f_ibeat != 0) assume(in_valid);

// one image, picked by the solver among all, is followed from its first beat to its class beat
(* anyseq *) wire f_pick;
reg f_track = 0;
reg [15:0] f_t = 0;        // cycles since the tracked image's first beat
reg [7:0] f_ahead = 0;     // results still to come out before the tracked image's
reg f_was_empty = 0;       // the core held no image when the tracked one started
always @(posedge clk) begin
    if (rst) begin
        f_track <= 0;
    end else if (!f_track) begin
        if (f_first_in && f_pick) begin
            f_track <= 1;
            f_t <= 1;
            f_ahead <= f_owed - (f_result_done ? 8'd1 : 8'd0);
            f_was_empty <= f_owed == 0;
        end
    end else begin
        f_t <= f_t + 16'd1;
        if (f_result_done && f_ahead != 0) f_ahead <= f_ahead - 8'd1;
        if (f_class_out && f_ahead == 0) f_track <= 0;
    end
end
always @(*) if (f_past_valid && !rst && f_track) begin
    assert(f_t <= F_RESPONSE_BOUND);
    if (f_class_out && f_ahead == 0) begin
        if (f_was_empty) assert(f_t == F_LATENCY);
        else assert(f_t <= F_RESPONSE_BOUND);
    end
    if (f_was_empty && f_t < F_LATENCY) assert(!(f_class_out && f_ahead == 0));
    cover(f_class_out && f_ahead == 0 && !f_was_empty);
    cover(f_class_out && f_ahead == 0 && f_was_empty);
end
`endif

always @(*) cover(f_past_valid && !rst && f_result_done);
