# lwfc_vivado_reports.tcl: sourced by the Edalize Vivado project script of the pynq_z2 target.
# Registers a post-route hook that writes the utilisation and timing reports that
# 'lwfc build --board pynq_z2' reads (lwfc_utilization.rpt, lwfc_timing.rpt in the impl run).
set lwfc_hook [file normalize lwfc_post_route.tcl]
set fp [open $lwfc_hook w]
puts $fp "report_utilization -file lwfc_utilization.rpt"
puts $fp "report_timing_summary -file lwfc_timing.rpt"
close $fp
set_property STEPS.ROUTE_DESIGN.TCL.POST $lwfc_hook [get_runs impl_1]
