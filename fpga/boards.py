"""The boards pyvta targets: FPGA part, capacity, processing-system settings and default preset."""

from __future__ import annotations

from dataclasses import dataclass

from vta.isa import Config, ConfigError
from vta.isa.address_map import AddressMap, address_map

#: Resource names, in the order reports print them.
RESOURCES = ("LUT", "FF", "BRAM36", "DSP")


@dataclass(frozen=True)
class ProcessingSystem:
    """How the core attaches to one processing-system family in a Vivado block design."""

    family: str              # "zynq" or "zynqmp", the key of vta.isa.address_map
    ip: str                  # Vivado IP VLNV (version-less)
    cell: str                # block-design cell name
    memory_port: str         # slave port the core's AXI master drives (high-performance)
    memory_segment: str      # DDR address segment reached through that port (pin/segment)
    control_port: str        # general-purpose master port that reaches the control registers
    control_clock_pin: str   # clock pin of the control port
    memory_clock_pin: str    # clock pin of the memory port
    fabric_clock: str        # PS output pin of the fabric clock
    fabric_reset: str        # PS output pin of the fabric reset (active low)
    memory_port_widths: tuple[int, ...]  # data widths the memory port supports, bits
    memory_port_settings: dict[str, str]  # CONFIG properties enabling the ports
    automation_rule: str     # block-automation rule that applies the board preset
    automation_config: str   # its -config dictionary
    clock_property: str      # CONFIG property setting the fabric clock frequency (MHz)
    actual_clock_property: str  # CONFIG property holding the frequency Vivado could reach
    bus_width_property: str  # CONFIG property setting the memory port's data width

    @property
    def address_map(self) -> AddressMap:
        return address_map(self.family)


ZYNQ_PS = ProcessingSystem(
    family="zynq", ip="xilinx.com:ip:processing_system7", cell="processing_system7_0",
    memory_port="S_AXI_HP0", memory_segment="S_AXI_HP0/HP0_DDR_LOWOCM",
    control_port="M_AXI_GP0", control_clock_pin="M_AXI_GP0_ACLK",
    memory_clock_pin="S_AXI_HP0_ACLK", fabric_clock="FCLK_CLK0", fabric_reset="FCLK_RESET0_N",
    memory_port_widths=(32, 64),
    memory_port_settings={"PCW_USE_S_AXI_HP0": "1", "PCW_USE_M_AXI_GP0": "1",
                          "PCW_EN_CLK0_PORT": "1", "PCW_EN_RST0_PORT": "1"},
    automation_rule="xilinx.com:bd_rule:processing_system7",
    automation_config='make_external "FIXED_IO, DDR" apply_board_preset "1" '
                      'Master "Disable" Slave "Disable"',
    clock_property="PCW_FPGA0_PERIPHERAL_FREQMHZ",
    actual_clock_property="PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ",
    bus_width_property="PCW_S_AXI_HP0_DATA_WIDTH",
)

ZYNQMP_PS = ProcessingSystem(
    family="zynqmp", ip="xilinx.com:ip:zynq_ultra_ps_e", cell="zynq_ultra_ps_e_0",
    memory_port="S_AXI_HP0_FPD", memory_segment="SAXIGP2/HP0_DDR_LOW",
    control_port="M_AXI_HPM0_FPD", control_clock_pin="maxihpm0_fpd_aclk",
    memory_clock_pin="saxihp0_fpd_aclk", fabric_clock="pl_clk0", fabric_reset="pl_resetn0",
    memory_port_widths=(32, 64, 128),
    memory_port_settings={"PSU__USE__S_AXI_GP2": "1", "PSU__USE__M_AXI_GP0": "1",
                          "PSU__USE__M_AXI_GP1": "0", "PSU__USE__M_AXI_GP2": "0",
                          "PSU__FPGA_PL0_ENABLE": "1"},
    automation_rule="xilinx.com:bd_rule:zynq_ultra_ps_e",
    automation_config='apply_board_preset "1"',
    clock_property="PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ",
    actual_clock_property="PSU__CRL_APB__PL0_REF_CTRL__ACT_FREQMHZ",
    bus_width_property="PSU__SAXIGP2__DATA_WIDTH",
)


@dataclass(frozen=True)
class Board:
    """One board: its FPGA, the capacity of that FPGA, its processing system and preset."""

    name: str
    title: str
    part: str                 # Vivado part name
    board_part: str           # Vivado board-file id (board files give the PS its DDR/MIO preset)
    yosys_family: str         # `synth_xilinx -family`
    capacity: dict[str, int]  # available LUT, FF, BRAM36 (RAMB36 equivalents), DSP
    ps: ProcessingSystem
    preset: str               # default config preset

    def default_config(self) -> Config:
        return Config.preset(self.preset)

    def check_config(self, config: Config) -> None:
        """Reject a config this board's memory port cannot carry."""
        if config.bus_bits not in self.ps.memory_port_widths:
            widths = ", ".join(str(width) for width in self.ps.memory_port_widths)
            raise ConfigError(f"board {self.name}: {self.ps.memory_port} carries {widths}-bit "
                              f"data, not the config's {config.bus_bits}-bit bus (LOG_BUS_WIDTH)")


XC7Z020 = {"LUT": 53_200, "FF": 106_400, "BRAM36": 140, "DSP": 220}
XCZU3EG = {"LUT": 70_560, "FF": 141_120, "BRAM36": 216, "DSP": 360}
XCZU7EV = {"LUT": 230_400, "FF": 460_800, "BRAM36": 312, "DSP": 1_728}

BOARDS: dict[str, Board] = {board.name: board for board in (
    Board("pynq-z1", "Digilent PYNQ-Z1", "xc7z020clg400-1", "www.digilentinc.com:pynq-z1:part0:1.0",
          "xc7", XC7Z020, ZYNQ_PS, "pynq"),
    Board("pynq-z2", "TUL PYNQ-Z2", "xc7z020clg400-1", "tul.com.tw:pynq-z2:part0:1.0",
          "xc7", XC7Z020, ZYNQ_PS, "pynq"),
    Board("ultra96-v2", "Avnet Ultra96-V2", "xczu3eg-sbva484-1-i", "avnet.com:ultra96v2:part0:1.2",
          "xcup", XCZU3EG, ZYNQMP_PS, "ultra96"),
    Board("zcu104", "AMD Xilinx ZCU104", "xczu7ev-ffvc1156-2-e", "xilinx.com:zcu104:part0:1.1",
          "xcup", XCZU7EV, ZYNQMP_PS, "zcu104"),
)}


def board(name: str) -> Board:
    """The board called `name`; an unknown name is an error listing the known ones."""
    try:
        return BOARDS[name]
    except KeyError:
        raise ConfigError(f"unknown board {name!r} (known: {', '.join(BOARDS)})") from None
