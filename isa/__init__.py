"""vta.isa: the single definition of the VTA instruction set and everything derived from a config."""

from vta.isa.config import ISA_KEYS, PRESETS, Config
from vta.isa.errors import (BoundsError, ConfigError, DeadlockError, DecodeError, FieldRangeError,
                            ImageError, VtaError)
from vta.isa.instructions import (INSN_BYTES, UOP_BYTES, Alu, Finish, Gemm, Instruction, Load,
                                  LoopInstruction, MemoryInstruction, Store, Uop, decode,
                                  decode_stream, decode_uop, encode, encode_stream, encode_uop,
                                  encode_uops)
from vta.isa.layout import Field, Layout, layouts
from vta.isa.opcodes import AluOp, MemoryType, Module, Opcode, Queue

__all__ = [
    "ISA_KEYS", "PRESETS", "Config", "BoundsError", "ConfigError", "DeadlockError", "DecodeError",
    "FieldRangeError", "ImageError", "VtaError", "INSN_BYTES", "UOP_BYTES", "Alu", "Finish", "Gemm",
    "Instruction", "Load", "LoopInstruction", "MemoryInstruction", "Store", "Uop", "decode",
    "decode_stream", "decode_uop", "encode", "encode_stream", "encode_uop", "encode_uops", "Field",
    "Layout", "layouts", "AluOp", "MemoryType", "Module", "Opcode", "Queue",
]
