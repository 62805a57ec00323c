# lwfc_vivado_reports.tcl: sourced by the Edalize Vivado project script of the pynq_z2 target
# (in the work folder, where FuseSoC copied the generator's $readmemh images).
# 1. Adds the $readmemh images (*.hex) to the project: Vivado synthesis resolves a relative
#    $readmemh file name only against files of the project.
# 2. Registers a post-route hook writing the utilisation and timing reports
#    (lwfc_utilization.rpt, lwfc_timing.rpt in the implementation run folder).
set lwfc_hex [glob -nocomplain *.hex]
if {[llength $lwfc_hex] == 0} {
    error "lwfc: no \$readmemh images (*.hex) in [pwd]: run the lwfc_gen generator"
}
add_files -norecurse $lwfc_hex
set lwfc_hook [file normalize lwfc_post_route.tcl]
set fp [open $lwfc_hook w]
puts $fp "report_utilization -file lwfc_utilization.rpt"
puts $fp "report_timing_summary -file lwfc_timing.rpt"
close $fp
set_property STEPS.ROUTE_DESIGN.TCL.POST $lwfc_hook [get_runs impl_1]
