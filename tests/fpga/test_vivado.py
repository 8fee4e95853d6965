"""`vta fpga project`: the Vivado script is run in a real Tcl interpreter with Vivado's commands
recorded, and what it asks Vivado to build is checked: part, processing-system settings, ports,
connections, clock and address map. The wrapper is elaborated with the core by Icarus."""

import shutil
import subprocess
import tkinter

import pytest
from fpga_helpers import calls_of, core_verilog, property_dict, run_vivado_script

from vta.cli import main
from vta.fpga.boards import board
from vta.fpga.ports import Port, module_ports
from vta.fpga.vivado import classify_ports, write_project
from vta.isa import Config, VtaError
from vta.runtime.backends.board.backend import BoardBackend


@pytest.fixture(scope="module")
def pynq_project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pynq_z1")
    config = Config.preset("pynq")
    write_project(board("pynq-z1"), config, folder, verilog=core_verilog(config))
    return folder


def _interface_links(calls):
    """Undirected links of connect_bd_intf_net, with each interconnect's S00/M00 joined."""
    links = set()
    for call in calls_of(calls, "connect_bd_intf_net"):
        a, b = call.args
        links |= {(a, b), (b, a)}
    for a, _ in list(links):
        cell, _, pin = a.rpartition("/")
        if pin == "S00_AXI":
            links |= {(a, f"{cell}/M00_AXI"), (f"{cell}/M00_AXI", a)}
    return links


def _reachable(links, start):
    seen, todo = {start}, [start]
    while todo:
        node = todo.pop()
        for a, b in links:
            if a == node and b not in seen:
                seen.add(b)
                todo.append(b)
    return seen


def test_pynq_z1_block_design(pynq_project):
    calls = run_vivado_script(pynq_project / "vta_project.tcl", reached_mhz=100)
    project, = calls_of(calls, "create_project")
    assert project.option("-part") == "xc7z020clg400-1"

    cells = {call.args[-1]: call.args for call in calls_of(calls, "create_bd_cell")}
    assert cells["processing_system7_0"][:3] == ["-type", "ip", "-vlnv"]
    assert cells["processing_system7_0"][3] == "xilinx.com:ip:processing_system7"
    assert cells["vta_0"] == ["-type", "module", "-reference", "vta_top", "vta_0"]

    settings = {}
    for call in calls_of(calls, "set_property"):
        if call.args[0] == "-dict" and call.args[-1] == "processing_system7_0":
            settings |= property_dict(call.args[1])
    assert settings["CONFIG.PCW_USE_S_AXI_HP0"] == "1"
    assert settings["CONFIG.PCW_S_AXI_HP0_DATA_WIDTH"] == "64"
    assert settings["CONFIG.PCW_USE_M_AXI_GP0"] == "1"
    assert float(settings["CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ"]) == 100.0

    links = _interface_links(calls)
    assert "processing_system7_0/S_AXI_HP0" in _reachable(links, "vta_0/m_axi")
    assert "processing_system7_0/M_AXI_GP0" in _reachable(links, "vta_0/s_axi_control")
    assert "processing_system7_0/S_AXI_HP0" not in _reachable(links, "vta_0/s_axi_control")

    nets = [call.args for call in calls_of(calls, "connect_bd_net")]
    clock_net, = [net for net in nets if "processing_system7_0/FCLK_CLK0" in net]
    assert {"vta_0/clk", "processing_system7_0/S_AXI_HP0_ACLK",
            "processing_system7_0/M_AXI_GP0_ACLK"} <= set(clock_net)
    assert ["rst_vta_0/peripheral_reset", "vta_0/rst"] in nets  # active-high reset

    control, memory = calls_of(calls, "assign_bd_address")
    assert control.option("-target_address_space") == "processing_system7_0/Data"
    assert control.args[-2] == "vta_0/s_axi_control"
    assert int(control.option("-offset"), 16) == 0x43C0_0000
    assert memory.option("-target_address_space") == "vta_0/m_axi"
    assert memory.args[-2] == "processing_system7_0/S_AXI_HP0/HP0_DDR_LOWOCM"
    assert int(memory.option("-offset"), 16) == 0 and int(memory.option("-range"), 16) == 512 << 20

    copies = [call.args for call in calls_of(calls, "file") if call.args[0] == "copy"]
    assert [args[-1].rsplit("/", 1)[-1] for args in copies] == ["vta.bit", "vta.hwh"]


