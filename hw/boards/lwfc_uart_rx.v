// lwfc_uart_rx: 8N1 UART receiver. DIV = clock cycles per bit (CLK_HZ / BAUD, >= 4).
// The input is synchronised (two flip-flops); a start bit is confirmed at its middle, each
// data bit is sampled at its middle, and a byte is delivered (valid for one cycle) only when
// the stop bit reads high; a low stop bit sets frame_error for one cycle instead.
`timescale 1ns/1ps
`default_nettype none

module lwfc_uart_rx #(
    parameter integer DIV = 104
) (
    input  wire       clk,
    input  wire       rst,
    input  wire       rx,
    output reg  [7:0] data,
    output reg        valid,
    output reg        frame_error
);
    localparam integer CW = $clog2(DIV + 1);
    localparam integer FULL_I = DIV - 1;
    localparam [CW-1:0] FULL = FULL_I[CW-1:0];
    localparam integer HALF_I = DIV / 2 - 1;
    localparam [CW-1:0] HALF = HALF_I[CW-1:0];

    reg [1:0] sync = 2'b11;
    reg [CW-1:0] count = 0;
    reg [3:0] bitn = 0;       // 0: idle, 1: start, 2..9: data bits, 10: stop
    reg [7:0] shift = 0;

    always @(posedge clk) begin
        sync <= {sync[0], rx};
        valid <= 1'b0;
        frame_error <= 1'b0;
        if (rst) begin
            bitn <= 4'd0;
            count <= 0;
        end else if (bitn == 4'd0) begin
            if (!sync[1]) begin
                bitn <= 4'd1;
                count <= HALF;
            end
        end else if (count != 0) begin
            count <= count - 1'b1;
        end else begin
            count <= FULL;
            if (bitn == 4'd1) begin
                bitn <= sync[1] ? 4'd0 : 4'd2;     // a glitch, not a start bit
            end else if (bitn == 4'd10) begin
                bitn <= 4'd0;
                if (sync[1]) begin
                    data <= shift;
                    valid <= 1'b1;
                end else begin
                    frame_error <= 1'b1;
                end
            end else begin
                shift <= {sync[1], shift[7:1]};
                bitn <= bitn + 1'b1;
            end
        end
    end
endmodule

`default_nettype wire
