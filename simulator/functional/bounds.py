"""Bounds of every SRAM and DRAM access, shared by the static check and the simulator.

Each check raises BoundsError naming the instruction index, the buffer and the first index
outside it; none of them touches memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vta.isa import BoundsError, Config, Layout, MemoryType, Opcode, layouts
from vta.isa.program import DecodedInstruction


@dataclass(frozen=True)
class Sizes:
    """What bounds depend on, tabulated once per config: buffer depths and DRAM element sizes
    by memory type, and the micro-op layout."""

    depth: dict[MemoryType, int]
    elem_bytes: dict[MemoryType, int]
    uop_layout: Layout

    @classmethod
    def of(cls, config: Config) -> Sizes:
        return cls({kind: config.depth(kind) for kind in MemoryType},
                   {kind: config.elem_bytes(kind) for kind in MemoryType}, layouts(config).uop)


def sram_elements(insn: DecodedInstruction) -> int:
    """SRAM elements a LOAD (padding included) or STORE with x_size > 0 touches."""
    f = insn.fields
    if insn.opcode == Opcode.STORE:
        return f["y_size"] * f["x_size"]
    if f["memory_type"] == MemoryType.UOP:
        return f["x_size"]
    return (f["y_pad_0"] + f["y_size"] + f["y_pad_1"]) * (f["x_pad_0"] + f["x_size"] + f["x_pad_1"])


def dram_byte_range(insn: DecodedInstruction, sizes: Sizes) -> tuple[int, int] | None:
    """The DRAM bytes [first, end) a LOAD/STORE with x_size > 0 reads or writes, if any."""
    f = insn.fields
    elem = sizes.elem_bytes[f["memory_type"]]
    rows = 1 if insn.opcode == Opcode.LOAD and f["memory_type"] == MemoryType.UOP else f["y_size"]
    if rows == 0:
        return None
    first = f["dram_base"] * elem
    return first, first + ((rows - 1) * f["x_stride"] + f["x_size"]) * elem


def check_memory_access(insn: DecodedInstruction, sizes: Sizes, dram_size: int) -> None:
    """Bounds of a LOAD or STORE: its SRAM block and its DRAM rows (x_size = 0 is a NOP)."""
    if insn.fields["x_size"] == 0:
        return
    check_sram_access(insn, sizes)
    extent = dram_byte_range(insn, sizes)
    if extent is not None and extent[1] > dram_size:
        raise BoundsError(f"instruction {insn.index}: {insn.name}: DRAM bytes "
                          f"[{extent[0]:#x}, {extent[1]:#x}) lie outside the DRAM image of "
                          f"{dram_size} bytes")


def check_sram_access(insn: DecodedInstruction, sizes: Sizes) -> None:
    """Bounds of the SRAM block of a LOAD or STORE with x_size > 0."""
    f = insn.fields
    memory_type = MemoryType.OUT if insn.opcode == Opcode.STORE else MemoryType(f["memory_type"])
    depth, count = sizes.depth[memory_type], sram_elements(insn)
    if f["sram_base"] + count > depth:
        raise BoundsError(f"instruction {insn.index}: {insn.name}: {memory_type.name} index "
                          f"{max(f['sram_base'], depth)} is outside the buffer of depth {depth} "
                          f"(SRAM elements [{f['sram_base']}, {f['sram_base'] + count}))")


def check_loop_indices(insn: DecodedInstruction, uop_memory: np.ndarray, sizes: Sizes,
                       uops: dict[str, np.ndarray] | None = None) -> None:
    """Bounds of a GEMM/ALU: its micro-op range and every loop-expanded SRAM index (`uops`:
    its micro-ops' fields, if the caller has unpacked them).

    Loop factors are unsigned, so the largest index of each micro-op is reached in the last
    iteration of both loops: the affine maximum bounds the whole loop nest."""
    f = insn.fields
    if insn.executions == 0:
        return
    uop_depth = sizes.depth[MemoryType.UOP]
    if f["uop_end"] > uop_depth:
        raise BoundsError(f"instruction {insn.index}: {insn.name}: UOP index {uop_depth} is outside "
                          f"the buffer of depth {uop_depth} (micro-ops [{f['uop_bgn']}, "
                          f"{f['uop_end']}))")
    if uops is None:
        uops = sizes.uop_layout.unpack_array(uop_memory[f["uop_bgn"]:f["uop_end"]])
    if insn.opcode == Opcode.GEMM:
        operands = [("dst", MemoryType.ACC), ("src", MemoryType.INP), ("wgt", MemoryType.WGT)]
    elif f["use_imm"]:
        operands = [("dst", MemoryType.ACC)]
    else:
        operands = [("dst", MemoryType.ACC), ("src", MemoryType.ACC)]
    last_out, last_in = f["iter_out"] - 1, f["iter_in"] - 1
    for operand, memory_type in operands:
        factor_out, factor_in = f[f"{operand}_factor_out"], f[f"{operand}_factor_in"]
        reach = uops[f"{operand}_idx"] + (last_out * factor_out + last_in * factor_in)
        worst = int(np.argmax(reach))
        depth = sizes.depth[memory_type]
        if reach[worst] >= depth:
            i = last_out if factor_out else 0
            j = last_in if factor_in else 0
            raise BoundsError(f"instruction {insn.index}: {insn.name}: {operand} {memory_type.name} "
                              f"index {int(reach[worst])} is outside the buffer of depth {depth} "
                              f"(micro-op {f['uop_bgn'] + worst}, iteration ({i}, {j}))")
