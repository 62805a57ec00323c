# Yosys script of lwfc's open-flow board targets (Edalize tool option yosys_template).
#
# Edalize's own template plus lwfc's steps between reading and synthesis:
#  * the parameter memories listed by the generator (lwfc_params.tcl, sourced by read_files)
#    get the attribute no_rw_check: the host port writes them only while the core is idle, so
#    the engine never reads an address that is being written. Without it Yosys keeps Verilog's
#    read-during-write result and duplicates each memory that has an engine read port and a
#    host read/write port (twice the DP16KD on ECP5);
#  * the small lane multipliers (9 x 8 bits) become logic (Booth-encoded): on ECP5 always, for
#    speed (a MULT18X18D sits at a fixed site, and with 28 of them in use the routes from its
#    operand registers and to its product registers took 2.8 - 3.5 ns each (OrangeCrab: 86 MHz
#    at speed grade 6, 111 MHz at grade 8), while logic multipliers are placed between their
#    registers (112 / 143 MHz, for twice the LUTs); on iCE40 (8 SB_MAC16 on the UP5K) when the
#    generator says the DSPs cannot hold every multiplier (::lwfc_booth in lwfc_params.tcl,
#    default 1), and then only the lane multipliers of ::lwfc_booth_wires, just enough of
#    them, so that the DSPs go to the 16 x 15 bit requantizer products, which cost far more in
#    LUTs; needs Yosys >= 0.33 (the booth pass);
#  * on iCE40, the product registers of the lane multipliers (mac_prod, mac_prod2, the DIL's
#    prod, prod2) get the attribute keep: a product registered twice without an enable (the
#    dense engine's MAC array) matches ice40_dsp's pipeline and output registers (ffFJKG, ffH),
#    and Yosys 0.70 (YoWASP) then leaves the second register driving a constant x besides the
#    SB_MAC16 ("Driver-driver conflict ... Resolved using constant"): the whole datapath behind
#    it is optimised away. With keep the DSP takes only the first register, the second stays
#    in logic; 'lwfc build' fails on that warning in yosys.log;
#  * keep on the flip-flops of the lane-group control copies (*fanout*, see below);
#  * a cell count (lwfc_stat.txt) for 'lwfc build', which reports LUTs and flip-flops.
# It is Tcl, run by a Yosys with Tcl, or by hw/fusesoc/edatools.py for YoWASP's Yosys.

yosys -import
source edalize_yosys_procs.tcl

# Edalize does not render a custom template: take the EDAM name and toplevel from its file.
set edam [lindex [glob *.eda.yml] 0]
set name [file rootname [file rootname [file tail $edam]]]
set fp [open $edam r]
set edam_text [read $fp]
close $fp
if {![regexp -line {^toplevel:\s*(\S+)} $edam_text -> top]} {
    error "no toplevel in $edam"
}

verilog_defaults -push
verilog_defaults -add -defer
set_defines
set_incdirs
read_files
set_params
verilog_defaults -pop

# the board tops instantiate a PLL primitive (ECP5 EHXPLLL, iCE40 SB_PLL40_PAD), ECP5 DSP
# builds MULT18X18D and DP16KD: their black boxes come first (DP16KD's is in cells_sim.v)
if {[string match *synth_ecp5* [info body synth]]} {
    read_verilog -lib +/ecp5/cells_sim.v +/ecp5/cells_bb.v
}
if {[string match *synth_ice40* [info body synth]]} {
    read_verilog -lib +/ice40/cells_sim.v
}
hierarchy -check -top $top
if {[info exists ::lwfc_param_memories]} {
    set sel {}
    foreach m $::lwfc_param_memories {
        lappend sel "m:$m"
    }
    # (an empty selection would be the whole design)
    if {[llength $sel]} {
        setattr -set no_rw_check 1 {*}$sel
    }
}

if {[string match *synth_ice40* [info body synth]]} {
    setattr -set keep 1 w:*_prod*
}

# the lane-group copies of the MAC arrays' and drains' control registers (signals named
# *fanout*, lwfc_hw.mac.FANOUT_LANES) are identical by construction: keep on their flip-flops
# stops opt_merge from joining them back into one register with thousands of loads
yosys proc
setattr -set keep 1 w:*fanout* {%ci1:+[Q]} w:*fanout* %d

if {![info exists ::lwfc_booth]} {
    set ::lwfc_booth 1
}
# ECP5: lane multipliers in MULT18X18D instead (generator parameter dsp=1, LWFC_DSP=1), to
# measure the LUT / DSP trade
if {![info exists ::lwfc_ecp5_dsp]} {
    set ::lwfc_ecp5_dsp 0
}
# iCE40: ::lwfc_booth_wires (lwfc_params.tcl) names the lane product arrays whose multipliers
# become logic, just enough of them for the rest to fit the DSP blocks (lwfc_gen.booth_groups);
# empty: every small multiplier. A multiplier is found from its product register's wire: back
# through the register (Q, D) and the enable / reset multiplexers before it (their data inputs),
# to the $mul driving it (Y).
if {![info exists ::lwfc_booth_wires]} {
    set ::lwfc_booth_wires {}
}
if {([string match *synth_ecp5* [info body synth]] && !$::lwfc_ecp5_dsp)
    || ($::lwfc_booth && [string match *synth_ice40* [info body synth]])} {
    yosys proc
    flatten
    wreduce {t:$mul}
    if {[llength $::lwfc_booth_wires] && [string match *synth_ice40* [info body synth]]} {
        set bsel {}
        set k 0
        foreach w $::lwfc_booth_wires {
            lappend bsel "w:*$w*" {%ci6:+$dff,$mux,$pmux[Q,D,A,B,Y]:+$mul[Y]}
            if {$k > 0} {
                lappend bsel %u
            }
            incr k
        }
        booth {*}$bsel {t:$mul} %i
    } else {
        booth {t:$mul} r:A_WIDTH<10 %i r:B_WIDTH<10 %i
    }
}

synth $top
tee -o lwfc_stat.txt stat
write_json $name.json
