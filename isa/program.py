"""The decoded program: an instruction stream held in DRAM, decoded and validated once
(vectorised), in the one form the static check, the simulators, the backends and the tools
share (`ProgramImage.program`); and the ISA's routing and token tables, stated once.

The whole stream is fetched and decoded before anything executes, as the original C model's
fetch did: a STORE cannot change instructions that are already fetched (docs/semantics.md).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from vta.isa.config import Config
from vta.isa.errors import DecodeError
from vta.isa.instructions import INSN_BYTES, INSTRUCTION_CLASSES, Instruction
from vta.isa.layout import layouts
from vta.isa.opcodes import (FLAG_QUEUES, POP_FLAGS, PUSH_FLAGS, AluOp, MemoryType, Module,
                             Opcode, Queue, module_of)

#: Memory types a LOAD may name (ACC_8BIT and OUT are invalid instructions).
LOAD_TYPES = frozenset({MemoryType.UOP, MemoryType.WGT, MemoryType.INP, MemoryType.ACC})
OPCODES = {int(opcode): opcode for opcode in Opcode}


def _token_traffic() -> dict[tuple, tuple[tuple[Queue, ...], tuple[Queue, ...]]]:
    """(module, pop_prev, pop_next, push_prev, push_next) -> (queues popped, queues pushed),
    for every valid combination of flags."""
    table = {}
    for module, queues in FLAG_QUEUES.items():
        for bits in range(1 << len(POP_FLAGS + PUSH_FLAGS)):
            flags = dict(zip(POP_FLAGS + PUSH_FLAGS, ((bits >> k) & 1 for k in range(4))))
            if all(flag in queues for flag, value in flags.items() if value):
                table[(module, *flags.values())] = (
                    tuple(queues[flag] for flag in POP_FLAGS if flags[flag]),
                    tuple(queues[flag] for flag in PUSH_FLAGS if flags[flag]))
    return table


TOKEN_TRAFFIC = _token_traffic()


class DecodedInstruction(NamedTuple):
    """One validated instruction: where it runs, its token traffic and its field values."""

    index: int
    opcode: Opcode
    module: Module
    pops: tuple[Queue, ...]
    pushes: tuple[Queue, ...]
    fields: dict[str, int]
    raw: bytes

    @property
    def name(self) -> str:
        """A short mnemonic for messages, e.g. ``LOAD INP`` or ``ALU ADD``."""
        if self.opcode in (Opcode.LOAD, Opcode.STORE):
            return f"{self.opcode.name} {MemoryType(self.fields['memory_type']).name}"
        if self.opcode == Opcode.ALU:
            return f"ALU {AluOp(self.fields['alu_opcode']).name}"
        return self.opcode.name

    @property
    def executions(self) -> int:
        """Micro-op executions of a GEMM/ALU: iter_out · iter_in · (uop_end − uop_bgn)."""
        f = self.fields
        return f["iter_out"] * f["iter_in"] * max(f["uop_end"] - f["uop_bgn"], 0)

    def __getattr__(self, name: str) -> int:
        """A field's value by its layout name (``insn.x_size``)."""
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None

    def instruction(self) -> Instruction:
        """The same instruction as an `Instruction` value (for the assembler and encoders)."""
        values = dict(self.fields)
        del values["opcode"]
        for name, enum in (("memory_type", MemoryType), ("alu_opcode", AluOp)):
            if name in values:
                values[name] = enum(values[name])
        for name in ("pop_prev_dep", "pop_next_dep", "push_prev_dep", "push_next_dep",
                     "reset_reg", "use_imm"):
            if name in values:
                values[name] = bool(values[name])
        return INSTRUCTION_CLASSES[self.opcode](**values)


