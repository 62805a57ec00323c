# Build the PYNQ overlay: Zynq PS7 + AXI DMA + lwfc IP, bitstream and .hwh.
#
#   vivado -mode batch -source deploy/overlays/vivado/build_overlay.tcl \
#          -tclargs BOARD IP_REPO OUT_DIR [JOBS]
#
# BOARD: pynq-z2 or pynq-z1. IP_REPO: output of package_ip.tcl. OUT_DIR receives lwfc.bit and
# lwfc.hwh (the driver loads OUT_DIR with `lwfc infer --board pynq --overlay OUT_DIR`).

source [file join [file dirname [info script]] settings.tcl]
lwfc_check_version

if {[llength $argv] < 3} {
    error "usage: build_overlay.tcl BOARD IP_REPO OUT_DIR \[JOBS\]"
}
set board [lindex $argv 0]
set repo [file normalize [lindex $argv 1]]
set out [file normalize [lindex $argv 2]]
set jobs [expr {[llength $argv] > 3 ? [lindex $argv 3] : 2}]
if {![info exists lwfc_board_part($board)]} {
    error "unknown board $board (pynq-z2 or pynq-z1)"
}
if {[get_board_parts -quiet $lwfc_board_part($board)] eq ""} {
    error "board files for $board ($lwfc_board_part($board)) are not installed in Vivado"
}
set vlnv "$lwfc_ip_vendor:$lwfc_ip_library:$lwfc_ip_name:$lwfc_ip_version"
set proj [file join $out vivado-$board]

create_project -force lwfc_overlay $proj -part $lwfc_part
set_property board_part $lwfc_board_part($board) [current_project]
set_property ip_repo_paths $repo [current_project]
update_ip_catalog
if {[get_ipdefs -quiet $vlnv] eq ""} {
    error "IP $vlnv not found in $repo: run package_ip.tcl first"
}

create_bd_design lwfc
# ---- Zynq PS7 with the board preset; FCLK0, GP0 master, HP0 slave for the DMA
set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:processing_system7 ps7]
apply_bd_automation -rule xilinx.com:bd_rule:processing_system7 \
    -config {make_external "FIXED_IO, DDR" apply_board_preset "1"} $ps
set_property -dict [list \
    CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ $lwfc_fclk_mhz \
    CONFIG.PCW_USE_M_AXI_GP0 1 \
    CONFIG.PCW_USE_S_AXI_HP0 1 \
    CONFIG.PCW_S_AXI_HP0_DATA_WIDTH 64 \
] $ps

# ---- the hierarchy PYNQ binds LwfcAccelerator to: the lwfc IP and its DMA
create_bd_cell -type hier $lwfc_hierarchy
set ip [create_bd_cell -type ip -vlnv $vlnv $lwfc_hierarchy/lwfc]
set dma [create_bd_cell -type ip -vlnv xilinx.com:ip:axi_dma $lwfc_hierarchy/dma]
set_property -dict [list \
    CONFIG.c_include_sg 0 \
    CONFIG.c_sg_length_width $lwfc_dma_length_bits \
    CONFIG.c_include_mm2s 1 \
    CONFIG.c_include_s2mm 1 \
    CONFIG.c_m_axi_mm2s_data_width 32 \
    CONFIG.c_m_axis_mm2s_tdata_width $lwfc_dma_stream_bits \
    CONFIG.c_m_axi_s2mm_data_width 32 \
    CONFIG.c_s_axis_s2mm_tdata_width 32 \
    CONFIG.c_mm2s_burst_size 16 \
    CONFIG.c_s2mm_burst_size 16 \
] $dma
connect_bd_intf_net [get_bd_intf_pins $lwfc_hierarchy/dma/M_AXIS_MM2S] \
    [get_bd_intf_pins $lwfc_hierarchy/lwfc/s_axis]
connect_bd_intf_net [get_bd_intf_pins $lwfc_hierarchy/lwfc/m_axis] \
    [get_bd_intf_pins $lwfc_hierarchy/dma/S_AXIS_S2MM]

# ---- AXI interconnects, clocks and resets by the connection automation
apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
    -config {Clk_master {/ps7/FCLK_CLK0} Clk_slave {Auto} Clk_xbar {Auto} Master {/ps7/M_AXI_GP0} Slave {Auto} intc_ip {New AXI Interconnect} master_apm {0}} \
    [get_bd_intf_pins $lwfc_hierarchy/lwfc/s_axi_control]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
    -config {Clk_master {/ps7/FCLK_CLK0} Clk_slave {Auto} Clk_xbar {Auto} Master {/ps7/M_AXI_GP0} Slave {Auto} intc_ip {Auto} master_apm {0}} \
    [get_bd_intf_pins $lwfc_hierarchy/dma/S_AXI_LITE]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
    -config {Clk_master {Auto} Clk_slave {/ps7/FCLK_CLK0} Clk_xbar {Auto} Master {/lwfc_accel/dma/M_AXI_MM2S} Slave {/ps7/S_AXI_HP0} intc_ip {New AXI Interconnect} master_apm {0}} \
    [get_bd_intf_pins ps7/S_AXI_HP0]
apply_bd_automation -rule xilinx.com:bd_rule:axi4 \
    -config {Clk_master {Auto} Clk_slave {/ps7/FCLK_CLK0} Clk_xbar {Auto} Master {/lwfc_accel/dma/M_AXI_S2MM} Slave {/ps7/S_AXI_HP0} intc_ip {Auto} master_apm {0}} \
    [get_bd_intf_pins $lwfc_hierarchy/dma/M_AXI_S2MM]

# ---- addresses (the driver reads them from the .hwh; the simulation uses the same)
assign_bd_address
foreach seg [get_bd_addr_segs -of_objects [get_bd_addr_spaces ps7/Data]] {
    set target [get_bd_addr_segs -of_objects $seg]
    if {[string match "*/lwfc/*" $target]} {
        set_property range $lwfc_ip_range $seg
        set_property offset $lwfc_ip_base $seg
    } elseif {[string match "*/dma/*" $target]} {
        set_property range $lwfc_dma_range $seg
        set_property offset $lwfc_dma_base $seg
    }
}

validate_bd_design
save_bd_design
set wrapper [make_wrapper -files [get_files lwfc.bd] -top]
add_files -norecurse $wrapper
set_property top lwfc_wrapper [current_fileset]

launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
    error "implementation failed: see $proj"
}

file mkdir $out
set bit [lindex [glob [file join $proj lwfc_overlay.runs impl_1 *.bit]] 0]
set hwh [lindex [glob [file join $proj lwfc_overlay.gen sources_1 bd lwfc hw_handoff lwfc.hwh]] 0]
file copy -force $bit [file join $out lwfc.bit]
file copy -force $hwh [file join $out lwfc.hwh]
open_run impl_1
report_utilization -file [file join $out utilization.txt]
report_timing_summary -file [file join $out timing.txt]
puts "lwfc: overlay for $board in $out (lwfc.bit, lwfc.hwh)"
