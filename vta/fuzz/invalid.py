"""Random invalid programs with the verdict the docs promise (docs/contracts.md §4,
docs/semantics.md): a valid program with one defect whose class decides the exit status.

* ``deadlock`` (3): a push taken away, or a pop added, on a queue whose pops then outnumber its
  pushes — the last pop waits forever, and everything comes before FINISH;
* ``bounds`` (2): a LOAD/STORE whose SRAM block passes the end of its buffer or whose DRAM rows
  pass the end of the image, or a GEMM/ALU micro-op range past the micro-op buffer;
* ``decode`` (1): a memory type, padding, ALU opcode or flag the machine does not have.
"""

from __future__ import annotations

import numpy as np

from vta.fuzz.program import FuzzProgram
from vta.fuzz.races import POPS, PUSHES, module_of
from vta.isa import (Alu, AluOp, Finish, Instruction, Load, LoopInstruction, MemoryType, Store,
                     layouts)

#: Exit status of each defect class.
VERDICTS = {"deadlock": 3, "bounds": 2, "decode": 1}


def _deadlock(program: FuzzProgram, rng) -> FuzzProgram | None:
    insns = program.instructions
    if rng.random() < 0.5:
        pushers = [(i, flag) for i, insn in enumerate(insns) for (module, flag) in PUSHES
                   if module == module_of(insn) and getattr(insn, flag)
                   and _pops(insns, PUSHES[(module, flag)])]
        if not pushers:
            return None
        index, flag = pushers[rng.integers(len(pushers))]
        insns[index] = insns[index].replace(**{flag: False})
    else:
        candidates = [(i, flag) for i, insn in enumerate(insns) if not isinstance(insn, Finish)
                      for (module, flag) in POPS
                      if module == module_of(insn) and not getattr(insn, flag)]
        index, flag = candidates[rng.integers(len(candidates))]
        insns[index] = insns[index].replace(**{flag: True})
    return program


def _pops(insns: list[Instruction], queue: str) -> int:
    return sum(bool(getattr(insn, flag)) for insn in insns for (module, flag), q in POPS.items()
               if q == queue and module == module_of(insn))


def _bounds(program: FuzzProgram, rng) -> FuzzProgram | None:
    config, insns = program.config, program.instructions
    memory = [i for i, insn in enumerate(insns) if isinstance(insn, (Load, Store)) and insn.x_size
              and insn.memory_type != MemoryType.UOP]
    loops = [i for i, insn in enumerate(insns) if isinstance(insn, LoopInstruction) and insn.executions]
    choice = rng.integers(3)
    if choice == 0 and memory:
        index = memory[rng.integers(len(memory))]
        insn = insns[index]
        kind = MemoryType.OUT if isinstance(insn, Store) else insn.memory_type
        first = config.depth(kind) - 1 + int(insn.y_size * insn.x_size == 1)
        highest = layouts(config).memory["sram_base"].maximum
        if first <= highest:
            insns[index] = insn.replace(sram_base=first)
        else:                  # the buffer spans the field: two tiles from its last index
            insns[index] = insn.replace(sram_base=highest, x_size=insn.x_size + 1)
    elif choice == 1 and memory:
        index = memory[rng.integers(len(memory))]
        insn = insns[index]
        kind = MemoryType.OUT if isinstance(insn, Store) else insn.memory_type
        beyond = (len(program.data) + 16 * len(insns)) // config.elem_bytes(kind) + 1
        insns[index] = insn.replace(dram_base=min(beyond + int(rng.integers(0, 1000)),
                                                  layouts(config).memory["dram_base"].maximum))
    elif loops:
        index = loops[rng.integers(len(loops))]
        insn = insns[index]
        count = insn.uop_end - insn.uop_bgn
        end = min(config.uop_depth + int(rng.integers(1, 3)),
                  layouts(config).gemm["uop_end"].maximum)
        first = min(end - count, layouts(config).gemm["uop_bgn"].maximum)
        insns[index] = insn.replace(uop_bgn=first, uop_end=end)
    else:
        return None
    return program


def _decode(program: FuzzProgram, rng) -> FuzzProgram | None:
    insns = program.instructions
    index = int(rng.integers(len(insns) - 1))
    insn = insns[index]
    choice = rng.integers(4)
    if choice == 0 and isinstance(insn, Load):
        insns[index] = insn.replace(memory_type=MemoryType.OUT)
    elif choice == 1 and isinstance(insn, Store) and insn.x_size:
        insns[index] = insn.replace(x_pad_0=1)
    elif choice == 2 and isinstance(insn, Alu):
        opcodes = [5, 6, 7] + ([] if program.config.ALU_MUL else [int(AluOp.MUL)])
        insns[index] = insn.replace(alu_opcode=int(rng.choice(opcodes)))
    elif module_of(insn) == "load":
        insns[index] = insn.replace(pop_prev_dep=True)
    elif isinstance(insn, Store):
        insns[index] = insn.replace(push_next_dep=True)
    else:
        return None
    return program


DEFECTS = {"deadlock": _deadlock, "bounds": _bounds, "decode": _decode}


def make_invalid(program: FuzzProgram, rng: np.random.Generator) -> tuple[str, FuzzProgram] | None:
    """A copy of `program` with one random defect, and the defect's class; None when the
    drawn defect does not apply to this program."""
    kind = str(rng.choice(list(DEFECTS)))
    damaged = DEFECTS[kind](program.replace(), rng)
    return None if damaged is None else (kind, damaged)
