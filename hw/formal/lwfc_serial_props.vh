// Formal properties of lwfc_serial (the framed serial bridge, hw/lwfc_hw/serial.py, protocol
// hw/lwfc_hw/link.py): immediate assertions and assumptions spliced into a formal-only copy
// of the converted module before its `endmodule` by hw/formal/lwfc_formal.py.
//
// Environment: the UART receiver's outputs (rx_valid, rx_data, rx_ferr) are cut by the
// generator (Yosys cutpoint): the parser sees ANY byte sequence with at least F_S_GAP cycles
// from one byte to the next (assumed below; lwfc_formal.SERIAL_BYTE_GAP: the bit-serial CRC
// unit takes a byte in the 8 cycles after it, the header / frame checks the 2 cycles after
// the HCRC / CRC1 byte; a UART delivers one byte per 10 * divisor cycles, 80 at the smallest
// divisor), framing errors anywhere. The core's outputs (in_ready, out_valid, out_data,
// h_rdata, idle) are cut too: the parser's properties hold whatever the core does.
//
// Property groups:
//   F_FRAMES  a frame is committed (descriptor queued: an image to classify, a WRITE burst,
//             a VERIFY), applied (SET_HASH) or executed (FLUSH) only if its header CRC-8 and
//             its CRC-16 are right and its LEN is right for its command; the descriptor queue
//             never overflows; a parameter memory is written and an image beat offered to
//             the core only for a queued descriptor. The CRCs are computed here,
//             independently (functions below).
//   F_HUNT    after any byte sequence the parser returns to hunting: whenever no byte came
//             for more than F_S_SILENCE cycles (IDLE_BYTES byte times), it is in HUNT (or
//             executing a FLUSH command, which ends after the reply in progress)
// F_* constants and the parser's state codes P_* (generated from lwfc_hw.serial.t_p, the
// width checked against the converted Verilog): lwfc_formal_params.vh.

