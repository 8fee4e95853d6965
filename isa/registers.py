"""The control register map of the pyvta core (AXI4-Lite slave, 32-bit registers).

It is the contract between the hardware (`vta.hardware`) and every driver of it (the RTL
co-simulation backend and the board backend); docs/registers.md describes it for users.
"""

from enum import IntEnum

REGISTER_BYTES = 4
#: Width of the AXI4-Lite address bus of the control slave.
CONTROL_ADDR_BITS = 8


class Register(IntEnum):
    """Byte offsets of the control registers."""

    CONTROL = 0x00      # write 1 to bit 0: start fetching (self-clearing)
    STATUS = 0x04       # bit 0: done (FINISH retired since the last start); bit 1: busy
    INSN_ADDR = 0x08    # physical byte address of the first instruction (low 32 bits)
    INSN_COUNT = 0x0C   # number of instructions
    CYCLES = 0x10       # clock cycles from start to FINISH retiring
    FETCH_BUSY = 0x14
    LOAD_BUSY = 0x18
    LOAD_STALL = 0x1C
    COMPUTE_BUSY = 0x20
    COMPUTE_STALL = 0x24
    STORE_BUSY = 0x28
    STORE_STALL = 0x2C


CONTROL_START = 1 << 0
STATUS_DONE = 1 << 0
STATUS_BUSY = 1 << 1

#: Per-module counters as the `modules` object of `vta exec --json` names them.
MODULE_COUNTERS = {
    "fetch": {"busy": Register.FETCH_BUSY},
    "load": {"busy": Register.LOAD_BUSY, "stall": Register.LOAD_STALL},
    "compute": {"busy": Register.COMPUTE_BUSY, "stall": Register.COMPUTE_STALL},
    "store": {"busy": Register.STORE_BUSY, "stall": Register.STORE_STALL},
}
