// lwfc_orangecrab: OrangeCrab r0.2 (ECP5 LFE5U-25F) top of lwfc.
// The serial bridge and the core (lwfc_serial, generated: hw/lwfc_hw/serial.py; clock and baud
// from deploy/boards/orangecrab.json) run at 120 MHz from a PLL (lwfc_ecp5_pll) on the 48 MHz
// clock (48 / 2 x 5, VCO 600 MHz). The USB port goes to the FPGA directly (no UART chip), so the UART
// is on the Feather header: gpio_0 (pin 0) is TX, gpio_1 (pin 1) is RX; connect a 3.3 V
// USB-serial adapter. RGB LED (active low): green idle, blue image in flight, red UART error.
// The user button drives rst_n low, which reboots into the DFU bootloader.
`timescale 1ns/1ps
`default_nettype none

module lwfc_orangecrab (
    input  wire clk48,
    output wire gpio_0,
    input  wire gpio_1,
    input  wire usr_btn,
    output wire rst_n,
    output wire rgb_led0_r,
    output wire rgb_led0_g,
    output wire rgb_led0_b
);
    wire clk, locked;
    lwfc_ecp5_pll #(.CLKI_DIV(2), .CLKFB_DIV(5), .CLKOP_DIV(5)) pll (
        .clk_in(clk48), .clk_out(clk), .locked(locked)
    );
    // reset until the PLL has locked, then 8 more cycles
    reg [3:0] por = 4'd0;
    always @(posedge clk) begin
        if (!locked) por <= 4'd0;
        else if (!por[3]) por <= por + 1'b1;
    end
    wire rst = !por[3];

    wire busy, error;
    lwfc_serial bridge (
        .clk(clk), .rst(rst), .rx(gpio_1), .tx(gpio_0), .busy(busy), .error(error)
    );
    assign rgb_led0_r = !error;
    assign rgb_led0_g = busy || error;
    assign rgb_led0_b = !busy;
    assign rst_n = usr_btn;
endmodule

`default_nettype wire
