// tb_serial_bytes: drives lwfc_serial's UART pins from a file of host bytes and records every
// byte it sends back. For the link's own tests (tests/test_serial_rtl.py) with Icarus.
// Plusargs: +IN=<hex bytes, one per line; a value 0x100 + n is n byte times of silence>
// +NBYTES=<count> +OUT=<file> +DIV=<clocks per bit>
// +GAP=<idle bit times between bytes (0)> +QUIET=<clocks of silence that end the run>
// +MAXCYC=<cycle limit> +RSTAT=<byte index at which rst is pulsed, -1: never>
`timescale 1ns/1ps
`default_nettype none

module tb_serial_bytes;
    reg clk = 1'b0;
    always #5 clk = ~clk;
    reg rst = 1'b1;
    reg rx = 1'b1;
    wire tx, busy, error;
    lwfc_serial dut (.clk(clk), .rst(rst), .rx(rx), .tx(tx), .busy(busy), .error(error));

    integer div, nbytes, gap, quiet, maxcyc, rstat, fo, i, k, n_out, cyc, last_act;
    reg [11:0] mem [0:1048575];
    reg [1023:0] fin, fout;
    reg [11:0] b;
    reg sending;

    always @(posedge clk) cyc <= cyc + 1;

    // receiver of tx
    initial begin : recv
        integer j;
        reg [7:0] r;
        forever begin
            @(negedge tx);
            repeat (div / 2) @(posedge clk);
            for (j = 0; j < 8; j = j + 1) begin
                repeat (div) @(posedge clk);
                r[j] = tx;
            end
            repeat (div) @(posedge clk);
            if (tx !== 1'b1) begin
                $display("FAIL: missing stop bit on tx");
                $fatal(1);
            end
            $fdisplay(fo, "%02x %0d", r, cyc);
            n_out = n_out + 1;
            last_act = cyc;
        end
    end

    initial begin
        cyc = 0; n_out = 0; last_act = 0; sending = 1'b1;
        if (!$value$plusargs("DIV=%d", div)) div = 10;
        if (!$value$plusargs("NBYTES=%d", nbytes)) nbytes = 0;
        if (!$value$plusargs("GAP=%d", gap)) gap = 0;
        if (!$value$plusargs("QUIET=%d", quiet)) quiet = 200000;
        if (!$value$plusargs("MAXCYC=%d", maxcyc)) maxcyc = 50000000;
        if (!$value$plusargs("RSTAT=%d", rstat)) rstat = -1;
        if (!$value$plusargs("IN=%s", fin)) fin = "in.hex";
        if (!$value$plusargs("OUT=%s", fout)) fout = "out.txt";
        if (nbytes > 0) $readmemh(fin, mem, 0, nbytes - 1);
        fo = $fopen(fout, "w");
        repeat (20) @(posedge clk);
        rst = 1'b0;
        repeat (20) @(posedge clk);
        for (i = 0; i < nbytes; i = i + 1) begin
            if (i == rstat) begin
                rst = 1'b1;
                repeat (4) @(posedge clk);
                rst = 1'b0;
            end
            b = mem[i];
            if (b[11:8] != 4'd0) begin
                repeat (10 * div * (b - 12'h100)) @(posedge clk);
            end else begin
            rx = 1'b0;
            repeat (div) @(posedge clk);
            for (k = 0; k < 8; k = k + 1) begin
                rx = b[k];
                repeat (div) @(posedge clk);
            end
            rx = 1'b1;
            repeat (div * (1 + gap)) @(posedge clk);
            end
            last_act = cyc;
        end
        sending = 1'b0;
        while (cyc - last_act < quiet && cyc < maxcyc) @(posedge clk);
        $fdisplay(fo, "END %0d", cyc);
        $fclose(fo);
        $finish;
    end
endmodule

`default_nettype wire
