// lwfc_ulx3s: ULX3S (ECP5 LFE5U-85F) top of lwfc.
// The serial bridge and the core (lwfc_serial, generated: hw/lwfc_hw/serial.py; clock and baud
// from deploy/boards/ulx3s.json) run at 100 MHz from a PLL (lwfc_ecp5_pll: 25 / 1 x 4, VCO
// 600 MHz, ecppll's values) on the 25 MHz clock. The UART is the FT231X USB serial port (ftdi_txd in, ftdi_rxd out).
// led[4]: image in flight; led[5]: UART framing or CRC error;
// led[7]: heartbeat. FIRE2 resets the core. wifi_gpio0 is held high so the ESP32 leaves
// the FPGA alone.
`timescale 1ns/1ps
`default_nettype none

module lwfc_ulx3s (
    input  wire       clk_25mhz,
    input  wire       ftdi_txd,
    output wire       ftdi_rxd,
    input  wire       btn_fire2,
    output wire [7:0] led,
    output wire       wifi_gpio0
);
    wire clk, locked;
    lwfc_ecp5_pll #(.CLKI_DIV(1), .CLKFB_DIV(4), .CLKOP_DIV(6), .CLKOP_CPHASE(2)) pll (
        .clk_in(clk_25mhz), .clk_out(clk), .locked(locked)
    );
    // reset until the PLL has locked, then 8 more cycles
    reg [3:0] por = 4'd0;
    always @(posedge clk) begin
        if (!locked) por <= 4'd0;
        else if (!por[3]) por <= por + 1'b1;
    end
    // the button is asynchronous: two synchroniser flip-flops, then a registered reset
    reg [1:0] btn_sync = 2'b00;
    reg rst = 1'b1;
    always @(posedge clk) begin
        btn_sync <= {btn_sync[0], btn_fire2};
        rst <= !por[3] || btn_sync[1];
    end

    reg [26:0] beat = 27'd0;
    always @(posedge clk) beat <= beat + 1'b1;

    wire busy, error;
    lwfc_serial bridge (
        .clk(clk), .rst(rst), .rx(ftdi_txd), .tx(ftdi_rxd), .busy(busy), .error(error)
    );
    assign led = {beat[26], 1'b0, error, busy, 4'd0};
    assign wifi_gpio0 = 1'b1;
endmodule

`default_nettype wire
