"""Execution plans of GEMM and ALU instructions, cached by what determines them: the
instruction's bytes and the micro-op words it runs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vta.isa.program import DecodedInstruction

#: Plans, and bytes of operand data they keep, before the cache is emptied.
PLAN_CACHE_SIZE = 4096
PLAN_CACHE_BYTES = 256 << 20


class PlanCache:
    """Plans by (instruction bytes, micro-op words); emptied when it holds too many plans or
    too many bytes (a plan's optional ``nbytes``)."""

    def __init__(self):
        self.plans: dict[tuple[bytes, bytes], object] = {}
        self.nbytes = 0

    def plan(self, insn: DecodedInstruction, uop_sram: np.ndarray,
             make: Callable[[np.ndarray], object]):
        """The plan of `insn` over its micro-ops in `uop_sram`, made by `make(words)` once."""
        words = uop_sram[insn.fields["uop_bgn"]:insn.fields["uop_end"]]
        key = (insn.raw, words.tobytes())
        plan = self.plans.get(key)
        if plan is None:
            plan = make(words)
            if len(self.plans) >= PLAN_CACHE_SIZE or self.nbytes > PLAN_CACHE_BYTES:
                self.plans.clear()
                self.nbytes = 0
            self.plans[key] = plan
            self.nbytes += getattr(plan, "nbytes", 0)
        return plan
