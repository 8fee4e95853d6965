"""Bit-field layouts of instructions and micro-ops, computed from a Config by the rule of
isa-reference §3: fields are allocated from bit 0 upward in declaration order, and a field that
would straddle a 64-bit boundary starts at that boundary instead."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from numbers import Integral
from operator import index

import numpy as np

from vta.isa.config import INSN_BITS, LOOP_ITER_BITS, UOP_BITS, Config
from vta.isa.errors import ConfigError, FieldRangeError
from vta.isa.opcodes import Opcode

#: Widths of LOAD/STORE fields, fixed by the original ISA (``VTA_MEMOP_*``).
MEMOP_SRAM_ADDR_BITS = 16
MEMOP_DRAM_ADDR_BITS = 32
MEMOP_SIZE_BITS = 16
MEMOP_STRIDE_BITS = 16
MEMOP_PAD_BITS = 4
OPCODE_BITS = 3
ALU_OPCODE_BITS = 3
ALU_IMM_BITS = 16

DEP_FLAGS = ("pop_prev_dep", "pop_next_dep", "push_prev_dep", "push_next_dep")


@dataclass(frozen=True)
class Field:
    name: str
    lsb: int
    width: int
    signed: bool = False

    @property
    def minimum(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def maximum(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def check(self, value: int, where: str = "") -> int:
        """`value` itself if it is a whole number that fits this field, else a FieldRangeError
        naming the field."""
        if not isinstance(value, Integral):
            raise FieldRangeError(f"{where}field {self.name} = {value!r} is not a whole number")
        if not self.minimum <= value <= self.maximum:
            limit = (f"{self.minimum}..{self.maximum}" if self.signed
                     else f"at most {self.maximum}")
            raise FieldRangeError(f"{where}field {self.name} = {value} does not fit its "
                                  f"{self.width} bits ({limit})")
        return value


@dataclass(frozen=True)
class Layout:
    """The fields of one instruction or micro-op format, with positions."""

    name: str
    bits: int
    fields: tuple[Field, ...]

    def __getitem__(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(field.name for field in self.fields)

    @cached_property
    def _packing(self) -> tuple:
        return tuple((f.name, f.lsb, (1 << f.width) - 1, f.minimum, f.maximum, f)
                     for f in self.fields)

    def pack(self, values: dict[str, int], where: str = "") -> int:
        """The integer word holding `values` (missing fields are zero)."""
        word = 0
        for name, lsb, mask, low, high, field in self._packing:
            value = values.get(name, 0)
            if not isinstance(value, Integral) or not low <= value <= high:
                field.check(value, where)
            word |= (index(value) & mask) << lsb
        return word

    def packer(self, names: tuple[str, ...], constants: tuple[tuple[str, int], ...] = ()):
        """A function ``pack(values, where="")`` equal to ``self.pack`` for a dict `values`
        (an object's ``__dict__``) that holds every one of `names` (fields not named, nor
        given in `constants`, are zero), written out once as straight-line code (it packs one
        instruction per call in code generation's loops)."""
        given = dict(constants)
        lines, checks, terms, values = [], [], [], {}
        for position, (name, lsb, mask, low, high, field) in enumerate(self._packing):
            if name in given:
                field.check(given[name])
                terms.append(str((given[name] & mask) << lsb))
            elif name in names:
                lines.append(f"        v{position} = index(values[{name!r}])")
                checks.append(f"{low} <= v{position} <= {high}")
                value = f"(v{position} & {mask})" if field.signed else f"v{position}"
                terms.append(f"({value} << {lsb})" if lsb else value)
        conversions = ("    try:\n" + "\n".join(lines) + "\n    except TypeError:\n"
                       "        return slow(dict(values, **given), where)\n" if lines else "")
        source = ("def pack(values, where=''):\n" + conversions
                  + (f"    if not ({' and '.join(checks)}):\n"
                     f"        return slow(dict(values, **given), where)\n" if checks else "")
                  + f"    return {' | '.join(terms) or '0'}\n")
        exec(source, {"slow": self.pack, "given": given, "index": index}, values)
        return values["pack"]

    def unpack(self, word: int) -> dict[str, int]:
        values = {}
        for field in self.fields:
            value = (word >> field.lsb) & ((1 << field.width) - 1)
            if field.signed and value >> (field.width - 1):
                value -= 1 << field.width
            values[field.name] = value
        return values

    def unpack_array(self, words: np.ndarray) -> dict[str, np.ndarray]:
        """Vectorised `unpack` of instructions given as an (N, 2) uint64 array (low, high word)
        or of micro-ops given as a uint32 array; values are int64 arrays."""
        values = {}
        for field in self.fields:
            lane = words[:, field.lsb // 64] if words.ndim == 2 else words.astype(np.uint64)
            raw = (lane >> np.uint64(field.lsb % 64)) & np.uint64((1 << field.width) - 1)
            value = raw.astype(np.int64)
            if field.signed:
                value = np.where(value >> (field.width - 1), value - (1 << field.width), value)
            values[field.name] = value
        return values


def allocate(name: str, bits: int, declarations: list[tuple]) -> Layout:
    """Apply the bit-field rule to (name, width) declarations of unsigned fields and
    (name, width, True) ones of signed fields."""
    fields, position = [], 0
    for field_name, width, *signed in declarations:
        signed = bool(signed and signed[0])
        if position // 64 != (position + width - 1) // 64:
            position = (position // 64 + 1) * 64
        fields.append(Field(field_name, position, width, signed))
        position += width
    if position > bits:
        raise ConfigError(f"{name} fields need {position} bits, more than {bits}")
    return Layout(name, bits, tuple(fields))


def _header() -> list[tuple]:
    return [("opcode", OPCODE_BITS)] + [(flag, 1) for flag in DEP_FLAGS]


#: The bit of each dependency flag in an instruction word (every layout starts with the header).
DEP_FLAG_BITS = {field.name: 1 << field.lsb
                 for field in allocate("header", INSN_BITS, _header()).fields[1:]}


def _loop_fields(config: Config, src_log_depth: int) -> list[tuple]:
    acc = config.log_acc_depth
    return [
        ("reset_reg", 1),
        ("uop_bgn", config.log_uop_depth),
        ("uop_end", config.log_uop_depth + 1),
        ("iter_out", LOOP_ITER_BITS),
        ("iter_in", LOOP_ITER_BITS),
        ("dst_factor_out", acc),
        ("dst_factor_in", acc),
        ("src_factor_out", src_log_depth),
        ("src_factor_in", src_log_depth),
    ]


@dataclass(frozen=True)
class IsaLayouts:
    """All layouts of one config: one per opcode plus the micro-op."""

    memory: Layout
    gemm: Layout
    alu: Layout
    finish: Layout
    uop: Layout

    def for_opcode(self, opcode: Opcode) -> Layout:
        layout = self._by_opcode.get(opcode)
        return layout if layout is not None else self._by_opcode[Opcode(opcode)]

    @cached_property
    def _by_opcode(self) -> dict[Opcode, Layout]:
        return {Opcode.LOAD: self.memory, Opcode.STORE: self.memory, Opcode.GEMM: self.gemm,
                Opcode.ALU: self.alu, Opcode.FINISH: self.finish}


@cache
def layouts(config: Config) -> IsaLayouts:
    """The layouts of `config`, computed by the rule of isa-reference §3."""
    memory = allocate("LOAD/STORE", INSN_BITS, _header() + [
        ("memory_type", 3),
        ("sram_base", MEMOP_SRAM_ADDR_BITS),
        ("dram_base", MEMOP_DRAM_ADDR_BITS),
        ("y_size", MEMOP_SIZE_BITS),
        ("x_size", MEMOP_SIZE_BITS),
        ("x_stride", MEMOP_STRIDE_BITS),
        ("y_pad_0", MEMOP_PAD_BITS),
        ("y_pad_1", MEMOP_PAD_BITS),
        ("x_pad_0", MEMOP_PAD_BITS),
        ("x_pad_1", MEMOP_PAD_BITS),
    ])
    gemm = allocate("GEMM", INSN_BITS, _header() + _loop_fields(config, config.log_inp_depth) + [
        ("wgt_factor_out", config.log_wgt_depth),
        ("wgt_factor_in", config.log_wgt_depth),
    ])
    alu = allocate("ALU", INSN_BITS, _header() + _loop_fields(config, config.log_acc_depth) + [
        ("alu_opcode", ALU_OPCODE_BITS),
        ("use_imm", 1),
        ("imm", ALU_IMM_BITS, True),
    ])
    finish = allocate("FINISH", INSN_BITS, _header())
    uop = allocate("micro-op", UOP_BITS, [
        ("dst_idx", config.log_acc_depth),
        ("src_idx", max(config.log_acc_depth, config.log_inp_depth)),
        ("wgt_idx", config.log_wgt_depth),
    ])
    return IsaLayouts(memory, gemm, alu, finish, uop)
