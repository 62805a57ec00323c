# Shared settings of the lwfc overlay build (sourced by package_ip.tcl and build_overlay.tcl).
# Checked by tests/test_axi_deploy.py against hw/lwfc_hw/regmap.py and lwfc/driver/sim.py.

# Vivado release these scripts are written for (the PYNQ v3.0.1 images for PYNQ-Z1/Z2 were
# built with it; PYNQ 4.0 dropped the Zynq-7000 boards). Another release stops the build unless
# LWFC_VIVADO_ANY=1 is set in the environment.
set lwfc_vivado_version "2022.1"

# IP identity: must equal lwfc_hw.regmap.VLNV (the driver binds to it)
set lwfc_ip_vendor  "lwfc"
set lwfc_ip_library "ip"
set lwfc_ip_name    "lwfc"
set lwfc_ip_version "1.0"

# Block design: FCLK0 drives everything
set lwfc_fclk_mhz 100
# AXI DMA: simple mode, 26-bit length register (64 MiB per transfer, far above a batch),
# 32-bit memory-mapped side and streams (s_axis of the IP is 8*B = 32 bits for B = 4)
set lwfc_dma_length_bits 26
set lwfc_dma_stream_bits 32
# Addresses on M_AXI_GP0 (the simulation backend uses the same)
set lwfc_ip_base   0x40000000
set lwfc_ip_range  512K
set lwfc_dma_base  0x40400000
set lwfc_dma_range 64K
# Name of the hierarchy holding the IP and the DMA (PYNQ binds LwfcAccelerator to it)
set lwfc_hierarchy "lwfc_accel"

# Boards: part and board part (the board files must be installed in Vivado)
array set lwfc_board_part {
    pynq-z2 "tul.com.tw:pynq-z2:part0:1.0"
    pynq-z1 "www.digilentinc.com:pynq-z1:part0:1.0"
}
set lwfc_part "xc7z020clg400-1"

proc lwfc_check_version {} {
    global lwfc_vivado_version
    set have [version -short]
    if {$have ne $lwfc_vivado_version} {
        if {[info exists ::env(LWFC_VIVADO_ANY)] && $::env(LWFC_VIVADO_ANY) eq "1"} {
            puts "WARNING: Vivado $have, the scripts are written for $lwfc_vivado_version"
        } else {
            error "Vivado $have found, these scripts are written for $lwfc_vivado_version (set LWFC_VIVADO_ANY=1 to try anyway)"
        }
    }
}
