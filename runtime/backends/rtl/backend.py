"""The ``rtl`` backend: runs program images on the generated Verilog of `vta.hardware`."""

from __future__ import annotations

from pathlib import Path

from vta.isa import Config, DeadlockError, VtaError
from vta.isa.image import ProgramImage
from vta.runtime.backends import Backend, RunReport
from vta.runtime.backends.driver import CoreDriver, RunResult
from vta.runtime.backends.rtl.harnesses import CocotbHarness, FastHarness
from vta.runtime.backends.rtl.session import SessionBus
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


def make_harness(verilog: str, simulator: str, harness: str | None, waves: str | None = None,
                 config: Config | None = None):
    """The harness object for (simulator, harness) running `verilog`; `waves` ("fst", "vcd"):
    one that can dump waveforms (the fast harness); `config`: the config of the core in
    `verilog`, for which the fast harness is built profile-guided (`FastHarness`)."""
    if choose_harness(simulator, harness) == "fast":
        return FastHarness(verilog, waves, training=config)
    return CocotbHarness(verilog, simulator, waves)


def waves_format(path: str | Path) -> str:
    """"fst" or "vcd", from a waveform file's suffix; VtaError naming the file otherwise."""
    path = Path(path)
    if path.suffix.lower() not in (".fst", ".vcd"):
        raise VtaError(f"{path}: a waveform file is .fst or .vcd")
    if not path.resolve().parent.is_dir():
        raise VtaError(f"{path}: no folder {path.parent} to write the waveform in")
    return path.suffix.lower()[1:]


def run_in_harness(harness, config: Config, dram, insn_addr: int, insn_count: int, *,
                   max_cycles: int, waves: Path | None = None,
                   window: tuple[int, int] | None = None) -> RunResult:
    """Run a stream on a session of `harness` whose DRAM starts as `dram` (changed in place)
    with the one host driver; DeadlockError after `max_cycles` cycles of waiting. `waves`: a
    file the harness dumps cycles `window` of the run to (kept when the run fails)."""
    options = {} if waves is None else {"waves": waves, "window": window}
    with harness.open_session(config, dram.size, **options) as session:
        session.dram[:] = dram
        driver = CoreDriver(SessionBus(session))
        result = driver.run(insn_addr, insn_count, watchdog_us=max_cycles / config.CLOCK_MHZ)
        dram[:] = session.dram
    return result


class RtlBackend(Backend):
    """Co-simulation of ``vta_core``: the image is the simulated DRAM from address 0, the one
    host driver (`vta.runtime.backends.driver.CoreDriver`) starts the stream and reads the
    counters, and the final DRAM comes back into ``image.dram``.

    Options: ``simulator`` ("verilator", default, or "icarus"), ``harness`` ("fast": the C++
    harness, default on Verilator; "cocotb": the cocotb testbench), ``max_cycles`` (watchdog;
    default derived from the program by `watchdog_cycles`), ``waves`` (a .fst or .vcd file the
    fast harness dumps every signal to; the n-th run of this backend writes ``NAME.n.fst``
    from the second on, listed in `waves_files`), ``waves_window`` ((first, last) cycles
    counted from the end of reset; default every cycle).
    """

    name = "rtl"

    def __init__(self, config: Config, *, simulator: str = "verilator", harness: str | None = None,
                 max_cycles: int | None = None, waves: str | Path | None = None,
                 waves_window: tuple[int, int] | None = None, **options):
        super().__init__(config, **options)
        if max_cycles is not None and max_cycles < 1:
            raise VtaError(f"rtl backend: max_cycles must be positive, not {max_cycles}")
        if waves_window is not None and waves is None:
            raise VtaError("rtl backend: a waves window needs a waves file")
        harness = choose_harness(simulator, harness)
        wave_format = None if waves is None else waves_format(waves)
        verilog = core_verilog(config, sv=simulator != "icarus")
        self.harness = make_harness(verilog, simulator, harness, wave_format, config)
        self.max_cycles = max_cycles
        self.waves = None if waves is None else Path(waves).resolve()
        self.waves_window = waves_window
        self.waves_files: list[Path] = []

    def _next_waves(self) -> Path | None:
        if self.waves is None:
            return None
        runs = len(self.waves_files) + 1
        path = self.waves if runs == 1 else self.waves.with_name(
            f"{self.waves.stem}.{runs}{self.waves.suffix}")
        self.waves_files.append(path)
        return path

    def execute(self, image: ProgramImage) -> RunReport:
        budget = self.max_cycles or watchdog_cycles(image)
        try:
            result = run_in_harness(self.harness, self.config, image.dram, image.insn_addr,
                                    image.insn_count, max_cycles=budget,
                                    waves=self._next_waves(), window=self.waves_window)
        except DeadlockError as error:
            raise DeadlockError(_diagnose_hang(image, str(error))) from None
        return RunReport(self.name, result.cycles, static_counters(image), result.modules)


def _diagnose_hang(image: ProgramImage, watchdog: str) -> str:
    """Name the waiting instruction, as the functional simulator does, after a watchdog."""
    from vta.simulator.functional import FunctionalSimulator

    try:
        FunctionalSimulator(image.config).run(image.dram.copy(), image.insn_addr, image.insn_count)
    except DeadlockError as error:
        return f"{error} (RTL {watchdog})"
    return (f"RTL {watchdog}, though the functional simulator completes the program "
            "(a hang in the hardware)")
