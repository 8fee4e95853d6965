"""The GEMM-bound program image: the benchmark of the fast harness (benchmarks/rtl_sim.py) and
the run a profile-guided build of it trains on (`vta.runtime.backends.rtl.harnesses`)."""

from __future__ import annotations

import numpy as np

from vta.isa import (Config, Finish, Gemm, Load, MemoryType, Store, Uop, encode_stream,
                     encode_uops)
from vta.isa.image import ProgramImage

TILES, ITERATIONS = 16, 64
#: GEMMs and loop iterations of the training run (about 20 k cycles).
TRAINING_GEMMS, TRAINING_ITERATIONS = 1, 32


def gemm_program(config: Config, gemms: int, iterations: int = ITERATIONS) -> ProgramImage:
    """Load 16 input and 16 weight tiles and a 16-uop kernel once (fewer where a buffer holds
    fewer), run `gemms` GEMMs of `iterations`² micro-op executions per micro-op on them, store
    the result and finish: compute is busy for nearly the whole run."""
    tiles = min(TILES, *(config.depth(memory) for memory in
                         (MemoryType.INP, MemoryType.WGT, MemoryType.ACC, MemoryType.UOP)))
    inp, wgt, out = (config.elem_bytes(t) for t in (MemoryType.INP, MemoryType.WGT, MemoryType.OUT))
    uop_at, inp_at, wgt_at = 0, 4096, 4096 + tiles * inp
    wgt_at = -(-wgt_at // wgt) * wgt
    out_at = wgt_at + tiles * wgt
    insn_at = -(-(out_at + tiles * out) // 4096) * 4096
    program = [
        Load(memory_type=MemoryType.UOP, dram_base=uop_at, y_size=1, x_size=tiles, x_stride=tiles),
        Load(memory_type=MemoryType.INP, dram_base=inp_at // inp, y_size=1, x_size=tiles, x_stride=tiles),
        Load(memory_type=MemoryType.WGT, dram_base=wgt_at // wgt, y_size=1, x_size=tiles,
             x_stride=tiles, push_next_dep=True),
        Gemm(pop_prev_dep=True, reset_reg=True, uop_bgn=0, uop_end=tiles, iter_out=1, iter_in=1),
    ]
    program += [Gemm(uop_bgn=0, uop_end=tiles, iter_out=iterations, iter_in=iterations,
                     push_next_dep=index == gemms - 1) for index in range(gemms)]
    program += [Store(dram_base=out_at // out, y_size=1, x_size=tiles, x_stride=tiles,
                      pop_prev_dep=True, push_prev_dep=True),
                Finish(pop_next_dep=True)]
    stream = encode_stream(program, config)
    dram = np.zeros(insn_at + len(stream), dtype=np.uint8)
    rng = np.random.default_rng(0)
    dram[inp_at:out_at + tiles * out] = rng.integers(0, 256, out_at + tiles * out - inp_at, dtype=np.uint8)
    uops = encode_uops([Uop(dst_idx=i, src_idx=i, wgt_idx=i) for i in range(tiles)], config)
    dram[uop_at:uop_at + uops.nbytes] = uops.view(np.uint8)
    dram[insn_at:] = np.frombuffer(stream, dtype=np.uint8)
    return ProgramImage(config, dram, insn_at, len(program))


def training_program(config: Config) -> ProgramImage:
    """The short GEMM-bound run a profile-guided build trains on."""
    return gemm_program(config, TRAINING_GEMMS, TRAINING_ITERATIONS)
