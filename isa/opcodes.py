"""Enumerations of the ISA (opcodes, memory types, ALU operations, modules, token queues) and its
two routing tables, stated once: which module runs an instruction, and which token queue each
dependency flag of a module pops or pushes (isa-reference §3, §5)."""

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


#: The LOADs the fetch unit routes to the load module; every other LOAD goes to compute.
LOAD_MODULE_TYPES = frozenset({MemoryType.INP, MemoryType.WGT})


def module_of(opcode: Opcode, memory_type: int) -> Module:
    """The module the fetch unit routes an instruction to."""
    if opcode == Opcode.STORE:
        return Module.STORE
    if opcode == Opcode.LOAD and memory_type in LOAD_MODULE_TYPES:
        return Module.LOAD
    return Module.COMPUTE


#: The token queue behind each dependency flag, per module; a flag missing here is invalid there.
FLAG_QUEUES: dict[Module, dict[str, Queue]] = {
    Module.LOAD: {"pop_next_dep": Queue.G2L, "push_next_dep": Queue.L2G},
    Module.COMPUTE: {"pop_prev_dep": Queue.L2G, "pop_next_dep": Queue.S2G,
                     "push_prev_dep": Queue.G2L, "push_next_dep": Queue.G2S},
    Module.STORE: {"pop_prev_dep": Queue.G2S, "push_prev_dep": Queue.S2G},
}
POP_FLAGS = ("pop_prev_dep", "pop_next_dep")
PUSH_FLAGS = ("push_prev_dep", "push_next_dep")
