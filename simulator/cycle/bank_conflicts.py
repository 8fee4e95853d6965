"""Bank conflicts of vector ALU instructions: executions that read their two ACC tiles in two
cycles.

ACC is two banks by address parity (`vta.hardware.acc_memory`). A vector ALU execution reads
its destination and source tiles in one cycle unless both lie in one bank; an execution whose
source is that of the execution before it (in the same instruction) reuses the value and reads
only its destination. Each remaining same-bank execution is a conflict and costs
`vta.isa.machine.ALU_BANK_CONFLICT_CYCLES`.

Conflicts depend on the micro-ops, so the model keeps the ``dst_idx``/``src_idx`` of every
micro-op buffer slot as LOAD UOP writes it (from the image's DRAM: programs do not store over
their micro-ops). Execution ``(i, j, k)`` of the loop nest has tiles ``dst[k] + i·dst_out +
j·dst_in`` and ``src[k] + i·src_out + j·src_in``; whether its source repeats the previous
execution's depends only on where it sits in the nest (inside the micro-op range, at the start
of an inner or of an outer iteration), and its banks differ by ``parity[k] ^ (i·a) ^ (j·b)``, so
an instruction's count comes in closed form from its micro-ops.
"""

from __future__ import annotations

import numpy as np

from vta.isa import UOP_BYTES, Config

from vta.simulator.cycle.geometry import geometry


def _parities(lo: int, hi: int, odd_step: int) -> tuple[int, int]:
    """How many loop indices in [lo, hi) give an even and an odd offset ``index · step``."""
    count = max(0, hi - lo)
    if not odd_step:
        return count, 0
    odd = (hi // 2) - (lo // 2)            # odd indices in [lo, hi)
    return count - odd, odd


def _same_bank(outer: tuple[int, int], inner: tuple[int, int], parity: int) -> int:
    """Iterations ``(i, j)`` of the given index parities whose shift ``(i·a) ^ (j·b)`` equals
    the micro-op's `parity` (then its two tiles share a bank)."""
    (outer_even, outer_odd), (inner_even, inner_odd) = outer, inner
    if parity:
        return outer_even * inner_odd + outer_odd * inner_even
    return outer_even * inner_even + outer_odd * inner_odd


class UopBanks:
    """The micro-op buffer's destination and source ACC indices per slot."""

    def __init__(self, config: Config, dram: np.ndarray):
        sizes = geometry(config)
        self.fields = sizes.uop_fields
        self.depth = sizes.uop_depth
        self.acc_mask = sizes.acc_depth - 1
        self.dram = dram
        self.dst = np.zeros(self.depth, dtype=np.int64)
        self.src = np.zeros(self.depth, dtype=np.int64)

    def load(self, insn) -> None:
        """Record the micro-ops a LOAD UOP writes."""
        first = insn.dram_base * UOP_BYTES
        raw = self.dram[first:first + insn.x_size * UOP_BYTES]
        words = np.zeros(insn.x_size, dtype=np.int64)
        whole = len(raw) // UOP_BYTES
        words[:whole] = raw[:whole * UOP_BYTES].view("<u4")
        slots = (insn.sram_base + np.arange(insn.x_size)) % self.depth
        for table, field in zip((self.dst, self.src), self.fields):
            table[slots] = (words >> field.lsb) & ((1 << field.width) - 1)

    def conflicts(self, insn) -> int:
        """Executions of a vector ALU instruction that read both tiles from one bank."""
        first, end = insn.uop_bgn, insn.uop_end
        if insn.iter_out == 0 or insn.iter_in == 0 or first >= end:
            return 0
        dst, src = self.dst[first:end], self.src[first:end]
        parity = (dst ^ src) & 1
        mask = self.acc_mask
        a = (insn.src_factor_out ^ insn.dst_factor_out) & 1
        b = (insn.src_factor_in ^ insn.dst_factor_in) & 1
        outer, inner = _parities(0, insn.iter_out, a), _parities(0, insn.iter_in, b)
        # Micro-ops after the first: the source repeats when the micro-ops' sources are equal.
        fresh = ((src[1:] - src[:-1]) & mask) != 0
        odd = int(np.count_nonzero(fresh & (parity[1:] == 1)))
        even = int(np.count_nonzero(fresh)) - odd
        total = _same_bank(outer, inner, 0) * even + _same_bank(outer, inner, 1) * odd
        # The first micro-op: at (0, 0) it always reads; at the start of an inner iteration
        # (j > 0) its source is the last micro-op's plus src_in; at the start of an outer one
        # (i > 0, j = 0) the last's plus src_out − (iter_in − 1)·src_in.
        head, tail, lead = int(src[0]), int(src[-1]), int(parity[0])
        total += lead == 0
        if (head + insn.src_factor_in - tail) & mask:
            total += _same_bank(outer, _parities(1, insn.iter_in, b), lead)
        if (head + insn.src_factor_out - tail - (insn.iter_in - 1) * insn.src_factor_in) & mask:
            total += _same_bank(_parities(1, insn.iter_out, a), _parities(0, 1, b), lead)
        return total
