// tb_lwfc: the testbench of lwfc_core, used by `lwfc sim` (lwfc_hw.sim) and by the FuseSoC
// targets sim / sim_verilator. Streams images back to back, logs every result and, given the
// golden model's expectations, checks the class and all logits of every image.
//
// Include path must hold the generated lwfc_core_defs.vh. Plusargs (FuseSoC parameters of the
// same names for N, VERBOSE, TIMEOUT):
//   +IMAGES=<file>   beats, one hex word of LWFC_IN_BITS per line (N * LWFC_BEATS_PER_IMAGE
//                    lines; default lwfc_images.hex, as the FuseSoC generator writes it)
//   +N=<count>       images to stream (default 20)
//   +EXPECT=<file>   optional: "label class logit0 ... logitC-1" per image (the generator's
//                    lwfc_expect.txt); every result is compared with it, the accuracy,
//                    mismatches and cycles per image are printed, and any mismatch fails
//   +VERBOSE=<0|1>   with +EXPECT: print every image's class and label
//   +OUT=<file>      optional log: "I <image> <cycle>" when an image's first beat is accepted,
//                    "O <image> <cycle> <class> <logit 0> ..." when its first result beat is
//   +WEIGHTS=<file>  optional host writes "sel addr data expect" (hex) before streaming; every
//                    write is read back and compared with "expect" (32-bit readback value)
//   +STALL=<pct>     optional: drop in_valid / out_ready at random in pct % of cycles
//   +SEED=<n>        seed of those random stalls
//   +TIMEOUT=<n>     watchdog: cycles without a new result (default 2000000)
//   +MAXCYCLES=<n>   watchdog: cycles in all (default 2000000000)
//   +VCD=<file>      dump waveforms
// Fails ($fatal, exit status 1) on an X/Z in any handshake or result bit (4-state simulators),
// on a readback mismatch, on a malformed input or expectation file, on a wrong idle flag, on a
// mismatch with the expectations and on either watchdog.
`timescale 1ns/10ps
`include "lwfc_core_defs.vh"

module tb_lwfc;
    reg clk = 1'b0;
    reg rst = 1'b1;
    always #5 clk = ~clk;

    reg  [`LWFC_IN_BITS-1:0] in_data = 0;
    reg  in_valid = 1'b0;
    wire in_ready;
    wire [31:0] out_data;
    wire out_valid;
    reg  out_ready = 1'b0;
    wire out_last;
    reg  [`LWFC_SEL_BITS-1:0] h_sel = 0;
    reg  h_we = 1'b0;
    reg  [`LWFC_ADDR_BITS-1:0] h_addr = 0;
    reg  [31:0] h_wdata = 0;
    wire [31:0] h_rdata;
    wire idle;

    lwfc_core dut (
        .clk(clk), .rst(rst),
        .in_data(in_data), .in_valid(in_valid), .in_ready(in_ready),
        .out_data(out_data), .out_valid(out_valid), .out_ready(out_ready), .out_last(out_last),
        .h_sel(h_sel), .h_we(h_we), .h_addr(h_addr), .h_wdata(h_wdata), .h_rdata(h_rdata),
        .idle(idle)
    );

    reg [1023:0] images_file, out_file, weights_file, vcd_file, expect_file;
    integer n_images = 20;
    integer stall = 0;
    integer seed = 1;
    integer verbose = 0;
    integer timeout = 2000000;
    integer max_cycles = 2000000000;
    integer fd_in, fd_w, rc;
    integer fd_out = 0;
    integer fd_exp = 0;
    integer last_progress = 0;
    integer mismatches = 0, correct = 0, golden_correct = 0;
    integer t_in0 = 0, t_out0 = 0, t_out_last = 0;
    integer exp_label, exp_class, exp_logit, bad;
    integer cyc = 0;
    integer beat = 0;
    integer img_in = 0;
    integer img_out = 0;
    integer obeat = 0;
    integer have_beat = 0;
    integer n_writes = 0;
    reg streaming = 1'b0;
    reg finishing = 1'b0;
    reg [`LWFC_IN_BITS-1:0] next_word;
    reg [31:0] w_sel, w_addr, w_data, w_expect;
    integer r, k, t_first;
    reg [31:0] cls;
    reg signed [31:0] logits [0:`LWFC_CLASSES-1];

    always @(posedge clk) cyc <= cyc + 1;

    // one beat from the image file into next_word; 0 when the file ends early
    function integer fetch_beat(input integer dummy);
        begin
            rc = $fscanf(fd_in, "%h\n", next_word);
            fetch_beat = (rc == 1) ? 1 : 0;
        end
    endfunction

    task host_write_and_check;
        begin
            // pass 1: writes, one per cycle, driven on the falling edge
            while ($fscanf(fd_w, "%h %h %h %h\n", w_sel, w_addr, w_data, w_expect) == 4) begin
                @(negedge clk);
                h_sel = w_sel[`LWFC_SEL_BITS-1:0];
                h_addr = w_addr[`LWFC_ADDR_BITS-1:0];
                h_wdata = w_data;
                h_we = 1'b1;
                n_writes = n_writes + 1;
            end
            @(negedge clk);
            h_we = 1'b0;
            // pass 2: read every word back
            r = $rewind(fd_w);
            while ($fscanf(fd_w, "%h %h %h %h\n", w_sel, w_addr, w_data, w_expect) == 4) begin
                @(negedge clk);
                h_sel = w_sel[`LWFC_SEL_BITS-1:0];
                h_addr = w_addr[`LWFC_ADDR_BITS-1:0];
                // block-RAM read, memory output register, readback mux register(s): h_rdata
                repeat (`LWFC_READBACK_LATENCY) @(posedge clk);
                #1;
