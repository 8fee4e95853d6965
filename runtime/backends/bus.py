"""The bus interface between the one host driver (`vta.runtime.backends.driver.CoreDriver`) and
a core, simulated or on a board.

Everything the driver does to the hardware goes through two objects:

* an `MmioBus`: 32-bit reads and writes of the core's control registers (byte offsets of
  `vta.isa.registers`) and a way to let time pass while polling;
* a `BufferAllocator`: physically contiguous DRAM buffers, each a numpy byte array the host
  writes and reads plus the physical address the core uses, with explicit cache maintenance.

On a board both are PYNQ's (`board.pynq_binding`); in simulation the bus is a
`rtl.session.SessionBus` (the Verilator harness or cocotb) or an `rtl.amaranth_session`
(Amaranth's simulator), and the memory is the simulation's DRAM, so the same driver code runs
against the Verilog, the Amaranth design and the board.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class MmioBus(Protocol):
    def read(self, offset: int) -> int:
        """The 32-bit register at byte `offset` of the control window."""

    def write(self, offset: int, value: int) -> None:
        """Write the 32-bit register at byte `offset`."""

    def wait(self, microseconds: float) -> None:
        """Let `microseconds` pass (between two polls)."""


class DeviceBuffer(Protocol):
    array: np.ndarray       # uint8 view of the buffer, host side
    physical_address: int   # where the core sees byte 0 of `array`

    def sync_to_device(self) -> None:
        """Make host writes to `array` visible to the core (cache flush)."""

    def sync_from_device(self) -> None:
        """Make the core's writes visible in `array` (cache invalidate)."""

    def free(self) -> None:
        """Give the buffer back."""


class BufferAllocator(Protocol):
    def allocate(self, nbytes: int) -> DeviceBuffer:
        """A physically contiguous, page-aligned buffer of `nbytes` bytes."""


@dataclass
class LoggingBus:
    """An `MmioBus` that records every access as ``(kind, offset, value)`` and forwards it;
    kind is ``"read"``, ``"write"`` or ``"wait"`` (offset 0, value in microseconds)."""

    bus: MmioBus
    log: list[tuple[str, int, float]] = field(default_factory=list)

    def read(self, offset: int) -> int:
        value = self.bus.read(offset)
        self.log.append(("read", offset, value))
        return value

    def write(self, offset: int, value: int) -> None:
        self.log.append(("write", offset, value))
        self.bus.write(offset, value)

    def wait(self, microseconds: float) -> None:
        self.log.append(("wait", 0, microseconds))
        self.bus.wait(microseconds)
