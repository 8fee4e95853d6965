"""On-chip buffers and the LOAD/STORE data movers (isa-reference §4.1, §4.2).

Buffers hold tiles in their hardware types: INP, WGT and OUT one int8 per value whatever the
element width, ACC int32 (the GEMM engine converts INP and WGT to float32 while it gathers them
into its operand matrices). Narrower INP and WGT values are unpacked (sign-extended) as they
are loaded; OUT holds the low 8 bits of each accumulator, and a STORE packs its low OUT-width
bits (`vta.isa.elements`).
"""

from __future__ import annotations

import numpy as np

from vta.isa import Config, MemoryType
from vta.isa.elements import pack, unpack
from vta.simulator.functional.bounds import Sizes, check_memory_access
from vta.isa.program import DecodedInstruction

PADS = ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")


class Sram:
    """The five on-chip buffers of one core, indexed by element (tile or micro-op)."""

    def __init__(self, config: Config):
        batch, block_in, block_out = config.batch, config.block_in, config.block_out
        self.uop = np.zeros(config.uop_depth, dtype=np.uint32)
        self.inp = np.zeros((config.inp_depth, batch, block_in), dtype=np.int8)
        self.wgt = np.zeros((config.wgt_depth, block_out, block_in), dtype=np.int8)
        self.acc = np.zeros((config.acc_depth, batch, block_out), dtype=np.int32)
        self.out = np.zeros((config.out_depth, batch, block_out), dtype=np.int8)
        #: Bumped whenever INP or WGT changes, so that readers can cache what they derive.
        self.generation = {MemoryType.INP: 0, MemoryType.WGT: 0}

    def clear(self) -> None:
        """Zero every buffer in place (views other objects hold stay valid)."""
        for buffer in (self.uop, self.inp, self.wgt, self.acc, self.out):
            buffer.fill(0)
        for memory_type in self.generation:
            self.generation[memory_type] += 1

    def buffer(self, memory_type: MemoryType) -> np.ndarray:
        return {MemoryType.INP: self.inp, MemoryType.WGT: self.wgt,
                MemoryType.ACC: self.acc}[memory_type]


def dram_rows(dram: np.ndarray, first_byte: int, rows: int, row_bytes: int,
              stride_bytes: int) -> np.ndarray:
    """A (rows, row_bytes) view of DRAM rows `stride_bytes` apart (numpy re-checks the bounds)."""
    return np.ndarray((rows, row_bytes), np.uint8, buffer=dram, offset=first_byte,
                      strides=(stride_bytes, 1))


class DataMover:
    """Executes LOADs and STOREs between a DRAM image and the buffers; returns bytes moved."""

    def __init__(self, config: Config, sram: Sram):
        self.sram, self.sizes = sram, Sizes.of(config)
        self.width = {kind: config.element_width(kind)
                      for kind in (MemoryType.INP, MemoryType.WGT, MemoryType.OUT)}

    def load(self, insn: DecodedInstruction, dram: np.ndarray) -> int:
        f = insn.fields
        if f["x_size"] == 0:
            return 0
        check_memory_access(insn, self.sizes, dram.size)
        memory_type = MemoryType(f["memory_type"])
        elem = self.sizes.elem_bytes[memory_type]
        x_size, y_size, base = f["x_size"], f["y_size"], f["sram_base"]
        if memory_type == MemoryType.UOP:
            first = f["dram_base"] * elem
            self.sram.uop[base:base + x_size] = dram[first:first + x_size * elem].view("<u4")
            return x_size * y_size * elem
        if memory_type in self.sram.generation:
            self.sram.generation[memory_type] += 1
        buffer = self.sram.buffer(memory_type)
        rows = f["y_pad_0"] + y_size + f["y_pad_1"]
        width = f["x_pad_0"] + x_size + f["x_pad_1"]
        block = buffer[base:base + rows * width].reshape((rows, width) + buffer.shape[1:])
        if any(f[pad] for pad in PADS):
            block[:f["y_pad_0"]] = 0
            block[f["y_pad_0"] + y_size:] = 0
            block[:, :f["x_pad_0"]] = 0
            block[:, f["x_pad_0"] + x_size:] = 0
        if y_size:
            data = dram_rows(dram, f["dram_base"] * elem, y_size, x_size * elem, f["x_stride"] * elem)
            data = (data.view("<i4") if memory_type == MemoryType.ACC
                    else unpack(data, self.width[memory_type]))
            block[f["y_pad_0"]:f["y_pad_0"] + y_size, f["x_pad_0"]:f["x_pad_0"] + x_size] = \
                data.reshape((y_size, x_size) + buffer.shape[1:])
        return x_size * y_size * elem

    def store(self, insn: DecodedInstruction, dram: np.ndarray) -> int:
        f = insn.fields
        if f["x_size"] == 0:
            return 0
        check_memory_access(insn, self.sizes, dram.size)
        elem = self.sizes.elem_bytes[MemoryType.OUT]
        x_size, y_size, stride, base = f["x_size"], f["y_size"], f["x_stride"], f["sram_base"]
        if y_size == 0:
            return 0
        source = pack(self.sram.out[base:base + y_size * x_size].reshape(y_size, -1),
                      self.width[MemoryType.OUT])
        target = dram_rows(dram, f["dram_base"] * elem, y_size, x_size * elem, stride * elem)
        if stride >= x_size or y_size == 1:
            target[...] = source
        else:  # overlapping rows: later rows win
            for row in range(y_size):
                target[row] = source[row]
        return x_size * y_size * elem
