"""The cycle backend: data from the functional simulator, time from the cycle model of the RTL
core (`vta.simulator.cycle`, docs/cycle-model.md) with the config's memory parameters."""

from __future__ import annotations

from vta.isa import Config
from vta.isa.image import ProgramImage
from vta.runtime.backends import Backend, RunReport


class CycleBackend(Backend):
    """Runs images functionally and reports the cycles and per-module busy/stall cycles that
    the RTL core (fast Verilator harness, docs/memory-model.md) would count.

    Options: ``trace``, a path to write a Perfetto (Chrome trace-event) JSON timeline of each
    run to; ``timeline``, keep every instruction's cycles in the report (`RunReport.timeline`:
    a trace of many runs, as `vta run --trace` writes).
    """

    name = "cycle"

    def __init__(self, config: Config, *, trace: str | None = None, timeline: bool = False,
                 **options):
        super().__init__(config, **options)
        config.check_bus()
        self.trace = trace
        self.timeline = timeline
        self._simulator = None

    def execute(self, image: ProgramImage) -> RunReport:
        from vta.simulator.cycle import CycleModel
        from vta.simulator.functional import FunctionalSimulator

        if self._simulator is None:
            self._simulator = FunctionalSimulator(self.config)
        program = image.program
        counters = self._simulator.run(image.dram, image.insn_addr, image.insn_count,
                                       program=program)
        timing = CycleModel(self.config).run(program, image.insn_addr, image.dram)
        if self.trace:
            from vta.simulator.cycle.trace import write_trace

            write_trace(timing, self.trace)
        modules = {name: dict(figures) for name, figures in timing.modules.items()}
        return RunReport(self.name, timing.cycles, counters, modules,
                         timing.timeline if self.timeline else [])
