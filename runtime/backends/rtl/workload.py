"""What a backend can know about a program without running it: the seven profiler counters
(their exact definitions are the corpus's, tests/conformance/corpus/README.md §1) and the watchdog budget."""

from __future__ import annotations

from vta.isa import Alu, Gemm, Load, MemoryType, Store
from vta.isa.image import ProgramImage
from vta.runtime.backends import COUNTER_NAMES

LOAD_COUNTERS = {MemoryType.INP: "inp_load_nbytes", MemoryType.WGT: "wgt_load_nbytes",
                 MemoryType.ACC: "acc_load_nbytes", MemoryType.UOP: "uop_load_nbytes"}


def static_counters(image: ProgramImage) -> dict[str, int]:
    """The seven counters, from the instruction stream alone (they depend on nothing else)."""
    config = image.config
    counters = dict.fromkeys(COUNTER_NAMES, 0)
    for insn in image.instructions():
        if isinstance(insn, Load) and insn.x_size and insn.memory_type in LOAD_COUNTERS:
            counters[LOAD_COUNTERS[insn.memory_type]] += (
                insn.x_size * insn.y_size * config.elem_bytes(insn.memory_type))
        elif isinstance(insn, Store):
            counters["out_store_nbytes"] += insn.x_size * insn.y_size * config.elem_bytes(MemoryType.OUT)
        elif isinstance(insn, Gemm) and not insn.reset_reg:
            counters["gemm_counter"] += insn.executions
        elif isinstance(insn, Alu):
            counters["alu_counter"] += insn.executions
    return counters


def watchdog_cycles(image: ProgramImage) -> int:
    """A cycle budget no deadlock-free run of `image` comes near: a fixed start-up allowance,
    full memory latency for every row of every transfer, and four cycles per bus beat, padded
    element and micro-op execution. Past it, the run is reported as a deadlock."""
    config = image.config
    latency = config.MEM_READ_LATENCY + config.MEM_WRITE_LATENCY
    budget = 10_000 + image.insn_count * (64 + 4 * latency)
    for insn in image.instructions():
        if isinstance(insn, (Load, Store)) and insn.x_size:
            rows = insn.y_size + insn.y_pad_0 + insn.y_pad_1
            elements = rows * (insn.x_size + insn.x_pad_0 + insn.x_pad_1)
            memory_type = insn.memory_type if isinstance(insn, Load) else MemoryType.OUT
            row_bytes = insn.x_size * config.elem_bytes(memory_type)
            beats = insn.y_size * (-(-row_bytes // config.bus_bytes) + 1)
            budget += 4 * rows * latency + 4 * (beats + elements + insn.y_size)
        elif isinstance(insn, (Gemm, Alu)):
            budget += 4 * (insn.executions + insn.iter_out * insn.iter_in + 1)
    return budget
