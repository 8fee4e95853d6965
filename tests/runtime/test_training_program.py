"""The GEMM-bound program the fast RTL harness's profile-guided build trains on (and
benchmarks/rtl_sim.py times) is a valid program on every config the fuzzer covers — tiny buffers
included, where it uses fewer tiles — and stores what a numpy GEMM of its inputs gives."""

import numpy as np
import pytest

from vta.fuzz.configs import CONFIGS
from vta.isa import MemoryType
from vta.runtime.backends.rtl.training import TRAINING_GEMMS, TRAINING_ITERATIONS, training_program
from vta.runtime.tiles import unpack
from vta.simulator.functional.simulator import FunctionalSimulator


def _tiles(image, at: int, count: int, memory: MemoryType, rows: int, cols: int, bits: int):
    config = image.config
    data = image.dram[at:at + count * config.elem_bytes(memory)]
    if bits == 8:
        return data.view(np.int8).reshape(count, rows, cols).astype(np.int64)
    return unpack(data.reshape(1, count, -1), rows, cols, bits).reshape(rows, count, cols) \
        .transpose(1, 0, 2).astype(np.int64)


@pytest.mark.parametrize("name", CONFIGS)
def test_training_program_runs_and_stores_the_gemm_of_its_inputs(name):
    config = CONFIGS[name]
    image = training_program(config)
    program = image.program
    inp_load, wgt_load = (next(insn for insn in program if getattr(insn, "memory_type", None)
                               == memory) for memory in (MemoryType.INP, MemoryType.WGT))
    store = next(insn for insn in program if insn.opcode.name == "STORE")
    tiles = inp_load.x_size
    assert 1 <= tiles <= min(config.depth(memory) for memory in MemoryType)
    inp = _tiles(image, inp_load.dram_base * config.elem_bytes(MemoryType.INP), tiles,
                 MemoryType.INP, config.batch, config.block_in, config.inp_width)
    wgt = _tiles(image, wgt_load.dram_base * config.elem_bytes(MemoryType.WGT), tiles,
                 MemoryType.WGT, config.block_out, config.block_in, config.wgt_width)
    FunctionalSimulator(config).run(image.dram, image.insn_addr, image.insn_count)
    out = _tiles(image, store.dram_base * config.elem_bytes(MemoryType.OUT), tiles,
                 MemoryType.OUT, config.batch, config.block_out, config.out_width)
    acc = TRAINING_GEMMS * TRAINING_ITERATIONS**2 * np.einsum("tbi,toi->tbo", inp, wgt)
    bits = config.out_width
    expected = (acc + (1 << (bits - 1))) % (1 << bits) - (1 << (bits - 1))   # low bits, signed
    np.testing.assert_array_equal(out, expected)
