"""The ``board`` backend: program images on a PYNQ board, or — with the same driver — on the
RTL co-simulation standing in for one."""

from __future__ import annotations

import os

from vta.isa import Config, VtaError
from vta.isa.address_map import AddressMap, address_map
from vta.isa.image import ProgramImage
from vta.runtime.backends import Backend, RunReport
from vta.runtime.backends.board.driver import BoardDriver
from vta.runtime.backends.bus import LoggingBus
from vta.runtime.backends.rtl.workload import static_counters, watchdog_cycles

BINDINGS = ("pynq", "cosim")
#: Processing-system family of each preset's TARGET (de10nano is an Intel board: none).
TARGET_FAMILIES = {"pynq": "zynq", "ultra96": "zynqmp", "zcu104": "zynqmp"}


class BoardBackend(Backend):
    """Runs images through `BoardDriver`.

    Options: ``binding`` — ``"pynq"`` (the board; the default unless the environment variable
    ``VTA_BOARD_BINDING`` names another) or ``"cosim"`` (the RTL co-simulation);
    ``bitstream`` — with ``pynq``, an overlay to load first (``vta.bit`` with ``vta.hwh``
    beside it; default: the environment variable ``VTA_BOARD_BITSTREAM``, else none — the
    overlay is already loaded); ``simulator`` — with ``cosim``, ``"verilator"`` (default) or
    ``"icarus"``; ``max_cycles`` — the watchdog, in cycles at CLOCK_MHZ of waiting (default:
    derived from the program, as for the rtl backend).
    After a run, `mmio_log` holds the driver's register accesses.
    """

    name = "board"

    def __init__(self, config: Config, *, binding: str | None = None, bitstream: str | None = None,
                 simulator: str = "verilator", max_cycles: int | None = None, **options):
        super().__init__(config, **options)
        if max_cycles is not None and max_cycles < 1:
            raise VtaError(f"board backend: max_cycles must be positive, not {max_cycles}")
        self.max_cycles = max_cycles
        self.binding = binding or os.environ.get("VTA_BOARD_BINDING", "pynq")
        if self.binding not in BINDINGS:
            raise VtaError(f"board backend: unknown binding {self.binding!r} "
                           f"(known: {', '.join(BINDINGS)})")
        self.simulator = simulator
        self.mmio_log: list[tuple[str, int, float]] = []
        self.address_map: AddressMap | None = None
        if config.TARGET in TARGET_FAMILIES:
            self.address_map = address_map(TARGET_FAMILIES[config.TARGET])
        if self.binding == "pynq":
            self._connect_board(bitstream)

    def _connect_board(self, bitstream: str | None) -> None:
        from vta.runtime.backends.board.pynq_binding import PynqBus, PynqMemory, load_overlay

        if self.address_map is None:
            raise VtaError(f"board backend: TARGET {self.config.TARGET!r} is not a Zynq board "
                           f"(known: {', '.join(TARGET_FAMILIES)})")
        bitstream = bitstream or os.environ.get("VTA_BOARD_BITSTREAM")
        if bitstream:
            load_overlay(bitstream, self.address_map)
        self.bus, self.memory = PynqBus(self.address_map), PynqMemory()

    def execute(self, image: ProgramImage) -> RunReport:
        watchdog_us = (self.max_cycles or watchdog_cycles(image)) / self.config.CLOCK_MHZ
        if self.binding == "cosim":
            result = self._run_cosim(image, watchdog_us)
        else:
            result = self._run(self.bus, self.memory, image, watchdog_us)
        return RunReport(self.name, result.cycles, static_counters(image), result.modules)

    def _run(self, bus, memory, image: ProgramImage, watchdog_us: float):
        logging_bus = LoggingBus(bus)
        self.mmio_log = logging_bus.log
        driver = BoardDriver(logging_bus, memory, address_map=self.address_map)
        return driver.run(image, watchdog_us=watchdog_us)

    def _run_cosim(self, image: ProgramImage, watchdog_us: float):
        from vta.runtime.backends.board.cosim_binding import CosimMemory
        from vta.runtime.backends.rtl.backend import make_harness
        from vta.runtime.backends.rtl.session import SessionBus
        from vta.runtime.backends.rtl.verilog import core_verilog
        from vta.runtime.memory import PAGE_BYTES

        verilog = core_verilog(self.config, sv=self.simulator != "icarus")
        harness = make_harness(verilog, self.simulator, None, config=self.config)
        # Page 0 is never allocated, so the image lands at a non-zero physical address.
        pages = -(-(PAGE_BYTES + image.dram.size) // PAGE_BYTES)
        with harness.open_session(self.config, pages * PAGE_BYTES) as session:
            return self._run(SessionBus(session), CosimMemory(session), image, watchdog_us)
