"""On-chip buffers and the LOAD/STORE data movers (isa-reference §4.1, §4.2).

Buffers hold tiles in their hardware types: INP, WGT and OUT one int8 per value whatever the
element width, ACC int32 (the GEMM engine converts INP and WGT to float32 while it gathers them
into its operand matrices). Narrower INP and WGT values are unpacked (sign-extended) as they
are loaded; OUT holds the low 8 bits of each accumulator, and a STORE packs its low OUT-width
bits (`vta.isa.elements`).
"""

from __future__ import annotations

import numpy as np

from vta.isa import Config, MemoryType, Opcode
from vta.isa.elements import pack, unpack
from vta.simulator.functional.bounds import (Sizes, check_memory_access, check_sram_access,
                                             dram_byte_range)
from vta.isa.program import DecodedInstruction

PADS = ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")
#: LOAD/STORE addressing kept per simulator before the cache is emptied.
TRANSFER_CACHE_SIZE = 1 << 14


class Sram:
    """The five on-chip buffers of one core, indexed by element (tile or micro-op)."""

    def __init__(self, config: Config):
        batch, block_in, block_out = config.batch, config.block_in, config.block_out
        self.uop = np.zeros(config.uop_depth, dtype=np.uint32)
        self.inp = np.zeros((config.inp_depth, batch, block_in), dtype=np.int8)
        self.wgt = np.zeros((config.wgt_depth, block_out, block_in), dtype=np.int8)
        self.acc = np.zeros((config.acc_depth, batch, block_out), dtype=np.int32)
        self.out = np.zeros((config.out_depth, batch, block_out), dtype=np.int8)
        #: Bumped whenever INP, WGT or UOP changes, so that readers can cache what they derive.
        self.generation = {MemoryType.INP: 0, MemoryType.WGT: 0, MemoryType.UOP: 0}

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


class _Block:
    """The SRAM side of a LOAD or STORE: the block (a view), its pad regions and the region
    the DRAM rows fill; the same for every instruction that names the same SRAM block."""

    __slots__ = ("block", "pads", "inner", "acc", "width", "uop")


class _Transfer:
    """What a LOAD or STORE of tensor tiles does, worked out once per instruction: its SRAM
    side (`_Block`, shared), and the DRAM rows (first byte, rows, bytes, stride)."""

    __slots__ = ("block", "pads", "inner", "first", "rows", "row_bytes", "stride", "end",
                 "acc", "width", "uop", "moved")