`ifndef VERILATOR
                if (^h_rdata === 1'bx) begin
                    $display("FAIL: X on h_rdata (sel %0d addr %0d)", w_sel, w_addr);
                    $fatal(1);
                end
`endif
                if (h_rdata !== w_expect) begin
                    $display("FAIL: readback sel %0d addr %0d: %h, expected %h",
                             w_sel, w_addr, h_rdata, w_expect);
                    $fatal(1);
                end
            end
            $display("host: %0d writes, all read back", n_writes);
        end
    endtask

    initial begin
        if (!$value$plusargs("IMAGES=%s", images_file)) images_file = "lwfc_images.hex";
        r = $value$plusargs("N=%d", n_images);
        r = $value$plusargs("STALL=%d", stall);
        r = $value$plusargs("SEED=%d", seed);
        r = $value$plusargs("VERBOSE=%d", verbose);
        r = $value$plusargs("TIMEOUT=%d", timeout);
        r = $value$plusargs("MAXCYCLES=%d", max_cycles);
        if (n_images < 0) begin
            $display("FAIL: +N must be >= 0");
            $fatal(1);
        end
        if ($value$plusargs("VCD=%s", vcd_file)) begin
            $dumpfile(vcd_file);
            $dumpvars(0, tb_lwfc);
        end
        fd_in = $fopen(images_file, "r");
        if (fd_in == 0) begin
            $display("FAIL: cannot open image file %0s (FuseSoC: run the generator with vectors > 0)",
                     images_file);
            $fatal(1);
        end
        if ($value$plusargs("OUT=%s", out_file)) begin
            fd_out = $fopen(out_file, "w");
            if (fd_out == 0) begin
                $display("FAIL: cannot open output file %0s", out_file);
                $fatal(1);
            end
        end
        if ($value$plusargs("EXPECT=%s", expect_file)) begin
            fd_exp = $fopen(expect_file, "r");
            if (fd_exp == 0) begin
                $display("FAIL: cannot open expectation file %0s", expect_file);
                $fatal(1);
            end
        end
        r = $urandom(seed);
        repeat (5) @(posedge clk);
        rst = 1'b0;
        if ($value$plusargs("WEIGHTS=%s", weights_file)) begin
            fd_w = $fopen(weights_file, "r");
            if (fd_w == 0) begin
                $display("FAIL: cannot open weights file %0s", weights_file);
                $fatal(1);
            end
            host_write_and_check;
            $fclose(fd_w);
        end
        @(negedge clk);
        if (n_images == 0) begin
            $display("DONE 0 images");
            $finish;
        end
        have_beat = fetch_beat(0);
        if (have_beat == 0) begin
            $display("FAIL: image file %0s is empty or malformed", images_file);
            $fatal(1);
        end
        in_data = next_word;
        streaming = 1'b1;
        $display("lwfc-sim: streaming %0d images (%0d pixels, %0d per beat, %0d classes)",
                 n_images, `LWFC_N_IN, `LWFC_PIX_PER_BEAT, `LWFC_CLASSES);
    end

    // ---- input driver: in_valid / in_data change only after a rising edge
    always @(posedge clk) begin
        if (streaming) begin
            if (in_valid === 1'b1 && in_ready === 1'b1) begin
                if (beat == 0 && img_in == 0) t_in0 = cyc;
                if (beat == 0 && fd_out != 0) $fwrite(fd_out, "I %0d %0d\n", img_in, cyc);
                if (beat == `LWFC_BEATS_PER_IMAGE - 1) begin
                    beat = 0;
                    img_in = img_in + 1;
                end else begin
                    beat = beat + 1;
                end
                if (img_in < n_images) begin
                    have_beat = fetch_beat(0);
                    if (have_beat == 0) begin
                        $display("FAIL: image file %0s ended at image %0d of +N=%0d",
                                 images_file, img_in, n_images);
                        $fatal(1);
                    end
                    in_data <= next_word;
                end else begin
                    have_beat = 0;
                end
            end
            in_valid <= (have_beat != 0) && ((stall == 0) || (($urandom % 100) >= stall));
            out_ready <= (stall == 0) || (($urandom % 100) >= stall);
        end
    end

    // ---- output monitor
    always @(posedge clk) begin
        if (finishing) begin
            // one cycle after the last result beat the core must report idle
            if (idle !== 1'b1) begin
                $display("FAIL: idle is %b after the last result", idle);
                $fatal(1);
            end
            if (fd_out != 0) $fclose(fd_out);
            $display("DONE %0d images, %0d cycles", img_out, cyc);
            if (fd_exp != 0) report_and_check;
            $finish;
        end
        if (out_valid === 1'b1 && idle !== 1'b0) begin
            $display("FAIL: idle is %b while a result is pending at cycle %0d", idle, cyc);
            $fatal(1);
        end
`ifndef VERILATOR
        // X checks (4-state simulators; Verilator is 2-state)
        if (!rst) begin
            if (in_ready === 1'bx || out_valid === 1'bx || out_valid === 1'bz) begin
                $display("FAIL: X on a handshake at cycle %0d", cyc);
                $fatal(1);
            end
        end
`endif
        if (streaming && out_valid === 1'b1 && out_ready === 1'b1) begin
`ifndef VERILATOR
            if (^out_data === 1'bx || out_last === 1'bx) begin
                $display("FAIL: X in result beat %0d of image %0d at cycle %0d (missing or bad hex file?)",
                         obeat, img_out, cyc);
                $fatal(1);
            end
`endif
            if (obeat == 0) begin
                t_first = cyc;
                cls = out_data;
                if (img_out == 0) t_out0 = cyc;
                t_out_last = cyc;
            end else if (obeat <= `LWFC_CLASSES) begin
                logits[obeat - 1] = out_data;
            end
            if (out_last) begin
                if (obeat != `LWFC_CLASSES) begin
                    $display("FAIL: image %0d had %0d result beats", img_out, obeat + 1);
                    $fatal(1);
                end
                if (fd_out != 0) begin
                    $fwrite(fd_out, "O %0d %0d %0d", img_out, t_first, cls);
                    for (k = 0; k < `LWFC_CLASSES; k = k + 1) $fwrite(fd_out, " %0d", logits[k]);
                    $fwrite(fd_out, "\n");
                    $fflush(fd_out);  // progress: the host counts result lines as they come
                end
                if (fd_exp != 0) check_result;
                last_progress = cyc;
                obeat = 0;
                img_out = img_out + 1;
                if (img_out == n_images) finishing = 1'b1;
            end else begin
                obeat = obeat + 1;
            end
        end
        if (cyc > max_cycles) begin
            $display("FAIL: watchdog: %0d cycles, %0d of %0d results", cyc, img_out, n_images);
            $fatal(1);
        end
        if (streaming && !finishing && cyc - last_progress > timeout) begin
            $display("FAIL: watchdog: no result for %0d cycles (%0d of %0d images done)",
                     timeout, img_out, n_images);
            $fatal(1);
        end
    end

    // ---- with +EXPECT: compare the result of image img_out with its expectation line
    task check_result;
        begin
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
                    $display("MISMATCH image %0d: class %0d, golden %0d", img_out, cls, exp_class);
            end
            if (cls == exp_label) correct = correct + 1;
            if (exp_class == exp_label) golden_correct = golden_correct + 1;
            if (verbose != 0)
                $display("image %0d: class %0d label %0d at cycle %0d", img_out, cls, exp_label,
                         cyc);
        end
    endtask

    // ---- with +EXPECT: the summary; any mismatch fails the run
    task report_and_check;
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
        end
    endtask
endmodule
