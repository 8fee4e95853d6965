"""Shrinking a failing program to a small one that fails the same way.

Greedy passes, repeated while one makes progress and the budget of candidate runs lasts:
delete runs of instructions (halves down to single ones), turn an instruction into a NOP that
keeps its tokens, simplify each field (sizes and loop counts to 1, padding, strides, factors
and immediates to 0, one micro-op), and zero the data in halves down to 64-byte pieces. A
candidate counts only if it is still valid and race-free (`vta.fuzz.races`) and `fails(candidate)`
— the caller's test that it diverges as the original did.
"""

from __future__ import annotations

from collections.abc import Callable

from vta.fuzz.program import FuzzProgram
from vta.fuzz.races import RaceError, check_program as check_races, module_of
from vta.isa import Finish, Load, LoopInstruction, MemoryType, Store, VtaError
from vta.simulator import check_program

FLAGS = ("pop_prev_dep", "pop_next_dep", "push_prev_dep", "push_next_dep")
SIMPLER = {"y_size": 1, "x_size": 1, "x_stride": 0, "y_pad_0": 0, "y_pad_1": 0, "x_pad_0": 0,
           "x_pad_1": 0, "iter_out": 1, "iter_in": 1, "dst_factor_out": 0, "dst_factor_in": 0,
           "src_factor_out": 0, "src_factor_in": 0, "wgt_factor_out": 0, "wgt_factor_in": 0,
           "imm": 0, "use_imm": False, "reset_reg": False, "sram_base": 0, "dram_base": 0}


class _Search:
    def __init__(self, fails: Callable[[FuzzProgram], bool], budget: int):
        self.fails, self.budget, self.tries = fails, budget, 0

    def accept(self, candidate: FuzzProgram) -> bool:
        if self.tries >= self.budget:
            return False
        self.tries += 1
        try:
            image = candidate.image()
            check_program(image)
            check_races(image)
        except (VtaError, RaceError):
            return False
        return self.fails(candidate)


def nop_of(insn):
    """An instruction of the same module that does nothing but keep `insn`'s tokens."""
    flags = {flag: getattr(insn, flag) for flag in FLAGS}
    module = module_of(insn)
    if module == "load":
        return Load(memory_type=MemoryType.INP, x_size=0, **flags)
    if module == "store":
        return Store(x_size=0, **flags)
    return Load(memory_type=MemoryType.UOP, x_size=0, **flags)


def shrink(program: FuzzProgram, fails: Callable[[FuzzProgram], bool],
           budget: int = 400) -> tuple[FuzzProgram, int]:
    """The smallest program found that still `fails`, and the number of candidates tried."""
    search = _Search(fails, budget)
    progress = True
    while progress and search.tries < budget:
        progress = False
        for step in (_delete, _nops, _fields, _zero_data):
            smaller = step(program, search)
            if smaller is not None:
                program, progress = smaller, True
    return program, search.tries


def _delete(program: FuzzProgram, search: _Search) -> FuzzProgram | None:
    improved = None
    chunk = max(1, len(program.instructions) // 2)
    while chunk >= 1:
        start = 0
        while start < len(program.instructions) - 1:
            insns = program.instructions
            kept = insns[:start] + insns[start + chunk:]
            if kept and isinstance(kept[-1], Finish) and search.accept(program.replace(instructions=kept)):
                program = improved = program.replace(instructions=kept)
            else:
                start += chunk
        chunk //= 2
    return improved


def _nops(program: FuzzProgram, search: _Search) -> FuzzProgram | None:
    improved = None
    for index, insn in enumerate(program.instructions):
        if isinstance(insn, Finish) or (isinstance(insn, (Load, Store)) and not insn.x_size):
            continue
        insns = list(program.instructions)
        insns[index] = nop_of(insn)
        if search.accept(program.replace(instructions=insns)):
            program = improved = program.replace(instructions=insns)
    return improved


def _fields(program: FuzzProgram, search: _Search) -> FuzzProgram | None:
    improved = None
    for index, insn in enumerate(program.instructions):
        changes = {name: value for name, value in SIMPLER.items()
                   if hasattr(insn, name) and getattr(insn, name) != value}
        if isinstance(insn, LoopInstruction) and insn.uop_end > insn.uop_bgn + 1:
            changes["uop_end"] = insn.uop_bgn + 1
        for name, value in changes.items():
            insns = list(program.instructions)
            insns[index] = program.instructions[index].replace(**{name: value})
            if search.accept(program.replace(instructions=insns)):
                program = improved = program.replace(instructions=insns)
    return improved


def _zero_data(program: FuzzProgram, search: _Search) -> FuzzProgram | None:
    improved = None
    size = len(program.data) // 2
    while size >= 64:
        for start in range(0, len(program.data), size):
            piece = program.data[start:start + size]
            if not any(piece):
                continue
            data = program.data[:start] + bytes(len(piece)) + program.data[start + size:]
            if search.accept(program.replace(data=data)):
                program = improved = program.replace(data=data)
        size //= 2
    return improved


__all__ = ["shrink", "nop_of"]