class DataMover:
    """Executes LOADs and STOREs between a DRAM image and the buffers; returns bytes moved.
    Each instruction's addressing is worked out once (`_Transfer`, cached by its bytes; its
    SRAM side by the SRAM block it names)."""

    def __init__(self, config: Config, sram: Sram):
        self.sram, self.sizes = sram, Sizes.of(config)
        self.width = {kind: config.element_width(kind)
                      for kind in (MemoryType.INP, MemoryType.WGT, MemoryType.OUT)}
        self.transfers: dict[bytes, _Transfer] = {}
        self.blocks: dict[tuple, _Block] = {}

    def _transfer(self, insn: DecodedInstruction, dram: np.ndarray) -> _Transfer:
        transfer = self.transfers.get(insn.raw)
        if transfer is None:
            if len(self.transfers) >= TRANSFER_CACHE_SIZE:
                self.transfers.clear()
                self.blocks.clear()
            transfer = self.transfers[insn.raw] = self._plan(insn)
        if transfer.end > dram.size:
            check_memory_access(insn, self.sizes, dram.size)  # raises BoundsError
        return transfer

    def _plan(self, insn: DecodedInstruction) -> _Transfer:
        """The addressing of a LOAD/STORE with x_size > 0, its SRAM bounds checked."""
        f, t = insn.fields, _Transfer()
        store = insn.opcode == Opcode.STORE
        memory_type = MemoryType.OUT if store else f["memory_type"]
        x_size, y_size = f["x_size"], f["y_size"]
        key = (store, memory_type, f["sram_base"], x_size, y_size, f["y_pad_0"], f["y_pad_1"],
               f["x_pad_0"], f["x_pad_1"])
        side = self.blocks.get(key)
        if side is None:
            check_sram_access(insn, self.sizes)
            side = self.blocks[key] = self._block(insn, store, MemoryType(memory_type))
        t.block, t.pads, t.inner, t.acc, t.width, t.uop = (side.block, side.pads, side.inner,
                                                           side.acc, side.width, side.uop)
        elem = self.sizes.elem_bytes[memory_type]
        extent = dram_byte_range(insn, self.sizes)
        t.end = 0 if extent is None else extent[1]
        t.first, t.rows, t.row_bytes = f["dram_base"] * elem, y_size, x_size * elem
        t.stride, t.moved = f["x_stride"] * elem, x_size * y_size * elem
        if side.uop is not None:
            t.rows = 1
        return t

    def _block(self, insn: DecodedInstruction, store: bool, memory_type: MemoryType) -> _Block:
        f, b = insn.fields, _Block()
        x_size, y_size, base = f["x_size"], f["y_size"], f["sram_base"]
        b.uop, b.acc, b.pads, b.block, b.inner = None, False, (), None, None
        b.width = self.width.get(memory_type, 8)
        if memory_type == MemoryType.UOP:
            b.uop = self.sram.uop[base:base + x_size]
            return b
        buffer = self.sram.out if store else self.sram.buffer(memory_type)
        b.acc = memory_type == MemoryType.ACC
        if store:
            b.block = buffer[base:base + y_size * x_size].reshape((y_size, x_size)
                                                                   + buffer.shape[1:])
            b.inner = b.block
            return b
        y0, y1, x0, x1 = (f[pad] for pad in PADS)
        rows, width = y0 + y_size + y1, x0 + x_size + x1
        b.block = buffer[base:base + rows * width].reshape((rows, width) + buffer.shape[1:])
        b.pads = tuple(region for region in (b.block[:y0], b.block[y0 + y_size:],
                                             b.block[:, :x0], b.block[:, x0 + x_size:])
                       if region.size)
        b.inner = b.block[y0:y0 + y_size, x0:x0 + x_size]
        return b

    def prepare(self, insn: DecodedInstruction, dram: np.ndarray) -> None:
        """Work out the addressing of a LOAD/STORE before it runs; a LOAD UOP also loads its
        micro-ops (the engines plan over them)."""
        if insn.fields["x_size"]:
            if insn.opcode == Opcode.LOAD and insn.fields["memory_type"] == MemoryType.UOP:
                self.load(insn, dram)
            else:
                self._transfer(insn, dram)

    def load(self, insn: DecodedInstruction, dram: np.ndarray) -> int:
        f = insn.fields
        if f["x_size"] == 0:
            return 0
        t = self._transfer(insn, dram)
        if t.uop is not None:
            t.uop[...] = dram[t.first:t.first + t.row_bytes].view("<u4")
            self.sram.generation[MemoryType.UOP] += 1
            return t.moved
        memory_type = f["memory_type"]
        if memory_type in self.sram.generation:
            self.sram.generation[memory_type] += 1
        for region in t.pads:
            region.fill(0)
        if t.rows:
            data = dram_rows(dram, t.first, t.rows, t.row_bytes, t.stride)
            data = data.view("<i4") if t.acc else unpack(data, t.width)
            t.inner[...] = data.reshape(t.inner.shape)
        return t.moved

    def store(self, insn: DecodedInstruction, dram: np.ndarray) -> int:
        f = insn.fields
        if f["x_size"] == 0:
            return 0
        t = self._transfer(insn, dram)
        if t.rows == 0:
            return 0
        source = t.block.reshape(t.rows, -1)
        source = source.view(np.uint8) if t.width == 8 else pack(source, t.width)
        target = dram_rows(dram, t.first, t.rows, t.row_bytes, t.stride)
        if t.stride >= t.row_bytes or t.rows == 1:
            target[...] = source
        else:  # overlapping rows: later rows win
            for row in range(t.rows):
                target[row] = source[row]
        return t.moved
