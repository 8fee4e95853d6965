"""The host driver of the core: the one place that knows the control protocol
(docs/registers.md): read STATUS (the core must not be busy); write INSN_ADDR, INSN_COUNT, then
CONTROL = start; poll STATUS until done, waiting longer between polls; read CYCLES and the
per-module counters. It talks to the core only through an `MmioBus` (`vta.runtime.backends.bus`),
so the same code drives the Amaranth simulation, the Verilator harness, cocotb and a board.
"""

from __future__ import annotations

from dataclasses import dataclass

from vta.isa import DeadlockError, VtaError
from vta.isa.registers import CONTROL_START, MODULE_COUNTERS, STATUS_BUSY, STATUS_DONE, Register
from vta.runtime.backends.bus import MmioBus

#: First and longest wait between two STATUS polls (microseconds); the wait doubles each poll.
FIRST_POLL_US, LONGEST_POLL_US = 1.0, 50.0


@dataclass
class RunResult:
    """The core's counters after a run: CYCLES and each module's busy/stall cycles."""

    cycles: int
    modules: dict[str, dict[str, int]]


class CoreDriver:
    """Runs instruction streams on the core behind `bus`."""

    def __init__(self, bus: MmioBus):
        self.bus = bus

    def run(self, insn_address: int, insn_count: int, *, watchdog_us: float) -> RunResult:
        """Start the stream at physical `insn_address`, wait for FINISH, read the counters;
        DeadlockError when the core is not done after `watchdog_us` microseconds of waiting."""
        self.start(insn_address, insn_count)
        self.wait_done(watchdog_us, insn_count)
        return self.read_counters()

    def start(self, insn_address: int, insn_count: int) -> None:
        if self.bus.read(Register.STATUS) & STATUS_BUSY:
            raise VtaError("the core is busy with an earlier run")
        self.bus.write(Register.INSN_ADDR, insn_address)
        self.bus.write(Register.INSN_COUNT, insn_count)
        self.bus.write(Register.CONTROL, CONTROL_START)

    def wait_done(self, watchdog_us: float, insn_count: int) -> None:
        waited, pause = 0.0, FIRST_POLL_US
        while not self.bus.read(Register.STATUS) & STATUS_DONE:
            if waited >= watchdog_us:
                raise DeadlockError(f"watchdog: the core was not done after {waited:g} us "
                                    f"(FINISH never retired; {insn_count} instructions)")
            self.bus.wait(pause)
            waited += pause
            pause = min(2 * pause, LONGEST_POLL_US)

    def read_counters(self) -> RunResult:
        cycles = self.bus.read(Register.CYCLES)
        modules = {module: {kind: self.bus.read(register) for kind, register in counters.items()}
                   for module, counters in MODULE_COUNTERS.items()}
        return RunResult(cycles, modules)
