// tb_lwfc_uart: the FuseSoC sim_uart testbench: lwfc_uart_bridge (the logic of every board
// top) driven through its UART pins at 8 clock cycles per bit.
//
// Checks the 'V' identification reply, N images sent with 'I' (class and every logit
// against the golden expectations of lwfc_expect.txt), one 'C' request (class only), a
// host-port write / readback / restore with 'W' and 'R', and the '?' reply to an unknown
// request. Exits non-zero ($fatal) on any difference.
// Plusargs: +N=<images> (default 2), +IMAGES=<file>, +EXPECT=<file> as in hw/tb/tb_lwfc.v.
`timescale 1ns/1ps
`default_nettype none
`include "lwfc_core_defs.vh"

module tb_lwfc_uart;
    localparam integer CLK_HZ = 1000000;
    localparam integer BAUD = 125000;
    localparam integer DIV = CLK_HZ / BAUD;
    localparam integer BPI = `LWFC_BEATS_PER_IMAGE;
    localparam integer PPB = `LWFC_PIX_PER_BEAT;

    reg clk = 1'b0;
    always #5 clk = ~clk;
    reg rst = 1'b1;
    reg rx = 1'b1;
    wire tx, busy, error;
    wire [3:0] last_class;

    lwfc_uart_bridge #(.CLK_HZ(CLK_HZ), .BAUD(BAUD), .HOST_PORT(1)) dut (
        .clk(clk), .rst(rst), .rx(rx), .tx(tx), .last_class(last_class), .busy(busy),
        .error(error)
    );

    // ---- receiver: every byte the bridge sends goes into got[]
    reg [7:0] got [0:255];
    integer n_got = 0;
    integer i, j;
    reg [7:0] rbyte;
    always begin
        @(negedge tx);
        repeat (DIV / 2) @(posedge clk);
        if (tx !== 1'b0) begin
            $display("FAIL: glitch on tx");
            $fatal(1);
        end
        for (i = 0; i < 8; i = i + 1) begin
            repeat (DIV) @(posedge clk);
            rbyte[i] = tx;
        end
        repeat (DIV) @(posedge clk);
        if (tx !== 1'b1) begin
            $display("FAIL: missing stop bit on tx");
            $fatal(1);
        end
        got[n_got[7:0]] = rbyte;
        n_got = n_got + 1;
    end

    task send(input [7:0] b);
        integer k;
        begin
            rx = 1'b0;
            repeat (DIV) @(posedge clk);
            for (k = 0; k < 8; k = k + 1) begin
                rx = b[k];
                repeat (DIV) @(posedge clk);
            end
            rx = 1'b1;
            repeat (DIV) @(posedge clk);
        end
    endtask

    task expect_bytes(input integer count);
        integer waited;
        begin
            waited = 0;
            while (n_got < count && waited < 200000) begin
                @(posedge clk);
                waited = waited + 1;
            end
            if (n_got != count) begin
                $display("FAIL: expected %0d reply bytes, got %0d", count, n_got);
                $fatal(1);
            end
            repeat (4 * DIV) @(posedge clk);
            if (n_got != count) begin
                $display("FAIL: %0d extra reply bytes", n_got - count);
                $fatal(1);
            end
        end
    endtask

    function [31:0] word_at(input integer at);
        word_at = {got[at + 3], got[at + 2], got[at + 1], got[at]};
    endfunction

    reg [1023:0] images_file, expect_file;
    integer n_images, fd_in, fd_exp, rc, img, b, k;
    integer exp_label, exp_class, exp_logit;
    reg [`LWFC_IN_BITS-1:0] word;
    reg [7:0] first_pixels [0:`LWFC_N_IN-1];
    reg [31:0] saved;

    initial begin
        if (!$value$plusargs("N=%d", n_images)) n_images = 2;
        if (!$value$plusargs("IMAGES=%s", images_file)) images_file = "lwfc_images.hex";
        if (!$value$plusargs("EXPECT=%s", expect_file)) expect_file = "lwfc_expect.txt";
        fd_in = $fopen(images_file, "r");
        fd_exp = $fopen(expect_file, "r");
        if (fd_in == 0 || fd_exp == 0) begin
            $display("FAIL: cannot open %0s or %0s", images_file, expect_file);
            $fatal(1);
        end
        repeat (5) @(posedge clk);
        rst = 1'b0;
        repeat (5) @(posedge clk);

        // 'V': identification
        n_got = 0;
        send("V");
        expect_bytes(8);
        if ({got[3], got[2], got[1], got[0]} != "CFWL" || {got[5], got[4]} != `LWFC_N_IN
            || got[6] != `LWFC_CLASSES || got[7] != `LWFC_N_MEMS) begin
            $display("FAIL: bad 'V' reply");
            $fatal(1);
        end

        // 'I': images, class and logits against the golden model
        for (img = 0; img < n_images; img = img + 1) begin
            n_got = 0;
            send("I");
            for (b = 0; b < BPI; b = b + 1) begin
                rc = $fscanf(fd_in, "%h\n", word);
                if (rc != 1) begin
                    $display("FAIL: %0s ends at image %0d", images_file, img);
                    $fatal(1);
                end
                for (k = 0; k < PPB; k = k + 1) begin
                    if (b * PPB + k < `LWFC_N_IN) begin
                        send(word[8 * k +: 8]);
                        if (img == 0) first_pixels[b * PPB + k] = word[8 * k +: 8];
                    end
                end
            end
            expect_bytes(1 + 4 * `LWFC_CLASSES);
            rc = $fscanf(fd_exp, "%d %d", exp_label, exp_class);
            if (got[0] != exp_class[7:0] || last_class != exp_class[3:0]) begin
                $display("FAIL: image %0d: class %0d, golden %0d", img, got[0], exp_class);
                $fatal(1);
            end
            for (k = 0; k < `LWFC_CLASSES; k = k + 1) begin
                rc = $fscanf(fd_exp, "%d", exp_logit);
                if (word_at(1 + 4 * k) != exp_logit) begin
                    $display("FAIL: image %0d logit %0d: %0d, golden %0d", img, k,
                             $signed(word_at(1 + 4 * k)), exp_logit);
                    $fatal(1);
                end
            end
            $display("lwfc-uart: image %0d class %0d (label %0d), %0d logits match", img, got[0],
                     exp_label, `LWFC_CLASSES);
        end

        // 'C': class only, image 0 again
        n_got = 0;
        send("C");
        for (k = 0; k < `LWFC_N_IN; k = k + 1) send(first_pixels[k]);
        expect_bytes(1);

        // 'R' / 'W': read memory 0 word 5, overwrite it, read it back, restore it
        n_got = 0;
        send("R"); send(8'd0); send(8'd5); send(8'd0);
        expect_bytes(4);
        saved = word_at(0);
        n_got = 0;
        send("W"); send(8'd0); send(8'd5); send(8'd0);
        send(8'h2a); send(8'd0); send(8'd0); send(8'd0);
        expect_bytes(1);
        if (got[0] != "K") begin
            $display("FAIL: 'W' reply %h", got[0]);
            $fatal(1);
        end
        n_got = 0;
        send("R"); send(8'd0); send(8'd5); send(8'd0);
        expect_bytes(4);
        if (word_at(0) != 32'h2a) begin
            $display("FAIL: readback %h after writing 2a", word_at(0));
            $fatal(1);
        end
        n_got = 0;
        send("W"); send(8'd0); send(8'd5); send(8'd0);
        send(saved[7:0]); send(saved[15:8]); send(saved[23:16]); send(saved[31:24]);
        expect_bytes(1);

        // unknown request
        n_got = 0;
        send("x");
        expect_bytes(1);
        if (got[0] != "?" || error) begin
            $display("FAIL: unknown request: reply %h, error %b", got[0], error);
            $fatal(1);
        end
        $display("lwfc-uart: V, %0d x I, C, R/W/R/W and ? requests as specified", n_images);
        $display("PASS");
        $finish;
    end
endmodule

`default_nettype wire
