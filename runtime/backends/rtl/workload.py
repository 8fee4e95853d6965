"""What a backend can know about a program without running it: the seven profiler counters
(`vta.isa.program.profile_counters`) and the watchdog budget."""

from __future__ import annotations

from vta.isa import MemoryType, Opcode
from vta.isa.image import ProgramImage
from vta.isa.program import profile_counters


def static_counters(image: ProgramImage) -> dict[str, int]:
    """The seven counters, from the instruction stream alone (they depend on nothing else)."""
    return profile_counters(image.program, image.config)


def watchdog_cycles(image: ProgramImage) -> int:
    """A cycle budget no deadlock-free run of `image` comes near: a fixed start-up allowance,
    full memory latency for every row of every transfer, and four cycles per bus beat, padded
    element and micro-op execution. Past it, the run is reported as a deadlock."""
    config = image.config
    latency = config.MEM_READ_LATENCY + config.MEM_WRITE_LATENCY
    budget = 10_000 + image.insn_count * (64 + 4 * latency)
    for insn in image.program:
        if insn.opcode in (Opcode.LOAD, Opcode.STORE) and insn.x_size:
            rows = insn.y_size + insn.y_pad_0 + insn.y_pad_1
            elements = rows * (insn.x_size + insn.x_pad_0 + insn.x_pad_1)
            memory_type = insn.memory_type if insn.opcode == Opcode.LOAD else MemoryType.OUT
            row_bytes = insn.x_size * config.elem_bytes(memory_type)
            beats = insn.y_size * (-(-row_bytes // config.bus_bytes) + 1)
            budget += 4 * rows * latency + 4 * (beats + elements + insn.y_size)
        elif insn.opcode in (Opcode.GEMM, Opcode.ALU):
            budget += 4 * (insn.executions + insn.iter_out * insn.iter_in + 1)
    return budget
