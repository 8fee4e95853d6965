"""The text form of instruction streams: an assembler and a disassembler (docs/cli.md).

One instruction per line: a mnemonic (the opcode name), for LOAD/STORE the memory type and for
ALU the operation, then fields by name::

    LOAD INP sram_base=0 dram_base=0x40 y_size=1 x_size=4 x_stride=4 pop_next_dep push_next_dep
    GEMM reset_reg uop_bgn=0 uop_end=1 iter_out=1 iter_in=1
    ALU SHR uop_bgn=0 uop_end=1 iter_out=1 iter_in=1 use_imm imm=-3
    FINISH

A one-bit field given by its bare name is 1; ``name=value`` takes any Python integer literal
(``12``, ``-3``, ``0x40``, ``0b101``). Fields not given are 0. ``#`` starts a comment; blank lines
are ignored; a leading ``N:`` (an instruction index, as the disassembler prints) is ignored.
Text and binary round-trip exactly: `assemble(disassemble(b)) == b` for every encoding `decode`
accepts whose unused bits are zero.
"""

from __future__ import annotations

import dataclasses
import re
from functools import cache

from vta.isa.config import Config
from vta.isa.errors import DecodeError
from vta.isa.instructions import INSN_BYTES, INSTRUCTION_CLASSES, Instruction, decode, encode
from vta.isa.layout import DEP_FLAGS, Layout, layouts
from vta.isa.opcodes import AluOp, MemoryType, Opcode

#: The operand that follows the mnemonic, by opcode: the field it sets, its enumeration and
#: what it is called in messages.
_OPERANDS = {Opcode.LOAD: ("memory_type", MemoryType, "a memory type"),
             Opcode.STORE: ("memory_type", MemoryType, "a memory type"),
             Opcode.ALU: ("alu_opcode", AluOp, "an ALU operation")}
#: Fields the disassembler prints even when zero (the others only when set).
_ALWAYS_SHOWN = {"sram_base", "dram_base", "y_size", "x_size", "x_stride",
                 "uop_bgn", "uop_end", "iter_out", "iter_in"}
_HEX_FIELDS = {"dram_base"}
_INDEX_LABEL = re.compile(r"\d+:$")
_LINE_END = re.compile(r"\r\n|\r|\n")


@cache
def _flags(opcode: Opcode) -> frozenset[str]:
    """The one-bit yes/no fields of an opcode (the boolean fields of its instruction class)."""
    return frozenset(field.name for field in dataclasses.fields(INSTRUCTION_CLASSES[opcode])
                     if field.type in ("bool", bool))


def _named_fields(layout: Layout) -> list[str]:
    """The fields written as ``name=value`` or bare flags (not the opcode or the operand)."""
    return [name for name in layout.names
            if name != "opcode" and name not in {operand[0] for operand in _OPERANDS.values()}]


# -- disassembler ---------------------------------------------------------------------------------
def format_instruction(insn: Instruction, config: Config) -> str:
    """One line of assembly for `insn`."""
    layout = layouts(config).for_opcode(insn.opcode)
    values = insn.fields()
    words = [insn.opcode.name]
    if insn.opcode in _OPERANDS:
        field, enum, _ = _OPERANDS[insn.opcode]
        words.append(enum(values[field]).name)
    trailing_flags = []
    for name in _named_fields(layout):
        value = values[name]
        if name in DEP_FLAGS:
            if value:
                trailing_flags.append(name)
        elif name in _flags(insn.opcode):
            if value:
                words.append(name)
        elif value or name in _ALWAYS_SHOWN or (name == "imm" and values["use_imm"]):
            words.append(f"{name}={value:#x}" if name in _HEX_FIELDS else f"{name}={value}")
    return " ".join(words + trailing_flags)


def disassemble(data: bytes, config: Config, first_index: int = 0, indexed: bool = True) -> str:
    """The assembly text of an instruction stream, one line per instruction, each prefixed with
    its index (counted from `first_index`) unless `indexed` is false."""
    if len(data) % INSN_BYTES:
        raise DecodeError(f"an instruction stream is a multiple of {INSN_BYTES} bytes, "
                          f"got {len(data)}")
    count = len(data) // INSN_BYTES
    width = len(str(first_index + count - 1)) if count else 1
    lines = []
    for position in range(count):
        index = first_index + position
        insn = decode(data[position * INSN_BYTES:(position + 1) * INSN_BYTES], config,
                      f"instruction {index}: ")
        text = format_instruction(insn, config)
        lines.append(f"{index:>{width}}: {text}" if indexed else text)
    return "".join(line + "\n" for line in lines)


# -- assembler ------------------------------------------------------------------------------------
def parse_instruction(text: str, config: Config, where: str = "") -> Instruction | None:
    """The instruction on one line of assembly (None for a blank or comment line). Raises
    DecodeError for bad syntax and FieldRangeError for a value too wide for its field; both
    messages start with `where`."""
    words = text.split("#", 1)[0].split()
    if words and _INDEX_LABEL.match(words[0]):
        words = words[1:]
    if not words:
        return None
    mnemonic, *operands = words
    try:
        opcode = Opcode[mnemonic.upper()]
    except KeyError:
        raise DecodeError(f"{where}unknown mnemonic {mnemonic!r} "
                          f"(known: {', '.join(op.name for op in Opcode)})") from None
    layout = layouts(config).for_opcode(opcode)
    values = {"opcode": int(opcode)}
    if opcode in _OPERANDS:
        field, enum, description = _OPERANDS[opcode]
        choices = ", ".join(member.name for member in enum)
        if not operands or operands[0].upper() not in enum.__members__:
            found = f", got {operands[0]!r}" if operands else ""
            raise DecodeError(f"{where}{opcode.name} needs {description} ({choices}){found}")
        values[field] = int(enum[operands.pop(0).upper()])
    names = _named_fields(layout)
    for operand in operands:
        name, equals, literal = operand.partition("=")
        if name not in names:
            raise DecodeError(f"{where}{opcode.name} has no field {name!r} "
                              f"(fields: {', '.join(names)})")
        if name in values:
            raise DecodeError(f"{where}field {name} is given twice")
        if not equals:
            if name not in _flags(opcode):
                raise DecodeError(f"{where}field {name} needs a value ({name}=N)")
            values[name] = 1
            continue
        try:
            values[name] = int(literal, 0)
        except ValueError:
            raise DecodeError(f"{where}field {name}: {literal!r} is not an integer") from None
    word = layout.pack(values, where)  # raises FieldRangeError naming the field, value and limit
    return decode(word.to_bytes(INSN_BYTES, "little"), config, where)


def parse_program(source: str, config: Config) -> list[Instruction]:
    """The instructions of an assembly text; errors name the line (``line 3: ...``). Lines
    end at a line feed, a carriage return or both, as an editor counts them: a form feed or
    another character that `str.splitlines` also breaks at stays inside its line (so a comment
    holding one stays a comment)."""
    program = []
    for number, line in enumerate(_LINE_END.split(source), start=1):
        insn = parse_instruction(line, config, f"line {number}: ")
        if insn is not None:
            program.append(insn)
    return program


def assemble(source: str, config: Config) -> bytes:
    """The binary instruction stream (16 little-endian bytes per instruction) of a text."""
    return b"".join(encode(insn, config) for insn in parse_program(source, config))