def instruction_words(dram: np.ndarray, insn_addr: int, insn_count: int) -> np.ndarray:
    """The stream as an (insn_count, 2) uint64 array (low word, high word)."""
    end = insn_addr + INSN_BYTES * insn_count
    if insn_addr < 0 or insn_count < 0 or end > dram.size or insn_addr % INSN_BYTES:
        raise DecodeError(f"instruction stream [{insn_addr:#x}, {end:#x}) is not a 16-byte aligned "
                          f"range inside the DRAM image of {dram.size} bytes")
    stream = np.ascontiguousarray(dram[insn_addr:end])
    return stream.view("<u8").reshape(insn_count, 2)


def decode_program(config: Config, dram: np.ndarray, insn_addr: int,
                   insn_count: int) -> list[DecodedInstruction]:
    """Decode and validate every instruction; the first invalid one raises DecodeError.
    Instructions that repeat (the same 16 bytes) are decoded once and share their fields."""
    words = instruction_words(dram, insn_addr, insn_count)
    raw = words.tobytes()
    raws = [raw[start:start + INSN_BYTES] for start in range(0, len(raw), INSN_BYTES)]
    first = dict(zip(reversed(raws), range(insn_count - 1, -1, -1)))  # bytes -> first index
    rows = np.array(sorted(first.values()), dtype=np.int64)
    distinct = words[rows]
    opcode_field = layouts(config).finish["opcode"]
    opcodes = ((distinct[:, 0] >> np.uint64(opcode_field.lsb))
               & np.uint64((1 << opcode_field.width) - 1)).astype(np.int64)
    all_fields: list[dict[str, int] | None] = [None] * len(rows)
    for opcode in Opcode:
        positions = np.flatnonzero(opcodes == opcode)
        if len(positions):
            for position, fields in zip(positions.tolist(),
                                        _field_dicts(config, opcode, distinct[positions])):
                all_fields[position] = fields
    decoded = {}
    for position, (index, fields) in enumerate(zip(rows.tolist(), all_fields)):
        if fields is None:
            raise DecodeError(f"instruction {index}: invalid opcode {opcodes[position]}")
        opcode = OPCODES[fields["opcode"]]
        module = _validate(opcode, fields, config, index)
        tokens = TOKEN_TRAFFIC.get((module, fields["pop_prev_dep"], fields["pop_next_dep"],
                                    fields["push_prev_dep"], fields["push_next_dep"]))
        if tokens is None:
            flag = next(flag for flag in POP_FLAGS + PUSH_FLAGS
                        if fields[flag] and flag not in FLAG_QUEUES[module])
            raise DecodeError(f"instruction {index}: {_mnemonic(opcode, fields)} sets {flag}, "
                              f"which the {module.name.lower()} module does not have")
        decoded[raws[index]] = opcode, module, tokens[0], tokens[1], fields
    new = tuple.__new__  # a NamedTuple's own __new__ costs a Python call per instruction
    return [new(DecodedInstruction, (index, *decoded[insn], insn))
            for index, insn in enumerate(raws)]


def program_of(instructions: list[Instruction], encoded: list[bytes]) -> list[DecodedInstruction]:
    """The decoded program of `instructions` whose encodings are `encoded`, as
    `decode_program` decodes it from DRAM, without decoding (nor validating) them again: for
    a caller that built them (`encode` checked every field) and only times them."""
    program = []
    known: dict[int, tuple] = {}      # by instruction object: a stream repeats its kernels'
    new = tuple.__new__               # as in `decode_program`
    for index, (insn, raw) in enumerate(zip(instructions, encoded)):
        decoded = known.get(id(insn))
        if decoded is None:
            fields = insn.fields()
            opcode = insn.opcode
            module = module_of(opcode, fields.get("memory_type", 0))
            pops, pushes = TOKEN_TRAFFIC[(module, fields["pop_prev_dep"],
                                          fields["pop_next_dep"], fields["push_prev_dep"],
                                          fields["push_next_dep"])]
            decoded = known[id(insn)] = (opcode, module, pops, pushes, fields)
        program.append(new(DecodedInstruction, (index, *decoded, raw)))
    return program


def _field_dicts(config: Config, opcode: Opcode, words: np.ndarray) -> list[dict[str, int]]:
    columns = layouts(config).for_opcode(opcode).unpack_array(words)
    names = list(columns)
    return [dict(zip(names, values)) for values in zip(*(columns[name].tolist() for name in names))]


