"""Micro-kernels: recording (``UopKernel`` of the original runtime, with its ``VerifyDep``
hazard check) and the on-chip micro-op cache (``UopQueue``: FIFO ring eviction)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from vta.isa import (Alu, AluOp, Config, Gemm, LoopInstruction, Opcode, Uop, VtaError, encode,
                     encode_uop, layouts)
from vta.isa.errors import FieldRangeError

#: The original runtime's bound on micro-kernel loop levels (``PushLoopBegin``).
MAX_LOOP_LEVELS = 2
#: How many preceding micro-ops may not write the same ACC tile (``UopKernel::VerifyDep``).
HAZARD_WINDOW = 2


class UopHazardError(VtaError):
    """A micro-op writes an ACC tile written by one of the two micro-ops before it; the
    pipelined hardware has no forwarding for that."""


@dataclass(frozen=True)
class Loop:
    """One loop level of a micro-kernel: extent and index steps per iteration."""

    extent: int
    dst_factor: int = 0
    src_factor: int = 0
    wgt_factor: int = 0


class UopKernel:
    """A recorded micro-kernel: micro-ops (their words), up to two loops and the operation
    they share."""

    def __init__(self, key, opcode: Opcode, words: np.ndarray, loops: tuple[Loop, ...],
                 reset: bool, alu_opcode: AluOp | None, use_imm: bool, imm: int):
        self.key, self.opcode, self.words, self.loops = key, opcode, words, loops
        self.reset, self.alu_opcode, self.use_imm, self.imm = reset, alu_opcode, use_imm, imm
        #: the micro-ops' words: kernels that differ only in their loops or operation (ALU
        #: steps over the same tiles) share them in uop SRAM (`UopCache`)
        self.content: bytes = words.tobytes()
        #: by uop_bgn: the instruction running the kernel from there
        self._instructions: dict[int, LoopInstruction] = {0: self._instruction_at_zero()}
        #: by uop_bgn: that instruction and its encoded word (`InstructionQueue.append_kernel`;
        #: shared with the kernels `moved` from this one, whose instructions are the same)
        self.encodings: dict[int, tuple[LoopInstruction, int]] = {}

    def __len__(self) -> int:
        return len(self.words)

    def __repr__(self) -> str:
        return f"UopKernel({self.key!r}, {self.opcode.name}, {len(self)} uops, loops={self.loops})"

    def signature(self) -> tuple:
        """Everything that defines the kernel, for comparing two recordings."""
        return (self.opcode, self.content, self.loops, self.reset, self.alu_opcode, self.use_imm,
                self.imm)

    def moved(self, key, word: int) -> UopKernel:
        """This kernel (as `key`) over micro-ops whose indices are its own plus those of the
        micro-op word `word`: the words add up, where the caller checked that every index's
        sum fits its field (no carry into the next field)."""
        kernel = object.__new__(UopKernel)
        kernel.__dict__.update(self.__dict__)
        kernel.key, kernel.words = key, self.words + np.uint32(word)
        kernel.content = kernel.words.tobytes()
        kernel._instructions = {0: self._instructions[0]}
        kernel.encodings = self.encodings
        return kernel

    def instruction(self, uop_bgn: int) -> LoopInstruction:
        """The GEMM or ALU instruction running this kernel from uop SRAM index `uop_bgn`.

        GEMM: loop[0] is the outer loop and loop[1] the inner one. ALU: the same with two
        loops, but a single loop becomes the inner loop (as the original runtime)."""
        insn = self._instructions.get(uop_bgn)
        if insn is None:
            insn = self._instructions[uop_bgn] = self._instructions[0].replace(
                uop_bgn=uop_bgn, uop_end=uop_bgn + len(self))
        return insn

    def _instruction_at_zero(self) -> LoopInstruction:
        outer, inner = Loop(1), Loop(1)
        if self.opcode == Opcode.ALU and len(self.loops) == 1:
            inner = self.loops[0]
        else:
            outer, inner = (list(self.loops) + [Loop(1), Loop(1)])[:2]
        common = dict(reset_reg=self.reset, uop_bgn=0, uop_end=len(self),
                      iter_out=outer.extent, iter_in=inner.extent,
                      dst_factor_out=outer.dst_factor, dst_factor_in=inner.dst_factor,
                      src_factor_out=outer.src_factor, src_factor_in=inner.src_factor)
        if self.opcode == Opcode.GEMM:
            return Gemm(wgt_factor_out=outer.wgt_factor, wgt_factor_in=inner.wgt_factor, **common)
        return Alu(alu_opcode=self.alu_opcode, use_imm=self.use_imm, imm=self.imm, **common)


class KernelRecorder:
    """Records one micro-kernel: ``loop`` levels first, then ``gemm`` or ``alu`` micro-ops.

    `cached` is True when the key was recorded before; the body may then skip recording
    (the cached kernel is reused), or record again, in which case it must match."""

    def __init__(self, config: Config, key, cached: bool = False):
        self.config, self.key, self.cached = config, key, cached
        self._loops: list[Loop] = []
        self._uops: list[Uop] = []
        self._words: list[int] = []
        self._mode: tuple | None = None  # (opcode, reset, alu_opcode, use_imm, imm)

    @property
    def _where(self) -> str:
        """The prefix of this kernel's error messages (made only for one: keys are long)."""
        return f"kernel {self.key!r}: "

    def loop(self, extent: int, dst_factor: int = 0, src_factor: int = 0,
             wgt_factor: int = 0) -> None:
        """Open a loop level (at most two, before any micro-op), as ``VTAUopLoopBegin``."""
        if self._uops:
            raise VtaError(f"{self._where}loops must be declared before the first micro-op")
        if len(self._loops) == MAX_LOOP_LEVELS:
            raise VtaError(f"{self._where}at most {MAX_LOOP_LEVELS} loop levels")
        self._loops.append(Loop(int(extent), int(dst_factor), int(src_factor), int(wgt_factor)))

    def gemm(self, dst: int, src: int, wgt: int, reset: bool = False) -> None:
        """ACC[dst] += INP[src] · WGT[wgt]ᵀ (or ACC[dst] = 0 with `reset`)."""
        self._push((Opcode.GEMM, bool(reset), None, False, 0), Uop(int(dst), int(src), int(wgt)))

    def alu(self, op: AluOp, dst: int, src: int = 0, imm: int | None = None) -> None:
        """ACC[dst] = op(ACC[dst], imm if given else ACC[src])."""
        op = AluOp(op)
        if op == AluOp.MUL and not self.config.ALU_MUL:
            raise VtaError(f"{self._where}ALU MUL needs the ALU_MUL extension (config key ALU_MUL)")
        use_imm = imm is not None
        imm = 0 if imm is None else int(imm)
        if use_imm:
            field = layouts(self.config).alu["imm"]
            if not field.minimum <= imm <= field.maximum:
                field.check(imm, self._where)
            bits = self.config.LOG_ACC_WIDTH              # the hardware's shift-amount width
            low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
            if op == AluOp.SHR and not low <= imm <= high:
                raise VtaError(f"{self._where}SHR amount {imm} is outside {low}..{high} (the "
                               f"hardware reads the low {bits} bits as a signed shift)")
        self._push((Opcode.ALU, False, op, use_imm, imm), Uop(int(dst), int(src), 0))

    # Named ALU shorthands: k.add(dst, src) or k.add(dst, imm=3).
    def min(self, dst: int, src: int = 0, imm: int | None = None) -> None:
        self.alu(AluOp.MIN, dst, src, imm)

    def max(self, dst: int, src: int = 0, imm: int | None = None) -> None:
        self.alu(AluOp.MAX, dst, src, imm)

    def add(self, dst: int, src: int = 0, imm: int | None = None) -> None:
        self.alu(AluOp.ADD, dst, src, imm)

    def shr(self, dst: int, src: int = 0, imm: int | None = None) -> None:
        self.alu(AluOp.SHR, dst, src, imm)

    def mul(self, dst: int, src: int = 0, imm: int | None = None) -> None:
        self.alu(AluOp.MUL, dst, src, imm)

    def _push(self, mode: tuple, uop: Uop) -> None:
        if self._mode is not None and mode != self._mode:
            raise VtaError(f"{self._where}every micro-op of a kernel shares its operation, reset "
                           f"flag and immediate (micro-op {len(self._uops)} differs)")
        recent = self._uops[-HAZARD_WINDOW:]
        if any(previous.dst_idx == uop.dst_idx for previous in recent):
            raise UopHazardError(f"{self._where}micro-op {len(self._uops)} writes ACC tile "
                                 f"{uop.dst_idx}, also written by one of the {HAZARD_WINDOW} "
                                 f"micro-ops before it (a pipeline hazard); reorder the micro-ops")
        try:
            word = encode_uop(uop, self.config)
        except FieldRangeError:         # again, to name the kernel and micro-op
            encode_uop(uop, self.config, f"{self._where}micro-op {len(self._uops)}: ")
            raise
        self._words.append(word)
        self._mode = mode
        self._uops.append(uop)

    @property
    def empty(self) -> bool:
        return not self._uops and not self._loops

    def finish(self) -> UopKernel:
        """The recorded kernel, its loop extents and factors checked against their fields."""
        if not self._uops:
            raise VtaError(f"{self._where}a kernel needs at least one micro-op")
        if len(self._uops) > self.config.uop_depth:
            raise VtaError(f"{self._where}{len(self._uops)} micro-ops do not fit the micro-op "
                           f"buffer of {self.config.uop_depth}")
        opcode, reset, alu_opcode, use_imm, imm = self._mode
        kernel = UopKernel(self.key, opcode, np.array(self._words, np.uint32), tuple(self._loops),
                           reset, alu_opcode, use_imm, imm)
        try:
            encode(kernel.instruction(0), self.config)
        except FieldRangeError:         # again, to name the kernel
            encode(kernel.instruction(0), self.config, self._where)
            raise
        return kernel


