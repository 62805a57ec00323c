// lwfc_icebreaker: iCEBreaker (iCE40 UP5K) top of lwfc.
// 12 MHz clock, no PLL. The UART is the FTDI's second channel (RX pin 6, TX pin 9).
// Green LED: an image is in flight; red LED: UART frame error or overrun (cleared by the
// user button, which also resets the core). The first two layers' weights sit in SPRAM, which
// has no initial contents: load them after configuration with the bridge's 'W' command (the
// generated lwfc_spram_load.bin is that byte stream); the other memories are block RAM with
// the bundle's $readmemh images. HOST_PORT = 1 enables 'W' / 'R'.
`timescale 1ns/1ps
`default_nettype none

module lwfc_icebreaker #(
    parameter integer CLK_HZ = 12000000,
    parameter integer BAUD = 115200,
    parameter integer HOST_PORT = 1
) (
    input  wire CLK,
    input  wire RX,
    output wire TX,
    input  wire BTN_N,
    output wire LEDR_N,
    output wire LEDG_N
);
    reg [3:0] por = 4'd0;
    always @(posedge CLK) if (!por[3]) por <= por + 1'b1;
    // the button is asynchronous: two synchroniser flip-flops, then a registered reset
    reg [1:0] btn_sync = 2'b11;
    reg rst = 1'b1;
    always @(posedge CLK) begin
        btn_sync <= {btn_sync[0], BTN_N};
        rst <= !por[3] || !btn_sync[1];
    end

    wire busy, error;
    /* verilator lint_off PINCONNECTEMPTY */
    lwfc_uart_bridge #(.CLK_HZ(CLK_HZ), .BAUD(BAUD), .HOST_PORT(HOST_PORT)) bridge (
        .clk(CLK), .rst(rst), .rx(RX), .tx(TX), .last_class(), .busy(busy), .error(error)
    );
    /* verilator lint_on PINCONNECTEMPTY */
    assign LEDG_N = !busy;
    assign LEDR_N = !error;
endmodule

`default_nettype wire
