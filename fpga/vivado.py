"""A Vivado project for a board: the block design that puts ``vta_core`` beside the Zynq PS.

`write_project` writes three files into a folder:

* ``vta_core.v``: exactly the Verilog `vta verilog` writes for the config;
* ``vta_top.v``: a wrapper with the same ports that tells Vivado, through ``X_INTERFACE_INFO``
  attributes, which ports form the AXI master (``m_axi``), the AXI4-Lite control slave
  (``s_axi_control``), the clock and the (active-high) reset;
* ``vta_project.tcl``: run it with ``vivado -mode batch -source vta_project.tcl``. It creates
  the project, builds the block design (PS with the board preset, the core as an RTL module
  reference, its master on a high-performance port, its control slave on a general-purpose
  port, the fabric clock at the config's frequency, the address map of
  `vta.isa.address_map`), runs implementation and leaves ``vta.bit`` and ``vta.hwh`` — the
  pair a PYNQ ``Overlay`` loads — next to the script.
"""

from __future__ import annotations

from pathlib import Path

from vta.fpga.boards import Board
from vta.fpga.ports import Port, module_ports
from vta.isa import Config, VtaError
from vta.isa.registers import CONTROL_ADDR_BITS

CORE = "vta_core"
WRAPPER = "vta_top"
DESIGN = "vta"
CORE_CELL = "vta_0"
CLOCK, RESET = "clk", "rst"
#: Port-name prefix of each AXI interface of the core, and its Vivado interface name.
INTERFACES = {"m_axi": "m_axi_", "s_axi_control": "s_axi_control_"}
BITSTREAM, HANDOFF, SCRIPT = "vta.bit", "vta.hwh", "vta_project.tcl"
MAX_BURST_BEATS = 16


def _interface_of(port: Port) -> str | None:
    for interface, prefix in INTERFACES.items():
        if port.name.startswith(prefix):
            return interface
    return None


def classify_ports(ports: list[Port]) -> dict[str, list[Port]]:
    """Group the core's ports by interface; every port must belong to one."""
    groups: dict[str, list[Port]] = {"clock": [], "reset": [], **{name: [] for name in INTERFACES}}
    for port in ports:
        if port.name == CLOCK:
            groups["clock"].append(port)
        elif port.name == RESET:
            groups["reset"].append(port)
        elif (interface := _interface_of(port)) is not None:
            groups[interface].append(port)
        else:
            raise VtaError(f"{CORE} port {port.name} belongs to no interface the block design "
                           f"knows (clk, rst, m_axi_*, s_axi_control_*)")
    missing = [name for name, members in groups.items() if not members]
    if missing:
        raise VtaError(f"{CORE} has no {missing[0]} port(s)")
    return groups


def _width(ports: list[Port], name: str) -> int:
    for port in ports:
        if port.name.endswith(f"_{name}"):
            return port.width
    raise VtaError(f"{CORE} has no port *_{name}")


def wrapper_verilog(ports: list[Port], config: Config) -> str:
    """``vta_top``: the core's ports one for one, annotated for Vivado's interface inference."""
    groups = classify_ports(ports)
    memory, control = groups["m_axi"], groups["s_axi_control"]
    if _width(memory, "wdata") != config.bus_bits:
        raise VtaError(f"{CORE} m_axi data width {_width(memory, 'wdata')} differs from the "
                       f"config's {config.bus_bits}-bit bus")
    frequency = round(config.CLOCK_MHZ * 1e6)
    parameters = {
        CLOCK: f"XIL_INTERFACENAME {CLOCK}, ASSOCIATED_BUSIF m_axi:s_axi_control, "
               f"ASSOCIATED_RESET {RESET}, FREQ_HZ {frequency}",
        RESET: f"XIL_INTERFACENAME {RESET}, POLARITY ACTIVE_HIGH",
        "m_axi": f"XIL_INTERFACENAME m_axi, PROTOCOL AXI4, MODE Master, "
                 f"DATA_WIDTH {config.bus_bits}, ADDR_WIDTH {_width(memory, 'araddr')}, "
                 f"MAX_BURST_LENGTH {MAX_BURST_BEATS}, ID_WIDTH 0, HAS_LOCK 0, HAS_CACHE 0, "
                 f"HAS_PROT 0, HAS_QOS 0, HAS_REGION 0, SUPPORTS_NARROW_BURST 0, "
                 f"FREQ_HZ {frequency}",
        "s_axi_control": f"XIL_INTERFACENAME s_axi_control, PROTOCOL AXI4LITE, MODE Slave, "
                         f"DATA_WIDTH 32, ADDR_WIDTH {_width(control, 'awaddr')}, "
                         f"FREQ_HZ {frequency}",
    }
    declarations = []
    for port in ports:
        interface = _interface_of(port)
        if port.name == CLOCK:
            info = f"xilinx.com:signal:clock:1.0 {CLOCK} CLK"
        elif port.name == RESET:
            info = f"xilinx.com:signal:reset:1.0 {RESET} RST"
        else:
            signal = port.name[len(INTERFACES[interface]):].upper()
            info = f"xilinx.com:interface:aximm:1.0 {interface} {signal}"
        lines = [f'  (* X_INTERFACE_INFO = "{info}" *)']
        key = interface or port.name
        if key in parameters:
            lines.append(f'  (* X_INTERFACE_PARAMETER = "{parameters.pop(key)}" *)')
        vector = f"[{port.width - 1}:0] " if port.width > 1 else ""
        lines.append(f"  {port.direction} wire {vector}{port.name}")
        declarations.append("\n".join(lines))
    connections = ",\n".join(f"    .{port.name}({port.name})" for port in ports)
    return (f"// Generated by pyvta (vta fpga project): {CORE} with its interfaces annotated "
            f"for Vivado.\n// Config {config.config_string}, {config.CLOCK_MHZ:g} MHz. Do not edit.\n"
            f"module {WRAPPER} (\n" + ",\n".join(declarations) + "\n);\n"
            f"  {CORE} core (\n{connections}\n  );\nendmodule\n")