`include "lwfc_formal_params.vh"

reg f_past_valid = 1'b0;
always @(posedge clk) f_past_valid <= 1'b1;
always @(*) if (!f_past_valid) assume(rst);

function [7:0] f_crc8_step(input [7:0] crc, input [7:0] b);
    integer i;
    reg [7:0] c;
    begin
        c = crc ^ b;
        for (i = 0; i < 8; i = i + 1) c = c[7] ? ((c << 1) ^ 8'h07) : (c << 1);
        f_crc8_step = c;
    end
endfunction

function [15:0] f_crc16_step(input [15:0] crc, input [7:0] b);
    integer i;
    reg [15:0] c;
    begin
        c = crc ^ {b, 8'h00};
        for (i = 0; i < 8; i = i + 1) c = c[15] ? ((c << 1) ^ 16'h1021) : (c << 1);
        f_crc16_step = c;
    end
endfunction

// the parser's CRC unit works one bit per cycle (pcrc_*: the byte's bits still to go in the
// top pcrc_cnt bits of pcrc_sh): what it will hold once it has taken them
function [7:0] f_fin8(input [7:0] crc, input [7:0] sh, input [3:0] n);
    integer i;
    reg [7:0] c;
    begin
        c = crc;
        for (i = 0; i < 8; i = i + 1)
            if (i < n) c = (c[7] ^ sh[7 - i]) ? ((c << 1) ^ 8'h07) : (c << 1);
        f_fin8 = c;
    end
endfunction
function [15:0] f_fin16(input [15:0] crc, input [7:0] sh, input [3:0] n);
    integer i;
    reg [15:0] c;
    begin
        c = crc;
        for (i = 0; i < 8; i = i + 1)
            if (i < n) c = (c[15] ^ sh[7 - i]) ? ((c << 1) ^ 16'h1021) : (c << 1);
        f_fin16 = c;
    end
endfunction
wire [7:0] p_crc8f = f_fin8(p_crc8, pcrc_sh, pcrc_u8 ? pcrc_cnt : 4'd0);
wire [15:0] p_crc16f = f_fin16(p_crc16, pcrc_sh, pcrc_u16 ? pcrc_cnt : 4'd0);

wire f_inframe = pst == P_HDR || pst == P_HCRC || pst == P_PAY || pst == P_CRC0 || pst == P_CRC1;
// the cycles of the header check, the frame check and its action (no byte is consumed then)
wire f_check = pst == P_HCHK || pst == P_HGO || pst == P_END || pst == P_ACT;

// ---- environment: bytes at least F_S_GAP cycles apart
reg [15:0] f_quiet = 0;        // cycles since the last byte, saturating above F_S_SILENCE + 1
always @(posedge clk)
    if (rst || rx_valid) f_quiet <= 0;
    else if (f_quiet <= F_S_SILENCE + 1) f_quiet <= f_quiet + 16'd1;
always @(*) if (f_past_valid && rx_valid) assume(f_quiet >= F_S_GAP - 1);
// the parser's state register holds one of its states (binary encoding: codes below P_STATES)
always @(*) if (f_past_valid && !rst) assert(pst < P_STATES && cst < C_STATES);

// ---- the monitor's own view of the frame the parser is in: bytes after SYNC, fields, CRCs
reg [16:0] f_n = 0;            // bytes consumed after the SYNC
reg [7:0] f_cmd = 0, f_hcrc = 0, f_p0 = 0, f_p1 = 0, f_p2 = 0;
reg [15:0] f_len = 0;
reg [7:0] f_crc8 = 0;          // CRC-8 of CMD, TAG, LEN
reg [15:0] f_crc16 = 0;        // CRC-16 of CMD ... last payload byte
reg [15:0] f_rcrc = 0;         // the CRC-16 received (little endian)
always @(posedge clk) begin
    if (rx_valid && pst == P_HUNT && rx_data == F_S_SYNC) begin
        f_n <= 0;
        f_crc8 <= 8'h00;
        f_crc16 <= 16'hFFFF;
    end else if (rx_valid && f_inframe) begin
        f_n <= f_n + 17'd1;
        if (f_n < 4) f_crc8 <= f_crc8_step(f_crc8, rx_data);
        if (f_n < 17'd5 + f_len || f_n < 5) f_crc16 <= f_crc16_step(f_crc16, rx_data);
        if (f_n == 0) f_cmd <= rx_data;
        if (f_n == 2) f_len[7:0] <= rx_data;
        if (f_n == 3) f_len[15:8] <= rx_data;
        if (f_n == 4) f_hcrc <= rx_data;
        if (f_n == 5) f_p0 <= rx_data;
        if (f_n == 6) f_p1 <= rx_data;
        if (f_n == 7) f_p2 <= rx_data;
        if (f_n >= 5 && f_n == 17'd5 + f_len) f_rcrc[7:0] <= rx_data;
        if (f_n >= 5 && f_n == 17'd6 + f_len) f_rcrc[15:8] <= rx_data;
    end
end

// past the header check (in PAY, CRC0, CRC1, END, ACT) and the payload bytes seen so far
wire f_past_hdr = pst == P_PAY || pst == P_CRC0 || pst == P_CRC1 || pst == P_END
                  || pst == P_ACT;
wire f_tail = pst == P_CRC0 || pst == P_CRC1 || pst == P_END || pst == P_ACT;
wire [15:0] f_k = pidx;  // payload bytes consumed (all of them from CRC0 on: asserted)

// is LEN right for the command (link.py: the request formats, ERR_LENGTH)?
wire [16:0] f_wr_bytes = {1'b0, f_len} - 17'd3;  // WRITE: entry bytes
wire [2:0] f_eb_sel = f_eb(f_p0);
// entries of f_wr_bytes bytes at f_eb_sel bytes each, and whether they divide evenly (by
// cases, without a multiplier: the data-path cut turns every multiplier into a free value)
wire [16:0] f_wr_div3 = f_wr_bytes / 17'd3;
wire [16:0] f_wr_count = f_eb_sel == 1 ? f_wr_bytes : f_eb_sel == 2 ? {1'b0, f_wr_bytes[16:1]} :
                         f_eb_sel == 3 ? f_wr_div3 : {2'b0, f_wr_bytes[16:2]};
wire f_wr_whole = f_eb_sel == 1 || (f_eb_sel == 2 && !f_wr_bytes[0])
                  || (f_eb_sel == 3 && f_wr_div3 + {f_wr_div3[15:0], 1'b0} == f_wr_bytes)
                  || (f_eb_sel == 4 && f_wr_bytes[1:0] == 2'b00);
function [19:0] f_times_eb(input [16:0] n, input [2:0] eb);  // n * eb for eb in 1 ... 4
    f_times_eb = eb == 1 ? {3'd0, n} : eb == 2 ? {2'd0, n, 1'b0}
                 : eb == 3 ? {3'd0, n} + {2'd0, n, 1'b0} : {1'd0, n, 2'b0};
endfunction
wire f_len_ok =
    (f_cmd == F_S_IDENTIFY || f_cmd == F_S_FLUSH) ? f_len == 0 :
    (f_cmd == F_S_SET_HASH) ? f_len == 4 :
    (f_cmd == F_S_VERIFY) ? f_len == 1 && f_p0 < F_N_MEMS :
    (f_cmd == F_S_CLASSIFY) ? f_len >= 2 && f_len <= F_S_NIN + 1
                              && (f_p0[0] || f_len == F_S_NIN + 1) :
    (f_cmd == F_S_WRITE) ? f_len >= 4 && f_len <= F_S_MAXLEN && f_p0 < F_N_MEMS
                           && f_wr_whole && f_wr_count <= F_S_MB
                           && {1'b0, f_p2, f_p1} + f_wr_count <= f_depth(f_p0) :
    1'b0;
// the frame just ended (parser in END or ACT): complete, both CRCs right, LEN right
wire f_good = f_n == 17'd7 + f_len && f_hcrc == f_crc8 && f_rcrc == f_crc16 && f_len_ok;
// a command whose good frame queues a descriptor for the consumer
wire f_queued = h_cmd == F_S_CLASSIFY || h_cmd == F_S_WRITE || h_cmd == F_S_VERIFY;
// the registered flags (dq_full, p_sel_ok) are one cycle behind what they flag, p_past two
reg f_acted = 0;               // last cycle was ACT (dq_n may have grown: dq_full is stale)
always @(posedge clk) f_acted <= !rst && pst == P_ACT;

`ifdef F_FRAMES
always @(*) if (f_past_valid && !rst) begin
    // the CRC unit has taken the last byte's 8 bits within 8 cycles (before the next byte)
    assert(pcrc_cnt <= 8);
    if (pcrc_cnt != 0) assert(pcrc_cnt + f_quiet == 8);
    // the monitor agrees with the parser (the CRC units and the byte counting are checked
    // against the independent functions above; this also makes k-induction close)
    if (pst == P_HDR) begin
        assert(f_n == {15'd0, h_cnt} && f_crc8 == p_crc8f && f_crc16 == p_crc16f);
        if (h_cnt >= 1) assert(f_cmd == h_cmd);
        if (h_cnt >= 3) assert(f_len[7:0] == h_len[7:0]);
    end
    if (pst == P_HCRC) assert(f_n == 4 && f_crc8 == p_crc8f && f_crc16 == p_crc16f
                              && f_len == h_len && f_cmd == h_cmd);
    if (pst == P_HCHK || pst == P_HGO) begin
        assert(f_n == 5 && f_crc16 == p_crc16f && f_len == h_len && f_cmd == h_cmd);
        assert(h_ok == (f_hcrc == f_crc8));
    end
    if (pst == P_HGO) begin
        assert(h_ok);
        // no header error: a known command, LEN in its range, room in the queue
        if (h_code == 0) begin
            assert(h_cmd == F_S_CLASSIFY || h_cmd == F_S_WRITE || h_cmd == F_S_VERIFY
                   || h_cmd == F_S_IDENTIFY || h_cmd == F_S_SET_HASH || h_cmd == F_S_FLUSH);
            if (h_cmd == F_S_IDENTIFY || h_cmd == F_S_FLUSH) assert(h_len == 0);
            if (h_cmd == F_S_SET_HASH) assert(h_len == 4);
            if (h_cmd == F_S_VERIFY) assert(h_len == 1);
            if (h_cmd == F_S_WRITE) assert(h_len >= 4 && h_len <= F_S_MAXLEN);
            if (h_cmd == F_S_CLASSIFY) assert(h_len >= 2 && h_len <= F_S_NIN + 1);
            if (f_queued && !flush_now) assert(dq_n < F_S_QUEUE);
        end
    end
    if (pst == P_PAY) begin
        assert(f_n == 17'd5 + pidx);
        assert(f_crc16 == p_crc16f);
        assert(f_len == h_len && f_cmd == h_cmd && f_hcrc == f_crc8);
        assert(left == f_len - pidx && pidx < f_len);
    end
    if (pst == P_CRC0) assert(f_n == 17'd5 + f_len && f_crc16 == p_crc16f && f_len == h_len
                              && f_cmd == h_cmd && f_hcrc == f_crc8);
    if (pst == P_CRC1) assert(f_n == 17'd6 + f_len && f_len == h_len && f_cmd == h_cmd
                              && f_crc16 == p_crc16f
                              && f_hcrc == f_crc8 && crc_bad == (f_rcrc[7:0] != f_crc16[7:0]));
    if (pst == P_END || pst == P_ACT)
        assert(f_n == 17'd7 + f_len && f_len == h_len && f_cmd == h_cmd && f_hcrc == f_crc8);
    if (pst == P_END) assert(crc_bad == (f_rcrc != f_crc16));
    // the frame check: no error code only for a good frame (CRC-8, CRC-16, LEN)
    if (pst == P_ACT && e_code == 0) assert(f_good);
    // no byte is consumed in the check cycles, nor can the silence timeout hit in them
    if (pst == P_HCHK || pst == P_END) assert(f_quiet == 0);
    if (pst == P_HGO || pst == P_ACT) assert(f_quiet == 1);
    // past the header check only known commands
    if (f_past_hdr)
        assert(h_cmd == F_S_CLASSIFY || h_cmd == F_S_WRITE || h_cmd == F_S_VERIFY
               || h_cmd == F_S_IDENTIFY || h_cmd == F_S_SET_HASH || h_cmd == F_S_FLUSH);
    if (f_tail) assert(pidx == f_len);
    // past the header check LEN is in its command's range (link.py request formats)
    if (f_past_hdr) begin
        if (h_cmd == F_S_IDENTIFY || h_cmd == F_S_FLUSH) assert(h_len == 0);
        if (h_cmd == F_S_SET_HASH) assert(h_len == 4);
        if (h_cmd == F_S_VERIFY) assert(h_len == 1);
        if (h_cmd == F_S_WRITE) assert(h_len >= 4 && h_len <= F_S_MAXLEN);
        if (h_cmd == F_S_CLASSIFY) assert(h_len >= 2 && h_len <= F_S_NIN + 1);
    end
    // the payload counters start from the header check's clear
    if (pst == P_PAY && pidx == 0)
        assert(wleft == F_S_NIN && zeros == 0 && ecnt == 0 && ferr == 0 && bpos == 0
               && lits == 0 && mode == 0 && p_sel == 0);
    // the registered compares of the zero-run counters (serial.py: z_nz, z_geb, w_geb)
    assert(z_nz == (zeros != 0) && z_geb == (zeros >= F_S_B) && w_geb == (wleft >= F_S_B)
           && w_nz == (wleft != 0) && w_one == (wleft == 1));
    // a zero run never claims more pixels than are left (a longer one is a LENGTH error)
    assert(zeros <= wleft);
    // only a CLASSIFY's zero runs expand (they share bpos with a WRITE's entry bytes)
    if (f_past_hdr && h_cmd != F_S_CLASSIFY) assert(zeros == 0);
    // the payload fields and counters agree with the bytes seen (while no payload error)
    if (f_past_hdr && ferr == 0) begin
        if (h_cmd == F_S_WRITE) begin
            if (f_k >= 1) assert(p_sel == f_p0);
            if (f_k >= 2) assert(p_sel_ok == (p_sel < F_N_MEMS));
            if (f_k >= 2) assert(p_addr[7:0] == f_p1);
            if (f_k >= 3) begin
                assert(p_addr == {f_p2, f_p1});
                // entries completed and bytes of the current one (rom_eblast: bytes - 1)
                assert(f_times_eb(ecnt, rom_eblast + 3'd1) + bpos == {4'd0, f_k} - 20'd3);
                assert(bpos <= rom_eblast && ecnt <= F_S_MB
                       && rom_eblast + 3'd1 == f_eb(p_seli));
            end else assert(ecnt == 0 && bpos == 0);
            if ((pst == P_CRC0 && f_quiet > 0) || pst == P_CRC1 || pst == P_END)
                assert(p_end == p_addr + ecnt && p_dep == rom_depth);
            if ((pst == P_CRC0 && f_quiet > 1) || pst == P_CRC1 || pst == P_END)
                assert(p_past == (p_end > p_dep));
        end
        if (h_cmd == F_S_VERIFY && f_k >= 1) begin
            assert(p_sel == f_p0);
            if ((pst == P_CRC0 && f_quiet != 0) || pst == P_CRC1 || pst == P_END)
                assert(p_sel_ok == (p_sel < F_N_MEMS));
        end
        if (h_cmd == F_S_CLASSIFY && f_k >= 1) begin
            assert(mode == f_p0[1:0]);
            if (!mode[0]) assert(wleft == F_S_NIN + 1 - f_k && zeros == 0 && lits == 0
                                 && f_k <= F_S_NIN + 1);
        end
    end
    // the descriptor queue never overflows; a frame that will queue a descriptor was
    // admitted with room in it (dq_full is registered: right but in the cycle after ACT)
    if (!flush_now) begin
        assert(dq_n <= F_S_QUEUE);
        if (f_past_hdr && f_queued) assert(dq_n < F_S_QUEUE);
        if (!f_acted && !dq_full) assert(dq_n < F_S_QUEUE);
        // the consumer works on the descriptor at the queue's head and pops it when done
        if (cst != C_IDLE) assert(dq_n != 0);
        // a parameter memory is written (h_we) or an image beat offered to the core
        // (in_valid) only for a descriptor at the queue's head: only for a good frame
        if (h_we || in_valid) assert(dq_n != 0 && cst != C_IDLE);
        if (in_valid) assert(cst == C_IMG_SEND);            // (glue for induction)
        if (h_we) assert(cst == C_WR_RD || cst == C_REPLY);
    end
end

always @(posedge clk) if (f_past_valid && !rst && !$past(rst)) begin
    // a descriptor is queued (image / WRITE / VERIFY), the hash set or a FLUSH started only
    // at the end of a good frame
    if (dq_w != $past(dq_w) && !$past(flush_now) && $past(pst) != P_FLUSH)
        assert($past(pst == P_ACT && f_good));
    if (hset) assert($past(pst == P_ACT && f_good && f_cmd == F_S_SET_HASH));
    if (pst == P_FLUSH && $past(pst) != P_FLUSH)
        assert($past(pst == P_ACT && f_good && f_cmd == F_S_FLUSH));
    // the committed pointer moves only at a good frame's end (or back to 0 on FLUSH)
    if (cwp != $past(cwp) && !$past(pst == P_FLUSH))
        assert($past(pst == P_ACT && f_good));
end

always @(*) if (f_past_valid && !rst) begin
    cover(pst == P_ACT && f_good && f_cmd == F_S_CLASSIFY && e_code == 0);
    cover(pst == P_ACT && f_good && f_cmd == F_S_WRITE && e_code == 0);
    cover(pst == P_ACT && !f_good && f_hcrc == f_crc8);
end
`endif

`ifdef F_HUNT
always @(*) if (f_past_valid && !rst) begin
    // outside HUNT / FLUSH the parser's silence counter is the time since the last byte
    if (pst != P_HUNT && pst != P_FLUSH) assert(silent == f_quiet);
    assert(silent <= F_S_SILENCE);
    // after more than F_S_SILENCE quiet cycles the parser hunts (or runs a FLUSH command)
    if (f_quiet > F_S_SILENCE) assert(pst == P_HUNT || pst == P_FLUSH);
    // the check cycles follow a byte at once (the timeout cannot hit in them)
    if (pst == P_HCHK || pst == P_END) assert(f_quiet == 0);
    if (pst == P_HGO || pst == P_ACT) assert(f_quiet == 1);
end
`endif
