"""Amaranth `lib.data` layouts derived from `vta.isa.layouts(config)` (never retyped).

Instruction layouts are `FlexibleLayout`s placing every ISA field at its ISA bit position, so a
128-bit instruction word viewed through them exposes ``insn.memory.x_size`` and so on. Tile
layouts describe one on-chip buffer element (INP, WGT, ACC, OUT) as arrays of signed lanes.
"""

from amaranth.hdl import Const, signed, unsigned
from amaranth.lib import data

from vta.isa import Config, Layout, MemoryType, layouts
from vta.isa.config import INSN_BITS, UOP_BITS


def flexible(layout: Layout) -> data.FlexibleLayout:
    """The Amaranth view of one ISA layout: every field at its ISA bit position."""
    return data.FlexibleLayout(layout.bits, {
        field.name: data.Field(signed(field.width) if field.signed else unsigned(field.width),
                               field.lsb)
        for field in layout.fields
    })


def insn_layout(config: Config) -> data.UnionLayout:
    """A 128-bit instruction seen as each format: ``.memory``, ``.gemm``, ``.alu``, ``.header``."""
    isa = layouts(config)
    return data.UnionLayout({
        "header": flexible(isa.finish),
        "memory": flexible(isa.memory),
        "gemm": flexible(isa.gemm),
        "alu": flexible(isa.alu),
        "bits": unsigned(INSN_BITS),
    })


def uop_layout(config: Config) -> data.FlexibleLayout:
    """A 32-bit micro-op word: ``dst_idx``, ``src_idx``, ``wgt_idx``."""
    return data.FlexibleLayout(UOP_BITS, {f.name: data.Field(unsigned(f.width), f.lsb)
                                          for f in layouts(config).uop.fields})


def inp_tile(config: Config) -> data.ArrayLayout:
    """INP tile: ``[batch][block_in]`` int8."""
    return data.ArrayLayout(data.ArrayLayout(signed(config.inp_width), config.block_in), config.batch)


def wgt_tile(config: Config) -> data.ArrayLayout:
    """WGT tile: ``[block_out][block_in]`` int8 (row = output channel)."""
    return data.ArrayLayout(data.ArrayLayout(signed(config.wgt_width), config.block_in),
                            config.block_out)


def acc_tile(config: Config) -> data.ArrayLayout:
    """ACC tile flattened to ``batch * block_out`` int32 lanes."""
    return data.ArrayLayout(signed(config.acc_width), config.batch * config.block_out)


def out_tile(config: Config) -> data.ArrayLayout:
    """OUT tile flattened to ``batch * block_out`` int8 lanes."""
    return data.ArrayLayout(signed(config.out_width), config.batch * config.block_out)


def elem_bits(config: Config, memory_type: MemoryType) -> int:
    """Bits of one element of a buffer (a tile, or a 32-bit micro-op)."""
    return config.elem_bytes(memory_type) * 8


def log_depth(config: Config, memory_type: MemoryType) -> int:
    return (config.depth(memory_type) - 1).bit_length()


def sign_extended(value, width: int):
    """`value` (signed) sign-extended to `width` bits, as an addition of a signed zero: an
    assignment's sign extension is written in the Verilog as the sign bit repeated bit by bit,
    which Verilator evaluates bit by bit; an addition is written ``$signed(a) + ...``, one
    extension in Verilator's C++ (the fast RTL harness, docs/cosim.md). Synthesis removes the
    addition."""
    return value + Const(0, signed(width))
