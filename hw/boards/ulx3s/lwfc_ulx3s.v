// lwfc_ulx3s: ULX3S (ECP5 LFE5U-85F) top of lwfc.
// 25 MHz clock, no PLL. The UART is the FT231X USB serial port (ftdi_txd in, ftdi_rxd out).
// led[3:0]: class of the last image; led[4]: image in flight; led[5]: UART error;
// led[7]: heartbeat. FIRE2 resets the core. wifi_gpio0 is held high so the ESP32 leaves
// the FPGA alone.
`timescale 1ns/1ps
`default_nettype none

module lwfc_ulx3s #(
    parameter integer CLK_HZ = 25000000,
    parameter integer BAUD = 115200,
    parameter integer HOST_PORT = 1
) (
    input  wire       clk_25mhz,
    input  wire       ftdi_txd,
    output wire       ftdi_rxd,
    input  wire       btn_fire2,
    output wire [7:0] led,
    output wire       wifi_gpio0
);
    reg [3:0] por = 4'd0;
    always @(posedge clk_25mhz) if (!por[3]) por <= por + 1'b1;
    wire rst = !por[3] || btn_fire2;

    reg [24:0] beat = 25'd0;
    always @(posedge clk_25mhz) beat <= beat + 1'b1;

    wire [3:0] last_class;
    wire busy, error;
    lwfc_uart_bridge #(.CLK_HZ(CLK_HZ), .BAUD(BAUD), .HOST_PORT(HOST_PORT)) bridge (
        .clk(clk_25mhz), .rst(rst), .rx(ftdi_txd), .tx(ftdi_rxd),
        .last_class(last_class), .busy(busy), .error(error)
    );
    assign led = {beat[24], 1'b0, error, busy, last_class};
    assign wifi_gpio0 = 1'b1;
endmodule

`default_nettype wire