def test_address_map_is_the_runtime_board_drivers(pynq_project):
    calls = run_vivado_script(pynq_project / "vta_project.tcl", reached_mhz=100)
    control, memory = calls_of(calls, "assign_bd_address")
    runtime = BoardBackend(Config.preset("pynq"), binding="cosim").address_map
    assert int(control.option("-offset"), 16) == runtime.control_base
    assert int(control.option("-range"), 16) == runtime.control_range
    assert int(memory.option("-offset"), 16) == runtime.dram_base
    assert int(memory.option("-range"), 16) == runtime.dram_range


def test_a_clock_the_ps_cannot_make_stops_the_script(pynq_project):
    with pytest.raises(tkinter.TclError, match="PS can make 90 MHz, not the config's 100 MHz"):
        run_vivado_script(pynq_project / "vta_project.tcl", reached_mhz=90)


def test_failed_timing_stops_before_the_overlay_is_written(pynq_project):
    with pytest.raises(tkinter.TclError, match="timing not met at 100 MHz"):
        run_vivado_script(pynq_project / "vta_project.tcl", reached_mhz=100, wns=-0.3)


def test_wrapper_has_the_core_ports_and_elaborates_with_it(pynq_project):
    core = module_ports((pynq_project / "vta_core.v").read_text(), "vta_core")
    wrapper = module_ports((pynq_project / "vta_top.v").read_text(), "vta_top")
    assert wrapper == core
    if shutil.which("iverilog") is None:
        pytest.fail("iverilog is needed (apt-get install iverilog)")
    result = subprocess.run(["iverilog", "-g2012", "-Wall", "-s", "vta_top", "-o", "/dev/null",
                             "vta_core.v", "vta_top.v"], cwd=pynq_project,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "vta_top.v" not in result.stderr  # no warning about the wrapper (port widths...)


def test_ultra96_uses_the_zynqmp_ports_clock_and_bus(tmp_path):
    config = Config.preset("ultra96")
    write_project(board("ultra96-v2"), config, tmp_path, verilog=core_verilog(config))
    calls = run_vivado_script(tmp_path / "vta_project.tcl", reached_mhz=333)
    assert calls_of(calls, "create_project")[0].option("-part") == "xczu3eg-sbva484-1-i"
    settings = {}
    for call in calls_of(calls, "set_property"):
        if call.args[0] == "-dict" and call.args[-1] == "zynq_ultra_ps_e_0":
            settings |= property_dict(call.args[1])
    assert float(settings["CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"]) == 333.0
    assert settings["CONFIG.PSU__SAXIGP2__DATA_WIDTH"] == "128"
    links = _interface_links(calls)
    assert "zynq_ultra_ps_e_0/S_AXI_HP0_FPD" in _reachable(links, "vta_0/m_axi")
    assert "zynq_ultra_ps_e_0/M_AXI_HPM0_FPD" in _reachable(links, "vta_0/s_axi_control")
    control, _ = calls_of(calls, "assign_bd_address")
    assert int(control.option("-offset"), 16) == 0xA000_0000


def test_cli_writes_the_project_for_the_board_preset(tmp_path, capsys):
    assert main(["fpga", "project", "--board", "pynq-z2", "-o", str(tmp_path)]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "vta_core.v", "vta_project.tcl", "vta_top.v"]
    assert (tmp_path / "vta_core.v").read_text() == core_verilog(Config.preset("pynq"))
    script = (tmp_path / "vta_project.tcl").read_text()
    assert "set board_part tul.com.tw:pynq-z2:part0:1.0" in script
    assert "vivado -mode batch" in capsys.readouterr().out


def test_a_port_outside_every_interface_is_refused():
    ports = [Port("clk", "input", 1), Port("rst", "input", 1), Port("m_axi_awaddr", "output", 32),
             Port("s_axi_control_awaddr", "input", 8), Port("debug", "output", 4)]
    with pytest.raises(VtaError, match="port debug belongs to no interface"):
        classify_ports(ports)
