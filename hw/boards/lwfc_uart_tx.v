// lwfc_uart_tx: 8N1 UART transmitter. DIV = clock cycles per bit (CLK_HZ / BAUD).
// A byte is taken when start is high and busy is low; busy stays high until the stop bit ends.
`timescale 1ns/1ps
`default_nettype none

module lwfc_uart_tx #(
    parameter integer DIV = 104
) (
    input  wire       clk,
    input  wire       rst,
    input  wire [7:0] data,
    input  wire       start,
    output wire       busy,
    output reg        tx
);
    localparam integer CW = $clog2(DIV + 1);
    localparam integer FULL_I = DIV - 1;
    localparam [CW-1:0] FULL = FULL_I[CW-1:0];

    reg [CW-1:0] count = 0;
    reg [3:0] left = 0;       // bits still to send (start + 8 data + stop = 10)
    reg [8:0] shift = 9'h1ff;

    assign busy = (left != 4'd0);

    always @(posedge clk) begin
        if (rst) begin
            left <= 4'd0;
            tx <= 1'b1;
            count <= 0;
        end else if (left == 4'd0) begin
            tx <= 1'b1;
            if (start) begin
                shift <= {1'b1, data};
                tx <= 1'b0;
                left <= 4'd10;
                count <= FULL;
            end
        end else if (count != 0) begin
            count <= count - 1'b1;
        end else begin
            count <= FULL;
            left <= left - 1'b1;
            if (left != 4'd1) begin
                tx <= shift[0];
                shift <= {1'b1, shift[8:1]};
            end
        end
    end
endmodule

`default_nettype wire
