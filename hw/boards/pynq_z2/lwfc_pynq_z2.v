// lwfc_pynq_z2: PYNQ-Z2 (xc7z020clg400-1) top of lwfc for a stand-alone UART build.
// The 125 MHz sysclk goes through an MMCM to 50 MHz. The UART is on PMOD A: ja[0] TX,
// ja[1] RX (3.3 V USB-serial adapter), through the serial bridge lwfc_serial (generated,
// hw/lwfc_hw/serial.py). led[0]: image in flight; led[1]: UART error; btn[0]: reset.
// The AXI / processing-system integration (block design, PYNQ overlay) is separate.
`timescale 1ns/1ps
`default_nettype none

module lwfc_pynq_z2 (
    input  wire       sysclk,
    input  wire       btn0,
    output wire       ja0,
    input  wire       ja1,
    output wire [3:0] led
);
    wire clk_fb, clk_fb_buf, clk_mmcm, clk, locked;
    // VCO = 125 MHz * 8 = 1000 MHz; CLKOUT0 = 1000 / 20 = 50 MHz
    MMCME2_BASE #(
        .CLKIN1_PERIOD(8.0), .DIVCLK_DIVIDE(1), .CLKFBOUT_MULT_F(8.0),
        .CLKOUT0_DIVIDE_F(20.0)
    ) mmcm (
        .CLKIN1(sysclk), .CLKFBIN(clk_fb_buf), .CLKFBOUT(clk_fb), .CLKOUT0(clk_mmcm),
        .LOCKED(locked), .PWRDWN(1'b0), .RST(1'b0),
        .CLKFBOUTB(), .CLKOUT0B(), .CLKOUT1(), .CLKOUT1B(), .CLKOUT2(), .CLKOUT2B(),
        .CLKOUT3(), .CLKOUT3B(), .CLKOUT4(), .CLKOUT5(), .CLKOUT6()
    );
    BUFG fb_buf (.I(clk_fb), .O(clk_fb_buf));
    BUFG clk_buf (.I(clk_mmcm), .O(clk));

    reg [3:0] por = 4'd0;
    always @(posedge clk) if (!locked) por <= 4'd0; else if (!por[3]) por <= por + 1'b1;
    wire rst = !por[3] || btn0;

    wire busy, error;
    lwfc_serial bridge (.clk(clk), .rst(rst), .rx(ja1), .tx(ja0), .busy(busy), .error(error));
    assign led = {2'b00, error, busy};
endmodule

`default_nettype wire