class UopCache:
    """Which micro-ops are resident in uop SRAM, by their words (`UopKernel.content`: kernels
    with the same micro-ops share them). A kernel that is not resident is placed after the
    last one loaded, or at 0 when it would pass the end of the buffer; kernels it overlaps are
    evicted (the original ``UopQueue``'s FIFO ring).

    On a core whose GEMM and ALU units overlap, the compute module knows the ACC footprint of
    only the last `footprints` kernels loaded (`Machine.overlap_kernels`, docs/hardware.md): an
    instruction whose micro-ops were loaded before them may touch either half of ACC and waits
    for the other unit. A kernel with `footprints` loads after its own counts as not resident,
    so that it is loaded again (its footprint with it)."""

    def __init__(self, depth: int, footprints: int = 0):
        self.depth = depth
        self.footprints = footprints
        self._resident: dict[bytes, int] = {}
        #: the resident micro-ops' (start, end, content) by start (they never overlap)
        self._spans: list[tuple[int, int, bytes]] = []
        self._next = 0
        self._loads = 0                         # kernels loaded so far
        self._loaded: dict[bytes, int] = {}     # resident micro-ops -> their load's number

    def lookup(self, kernel: UopKernel) -> int | None:
        """The SRAM index of a resident kernel's micro-ops, else None."""
        begin = self._resident.get(kernel.content)
        if begin is not None and self.footprints \
                and self._loads - self._loaded[kernel.content] > self.footprints:
            return None
        return begin

    def place(self, kernel: UopKernel) -> int:
        """Make room for `kernel` (not resident, or resident with its footprint forgotten)
        and return its SRAM index."""
        content = kernel.content
        if content in self._resident:           # loaded again: its old place is free
            index = bisect.bisect_left(self._spans, self._resident.pop(content), key=_start)
            del self._spans[index]
        self._loaded[content] = self._loads
        self._loads += 1
        size = len(kernel)
        begin = 0 if self._next + size > self.depth else self._next
        end = begin + size
        spans = self._spans
        # the first span that ends after `begin`, then every one that starts before `end`
        first = bisect.bisect_left(spans, begin, key=_start)
        if first and spans[first - 1][1] > begin:
            first -= 1
        last = first
        while last < len(spans) and spans[last][0] < end:
            del self._resident[spans[last][2]]
            del self._loaded[spans[last][2]]
            last += 1
        spans[first:last] = [(begin, end, kernel.content)]
        self._resident[kernel.content] = begin
        self._next = end
        return begin

    def clear(self) -> None:
        """Forget everything: SRAM is not trusted across runs."""
        self._resident.clear()
        self._spans.clear()
        self._next = 0
        self._loads = 0
        self._loaded.clear()


def _start(span: tuple) -> int:
    return span[0]
