"""The vector ALU: the lane arithmetic of `vta.isa.alu` (MIN, MAX, ADD, SHR and, with the
ALU_MUL extension, MUL) on whole int32 accumulator tiles.

ALU executions do not commute (an execution may read a tile an earlier one wrote), so an
instruction runs as a sequence of segments of consecutive executions that are independent:
no two write the same tile and none reads a tile written earlier in its segment. Each segment
is one gather, one vector operation and one scatter; ordinary kernels are a single segment.
"""

from __future__ import annotations

import numpy as np

from vta.isa import AluOp, Config, VtaError
from vta.isa.alu import alu
from vta.simulator.functional.affine import compact_index, progression
from vta.simulator.functional.bounds import Sizes, check_loop_indices
from vta.simulator.functional.memory import Sram
from vta.simulator.functional.plan_cache import PlanCache
from vta.isa.program import DecodedInstruction

#: Executions of one ALU instruction the simulator expands (index arrays of this many entries).
MAX_EXECUTIONS = 1 << 26


def independent_segments(dst: np.ndarray, src: np.ndarray | None) -> list[tuple[int, int]]:
    """Cut a sequence of executions (destination and, unless immediate, source tiles) into
    [start, end) runs, before every execution that reads or writes a tile written earlier in
    its run, so that each run can be one gather, one operation and one scatter."""
    count = len(dst)
    position = np.arange(count, dtype=np.int64)
    order = np.lexsort((position, dst))
    writes = dst[order] * (count + 1) + position[order]  # sorted by (tile, position)
    barrier = np.full(count, -1, dtype=np.int64)  # the latest earlier write it depends on
    repeated = np.flatnonzero(dst[order][1:] == dst[order][:-1]) + 1
    barrier[order[repeated]] = order[repeated - 1]
    if src is not None:
        found = np.searchsorted(writes, src * (count + 1) + position) - 1
        valid = found >= 0
        earlier = np.where(valid, writes[np.maximum(found, 0)], -1)
        hit = valid & (earlier // (count + 1) == src)
        barrier = np.maximum(barrier, np.where(hit, earlier % (count + 1), -1))
    segments, start = [], 0
    for execution in np.flatnonzero(barrier >= 0).tolist():
        if barrier[execution] >= start:
            segments.append((start, execution))
            start = execution
    segments.append((start, count))
    return segments


class AluPlan:
    """The executions of one ALU instruction, in order, split into independent segments."""

    def __init__(self, sram: Sram, insn: DecodedInstruction, uops: dict[str, np.ndarray]):
        f = insn.fields
        self.sram = sram
        self.opcode = AluOp(f["alu_opcode"])
        self.immediate = np.int32(f["imm"]) if f["use_imm"] else None
        self.segments = self._single_segment(f, uops)
        if self.segments is None:
            self.segments = self._segments(f, uops)

    @staticmethod
    def _single_segment(f: dict[str, int], uops: dict[str, np.ndarray]) -> list | None:
        """One micro-op whose destinations run as a progression, reading an immediate, its own
        destinations or tiles it does not write: one segment, found by arithmetic."""
        if len(uops["dst_idx"]) != 1:
            return None
        loops = lambda operand: [(f["iter_out"], f[f"{operand}_factor_out"]),  # noqa: E731
                                 (f["iter_in"], f[f"{operand}_factor_in"])]
        dst = progression(int(uops["dst_idx"][0]), loops("dst"))
        if dst is None or f["use_imm"]:
            return None if dst is None else [(dst, None)]
        src = progression(int(uops["src_idx"][0]), loops("src"))
        if src is None or (src != dst and src.start < dst.stop and dst.start < src.stop):
            return None
        return [(dst, src)]

    @staticmethod
    def _segments(f: dict[str, int], uops: dict[str, np.ndarray]) -> list:
        i = np.arange(f["iter_out"], dtype=np.int64)[:, None, None]
        j = np.arange(f["iter_in"], dtype=np.int64)[None, :, None]
        dst = (uops["dst_idx"][None, None, :] + i * f["dst_factor_out"]
               + j * f["dst_factor_in"]).reshape(-1)
        src = None if f["use_imm"] else (uops["src_idx"][None, None, :] + i * f["src_factor_out"]
                                         + j * f["src_factor_in"]).reshape(-1)
        return [(compact_index(dst[start:end]),
                 None if src is None else compact_index(src[start:end]))
                for start, end in independent_segments(dst, src)]

    def run(self) -> None:
        acc, out = self.sram.acc, self.sram.out
        for dst, src in self.segments:
            b = self.immediate if src is None else acc[src]
            if isinstance(dst, slice):  # in place, through views
                result = alu(self.opcode, acc[dst], b, out=acc[dst])
                np.copyto(out[dst], result, casting="unsafe")
            else:
                result = alu(self.opcode, acc[dst], b)
                acc[dst] = result
                out[dst] = result.astype(np.int8)


class AluEngine:
    """Plans (cached) and runs ALU instructions on one core's buffers."""

    def __init__(self, config: Config, sram: Sram):
        self.config, self.sram = config, sram
        self.sizes = Sizes.of(config)
        self.plans = PlanCache()

    def execute(self, insn: DecodedInstruction) -> None:
        f = insn.fields
        if f["iter_out"] and f["iter_in"] and f["uop_end"] > f["uop_bgn"]:
            self.plans.plan(insn, self.sram, lambda words: self._plan(insn, words)).run()

    def prepare(self, insn: DecodedInstruction) -> None:
        """Plan `insn` over the micro-ops now in UOP memory, as its execution would."""
        f = insn.fields
        if f["iter_out"] and f["iter_in"] and f["uop_end"] > f["uop_bgn"]:
            self.plans.plan(insn, self.sram, lambda words: self._plan(insn, words))

    def _plan(self, insn: DecodedInstruction, words: np.ndarray) -> AluPlan:
        uops = self.sizes.uop_layout.unpack_array(words)
        check_loop_indices(insn, self.sram.uop, self.sizes, uops)
        if insn.executions > MAX_EXECUTIONS:
            raise VtaError(f"instruction {insn.index}: {insn.name}: {insn.executions} "
                           f"executions are more than the functional simulator expands "
                           f"({MAX_EXECUTIONS})")
        return AluPlan(self.sram, insn, uops)
