"""The ``rtl`` backend: runs program images on the generated Verilog of `vta.hardware`."""

from __future__ import annotations

import tempfile
from pathlib import Path

from vta.isa import BoundsError, Config, DeadlockError, VtaError
from vta.isa.image import ProgramImage
from vta.isa.registers import MODULE_COUNTERS
from vta.runtime.backends import Backend, RunReport
from vta.runtime.backends.rtl import rundir
from vta.runtime.backends.rtl.harnesses import CocotbHarness, FastHarness
from vta.runtime.backends.rtl.verilog import core_verilog
from vta.runtime.backends.rtl.workload import static_counters, watchdog_cycles

SIMULATORS = ("verilator", "icarus")
HARNESSES = ("fast", "cocotb")


def choose_harness(simulator: str, harness: str | None) -> str:
    """Validate the options; `harness` None picks ``fast`` on Verilator and ``cocotb`` on
    Icarus (the fast harness is a Verilator C++ program)."""
    if simulator not in SIMULATORS:
        raise VtaError(f"rtl backend: unknown simulator {simulator!r} "
                       f"(known: {', '.join(SIMULATORS)})")
    harness = harness or ("fast" if simulator == "verilator" else "cocotb")
    if harness not in HARNESSES:
        raise VtaError(f"rtl backend: unknown harness {harness!r} (known: {', '.join(HARNESSES)})")
    if harness == "fast" and simulator != "verilator":
        raise VtaError("rtl backend: the fast harness needs simulator='verilator'")
    return harness


def make_harness(verilog: str, config: Config, simulator: str, harness: str | None):
    """The harness object for (simulator, harness) running `verilog`."""
    if choose_harness(simulator, harness) == "fast":
        return FastHarness(verilog, config.bus_bytes)
    return CocotbHarness(verilog, simulator)


def run_in_harness(harness, image_dram, insn_addr: int, insn_count: int, config: Config,
                   max_cycles: int) -> tuple[dict, object]:
    """Build (cached) and run; the harness's result object and final DRAM image."""
    built = harness.build()
    with tempfile.TemporaryDirectory(prefix="vta-rtl-") as folder:
        run_dir = Path(folder)
        rundir.write_request(run_dir, image_dram, insn_addr=insn_addr, insn_count=insn_count,
                             bus_bytes=config.bus_bytes, read_latency=config.MEM_READ_LATENCY,
                             write_latency=config.MEM_WRITE_LATENCY, max_cycles=max_cycles)
        harness.run(built, run_dir)
        return rundir.read_result(run_dir)


class RtlBackend(Backend):
    """Co-simulation of ``vta_core``: the image goes into the memory model of
    docs/memory-model.md, the control slave is driven as a driver would, and the final DRAM
    comes back into ``image.dram``.

    Options: ``simulator`` ("verilator", default, or "icarus"), ``harness`` ("fast": the C++
    harness, default on Verilator; "cocotb": the cocotb testbench), ``max_cycles`` (watchdog;
    default derived from the program by `watchdog_cycles`).
    """

    name = "rtl"

    def __init__(self, config: Config, *, simulator: str = "verilator", harness: str | None = None,
                 max_cycles: int | None = None, **options):
        super().__init__(config, **options)
        if max_cycles is not None and max_cycles < 1:
            raise VtaError(f"rtl backend: max_cycles must be positive, not {max_cycles}")
        harness = choose_harness(simulator, harness)
        verilog = core_verilog(config, sv=simulator != "icarus")
        self.harness = make_harness(verilog, config, simulator, harness)
        self.max_cycles = max_cycles

    def execute(self, image: ProgramImage) -> RunReport:
        budget = self.max_cycles or watchdog_cycles(image)
        result, dram = run_in_harness(self.harness, image.dram, image.insn_addr, image.insn_count,
                                      self.config, budget)
        if result["status"] == "deadlock":
            raise DeadlockError(_diagnose_hang(image, result["message"]))
        if result["status"] != "ok":
            raise BoundsError(result["message"]) if "outside the DRAM image" in result["message"] \
                else VtaError(result["message"])
        image.dram[:] = dram
        registers = result["registers"]
        modules = {module: {kind: registers[register.name] for kind, register in counters.items()}
                   for module, counters in MODULE_COUNTERS.items()}
        return RunReport(self.name, registers["CYCLES"], static_counters(image), modules)


def _diagnose_hang(image: ProgramImage, watchdog: str) -> str:
    """Name the waiting instruction, as the functional simulator does, after a watchdog."""
    from vta.simulator.functional import FunctionalSimulator

    try:
        FunctionalSimulator(image.config).run(image.dram.copy(), image.insn_addr, image.insn_count)
    except DeadlockError as error:
        return f"{error} (RTL {watchdog})"
    return (f"RTL {watchdog}, though the functional simulator completes the program "
            "(a hang in the hardware)")
