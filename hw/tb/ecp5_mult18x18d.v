// Simulation model of the part of Lattice's ECP5 MULT18X18D that lwfc instantiates
// (lwfc_hw.mac.ecp5_mult): a signed or unsigned 18 x 18 -> 36 bit multiplier whose A / B input
// registers and output register are either bypassed ("NONE") or clocked by CLK0 with clock
// enable CE0 and synchronous reset RST0. The pipeline register, the C input, SOURCEA/B shift
// modes, the other clocks and the cascade ports are not modelled: the model stops the
// simulation if a parameter asks for them. For Icarus / Verilator runs of an ECP5 DSP build
// (sim.build adds it when the core instantiates MULT18X18D); synthesis uses the real
// primitive. Written for lwfc from the primitive's documented behaviour.
`timescale 1ns / 1ps
module MULT18X18D #(
    parameter REG_INPUTA_CLK = "NONE", parameter REG_INPUTA_CE = "CE0",
    parameter REG_INPUTA_RST = "RST0",
    parameter REG_INPUTB_CLK = "NONE", parameter REG_INPUTB_CE = "CE0",
    parameter REG_INPUTB_RST = "RST0",
    parameter REG_INPUTC_CLK = "NONE", parameter REG_INPUTC_CE = "CE0",
    parameter REG_INPUTC_RST = "RST0",
    parameter REG_PIPELINE_CLK = "NONE", parameter REG_PIPELINE_CE = "CE0",
    parameter REG_PIPELINE_RST = "RST0",
    parameter REG_OUTPUT_CLK = "NONE", parameter REG_OUTPUT_CE = "CE0",
    parameter REG_OUTPUT_RST = "RST0",
    parameter GSR = "ENABLED", parameter RESETMODE = "SYNC"
) (
    input A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16, A17, B0, B1, B2, B3, B4, B5, B6, B7, B8, B9, B10, B11, B12, B13, B14, B15, B16, B17, C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13, C14, C15, C16, C17, SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK0, CLK1, CLK2, CLK3, CE0, CE1, CE2, CE3, RST0, RST1, RST2, RST3,
    output P0, P1, P2, P3, P4, P5, P6, P7, P8, P9, P10, P11, P12, P13, P14, P15, P16, P17, P18, P19, P20, P21, P22, P23, P24, P25, P26, P27, P28, P29, P30, P31, P32, P33, P34, P35
);
    wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
    reg [17:0] ar = 18'd0, br = 18'd0;
    reg sar = 1'b0, sbr = 1'b0;
    reg [35:0] pr = 36'd0;
    initial begin
        if ((REG_INPUTA_CLK != "NONE" && (REG_INPUTA_CLK != "CLK0" || REG_INPUTA_CE != "CE0"
                                           || REG_INPUTA_RST != "RST0"))
            || (REG_INPUTB_CLK != "NONE" && (REG_INPUTB_CLK != "CLK0"
                                              || REG_INPUTB_CE != "CE0"
                                              || REG_INPUTB_RST != "RST0"))
            || (REG_OUTPUT_CLK != "NONE" && (REG_OUTPUT_CLK != "CLK0"
                                              || REG_OUTPUT_CE != "CE0"
                                              || REG_OUTPUT_RST != "RST0"))
            || REG_PIPELINE_CLK != "NONE" || RESETMODE != "SYNC") begin
            $display("MULT18X18D model: unsupported configuration");
            $finish;
        end
    end
    always @(posedge CLK0) begin
        if (RST0) begin
            ar <= 18'd0;
            br <= 18'd0;
            sar <= 1'b0;
            sbr <= 1'b0;
        end else if (CE0) begin
            ar <= a;
            br <= b;
            sar <= SIGNEDA;
            sbr <= SIGNEDB;
        end
    end
    wire [17:0] ma = (REG_INPUTA_CLK == "NONE") ? a : ar;
    wire [17:0] mb = (REG_INPUTB_CLK == "NONE") ? b : br;
    wire msa = (REG_INPUTA_CLK == "NONE") ? SIGNEDA : sar;
    wire msb = (REG_INPUTB_CLK == "NONE") ? SIGNEDB : sbr;
    wire [35:0] ea = {{18{msa & ma[17]}}, ma};
    wire [35:0] eb = {{18{msb & mb[17]}}, mb};
    wire [35:0] prod = ea * eb;
    always @(posedge CLK0) begin
        if (RST0) pr <= 36'd0;
        else if (CE0) pr <= prod;
    end
    wire [35:0] p = (REG_OUTPUT_CLK == "NONE") ? prod : pr;
    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = p;
endmodule
