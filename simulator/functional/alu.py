"""The vector ALU (reference §4.4 and /docs/semantics.md): MIN, MAX, ADD, SHR and, with the
ALU_MUL extension, MUL, lane-wise on int32 accumulator tiles, wrapping mod 2^32.

ALU executions do not commute (an execution may read a tile an earlier one wrote), so an
instruction runs as a sequence of segments of consecutive executions that are independent:
no two write the same tile and none reads a tile written earlier in its segment. Each segment
is one gather, one vector operation and one scatter; ordinary kernels are a single segment.
"""

from __future__ import annotations

import numpy as np

from vta.isa import AluOp, Config, VtaError
from vta.simulator.functional.affine import compact_index
from vta.simulator.functional.bounds import Sizes, check_loop_indices
from vta.simulator.functional.memory import Sram
from vta.simulator.functional.plan_cache import PlanCache
from vta.simulator.functional.program import DecodedInstruction

#: Executions of one ALU instruction the simulator expands (index arrays of this many entries).
MAX_EXECUTIONS = 1 << 26


def shift_amount(operand: np.ndarray | int, shift_bits: int) -> np.ndarray:
    """The signed shift of SHR: the low `shift_bits` (LOG_ACC_WIDTH) bits of `operand`, read
    as a two's-complement number; negative means a left shift."""
    half = 1 << (shift_bits - 1)
    return ((np.asarray(operand, dtype=np.int64) & (2 * half - 1)) ^ half) - half


def alu_operation(opcode: AluOp, a: np.ndarray, b: np.ndarray | np.int32, shift_bits: int,
                  out: np.ndarray | None = None) -> np.ndarray:
    """op(a, b) on int32 lanes with the hardware's wrap-around; `b` broadcasts against `a`;
    `shift_bits` is the config's LOG_ACC_WIDTH. The result goes to `out` when given (it may
    overlap the operands)."""
    if opcode == AluOp.MIN:
        return np.minimum(a, b, out=out)
    if opcode == AluOp.MAX:
        return np.maximum(a, b, out=out)
    if opcode == AluOp.ADD:
        return np.add(a, b, out=out, dtype=np.int32, casting="unsafe")
    if opcode == AluOp.SHR:
        shift = shift_amount(b, shift_bits)
        if shift.ndim == 0 and shift >= 0:
            return np.right_shift(a, np.int32(shift), out=out)
        if shift.ndim == 0:
            unsigned = None if out is None else out.view(np.uint32)
            return np.left_shift(a.view(np.uint32), np.uint32(-shift), out=unsigned).view(np.int32)
        right = a >> np.maximum(shift, 0).astype(np.int32)
        left = (a.view(np.uint32) << np.maximum(-shift, 0).astype(np.uint32)).view(np.int32)
        result = np.where(shift >= 0, right, left)
    elif opcode == AluOp.MUL:
        factor = np.asarray(b).astype(np.int16).astype(np.int64)  # sext16 of the low 16 bits
        result = (a.astype(np.int64) * factor).astype(np.int32)
    else:
        raise ValueError(f"ALU opcode {opcode} has no operation")
    if out is None:
        return result
    out[...] = result
    return out


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

    def __init__(self, sram: Sram, insn: DecodedInstruction, uops: dict[str, np.ndarray],
                 shift_bits: int):
        f = insn.fields
        self.sram, self.shift_bits = sram, shift_bits
        self.opcode = AluOp(f["alu_opcode"])
        self.immediate = np.int32(f["imm"]) if f["use_imm"] else None
        i = np.arange(f["iter_out"], dtype=np.int64)[:, None, None]
        j = np.arange(f["iter_in"], dtype=np.int64)[None, :, None]
        dst = (uops["dst_idx"][None, None, :] + i * f["dst_factor_out"]
               + j * f["dst_factor_in"]).reshape(-1)
        src = None if f["use_imm"] else (uops["src_idx"][None, None, :] + i * f["src_factor_out"]
                                         + j * f["src_factor_in"]).reshape(-1)
        self.segments = [(compact_index(dst[start:end]),
                          None if src is None else compact_index(src[start:end]))
                         for start, end in independent_segments(dst, src)]

    def run(self) -> None:
        acc, out = self.sram.acc, self.sram.out
        for dst, src in self.segments:
            b = self.immediate if src is None else acc[src]
            if isinstance(dst, slice):  # in place, through views
                result = alu_operation(self.opcode, acc[dst], b, self.shift_bits, out=acc[dst])
                np.copyto(out[dst], result, casting="unsafe")
            else:
                result = alu_operation(self.opcode, acc[dst], b, self.shift_bits)
                acc[dst] = result
                out[dst] = result.astype(np.int8)


class AluEngine:
    """Plans (cached) and runs ALU instructions on one core's buffers."""

    def __init__(self, config: Config, sram: Sram):
        self.config, self.sram = config, sram
        self.sizes = Sizes.of(config)
        self.shift_bits = config.LOG_ACC_WIDTH
        self.plans = PlanCache()

    def execute(self, insn: DecodedInstruction) -> None:
        if insn.executions:
            self.plans.plan(insn, self.sram.uop, lambda words: self._plan(insn, words)).run()

    def _plan(self, insn: DecodedInstruction, words: np.ndarray) -> AluPlan:
        check_loop_indices(insn, self.sram.uop, self.sizes)
        if insn.executions > MAX_EXECUTIONS:
            raise VtaError(f"instruction {insn.index}: {insn.name}: {insn.executions} "
                           f"executions are more than the functional simulator expands "
                           f"({MAX_EXECUTIONS})")
        return AluPlan(self.sram, insn, self.sizes.uop_layout.unpack_array(words), self.shift_bits)
