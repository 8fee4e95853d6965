"""Decoding and validating an instruction stream held in DRAM (isa-reference §3, /docs/semantics.md).

The whole stream is fetched and decoded before anything executes, as the original C model's
fetch did: a STORE cannot change instructions that are already fetched.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from vta.isa import (INSN_BYTES, AluOp, Config, DecodeError, MemoryType, Module, Opcode, Queue,
                     layouts)

#: Memory types a LOAD may name (ACC_8BIT and OUT are invalid instructions).
LOAD_TYPES = frozenset({MemoryType.UOP, MemoryType.WGT, MemoryType.INP, MemoryType.ACC})

#: The token queue behind each dependency flag, per module; a flag missing here is invalid there.
FLAG_QUEUES: dict[Module, dict[str, Queue]] = {
    Module.LOAD: {"pop_next_dep": Queue.G2L, "push_next_dep": Queue.L2G},
    Module.COMPUTE: {"pop_prev_dep": Queue.L2G, "pop_next_dep": Queue.S2G,
                     "push_prev_dep": Queue.G2L, "push_next_dep": Queue.G2S},
    Module.STORE: {"pop_prev_dep": Queue.G2S, "push_prev_dep": Queue.S2G},
}
POP_FLAGS = ("pop_prev_dep", "pop_next_dep")
PUSH_FLAGS = ("push_prev_dep", "push_next_dep")
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
    """Decode and validate every instruction; the first invalid one raises DecodeError."""
    words = instruction_words(dram, insn_addr, insn_count)
    raw = words.tobytes()
    opcode_field = layouts(config).finish["opcode"]
    opcodes = ((words[:, 0] >> np.uint64(opcode_field.lsb))
               & np.uint64((1 << opcode_field.width) - 1)).astype(np.int64)
    all_fields: list[dict[str, int] | None] = [None] * insn_count
    for opcode in Opcode:
        rows = np.flatnonzero(opcodes == opcode)
        if len(rows):
            for row, fields in zip(rows.tolist(), _field_dicts(config, opcode, words[rows])):
                all_fields[row] = fields
    program = []
    for index, fields in enumerate(all_fields):
        if fields is None:
            raise DecodeError(f"instruction {index}: invalid opcode {opcodes[index]}")
        opcode = OPCODES[fields["opcode"]]
        module = _validate(opcode, fields, config, index)
        tokens = TOKEN_TRAFFIC.get((module, fields["pop_prev_dep"], fields["pop_next_dep"],
                                    fields["push_prev_dep"], fields["push_next_dep"]))
        if tokens is None:
            flag = next(flag for flag in POP_FLAGS + PUSH_FLAGS
                        if fields[flag] and flag not in FLAG_QUEUES[module])
            raise DecodeError(f"instruction {index}: {_mnemonic(opcode, fields)} sets {flag}, "
                              f"which the {module.name.lower()} module does not have")
        program.append(DecodedInstruction(index, opcode, module, tokens[0], tokens[1], fields,
                                          raw[index * INSN_BYTES:(index + 1) * INSN_BYTES]))
    return program


def _field_dicts(config: Config, opcode: Opcode, words: np.ndarray) -> list[dict[str, int]]:
    columns = layouts(config).for_opcode(opcode).unpack_array(words)
    names = list(columns)
    return [dict(zip(names, values)) for values in zip(*(columns[name].tolist() for name in names))]


def _mnemonic(opcode: Opcode, fields: dict[str, int]) -> str:
    if opcode in (Opcode.LOAD, Opcode.STORE) and \
            fields["memory_type"] in MemoryType._value2member_map_:
        return f"{opcode.name} {MemoryType(fields['memory_type']).name}"
    return opcode.name


def _validate(opcode: Opcode, fields: dict[str, int], config: Config, index: int) -> Module:
    """Check what the decode table allows and return the module the instruction runs on."""
    if opcode == Opcode.LOAD:
        memory_type = fields["memory_type"]
        if memory_type not in LOAD_TYPES:
            name = MemoryType(memory_type).name if memory_type in MemoryType._value2member_map_ \
                else str(memory_type)
            raise DecodeError(f"instruction {index}: LOAD with memory type {name} is invalid "
                              f"(a LOAD takes UOP, WGT, INP or ACC)")
        return Module.LOAD if memory_type in (MemoryType.INP, MemoryType.WGT) else Module.COMPUTE
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
        return Module.STORE
    if opcode == Opcode.ALU:
        alu_opcode = fields["alu_opcode"]
        if alu_opcode not in AluOp._value2member_map_:
            raise DecodeError(f"instruction {index}: invalid ALU opcode {alu_opcode}")
        if alu_opcode == AluOp.MUL and not config.ALU_MUL:
            raise DecodeError(f"instruction {index}: ALU MUL needs the ALU_MUL extension, which "
                              f"this config switches off")
    return Module.COMPUTE
