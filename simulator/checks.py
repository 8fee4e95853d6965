"""The static check every backend runs before a program image executes."""

from __future__ import annotations

import numpy as np

from vta.isa import UOP_BYTES, MemoryType, Opcode
from vta.isa.image import ProgramImage
from vta.simulator.functional.bounds import Sizes, check_loop_indices, check_memory_access


def check_program(image: ProgramImage) -> None:
    """Decode and validate every instruction, then check every SRAM and DRAM access.

    Raises DecodeError or BoundsError naming the instruction index. The micro-ops each GEMM/ALU
    runs follow from the compute module's LOAD UOPs in program order, read from the initial DRAM
    image, so loop-expanded indices are bounded here, before anything runs (a program that
    rewrites its own micro-ops in DRAM is checked again at run time by the simulator).
    """
    config, dram = image.config, image.dram
    sizes = Sizes.of(config)
    program = image.program
    uop_memory = np.zeros(config.uop_depth, dtype=np.uint32)
    checked: set[tuple[bytes, bytes]] = set()  # (instruction, micro-op words) already bounded
    for insn in program:
        if insn.opcode in (Opcode.LOAD, Opcode.STORE):
            check_memory_access(insn, sizes, dram.size)
            f = insn.fields
            if insn.opcode == Opcode.LOAD and f["memory_type"] == MemoryType.UOP and f["x_size"]:
                first = UOP_BYTES * f["dram_base"]
                words = dram[first:first + UOP_BYTES * f["x_size"]].view("<u4")
                uop_memory[f["sram_base"]:f["sram_base"] + f["x_size"]] = words
        elif insn.opcode in (Opcode.GEMM, Opcode.ALU) and insn.executions:
            f = insn.fields
            key = (insn.raw, uop_memory[f["uop_bgn"]:f["uop_end"]].tobytes())
            if key not in checked:
                check_loop_indices(insn, uop_memory, sizes)
                checked.add(key)