_MEMORY_TYPES = {int(kind): kind for kind in MemoryType}
_ALU_OPCODES = {int(op): op for op in AluOp}


def _mnemonic(opcode: Opcode, fields: dict[str, int]) -> str:
    if opcode in (Opcode.LOAD, Opcode.STORE) and fields["memory_type"] in _MEMORY_TYPES:
        return f"{opcode.name} {_MEMORY_TYPES[fields['memory_type']].name}"
    return opcode.name


def _validate(opcode: Opcode, fields: dict[str, int], config: Config, index: int) -> Module:
    """Check what the decode table allows and return the module the instruction runs on."""
    if opcode == Opcode.LOAD:
        memory_type = fields["memory_type"]
        if memory_type not in LOAD_TYPES:
            name = _MEMORY_TYPES[memory_type].name if memory_type in _MEMORY_TYPES \
                else str(memory_type)
            raise DecodeError(f"instruction {index}: LOAD with memory type {name} is invalid "
                              f"(a LOAD takes UOP, WGT, INP or ACC)")
    if opcode == Opcode.STORE:
        if fields["x_size"] > 0:
            if fields["memory_type"] != MemoryType.OUT:
                raise DecodeError(f"instruction {index}: STORE with memory type "
                                  f"{fields['memory_type']} is invalid (a STORE reads OUT, "
                                  f"memory type {int(MemoryType.OUT)})")
            pads = [name for name in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1") if fields[name]]
            if pads:
                raise DecodeError(f"instruction {index}: STORE with padding "
                                  f"({pads[0]} = {fields[pads[0]]}) is invalid")
    if opcode == Opcode.ALU:
        alu_opcode = fields["alu_opcode"]
        if alu_opcode not in _ALU_OPCODES:
            raise DecodeError(f"instruction {index}: invalid ALU opcode {alu_opcode}")
        if alu_opcode == AluOp.MUL and not config.ALU_MUL:
            raise DecodeError(f"instruction {index}: ALU MUL needs the ALU_MUL extension, which "
                              f"this config switches off")
    return module_of(opcode, fields.get("memory_type", 0))


#: The seven profiler counters of the original functional simulator, in corpus order
#: (isa-reference §7; their exact definitions: tests/conformance/corpus/README.md §1).
PROFILE_COUNTERS = ("inp_load_nbytes", "wgt_load_nbytes", "acc_load_nbytes", "uop_load_nbytes",
                    "out_store_nbytes", "gemm_counter", "alu_counter")
LOAD_COUNTERS = {MemoryType.INP: "inp_load_nbytes", MemoryType.WGT: "wgt_load_nbytes",
                 MemoryType.ACC: "acc_load_nbytes", MemoryType.UOP: "uop_load_nbytes"}


def count(counters: dict[str, int], insn: DecodedInstruction, config: Config) -> None:
    """Add what executing `insn` adds to the seven counters."""
    f = insn.fields
    if insn.opcode == Opcode.LOAD and f["x_size"]:
        counters[LOAD_COUNTERS[f["memory_type"]]] += (
            f["x_size"] * f["y_size"] * config.elem_bytes(f["memory_type"]))
    elif insn.opcode == Opcode.STORE:
        counters["out_store_nbytes"] += f["x_size"] * f["y_size"] * config.elem_bytes(MemoryType.OUT)
    elif insn.opcode == Opcode.GEMM and not f["reset_reg"]:
        counters["gemm_counter"] += insn.executions
    elif insn.opcode == Opcode.ALU:
        counters["alu_counter"] += insn.executions


def profile_counters(program: list[DecodedInstruction], config: Config) -> dict[str, int]:
    """The seven counters of a run of `program` that executes every instruction (FINISH last,
    as every well-formed program): from the instruction stream alone."""
    counters = dict.fromkeys(PROFILE_COUNTERS, 0)
    for insn in program:
        count(counters, insn, config)
    return counters
