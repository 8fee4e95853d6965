"""Enumerations of the ISA: opcodes, memory types, ALU operations, modules and token queues."""

from enum import IntEnum


class Opcode(IntEnum):
    LOAD = 0
    STORE = 1
    GEMM = 2
    FINISH = 3
    ALU = 4


class MemoryType(IntEnum):
    UOP = 0
    WGT = 1
    INP = 2
    ACC = 3
    OUT = 4
    ACC_8BIT = 5


class AluOp(IntEnum):
    MIN = 0
    MAX = 1
    ADD = 2
    SHR = 3
    MUL = 4


class Module(IntEnum):
    """The three instruction-executing modules, in pipeline order (the runtime's stage ids)."""

    LOAD = 1
    COMPUTE = 2
    STORE = 3


class Queue(IntEnum):
    """The four dependency token queues (isa-reference §5)."""

    L2G = 0  # load -> compute: INP/WGT tiles loaded (RAW)
    G2L = 1  # compute -> load: compute done reading INP/WGT (WAR)
    G2S = 2  # compute -> store: results in OUT (RAW)
    S2G = 3  # store -> compute: store done reading OUT (WAR)
