"""vta.fpga: the boards (`boards`), resource estimates with Yosys (`synth`), Vivado projects
for a PYNQ overlay (`vivado`), fmax estimates with nextpnr (`timing`); docs/fpga.md."""