def _tcl_dict(settings: dict[str, str]) -> str:
    return " ".join(f"CONFIG.{key} {{{value}}}" for key, value in settings.items())


def project_tcl(board: Board, config: Config, ports: list[Port]) -> str:
    """The Vivado batch script that builds the project, the bitstream and the ``.hwh``."""
    board.check_config(config)
    classify_ports(ports)
    ps, addresses = board.ps, board.ps.address_map
    control_bits = _width(classify_ports(ports)["s_axi_control"], "awaddr")
    if control_bits != CONTROL_ADDR_BITS:
        raise VtaError(f"{CORE} control slave has {control_bits} address bits, the register map "
                       f"{CONTROL_ADDR_BITS}")
    ps_settings = dict(ps.memory_port_settings)
    ps_settings[ps.bus_width_property] = str(config.bus_bits)
    ps_settings[ps.clock_property] = f"{config.CLOCK_MHZ:g}"
    project = f"vta_{board.name.replace('-', '_')}"
    return f"""\
# Generated by pyvta (vta fpga project) for the {board.title}: do not edit.
# Config {config.config_string} ({config.fingerprint}), {config.bus_bits}-bit bus, \
{config.CLOCK_MHZ:g} MHz.
# Run:  vivado -mode batch -source {SCRIPT}
# Leaves {BITSTREAM} and {HANDOFF} (a PYNQ overlay) next to this script.

set script_dir [file dirname [file normalize [info script]]]
set project_name {project}
set part {board.part}
set board_part {board.board_part}
set clock_mhz {config.CLOCK_MHZ:g}
set jobs 2

# -- project ------------------------------------------------------------------------------
create_project $project_name [file join $script_dir $project_name] -part $part -force
if {{[llength [get_board_parts -quiet $board_part]] == 0}} {{
    error "board files for $board_part are not installed (Vivado > Tools > Vivado Store > Boards)"
}}
set_property board_part $board_part [current_project]
set_property target_language Verilog [current_project]
add_files -norecurse [list [file join $script_dir {CORE}.v] [file join $script_dir {WRAPPER}.v]]
update_compile_order -fileset sources_1

# -- block design: processing system ------------------------------------------------------
create_bd_design {DESIGN}
set ps [create_bd_cell -type ip -vlnv {ps.ip} {ps.cell}]
apply_bd_automation -rule {ps.automation_rule} -config {{{ps.automation_config}}} $ps
set_property -dict [list {_tcl_dict(ps_settings)}] $ps

# -- the core, a reset synchroniser and two interconnects ---------------------------------
set core [create_bd_cell -type module -reference {WRAPPER} {CORE_CELL}]
set reset [create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset rst_{CORE_CELL}]
set control_ic [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect control_interconnect]
set_property -dict [list CONFIG.NUM_SI {{1}} CONFIG.NUM_MI {{1}}] $control_ic
set memory_ic [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect memory_interconnect]
set_property -dict [list CONFIG.NUM_SI {{1}} CONFIG.NUM_MI {{1}}] $memory_ic

# -- clock and reset: everything runs on the PS fabric clock ------------------------------
connect_bd_net [get_bd_pins {ps.cell}/{ps.fabric_clock}] \\
    [get_bd_pins {ps.cell}/{ps.control_clock_pin}] [get_bd_pins {ps.cell}/{ps.memory_clock_pin}] \\
    [get_bd_pins {CORE_CELL}/{CLOCK}] [get_bd_pins rst_{CORE_CELL}/slowest_sync_clk] \\
    [get_bd_pins control_interconnect/aclk] [get_bd_pins memory_interconnect/aclk]
connect_bd_net [get_bd_pins {ps.cell}/{ps.fabric_reset}] [get_bd_pins rst_{CORE_CELL}/ext_reset_in]
connect_bd_net [get_bd_pins rst_{CORE_CELL}/peripheral_reset] [get_bd_pins {CORE_CELL}/{RESET}]
connect_bd_net [get_bd_pins rst_{CORE_CELL}/interconnect_aresetn] \\
    [get_bd_pins control_interconnect/aresetn] [get_bd_pins memory_interconnect/aresetn]

# -- buses: control registers on {ps.control_port}, DRAM through {ps.memory_port} --------------
connect_bd_intf_net [get_bd_intf_pins {ps.cell}/{ps.control_port}] \\
    [get_bd_intf_pins control_interconnect/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins control_interconnect/M00_AXI] \\
    [get_bd_intf_pins {CORE_CELL}/s_axi_control]
connect_bd_intf_net [get_bd_intf_pins {CORE_CELL}/m_axi] [get_bd_intf_pins memory_interconnect/S00_AXI]
connect_bd_intf_net [get_bd_intf_pins memory_interconnect/M00_AXI] \\
    [get_bd_intf_pins {ps.cell}/{ps.memory_port}]

# -- address map (vta.isa.address_map, family {ps.family}) ------------------------------------
assign_bd_address -offset {addresses.control_base:#010x} -range {addresses.control_range:#x} \\
    -target_address_space [get_bd_addr_spaces {ps.cell}/Data] \\
    [get_bd_addr_segs -of_objects [get_bd_intf_pins {CORE_CELL}/s_axi_control]] -force
assign_bd_address -offset {addresses.dram_base:#010x} -range {addresses.dram_range:#x} \\
    -target_address_space [get_bd_addr_spaces {CORE_CELL}/m_axi] \\
    [get_bd_addr_segs {ps.cell}/{ps.memory_segment}] -force

validate_bd_design
set reached [get_property CONFIG.{ps.actual_clock_property} $ps]
if {{$reached ne "" && abs($reached - $clock_mhz) > 0.01 * $clock_mhz}} {{
    error "the PS can make $reached MHz, not the config's $clock_mhz MHz (change CLOCK_MHZ)"
}}
save_bd_design

# -- synthesis, implementation, bitstream -------------------------------------------------
set bd_file [get_files {DESIGN}.bd]
add_files -norecurse [make_wrapper -files $bd_file -top]
set_property top {DESIGN}_wrapper [current_fileset]
update_compile_order -fileset sources_1
generate_target all $bd_file
launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
if {{[get_property PROGRESS [get_runs impl_1]] ne "100%"}} {{
    error "implementation failed: see [get_property DIRECTORY [get_runs impl_1]]"
}}
open_run impl_1
report_utilization -file [file join $script_dir utilization.txt]
report_timing_summary -file [file join $script_dir timing.txt]
set wns [get_property STATS.WNS [get_runs impl_1]]
if {{$wns < 0}} {{
    error "timing not met at $clock_mhz MHz (worst slack $wns ns): lower CLOCK_MHZ"
}}

# -- the overlay: bitstream and hardware handoff, same base name --------------------------
set run_dir [get_property DIRECTORY [get_runs impl_1]]
file copy -force [file join $run_dir {DESIGN}_wrapper.bit] [file join $script_dir {BITSTREAM}]
set handoff [glob -nocomplain [file join $script_dir $project_name * sources_1 bd {DESIGN} \\
    hw_handoff {DESIGN}.hwh]]
if {{[llength $handoff] == 0}} {{
    error "no {DESIGN}.hwh was generated"
}}
file copy -force [lindex $handoff 0] [file join $script_dir {HANDOFF}]
puts "pyvta: wrote [file join $script_dir {BITSTREAM}] and [file join $script_dir {HANDOFF}]"
"""


def project_files(board: Board, config: Config, verilog: str) -> dict[str, str]:
    """File name -> text of the project folder for `board`, `config` and the core's Verilog."""
    ports = module_ports(verilog, CORE)
    return {f"{CORE}.v": verilog, f"{WRAPPER}.v": wrapper_verilog(ports, config),
            SCRIPT: project_tcl(board, config, ports)}


def write_project(board: Board, config: Config, directory: str | Path,
                  verilog: str | None = None) -> list[Path]:
    """Write the project folder; `verilog` defaults to what `vta verilog` writes for `config`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    board.check_config(config)
    if verilog is None:
        from vta.hardware.verilog import generate_verilog
        verilog = generate_verilog(config)
    files = project_files(board, config, verilog)
    written = []
    for name, text in files.items():
        (directory / name).write_text(text)
        written.append(directory / name)
    return written
