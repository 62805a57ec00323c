// lwfc_ecp5_pll: the core clock of the ECP5 boards from their oscillator, one EHXPLLL.
// f_vco = f_in * CLKFB_DIV / CLKI_DIV * CLKOP_DIV (must be 400 ... 800 MHz), f_out = f_in *
// CLKFB_DIV / CLKI_DIV (feedback from CLKOP). Divider values as computed by ecppll
// (yowasp-ecppll -i <in MHz> -o <out MHz>): 48 -> 100 MHz is 12 / 25 / 6, 48 -> 120 MHz is
// 2 / 5 / 5, 25 -> 100 MHz is 1 / 4 / 6 (600 MHz VCO, CLKOP_CPHASE 2); 25 -> 85 MHz is
// 5 / 17 / 7 (595 MHz VCO, CLKOP_CPHASE 3). nextpnr derives the output clock's constraint
// from the input's FREQUENCY in the .lpf and these dividers.
`timescale 1ns/1ps
`default_nettype none

module lwfc_ecp5_pll #(
    parameter integer CLKI_DIV = 12,
    parameter integer CLKFB_DIV = 25,
    parameter integer CLKOP_DIV = 6,
    parameter integer CLKOP_CPHASE = 2
) (
    input  wire clk_in,
    output wire clk_out,
    output wire locked
);
    (* ICP_CURRENT = "12", LPF_RESISTOR = "8", MFG_ENABLE_FILTEROPAMP = "1", MFG_GMCREF_SEL = "2" *)
    EHXPLLL #(
        .PLLRST_ENA("DISABLED"),
        .INTFB_WAKE("DISABLED"),
        .STDBY_ENABLE("DISABLED"),
        .DPHASE_SOURCE("DISABLED"),
        .OUTDIVIDER_MUXA("DIVA"),
        .OUTDIVIDER_MUXB("DIVB"),
        .OUTDIVIDER_MUXC("DIVC"),
        .OUTDIVIDER_MUXD("DIVD"),
        .CLKI_DIV(CLKI_DIV),
        .CLKOP_ENABLE("ENABLED"),
        .CLKOP_DIV(CLKOP_DIV),
        .CLKOP_CPHASE(CLKOP_CPHASE),
        .CLKOP_FPHASE(0),
        .FEEDBK_PATH("CLKOP"),
        .CLKFB_DIV(CLKFB_DIV)
    ) pll (
        .RST(1'b0), .STDBY(1'b0), .CLKI(clk_in), .CLKOP(clk_out), .CLKFB(clk_out),
        .CLKINTFB(), .PHASESEL0(1'b0), .PHASESEL1(1'b0), .PHASEDIR(1'b1), .PHASESTEP(1'b1),
        .PHASELOADREG(1'b1), .PLLWAKESYNC(1'b0), .ENCLKOP(1'b0), .LOCK(locked)
    );
endmodule

`default_nettype wire
