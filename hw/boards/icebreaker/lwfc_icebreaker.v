// lwfc_icebreaker: iCEBreaker (iCE40 UP5K) top of lwfc.
// 12 MHz clock, no PLL. The UART is the FTDI's second channel (RX pin 6, TX pin 9).
// Green LED: an image is in flight; red LED: UART frame error or overrun (cleared by the
// user button, which also resets the core). Weights are the block-RAM images of the bundle
// (HOST_PORT = 0: no run-time weight writes, each memory is one ROM).
`timescale 1ns/1ps
`default_nettype none

module lwfc_icebreaker #(
    parameter integer CLK_HZ = 12000000,
    parameter integer BAUD = 115200,
    parameter integer HOST_PORT = 0
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
    wire rst = !por[3] || !BTN_N;

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
