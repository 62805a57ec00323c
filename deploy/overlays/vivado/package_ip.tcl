# Package lwfc_axi as a Vivado IP (component.xml) with the VLNV the PYNQ driver binds to.
#
#   vivado -mode batch -source deploy/overlays/vivado/package_ip.tcl -tclargs SRC_DIR IP_REPO
#
# SRC_DIR: output of `python -m lwfc_hw.axi_export BUNDLE SRC_DIR` (lwfc_axi.v, *.hex, ip.json).
# IP_REPO: folder that receives the packaged IP (IP_REPO/lwfc/component.xml).

source [file join [file dirname [info script]] settings.tcl]
lwfc_check_version

if {[llength $argv] != 2} {
    error "usage: package_ip.tcl SRC_DIR IP_REPO"
}
set src [file normalize [lindex $argv 0]]
set repo [file normalize [lindex $argv 1]]
set ipdir [file join $repo $lwfc_ip_name]
if {![file exists [file join $src lwfc_axi.v]]} {
    error "$src/lwfc_axi.v not found: run python -m lwfc_hw.axi_export first"
}

file delete -force $ipdir
file mkdir $ipdir
create_project -in_memory -part $lwfc_part
add_files -norecurse [file join $src lwfc_axi.v]
# the $readmemh images of the parameter RAMs travel with the IP
set hex [glob -nocomplain [file join $src *.hex]]
if {[llength $hex] == 0} {
    error "no .hex memory images in $src"
}
add_files -norecurse $hex
set_property file_type {Memory File} [get_files *.hex]
set_property top lwfc_axi [current_fileset]
update_compile_order -fileset sources_1

ipx::package_project -root_dir $ipdir -vendor $lwfc_ip_vendor -library $lwfc_ip_library \
    -taxonomy /UserIP -import_files -set_current false
set core [ipx::open_core [file join $ipdir component.xml]]
set_property name $lwfc_ip_name $core
set_property version $lwfc_ip_version $core
set_property display_name "lwfc int8 MLP accelerator" $core
set_property description "lwfc_axi: AXI4-Lite control + weight window, AXI4-Stream images in, results out" $core
set_property core_revision 1 $core
set_property supported_families {zynq Production} $core

# Interfaces are inferred from the port names (s_axi_control_*, s_axis_*, m_axis_*, aclk,
# aresetn); tie them to the clock and make the reset active low.
foreach bus {s_axi_control s_axis m_axis} {
    if {[ipx::get_bus_interfaces $bus -of_objects $core] eq ""} {
        error "interface $bus was not inferred: check the port names of lwfc_axi.v"
    }
}
ipx::associate_bus_interfaces -busif s_axi_control -clock aclk $core
ipx::associate_bus_interfaces -busif s_axis -clock aclk $core
ipx::associate_bus_interfaces -busif m_axis -clock aclk $core
set rst [ipx::get_bus_interfaces aresetn -of_objects $core]
set_property value ACTIVE_LOW [ipx::add_bus_parameter POLARITY $rst]

ipx::create_xgui_files $core
ipx::update_checksums $core
ipx::check_integrity $core
ipx::save_core $core
puts "lwfc: packaged $lwfc_ip_vendor:$lwfc_ip_library:$lwfc_ip_name:$lwfc_ip_version in $ipdir"
