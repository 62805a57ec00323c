// tb_lwfc_mnist: the FuseSoC sim / sim_verilator testbench of lwfc.
//
// Streams the first N MNIST test images (prepared by hw/fusesoc/lwfc_gen.py as input beats)
// back to back through lwfc_core, whose weights come from the $readmemh images, and checks the
// class and all logits of every image against the golden model's expectations. Prints the
// accuracy, the mismatches and the cycles per image; exits non-zero ($fatal) on any mismatch,
// on an X/Z in a handshake or result bit (4-state simulators), on a malformed vector file and
// on the watchdog.
//
// Plusargs (FuseSoC parameters of the same names):
//   +N=<count>          images to stream (default 20; at most the vectors prepared)
//   +IMAGES=<file>      input beats, one hex word per line   (default lwfc_images.hex)
//   +EXPECT=<file>      "label class logit0 ... logitC-1" per image (default lwfc_expect.txt)
//   +VERBOSE=<0|1>      print every image's result
//   +TIMEOUT=<cycles>   watchdog: cycles without a new result (default 2000000)
`timescale 1ns/1ps
`include "lwfc_core_defs.vh"

module tb_lwfc_mnist;
    reg clk = 1'b0;
    reg rst = 1'b1;
    always #5 clk = ~clk;

    reg  [`LWFC_IN_BITS-1:0] in_data = 0;
    reg  in_valid = 1'b0;
    wire in_ready;
    wire [31:0] out_data;
    wire out_valid;
    wire out_last;
    wire [31:0] h_rdata;
    wire idle;
    reg  out_ready = 1'b0;

    lwfc_core dut (
        .clk(clk), .rst(rst),
        .in_data(in_data), .in_valid(in_valid), .in_ready(in_ready),
        .out_data(out_data), .out_valid(out_valid), .out_ready(out_ready), .out_last(out_last),
        .h_sel({`LWFC_SEL_BITS{1'b0}}), .h_we(1'b0), .h_addr({`LWFC_ADDR_BITS{1'b0}}),
        .h_wdata(32'd0), .h_rdata(h_rdata), .idle(idle)
    );

    reg [1023:0] images_file, expect_file;
    integer n_images, verbose, timeout;
    integer fd_in, fd_exp, rc, k;
    integer cyc = 0;
    integer last_progress = 0;
    integer beat = 0, img_in = 0, img_out = 0, obeat = 0;
    integer have_beat = 0;
    integer mismatches = 0, correct = 0, golden_correct = 0;
    integer t_in0 = 0, t_out0 = 0, t_out_last = 0;
    reg streaming = 1'b0;
    reg [`LWFC_IN_BITS-1:0] next_word;
    reg [31:0] cls;
    reg signed [31:0] logits [0:`LWFC_CLASSES-1];
    integer exp_label, exp_class, exp_logit, bad;

    always @(posedge clk) cyc <= cyc + 1;

    function integer fetch_beat(input integer dummy);
        begin
            rc = $fscanf(fd_in, "%h\n", next_word);
            fetch_beat = (rc == 1) ? 1 : 0;
        end
    endfunction

    initial begin
        if (!$value$plusargs("N=%d", n_images)) n_images = 20;
        if (!$value$plusargs("VERBOSE=%d", verbose)) verbose = 0;
        if (!$value$plusargs("TIMEOUT=%d", timeout)) timeout = 2000000;
        if (!$value$plusargs("IMAGES=%s", images_file)) images_file = "lwfc_images.hex";
        if (!$value$plusargs("EXPECT=%s", expect_file)) expect_file = "lwfc_expect.txt";
        fd_in = $fopen(images_file, "r");
        fd_exp = $fopen(expect_file, "r");
        if (fd_in == 0 || fd_exp == 0) begin
            $display("FAIL: cannot open %0s or %0s (run the generator with vectors > 0)",
                     images_file, expect_file);
            $fatal(1);
        end
        if (n_images < 1) begin
            $display("FAIL: +N must be >= 1");
            $fatal(1);
        end
        repeat (5) @(posedge clk);
        rst = 1'b0;
        @(negedge clk);
        have_beat = fetch_beat(0);
        if (have_beat == 0) begin
            $display("FAIL: %0s is empty or malformed", images_file);
            $fatal(1);
        end
        in_data = next_word;
        streaming = 1'b1;
        $display("lwfc-sim: streaming %0d images (%0d pixels, %0d per beat, %0d classes)",
                 n_images, `LWFC_N_IN, `LWFC_PIX_PER_BEAT, `LWFC_CLASSES);
    end

    // ---- input driver: values change only after a rising edge
    always @(posedge clk) begin
        if (streaming) begin
            if (in_valid === 1'b1 && in_ready === 1'b1) begin
                if (beat == 0 && img_in == 0) t_in0 = cyc;
                if (beat == `LWFC_BEATS_PER_IMAGE - 1) begin
                    beat = 0;
                    img_in = img_in + 1;
                end else begin
                    beat = beat + 1;
                end
                if (img_in < n_images) begin
                    have_beat = fetch_beat(0);
                    if (have_beat == 0) begin
                        $display("FAIL: %0s ends at image %0d; the generator prepared fewer vectors than +N=%0d",
                                 images_file, img_in, n_images);
                        $fatal(1);
                    end
                    in_data <= next_word;
                end else begin
                    have_beat = 0;
                end
            end
            in_valid <= (have_beat != 0);
            out_ready <= 1'b1;
        end
    end

    // ---- output monitor and checker
    always @(posedge clk) begin
`ifndef VERILATOR
        if (!rst && (in_ready === 1'bx || out_valid === 1'bx || out_valid === 1'bz)) begin
            $display("FAIL: X on a handshake at cycle %0d", cyc);
            $fatal(1);
        end
`endif
        if (streaming && out_valid === 1'b1 && out_ready === 1'b1) begin
`ifndef VERILATOR
            if (^out_data === 1'bx || out_last === 1'bx) begin
                $display("FAIL: X in result beat %0d of image %0d (missing hex file?)", obeat, img_out);
                $fatal(1);
            end
`endif
            if (obeat == 0) begin
                cls = out_data;
                if (img_out == 0) t_out0 = cyc;
                t_out_last = cyc;
            end else if (obeat <= `LWFC_CLASSES) logits[obeat - 1] = out_data;
            if (out_last) begin
                if (obeat != `LWFC_CLASSES) begin
                    $display("FAIL: image %0d had %0d result beats", img_out, obeat + 1);
                    $fatal(1);
                end
                last_progress = cyc;
                rc = $fscanf(fd_exp, "%d %d", exp_label, exp_class);
                if (rc != 2) begin
                    $display("FAIL: %0s has no line for image %0d", expect_file, img_out);
                    $fatal(1);
                end
                bad = (cls != exp_class);
                for (k = 0; k < `LWFC_CLASSES; k = k + 1) begin
                    rc = $fscanf(fd_exp, "%d", exp_logit);
                    if (rc != 1) begin
                        $display("FAIL: %0s: short line for image %0d", expect_file, img_out);
                        $fatal(1);
                    end
                    if (logits[k] != exp_logit) bad = 1;
                end
                if (bad) begin
                    mismatches = mismatches + 1;
                    if (mismatches <= 10)
                        $display("MISMATCH image %0d: class %0d, golden %0d", img_out, cls,
                                 exp_class);
                end
                if (cls == exp_label) correct = correct + 1;
                if (exp_class == exp_label) golden_correct = golden_correct + 1;
                if (verbose != 0)
                    $display("image %0d: class %0d label %0d at cycle %0d", img_out, cls,
                             exp_label, cyc);
                obeat = 0;
                img_out = img_out + 1;
                if (img_out == n_images) finish_run;
            end else begin
                obeat = obeat + 1;
            end
        end
        if (streaming && cyc - last_progress > timeout) begin
            $display("FAIL: watchdog: no result for %0d cycles (%0d of %0d images done)",
                     timeout, img_out, n_images);
            $fatal(1);
        end
    end

    task finish_run;
        integer per_image;
        begin
            per_image = (n_images > 1) ? (t_out_last - t_out0) / (n_images - 1) : (t_out0 - t_in0);
            $display("lwfc-sim: images %0d, accuracy %0d/%0d (golden %0d/%0d), mismatches %0d",
                     n_images, correct, n_images, golden_correct, n_images, mismatches);
            $display("lwfc-sim: cycles/image %0d (streaming), latency %0d cycles, total %0d cycles",
                     per_image, t_out0 - t_in0, cyc);
            if (mismatches != 0) begin
                $display("FAIL: %0d of %0d images differ from the golden model", mismatches,
                         n_images);
                $fatal(1);
            end
            $display("PASS");
            $finish;
        end
    endtask
endmodule
