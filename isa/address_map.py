"""Where the core sits in a Zynq system: the physical address map a board driver expects.

It is the contract between the Vivado block design (`vta.fpga.vivado`, which assigns these
addresses) and the board backend (`vta.runtime.backends.board`, which maps them): the core's
control slave (the registers of `vta.isa.registers`) on a general-purpose master port of the
processing system, and the window of DRAM its AXI master sees through a high-performance port,
where a physical address is the address the core puts on its bus.
"""

from __future__ import annotations

from dataclasses import dataclass

from vta.isa.errors import ConfigError


@dataclass(frozen=True)
class AddressMap:
    """The address map of one processing-system family."""

    family: str
    control_base: int   # physical address of register offset 0
    control_range: int  # bytes of the control window (Vivado's smallest segment is 4 KiB)
    dram_base: int      # first physical DRAM address the core's master reaches
    dram_range: int     # bytes of that window


ADDRESS_MAPS: dict[str, AddressMap] = {
    # Zynq-7000: M_AXI_GP0 spans 0x4000_0000..0x7FFF_FFFF; S_AXI_HP0 reaches DDR from 0.
    "zynq": AddressMap("zynq", control_base=0x43C0_0000, control_range=0x1_0000,
                       dram_base=0x0000_0000, dram_range=0x2000_0000),
    # Zynq UltraScale+: M_AXI_HPM0_FPD spans 0xA000_0000..0xAFFF_FFFF; S_AXI_HP0_FPD reaches
    # the low 2 GiB of DDR from 0.
    "zynqmp": AddressMap("zynqmp", control_base=0xA000_0000, control_range=0x1_0000,
                         dram_base=0x0000_0000, dram_range=0x8000_0000),
}


def address_map(family: str) -> AddressMap:
    """The address map of a processing-system family (``zynq`` or ``zynqmp``)."""
    try:
        return ADDRESS_MAPS[family]
    except KeyError:
        raise ConfigError(f"unknown processing-system family {family!r} "
                          f"(known: {', '.join(ADDRESS_MAPS)})") from None
