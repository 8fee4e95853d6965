"""Execution plans of GEMM and ALU instructions, cached by what determines them: the
instruction's bytes and the micro-op words it runs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vta.isa import MemoryType
from vta.isa.program import DecodedInstruction
from vta.simulator.functional.memory import Sram

#: Plans, and bytes of operand data they keep, before the cache is emptied.
PLAN_CACHE_SIZE = 4096
PLAN_CACHE_BYTES = 256 << 20


class PlanCache:
    """Plans by (instruction bytes, micro-op words); emptied when it holds too many plans or
    too many bytes (a plan's optional ``nbytes``). The plan an instruction last used is found
    again without reading its micro-ops while UOP memory has not changed since (its
    generation, `Sram.generation`)."""

    def __init__(self):
        self.plans: dict[tuple[bytes, bytes], object] = {}
        self.recent: dict[bytes, tuple[int, object]] = {}
        self.nbytes = 0

    def plan(self, insn: DecodedInstruction, sram: Sram, make: Callable[[np.ndarray], object]):
        """The plan of `insn` over its micro-ops in `sram.uop`, made by `make(words)` once."""
        generation = sram.generation[MemoryType.UOP]
        recent = self.recent.get(insn.raw)
        if recent is not None and recent[0] == generation:
            return recent[1]
        words = sram.uop[insn.fields["uop_bgn"]:insn.fields["uop_end"]]
        key = (insn.raw, words.tobytes())
        plan = self.plans.get(key)
        if plan is None:
            plan = make(words)
            if len(self.plans) >= PLAN_CACHE_SIZE or self.nbytes > PLAN_CACHE_BYTES:
                self.plans.clear()
                self.recent.clear()
                self.nbytes = 0
            self.plans[key] = plan
            self.nbytes += getattr(plan, "nbytes", 0)
        self.recent[insn.raw] = generation, plan
        return plan
