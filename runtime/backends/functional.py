"""The functional backend: the bit-exact functional simulator, no timing."""

from __future__ import annotations

from vta.isa import Config
from vta.isa.image import ProgramImage
from vta.runtime.backends import Backend, RunReport


class FunctionalBackend(Backend):
    """Runs images on `vta.simulator.functional.FunctionalSimulator`; `cycles` is None."""

    name = "functional"
    counts_cycles = False

    def __init__(self, config: Config, **options):
        super().__init__(config, **options)
        self._simulator = None

    def execute(self, image: ProgramImage) -> RunReport:
        if self._simulator is None:
            from vta.simulator.functional import FunctionalSimulator

            self._simulator = FunctionalSimulator(self.config)
        counters = self._simulator.run(image.dram, image.insn_addr, image.insn_count,
                                       program=image.program)
        return RunReport(self.name, None, counters, {})
