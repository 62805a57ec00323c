// lwfc_uart_bridge: lwfc_core behind an 8N1 UART, for boards with no host bus.
//
// Protocol (requests from the host, one at a time; every request gets a reply):
//   'I' + N_IN pixel bytes  -> class byte, then CLASSES int32 logits (little endian)
//   'C' + N_IN pixel bytes  -> class byte
//   'V'                     -> "LWFC", N_IN (2 bytes LE), CLASSES, N_MEMS          (8 bytes)
//   'W' sel addr(2) data(4) -> 'K'  host write of parameter memory sel     (HOST_PORT = 1)
//   'R' sel addr(2)         -> data(4): readback of parameter memory sel   (HOST_PORT = 1)
//   anything else           -> '?'
// Multi-byte fields are little endian. Weights otherwise come from the $readmemh images
// (block RAM initial contents); 'W' rewrites them at run time (the core must be idle, which
// it always is between requests). Geometry comes from the generated lwfc_core_defs.vh.
`timescale 1ns/1ps
`default_nettype none
`include "lwfc_core_defs.vh"

module lwfc_uart_bridge #(
    parameter integer CLK_HZ = 12000000,
    parameter integer BAUD = 115200,
    parameter integer HOST_PORT = 1
) (
    input  wire       clk,
    input  wire       rst,
    input  wire       rx,
    output wire       tx,
    output reg  [3:0] last_class,
    output wire       busy,
    output reg        error
);
    localparam integer DIV = (CLK_HZ + BAUD / 2) / BAUD;
    localparam integer PPB = `LWFC_PIX_PER_BEAT;
    localparam integer NIN = `LWFC_N_IN;
    localparam integer SB = `LWFC_SEL_BITS;
    localparam integer AB = `LWFC_ADDR_BITS;
    localparam [15:0] NIN16 = NIN[15:0];
    localparam integer NMEMS = `LWFC_N_MEMS;
    localparam [7:0] NMEMS8 = NMEMS[7:0];
    localparam integer CLASSES = `LWFC_CLASSES;
    localparam [7:0] CLASSES8 = CLASSES[7:0];
    localparam integer PB = (PPB > 1) ? $clog2(PPB) : 1;
    localparam integer PPB_M1 = PPB - 1;

    localparam [2:0] S_CMD = 3'd0, S_PIX = 3'd1, S_RESULT = 3'd2, S_ARGS = 3'd3,
                     S_EXEC = 3'd4, S_WAIT = 3'd5;

    // ---- UART
    wire [7:0] rx_data;
    wire rx_valid, rx_error, tx_busy;
    reg  [7:0] tx_byte = 8'd0;
    reg  tx_go = 1'b0;
    lwfc_uart_rx #(.DIV(DIV)) u_rx (.clk(clk), .rst(rst), .rx(rx), .data(rx_data),
                                    .valid(rx_valid), .frame_error(rx_error));
    lwfc_uart_tx #(.DIV(DIV)) u_tx (.clk(clk), .rst(rst), .data(tx_byte), .start(tx_go),
                                    .busy(tx_busy), .tx(tx));

    // ---- the received byte one cycle later, with its command decoded: keeps the byte
    // compares out of the request state machine's paths (a byte arrives every 10 * DIV
    // cycles, so the extra cycle costs nothing)
    reg rxv = 1'b0;
    reg [7:0] rxb = 8'd0;
    reg rx_img = 1'b0, rx_i = 1'b0, rx_ver = 1'b0, rx_host = 1'b0, rx_r = 1'b0;
    always @(posedge clk) begin
        rxv <= rx_valid && !rst;
        rxb <= rx_data;
        rx_img <= rx_data == "I" || rx_data == "C";
        rx_i <= rx_data == "I";
        rx_ver <= rx_data == "V";
        rx_host <= HOST_PORT != 0 && (rx_data == "W" || rx_data == "R");
        rx_r <= rx_data == "R";
    end

    // ---- core
    reg  [`LWFC_IN_BITS-1:0] beat = 0;
    reg  beat_valid = 1'b0;
    wire in_ready, out_valid, out_last, idle;
    wire [31:0] out_data, h_rdata;
    wire out_ready;
    reg  [SB-1:0] h_sel = 0;
    reg  [AB-1:0] h_addr = 0;
    reg  [31:0] h_wdata = 0;
    reg  h_we = 1'b0;

    // Without the host port the parameter memories have no write port and no second read
    // port: synthesis then maps each to one block RAM (ROM) instead of two.
    wire h_we_core = (HOST_PORT != 0) ? h_we : 1'b0;
    wire [31:0] readback = (HOST_PORT != 0) ? h_rdata : 32'd0;

    lwfc_core core (
        .clk(clk), .rst(rst),
        .in_data(beat), .in_valid(beat_valid), .in_ready(in_ready),
        .out_data(out_data), .out_valid(out_valid), .out_ready(out_ready), .out_last(out_last),
        .h_sel(h_sel), .h_we(h_we_core), .h_addr(h_addr), .h_wdata(h_wdata),
        .h_rdata(h_rdata), .idle(idle)
    );

    // ---- request state
    reg [2:0] state = S_CMD;
    reg cmd_i = 1'b0;             // request 'I' (class and logits; 'C': class only)
    reg cmd_r = 1'b0;             // request 'R' (in S_ARGS / S_EXEC / S_WAIT: else 'W')
    reg [15:0] pix = 16'd0;
    reg [PB-1:0] bpos = 0;
    reg [2:0] nargs = 3'd0;
    reg [55:0] args = 56'd0;      // sel, addr, data: first byte received in bits 7:0
    reg [2:0] wait_n = 3'd0;
    reg first_beat = 1'b0;        // next result beat is the class
    // ---- byte sender: txn bytes of txw, least significant first. The request state machine
    // queues a reply in rep_* and the sender takes it on the next edge (two short paths
    // instead of one through both).
    reg [63:0] txw = 64'd0;
    reg [3:0] txn = 4'd0;
    reg [63:0] rep_w = 64'd0;
    reg [3:0] rep_n = 4'd0;
    reg rep_v = 1'b0;

    wire sender_free = (txn == 4'd0) && !tx_go && !rep_v;
    // out_ready is a register (the core's result streamer decodes it): high in S_RESULT while
    // the sender is free, low for the cycle after a transfer (its reply is being queued)
    reg out_ready_q = 1'b0;
    assign out_ready = out_ready_q;
    always @(posedge clk) begin
        out_ready_q <= !rst && (state == S_RESULT) && sender_free && !(out_valid && out_ready_q);
    end
    assign busy = (state == S_PIX) || (state == S_RESULT) || !idle;

    // The protocol's fields are 8 / 16 bits wide; the core uses SB / AB of them.
    /* verilator lint_off UNUSEDSIGNAL */
    wire [7:0] arg_sel = args[7:0];
    wire [15:0] arg_addr = args[23:8];
    /* verilator lint_on UNUSEDSIGNAL */
    wire [31:0] arg_data = args[55:24];

    // The replies, queued in rep_* (one flat condition per source, not a branch of the request
    // state machine, so the enable of the 64 + 4 reply bits is a few LUT levels deep):
    // 'V' / unknown byte in S_CMD, a result beat in S_RESULT (the class, or with 'I' a
    // logit), the end of a host request in S_WAIT ('K', or the readback word for 'R').
    wire rep_cmd = (state == S_CMD) && rxv && !rx_img && !rx_host;
    wire rep_res = (state == S_RESULT) && out_valid && out_ready && (first_beat || cmd_i);
    wire rep_host = (state == S_WAIT) && (wait_n == 3'd0);
    always @(posedge clk) begin
        rep_v <= !rst && (rep_cmd || rep_res || rep_host);
        if (rep_cmd) begin
            rep_w <= rx_ver ? {NMEMS8, CLASSES8, NIN16, "C", "F", "W", "L"} : {56'd0, "?"};
            rep_n <= rx_ver ? 4'd8 : 4'd1;
        end else if (rep_res) begin
            rep_w <= first_beat ? {56'd0, out_data[7:0]} : {32'd0, out_data};
            rep_n <= first_beat ? 4'd1 : 4'd4;
        end else if (rep_host) begin
            rep_w <= cmd_r ? {32'd0, readback} : {56'd0, "K"};
            rep_n <= cmd_r ? 4'd4 : 4'd1;
        end
    end

    always @(posedge clk) begin
        tx_go <= 1'b0;
        h_we <= 1'b0;
        if (rep_v) begin
            txw <= rep_w;
            txn <= rep_n;
        end else if (txn != 4'd0 && !tx_busy && !tx_go) begin
            tx_byte <= txw[7:0];
            tx_go <= 1'b1;
            txw <= {8'd0, txw[63:8]};
            txn <= txn - 1'b1;
        end
        if (beat_valid && in_ready) beat_valid <= 1'b0;
        if (rx_error) error <= 1'b1;

        if (rst) begin
            state <= S_CMD;
            beat_valid <= 1'b0;
            txn <= 4'd0;
            tx_go <= 1'b0;
            error <= 1'b0;
            last_class <= 4'd0;
        end else begin
            case (state)
                S_CMD: if (rxv) begin
                    cmd_i <= rx_i;
                    cmd_r <= rx_r;
                    nargs <= 3'd0;
                    if (rx_img) begin
                        state <= S_PIX;
                        pix <= 16'd0;
                        bpos <= 0;
                        first_beat <= 1'b1;
                    end else if (rx_host) begin
                        state <= S_ARGS;
                    end   // 'V' and unknown bytes: a reply (rep_*), stay in S_CMD
                end

                S_PIX: if (rxv) begin
                    if (beat_valid) error <= 1'b1;   // overrun: the core did not take a beat
                    if (bpos == 0) beat <= 0;
                    beat[8 * bpos +: 8] <= rxb;
                    pix <= pix + 1'b1;
                    if (bpos == PPB_M1[PB-1:0] || pix == NIN16 - 1'b1) begin
                        beat_valid <= 1'b1;
                        bpos <= 0;
                    end else begin
                        bpos <= bpos + 1'b1;
                    end
                    if (pix == NIN16 - 1'b1) state <= S_RESULT;
                end

                S_RESULT: if (out_valid && out_ready) begin
                    first_beat <= 1'b0;
                    if (first_beat) last_class <= out_data[3:0];
                    if (out_last) state <= S_CMD;
                end

                S_ARGS: if (rxv) begin
                    args <= {rxb, args[55:8]};
                    nargs <= nargs + 1'b1;
                    if ((cmd_r && nargs == 3'd2) || nargs == 3'd6) state <= S_EXEC;
                end

                S_EXEC: begin
                    if (cmd_r) args <= {32'd0, args[55:32]};   // align sel, addr (3 bytes)
                    state <= S_WAIT;
                    wait_n <= 3'd4;
                end

                default: begin  // S_WAIT: drive the host port, then reply
                    h_sel <= arg_sel[SB-1:0];
                    h_addr <= arg_addr[AB-1:0];
                    h_wdata <= arg_data;
                    if (wait_n == 3'd4 && !cmd_r) h_we <= 1'b1;
                    wait_n <= wait_n - 1'b1;
                    if (wait_n == 3'd0) state <= S_CMD;
                end
            endcase
        end
    end
endmodule

`default_nettype wire
