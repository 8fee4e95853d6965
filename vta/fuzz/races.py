"""Whether a program has one meaning on every backend: its modules' conflicting accesses are
ordered by tokens, everything happens before FINISH, and no GEMM/ALU runs into the pipeline
hazard. The generator's programs must pass (tests check it); the shrinker keeps only programs
that still pass, so a shrunk divergence is never an artefact of a race.

Happens-before is computed with vector clocks over one deadlock-free schedule: program order
within a module, and the k-th push on a queue before the k-th pop (docs/semantics.md). A LOAD
or STORE with a push completes before the push, DRAM writes included (docs/hardware.md).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from vta.isa import (Alu, Config, Finish, Gemm, Instruction, Load, LoopInstruction, MemoryType,
                     Store, Uop, decode_uop)
from vta.isa.image import ProgramImage

#: A GEMM/ALU execution sees ACC as written by executions this many or more before it.
PIPELINE_DISTANCE = 3
MODULES = ("load", "compute", "store")
#: (module, flag) -> queue, for pushes and pops (docs/semantics.md, "token queues").
PUSHES = {("load", "push_next_dep"): "l2g", ("compute", "push_prev_dep"): "g2l",
          ("compute", "push_next_dep"): "g2s", ("store", "push_prev_dep"): "s2g"}
POPS = {("compute", "pop_prev_dep"): "l2g", ("load", "pop_next_dep"): "g2l",
        ("store", "pop_prev_dep"): "g2s", ("compute", "pop_next_dep"): "s2g"}


class RaceError(Exception):
    """A program whose result depends on the schedule or on pipeline timing."""


def module_of(insn: Instruction) -> str:
    return {1: "load", 2: "compute", 3: "store"}[int(insn.module)]


def executions(insn: LoopInstruction, uops: list[Uop]) -> dict[str, np.ndarray]:
    """Per operand (dst, src, wgt), the index each execution uses, in execution order."""
    i, j = np.meshgrid(np.arange(insn.iter_out), np.arange(insn.iter_in), indexing="ij")
    i, j = i.reshape(-1, 1), j.reshape(-1, 1)
    result = {}
    for name in ("dst", "src", "wgt"):
        if name == "wgt" and not isinstance(insn, Gemm):
            continue
        base = np.array([getattr(u, f"{name}_idx") for u in uops], dtype=np.int64)
        factor_out = getattr(insn, f"{name}_factor_out")
        factor_in = getattr(insn, f"{name}_factor_in")
        result[name] = (base[None, :] + i * factor_out + j * factor_in).reshape(-1)
    return result


def hazard_free(insn: LoopInstruction, uops: list[Uop]) -> bool:
    """No execution touches an ACC tile one of the previous two executions wrote."""
    if insn.uop_end <= insn.uop_bgn or not insn.iter_out or not insn.iter_in:
        return True
    index = executions(insn, uops)
    dst = index["dst"]
    reads = [dst] + ([index["src"]] if isinstance(insn, Alu) and not insn.use_imm else [])
    for distance in range(1, PIPELINE_DISTANCE):
        for later in reads:
            if np.any(dst[:-distance] == later[distance:]):
                return False
    return True


def _accesses(insn: Instruction, config: Config, uop_memory: np.ndarray) -> tuple[set, set]:
    """(reads, writes) of shared state: ("INP"|"WGT"|"OUT", tile) and ("DRAM", start, end)."""
    reads, writes = set(), set()
    if isinstance(insn, (Load, Store)) and insn.x_size:
        kind = MemoryType.OUT if isinstance(insn, Store) else insn.memory_type
        elem = config.elem_bytes(kind)
        rows = [(("DRAM", (insn.dram_base + y * insn.x_stride) * elem,
                  (insn.dram_base + y * insn.x_stride + insn.x_size) * elem))
                for y in range(insn.y_size)]
        if isinstance(insn, Store):
            writes.update(rows)
            reads.update(("OUT", insn.sram_base + k) for k in range(insn.y_size * insn.x_size))
        else:
            reads.update(rows)
            if kind in (MemoryType.INP, MemoryType.WGT):
                block = (insn.y_pad_0 + insn.y_size + insn.y_pad_1) * \
                        (insn.x_pad_0 + insn.x_size + insn.x_pad_1)
                writes.update((kind.name, insn.sram_base + k) for k in range(block))
    elif isinstance(insn, LoopInstruction) and insn.executions:
        uops = [decode_uop(int(w), config) for w in uop_memory[insn.uop_bgn:insn.uop_end]]
        index = executions(insn, uops)
        writes.update(("OUT", int(t)) for t in np.unique(index["dst"]))
        if isinstance(insn, Gemm) and not insn.reset_reg:
            reads.update(("INP", int(t)) for t in np.unique(index["src"]))
            reads.update(("WGT", int(t)) for t in np.unique(index["wgt"]))
    return reads, writes


def check_program(image: ProgramImage) -> None:
    """Raise RaceError unless `image` (statically valid) means the same on every backend."""
    config = image.config
    program = image.instructions()
    uop_memory = np.zeros(config.uop_depth, dtype=np.uint32)
    streams = {m: [] for m in MODULES}
    info = []
    for index, insn in enumerate(program):
        module = module_of(insn)
        if isinstance(insn, Load) and insn.memory_type == MemoryType.UOP and insn.x_size:
            first = 4 * insn.dram_base
            uop_memory[insn.sram_base:insn.sram_base + insn.x_size] = \
                image.dram[first:first + 4 * insn.x_size].view("<u4")
        if isinstance(insn, LoopInstruction) and insn.executions:
            uops = [decode_uop(int(w), config) for w in uop_memory[insn.uop_bgn:insn.uop_end]]
            if not hazard_free(insn, uops):
                raise RaceError(f"instruction {index}: an ACC tile is touched within "
                                f"{PIPELINE_DISTANCE - 1} executions of being written")
        reads, writes = _accesses(insn, config, uop_memory)
        info.append((index, module, len(streams[module]), reads, writes))
        streams[module].append(index)
    clocks = _clocks(program, streams)
    finish = next((i for i, insn in enumerate(program) if isinstance(insn, Finish)), None)
    if finish is None or finish not in clocks:
        raise RaceError("FINISH never runs")
    executed = [item for item in info if item[1] != "compute" or item[0] < finish]
    for index, module, position, _, _ in executed:
        if index not in clocks or \
                module != "compute" and clocks[finish][MODULES.index(module)] < position:
            raise RaceError(f"instruction {index} ({module}) may run after FINISH")
    for a in range(len(executed)):
        ia, ma, pa, ra, wa = executed[a]
        for b in range(a + 1, len(executed)):
            ib, mb, pb, rb, wb = executed[b]
            if ma == mb or not (_conflict(wa, rb | wb) or _conflict(wb, ra)):
                continue
            if clocks[ib][MODULES.index(ma)] < pa and clocks[ia][MODULES.index(mb)] < pb:
                raise RaceError(f"instructions {ia} ({ma}) and {ib} ({mb}) access the same "
                                f"memory in either order")


def _conflict(writes: set, other: set) -> bool:
    if writes & other:
        return True
    ranges = [w for w in writes if w[0] == "DRAM"]
    return any(o[0] == "DRAM" and o[1] < w[2] and w[1] < o[2] for w in ranges for o in other)


def _clocks(program: list[Instruction], streams: dict) -> dict[int, list[int]]:
    """Vector clock (per module: the position of its latest instruction known to come first,
    −1 for none) of every instruction that runs, over one schedule until FINISH."""
    queues = {q: deque() for q in ("l2g", "g2l", "g2s", "s2g")}
    cursor = dict.fromkeys(MODULES, 0)
    last = {m: [-1, -1, -1] for m in MODULES}
    clocks = {}
    progress = True
    while progress:
        progress = False
        for m_index, module in enumerate(MODULES):
            while cursor[module] < len(streams[module]):
                index = streams[module][cursor[module]]
                insn = program[index]
                needed = [q for (mod, flag), q in POPS.items() if mod == module and getattr(insn, flag)]
                if any(not queues[q] for q in needed):
                    break
                clock = list(last[module])
                for q in needed:
                    clock = [max(a, b) for a, b in zip(clock, queues[q].popleft())]
                clock[m_index] = cursor[module]
                clocks[index] = clock
                last[module] = clock
                for (mod, flag), q in PUSHES.items():
                    if mod == module and getattr(insn, flag):
                        queues[q].append(clock)
                cursor[module] += 1
                progress = True
                if isinstance(insn, Finish):
                    return clocks
    return clocks
