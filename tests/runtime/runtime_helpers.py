"""Shared helpers of the runtime tests: configs, backends, random data, numpy references."""

import os

import numpy as np

from vta.isa import Config, Load, MemoryType, Store
from vta.runtime import backend_names


def _test_backends() -> list[str]:
    """Backends the runtime tests run on: ``VTA_TEST_BACKENDS`` (comma-separated names from
    the registry, or ``all``); by default the functional one, the only one quick enough for
    every test (slower backends are chosen explicitly, the tests stay the same)."""
    chosen = os.environ.get("VTA_TEST_BACKENDS", "functional")
    names = backend_names() if chosen == "all" else [name for name in chosen.split(",") if name]
    unknown = [name for name in names if name not in backend_names()]
    if unknown:
        raise ValueError(f"VTA_TEST_BACKENDS names unknown backend {unknown[0]!r} "
                         f"(known: {', '.join(backend_names())})")
    return names


BACKENDS = _test_backends()
PYNQ = Config.preset("pynq")
CONFIGS = {
    "1x16": PYNQ,
    "1x32": PYNQ.replace(LOG_BLOCK=5),   # the corpus's second config
    "2x16": PYNQ.replace(LOG_BATCH=1),   # LOG_BATCH = 1
}
#: Narrow operands and BLOCK_IN ≠ BLOCK_OUT (buffers halved where the depths would not fit
#: the 32-bit micro-op); buses the hardware can build them with.
WIDER_CONFIGS = {
    "1x16x8-int4": PYNQ.replace(LOG_BLOCK_OUT=3, LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2,
                                LOG_INP_BUFF_SIZE=14, LOG_WGT_BUFF_SIZE=16, LOG_ACC_BUFF_SIZE=16,
                                LOG_BUS_WIDTH=5),
    "1x8x16": PYNQ.replace(LOG_BLOCK_IN=3, LOG_INP_BUFF_SIZE=14, LOG_WGT_BUFF_SIZE=17),
    "2x8-int2": PYNQ.replace(LOG_BATCH=1, LOG_BLOCK=3, LOG_INP_WIDTH=1, LOG_WGT_WIDTH=1,
                             LOG_INP_BUFF_SIZE=12, LOG_WGT_BUFF_SIZE=14, LOG_ACC_BUFF_SIZE=16,
                             LOG_BUS_WIDTH=5),
}


def flags(insn) -> tuple[int, int, int, int]:
    """(pop_prev, pop_next, push_prev, push_next) of an instruction."""
    return (int(insn.pop_prev_dep), int(insn.pop_next_dep), int(insn.push_prev_dep),
            int(insn.push_next_dep))


def is_noop(insn) -> bool:
    return isinstance(insn, (Load, Store)) and insn.x_size == 0


def uop_loads(insns) -> list:
    return [insn for insn in insns if isinstance(insn, Load) and insn.memory_type == MemoryType.UOP
            and insn.x_size > 0]


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def wrap32(values: np.ndarray) -> np.ndarray:
    """int64 values reduced modulo 2^32 to int32, as the accumulators wrap."""
    return values.astype(np.int64).astype(np.uint32).view(np.int32)


def check_token_balance(insns) -> None:
    """Every token pushed is popped (all four queues empty at the end), counted per queue from
    the flags, as the original ``DumpInsn`` does."""
    from vta.isa import Module
    queues = {"l2g": 0, "g2l": 0, "g2s": 0, "s2g": 0}
    for insn in insns:
        module = insn.module
        pop_prev, pop_next, push_prev, push_next = flags(insn)
        if module == Module.LOAD:
            assert not pop_prev and not push_prev
            queues["g2l"] -= pop_next
            queues["l2g"] += push_next
        elif module == Module.STORE:
            assert not pop_next and not push_next
            queues["g2s"] -= pop_prev
            queues["s2g"] += push_prev
        else:
            queues["l2g"] -= pop_prev
            queues["g2l"] += push_prev
            queues["s2g"] -= pop_next
            queues["g2s"] += push_next
    assert queues == {"l2g": 0, "g2l": 0, "g2s": 0, "s2g": 0}
