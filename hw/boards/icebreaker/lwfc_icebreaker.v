// lwfc_icebreaker: iCEBreaker (iCE40 UP5K) top of lwfc.
// The 12 MHz oscillator feeds the PLL, which makes the 27 MHz core clock (12 x 72 / 32, VCO
// 864 MHz: 3 Mbaud is exactly 9 clocks per bit). The serial bridge and the core (lwfc_serial, generated:
// hw/lwfc_hw/serial.py; clock and baud from deploy/boards/icebreaker.json) talk to the
// FT2232H's second channel (RX pin 6, TX pin 9). Green LED: an image or command in progress;
// red LED: UART framing or CRC error (cleared by the user button, which also resets the bridge).
// The first two layers' weights sit in SPRAM, which has no initial contents: the host driver
// loads them (lwfc infer --board icebreaker), IDENTIFY reports parameter hash 0 until then.
`timescale 1ns/1ps
`default_nettype none

module lwfc_icebreaker (
    input  wire CLK,
    input  wire RX,
    output wire TX,
    input  wire BTN_N,
    output wire LEDR_N,
    output wire LEDG_N
);
    wire clk, locked;
`ifdef SYNTHESIS
    SB_PLL40_PAD #(
        .FEEDBACK_PATH("SIMPLE"), .DIVR(4'd0), .DIVF(7'd71), .DIVQ(3'd5), .FILTER_RANGE(3'd1)
    ) pll (
        .PACKAGEPIN(CLK), .PLLOUTGLOBAL(clk), .LOCK(locked), .RESETB(1'b1), .BYPASS(1'b0)
    );
`else
    assign clk = CLK;  // simulation and lint: no PLL model
    assign locked = 1'b1;
`endif
    reg [3:0] por = 4'd0;
    always @(posedge clk) begin
        if (!locked) por <= 4'd0;
        else if (!por[3]) por <= por + 1'b1;
    end
    // the button is asynchronous: two synchroniser flip-flops, then a registered reset
    reg [1:0] btn_sync = 2'b11;
    reg rst = 1'b1;
    always @(posedge clk) begin
        btn_sync <= {btn_sync[0], BTN_N};
        rst <= !por[3] || !btn_sync[1];
    end

    wire busy, error;
    lwfc_serial bridge (.clk(clk), .rst(rst), .rx(RX), .tx(TX), .busy(busy), .error(error));
    assign LEDG_N = !busy;
    assign LEDR_N = !error;
endmodule

`default_nettype wire
