// Simulation model of the part of Lattice's ECP5 DP16KD block RAM that lwfc instantiates
// (lwfc_hw.ecp5_bram): a 16 kbit (1024 x 18) true-dual-port memory whose ports A and B each
// are 18 or 9 bits wide (DATA_WIDTH_x), with a clock enable CEx, a write enable WEx, the
// output register (REGMODE_x "OUTREG", enabled by OCEx) or none ("NOREG"), synchronous reset
// of the outputs, and the write modes NORMAL (outputs keep their value on a write),
// WRITETHROUGH (the new word) and READBEFOREWRITE (the old word). 18-bit mode: word address
// AD[13:4], AD[1:0] the byte enables of bits 8:0 / 17:9; 9-bit mode: word address AD[13:3].
// The contents start from INITVAL_00 ... INITVAL_3F: 18-bit word k is bits
// [(k % 16) * 20 +: 18] of INITVAL_{k / 16} (9-bit word k is half k % 2 of 18-bit word k / 2),
// the layout of Yosys' brams_map_16kd.v. The widths 1, 2, 4, chip-select decoding,
// asynchronous reset and the clock inversion are not modelled: the model stops the
// simulation if a parameter asks for them. For Icarus / Verilator runs of an ECP5 build with
// bram_prims (sim.build adds it when the core instantiates DP16KD); synthesis uses the real
// primitive. Written for lwfc from the primitive's documented behaviour.
`timescale 1ns / 1ps
module DP16KD #(
    parameter DATA_WIDTH_A = 18, parameter DATA_WIDTH_B = 18,
    parameter REGMODE_A = "NOREG", parameter REGMODE_B = "NOREG",
    parameter RESETMODE = "SYNC", parameter ASYNC_RESET_RELEASE = "SYNC",
    parameter CSDECODE_A = "0b000", parameter CSDECODE_B = "0b000",
    parameter WRITEMODE_A = "NORMAL", parameter WRITEMODE_B = "NORMAL",
    parameter CLKAMUX = "CLKA", parameter CLKBMUX = "CLKB",
    parameter GSR = "ENABLED", parameter INIT_DATA = "STATIC",
    parameter [319:0] INITVAL_00 = 320'h0, parameter [319:0] INITVAL_01 = 320'h0,
    parameter [319:0] INITVAL_02 = 320'h0, parameter [319:0] INITVAL_03 = 320'h0,
    parameter [319:0] INITVAL_04 = 320'h0, parameter [319:0] INITVAL_05 = 320'h0,
    parameter [319:0] INITVAL_06 = 320'h0, parameter [319:0] INITVAL_07 = 320'h0,
    parameter [319:0] INITVAL_08 = 320'h0, parameter [319:0] INITVAL_09 = 320'h0,
    parameter [319:0] INITVAL_0A = 320'h0, parameter [319:0] INITVAL_0B = 320'h0,
    parameter [319:0] INITVAL_0C = 320'h0, parameter [319:0] INITVAL_0D = 320'h0,
    parameter [319:0] INITVAL_0E = 320'h0, parameter [319:0] INITVAL_0F = 320'h0,
    parameter [319:0] INITVAL_10 = 320'h0, parameter [319:0] INITVAL_11 = 320'h0,
    parameter [319:0] INITVAL_12 = 320'h0, parameter [319:0] INITVAL_13 = 320'h0,
    parameter [319:0] INITVAL_14 = 320'h0, parameter [319:0] INITVAL_15 = 320'h0,
    parameter [319:0] INITVAL_16 = 320'h0, parameter [319:0] INITVAL_17 = 320'h0,
    parameter [319:0] INITVAL_18 = 320'h0, parameter [319:0] INITVAL_19 = 320'h0,
    parameter [319:0] INITVAL_1A = 320'h0, parameter [319:0] INITVAL_1B = 320'h0,
    parameter [319:0] INITVAL_1C = 320'h0, parameter [319:0] INITVAL_1D = 320'h0,
    parameter [319:0] INITVAL_1E = 320'h0, parameter [319:0] INITVAL_1F = 320'h0,
    parameter [319:0] INITVAL_20 = 320'h0, parameter [319:0] INITVAL_21 = 320'h0,
    parameter [319:0] INITVAL_22 = 320'h0, parameter [319:0] INITVAL_23 = 320'h0,
    parameter [319:0] INITVAL_24 = 320'h0, parameter [319:0] INITVAL_25 = 320'h0,
    parameter [319:0] INITVAL_26 = 320'h0, parameter [319:0] INITVAL_27 = 320'h0,
    parameter [319:0] INITVAL_28 = 320'h0, parameter [319:0] INITVAL_29 = 320'h0,
    parameter [319:0] INITVAL_2A = 320'h0, parameter [319:0] INITVAL_2B = 320'h0,
    parameter [319:0] INITVAL_2C = 320'h0, parameter [319:0] INITVAL_2D = 320'h0,
    parameter [319:0] INITVAL_2E = 320'h0, parameter [319:0] INITVAL_2F = 320'h0,
    parameter [319:0] INITVAL_30 = 320'h0, parameter [319:0] INITVAL_31 = 320'h0,
    parameter [319:0] INITVAL_32 = 320'h0, parameter [319:0] INITVAL_33 = 320'h0,
    parameter [319:0] INITVAL_34 = 320'h0, parameter [319:0] INITVAL_35 = 320'h0,
    parameter [319:0] INITVAL_36 = 320'h0, parameter [319:0] INITVAL_37 = 320'h0,
    parameter [319:0] INITVAL_38 = 320'h0, parameter [319:0] INITVAL_39 = 320'h0,
    parameter [319:0] INITVAL_3A = 320'h0, parameter [319:0] INITVAL_3B = 320'h0,
    parameter [319:0] INITVAL_3C = 320'h0, parameter [319:0] INITVAL_3D = 320'h0,
    parameter [319:0] INITVAL_3E = 320'h0, parameter [319:0] INITVAL_3F = 320'h0
) (
    input DIA0, DIA1, DIA2, DIA3, DIA4, DIA5, DIA6, DIA7, DIA8, DIA9, DIA10, DIA11, DIA12, DIA13, DIA14, DIA15, DIA16, DIA17,
    input ADA0, ADA1, ADA2, ADA3, ADA4, ADA5, ADA6, ADA7, ADA8, ADA9, ADA10, ADA11, ADA12, ADA13,
    input CEA, OCEA, CLKA, WEA, CSA0, CSA1, CSA2, RSTA,
    input DIB0, DIB1, DIB2, DIB3, DIB4, DIB5, DIB6, DIB7, DIB8, DIB9, DIB10, DIB11, DIB12, DIB13, DIB14, DIB15, DIB16, DIB17,
    input ADB0, ADB1, ADB2, ADB3, ADB4, ADB5, ADB6, ADB7, ADB8, ADB9, ADB10, ADB11, ADB12, ADB13,
    input CEB, OCEB, CLKB, WEB, CSB0, CSB1, CSB2, RSTB,
    output DOA0, DOA1, DOA2, DOA3, DOA4, DOA5, DOA6, DOA7, DOA8, DOA9, DOA10, DOA11, DOA12, DOA13, DOA14, DOA15, DOA16, DOA17,
    output DOB0, DOB1, DOB2, DOB3, DOB4, DOB5, DOB6, DOB7, DOB8, DOB9, DOB10, DOB11, DOB12, DOB13, DOB14, DOB15, DOB16, DOB17
);
    wire [17:0] dia = {DIA17, DIA16, DIA15, DIA14, DIA13, DIA12, DIA11, DIA10, DIA9, DIA8, DIA7, DIA6, DIA5, DIA4, DIA3, DIA2, DIA1, DIA0};
    wire [17:0] dib = {DIB17, DIB16, DIB15, DIB14, DIB13, DIB12, DIB11, DIB10, DIB9, DIB8, DIB7, DIB6, DIB5, DIB4, DIB3, DIB2, DIB1, DIB0};
    wire [13:0] ada = {ADA13, ADA12, ADA11, ADA10, ADA9, ADA8, ADA7, ADA6, ADA5, ADA4, ADA3, ADA2, ADA1, ADA0};
    wire [13:0] adb = {ADB13, ADB12, ADB11, ADB10, ADB9, ADB8, ADB7, ADB6, ADB5, ADB4, ADB3, ADB2, ADB1, ADB0};

    reg [17:0] mem [0:1023];
    reg [17:0] la = 18'd0, lb = 18'd0;  // the array's read latches
    reg [17:0] oa = 18'd0, ob = 18'd0;  // the output registers
    wire [17:0] qa = (REGMODE_A == "OUTREG") ? oa : la;
    wire [17:0] qb = (REGMODE_B == "OUTREG") ? ob : lb;
    assign {DOA17, DOA16, DOA15, DOA14, DOA13, DOA12, DOA11, DOA10, DOA9, DOA8, DOA7, DOA6, DOA5, DOA4, DOA3, DOA2, DOA1, DOA0} = qa;
    assign {DOB17, DOB16, DOB15, DOB14, DOB13, DOB12, DOB11, DOB10, DOB9, DOB8, DOB7, DOB6, DOB5, DOB4, DOB3, DOB2, DOB1, DOB0} = qb;

    integer i;
    initial begin
        if ((DATA_WIDTH_A != 18 && DATA_WIDTH_A != 9) || (DATA_WIDTH_B != 18 && DATA_WIDTH_B != 9)
            || (REGMODE_A != "NOREG" && REGMODE_A != "OUTREG")
            || (REGMODE_B != "NOREG" && REGMODE_B != "OUTREG")
            || (WRITEMODE_A != "NORMAL" && WRITEMODE_A != "WRITETHROUGH"
                && WRITEMODE_A != "READBEFOREWRITE")
            || (WRITEMODE_B != "NORMAL" && WRITEMODE_B != "WRITETHROUGH"
                && WRITEMODE_B != "READBEFOREWRITE")
            || RESETMODE != "SYNC" || CSDECODE_A != "0b000" || CSDECODE_B != "0b000"
            || CLKAMUX != "CLKA" || CLKBMUX != "CLKB") begin
            $display("DP16KD model: unsupported configuration");
            $finish;
        end
        for (i = 0; i < 16; i = i + 1) begin
            mem[0 * 16 + i] = INITVAL_00[i * 20 +: 18];
            mem[1 * 16 + i] = INITVAL_01[i * 20 +: 18];
            mem[2 * 16 + i] = INITVAL_02[i * 20 +: 18];
            mem[3 * 16 + i] = INITVAL_03[i * 20 +: 18];
            mem[4 * 16 + i] = INITVAL_04[i * 20 +: 18];
            mem[5 * 16 + i] = INITVAL_05[i * 20 +: 18];
            mem[6 * 16 + i] = INITVAL_06[i * 20 +: 18];
            mem[7 * 16 + i] = INITVAL_07[i * 20 +: 18];
            mem[8 * 16 + i] = INITVAL_08[i * 20 +: 18];
            mem[9 * 16 + i] = INITVAL_09[i * 20 +: 18];
            mem[10 * 16 + i] = INITVAL_0A[i * 20 +: 18];
            mem[11 * 16 + i] = INITVAL_0B[i * 20 +: 18];
            mem[12 * 16 + i] = INITVAL_0C[i * 20 +: 18];
            mem[13 * 16 + i] = INITVAL_0D[i * 20 +: 18];
            mem[14 * 16 + i] = INITVAL_0E[i * 20 +: 18];
            mem[15 * 16 + i] = INITVAL_0F[i * 20 +: 18];
            mem[16 * 16 + i] = INITVAL_10[i * 20 +: 18];
            mem[17 * 16 + i] = INITVAL_11[i * 20 +: 18];
            mem[18 * 16 + i] = INITVAL_12[i * 20 +: 18];
            mem[19 * 16 + i] = INITVAL_13[i * 20 +: 18];
            mem[20 * 16 + i] = INITVAL_14[i * 20 +: 18];
            mem[21 * 16 + i] = INITVAL_15[i * 20 +: 18];
            mem[22 * 16 + i] = INITVAL_16[i * 20 +: 18];
            mem[23 * 16 + i] = INITVAL_17[i * 20 +: 18];
            mem[24 * 16 + i] = INITVAL_18[i * 20 +: 18];
            mem[25 * 16 + i] = INITVAL_19[i * 20 +: 18];
            mem[26 * 16 + i] = INITVAL_1A[i * 20 +: 18];
            mem[27 * 16 + i] = INITVAL_1B[i * 20 +: 18];
            mem[28 * 16 + i] = INITVAL_1C[i * 20 +: 18];
            mem[29 * 16 + i] = INITVAL_1D[i * 20 +: 18];
            mem[30 * 16 + i] = INITVAL_1E[i * 20 +: 18];
            mem[31 * 16 + i] = INITVAL_1F[i * 20 +: 18];
            mem[32 * 16 + i] = INITVAL_20[i * 20 +: 18];
            mem[33 * 16 + i] = INITVAL_21[i * 20 +: 18];
            mem[34 * 16 + i] = INITVAL_22[i * 20 +: 18];
            mem[35 * 16 + i] = INITVAL_23[i * 20 +: 18];
            mem[36 * 16 + i] = INITVAL_24[i * 20 +: 18];
            mem[37 * 16 + i] = INITVAL_25[i * 20 +: 18];
            mem[38 * 16 + i] = INITVAL_26[i * 20 +: 18];
            mem[39 * 16 + i] = INITVAL_27[i * 20 +: 18];
            mem[40 * 16 + i] = INITVAL_28[i * 20 +: 18];
            mem[41 * 16 + i] = INITVAL_29[i * 20 +: 18];
            mem[42 * 16 + i] = INITVAL_2A[i * 20 +: 18];
            mem[43 * 16 + i] = INITVAL_2B[i * 20 +: 18];
            mem[44 * 16 + i] = INITVAL_2C[i * 20 +: 18];
            mem[45 * 16 + i] = INITVAL_2D[i * 20 +: 18];
            mem[46 * 16 + i] = INITVAL_2E[i * 20 +: 18];
            mem[47 * 16 + i] = INITVAL_2F[i * 20 +: 18];
            mem[48 * 16 + i] = INITVAL_30[i * 20 +: 18];
            mem[49 * 16 + i] = INITVAL_31[i * 20 +: 18];
            mem[50 * 16 + i] = INITVAL_32[i * 20 +: 18];
            mem[51 * 16 + i] = INITVAL_33[i * 20 +: 18];
            mem[52 * 16 + i] = INITVAL_34[i * 20 +: 18];
            mem[53 * 16 + i] = INITVAL_35[i * 20 +: 18];
            mem[54 * 16 + i] = INITVAL_36[i * 20 +: 18];
            mem[55 * 16 + i] = INITVAL_37[i * 20 +: 18];
            mem[56 * 16 + i] = INITVAL_38[i * 20 +: 18];
            mem[57 * 16 + i] = INITVAL_39[i * 20 +: 18];
            mem[58 * 16 + i] = INITVAL_3A[i * 20 +: 18];
            mem[59 * 16 + i] = INITVAL_3B[i * 20 +: 18];
            mem[60 * 16 + i] = INITVAL_3C[i * 20 +: 18];
            mem[61 * 16 + i] = INITVAL_3D[i * 20 +: 18];
            mem[62 * 16 + i] = INITVAL_3E[i * 20 +: 18];
            mem[63 * 16 + i] = INITVAL_3F[i * 20 +: 18];
        end
    end

    // one port's access: returns the latch's next value and updates mem
    function [17:0] word_of(input [17:0] row, input [13:0] ad, input integer dw);
        word_of = (dw == 18) ? row : {9'd0, (ad[3] ? row[17:9] : row[8:0])};
    endfunction

    function [17:0] merged(input [17:0] row, input [17:0] di, input [13:0] ad, input integer dw);
        if (dw == 18)
            merged = {ad[1] ? di[17:9] : row[17:9], ad[0] ? di[8:0] : row[8:0]};
        else
            merged = ad[3] ? {di[8:0], row[8:0]} : {row[17:9], di[8:0]};
    endfunction

    wire sel_a = {CSA2, CSA1, CSA0} == 3'b000;
    wire sel_b = {CSB2, CSB1, CSB0} == 3'b000;

    always @(posedge CLKA) begin
        if (RSTA) begin
            la <= 18'd0;
        end else if (CEA && sel_a) begin
            if (WEA) begin
                if (WRITEMODE_A == "WRITETHROUGH")
                    la <= word_of(merged(mem[ada[13:4]], dia, ada, DATA_WIDTH_A), ada, DATA_WIDTH_A);
                else if (WRITEMODE_A == "READBEFOREWRITE")
                    la <= word_of(mem[ada[13:4]], ada, DATA_WIDTH_A);
                mem[ada[13:4]] <= merged(mem[ada[13:4]], dia, ada, DATA_WIDTH_A);
            end else begin
                la <= word_of(mem[ada[13:4]], ada, DATA_WIDTH_A);
            end
        end
        if (RSTA)
            oa <= 18'd0;
        else if (OCEA)
            oa <= la;
    end

    always @(posedge CLKB) begin
        if (RSTB) begin
            lb <= 18'd0;
        end else if (CEB && sel_b) begin
            if (WEB) begin
                if (WRITEMODE_B == "WRITETHROUGH")
                    lb <= word_of(merged(mem[adb[13:4]], dib, adb, DATA_WIDTH_B), adb, DATA_WIDTH_B);
                else if (WRITEMODE_B == "READBEFOREWRITE")
                    lb <= word_of(mem[adb[13:4]], adb, DATA_WIDTH_B);
                mem[adb[13:4]] <= merged(mem[adb[13:4]], dib, adb, DATA_WIDTH_B);
            end else begin
                lb <= word_of(mem[adb[13:4]], adb, DATA_WIDTH_B);
            end
        end
        if (RSTB)
            ob <= 18'd0;
        else if (OCEB)
            ob <= lb;
    end
endmodule
