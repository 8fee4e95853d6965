"""GEMM semantics: exact long reductions, repeats, wrap-around, reset, irregular tables."""

import numpy as np
import pytest

from vta.isa import Config, Finish, Gemm, Load, MemoryType, Uop
from vta.simulator import check_program
from vta.simulator.functional import FunctionalSimulator

from image_builder import ImageBuilder

PYNQ = Config.preset("pynq")


def wrap(values) -> np.ndarray:
    return ((np.asarray(values, np.int64) + (1 << 31)) % (1 << 32) - (1 << 31))


def run_gemm(config: Config, inp: np.ndarray, wgt: np.ndarray, uops: list[Uop], acc=None,
             **loop_fields):
    """Load INP/WGT (and ACC) tiles, run one GEMM; returns (simulator, counters)."""
    builder = ImageBuilder(config)
    inp_base = builder.place(inp.astype(np.int8), MemoryType.INP)
    wgt_base = builder.place(wgt.astype(np.int8), MemoryType.WGT)
    uop_base = builder.uops(uops)
    program = [Load(memory_type=MemoryType.INP, dram_base=inp_base, y_size=1, x_size=len(inp),
                    x_stride=len(inp)),
               Load(memory_type=MemoryType.WGT, dram_base=wgt_base, y_size=1, x_size=len(wgt),
                    x_stride=len(wgt), push_next_dep=True),
               Load(memory_type=MemoryType.UOP, dram_base=uop_base, y_size=1, x_size=len(uops),
                    x_stride=len(uops), pop_prev_dep=True)]
    if acc is not None:
        acc_base = builder.place(acc.astype("<i4"), MemoryType.ACC)
        program.append(Load(memory_type=MemoryType.ACC, dram_base=acc_base, y_size=1,
                            x_size=len(acc), x_stride=len(acc)))
    program += [Gemm(uop_bgn=0, uop_end=len(uops), **loop_fields), Finish()]
    image = builder.image(program)
    check_program(image)
    simulator = FunctionalSimulator(config)
    counters = simulator.run(image.dram, image.insn_addr, image.insn_count)
    return simulator, counters


def reference(config, inp, wgt, uops, acc, iter_out=1, iter_in=1, reset_reg=False, **factors):
    """Per-execution int64 reference of isa-reference §4.3."""
    acc = wrap(acc.astype(np.int64))
    for i in range(iter_out):
        for j in range(iter_in):
            for u in uops:
                index = {name: getattr(u, f"{name}_idx") + i * factors.get(f"{name}_factor_out", 0)
                         + j * factors.get(f"{name}_factor_in", 0) for name in ("dst", "src", "wgt")}
                if reset_reg:
                    acc[index["dst"]] = 0
                else:
                    acc[index["dst"]] = wrap(acc[index["dst"]]
                                             + inp[index["src"]].astype(np.int64)
                                             @ wgt[index["wgt"]].astype(np.int64).T)
    return acc


def tiles(rng, config, kind, count, low=-128, high=128):
    shape = {MemoryType.INP: (config.batch, config.block_in),
             MemoryType.WGT: (config.block_out, config.block_in),
             MemoryType.ACC: (config.batch, config.block_out)}[kind]
    return rng.integers(low, high, (count,) + shape)


def test_long_reduction_stays_exact():
    """2048 products of 127·127 (odd, far beyond float32's 2^24) plus random noise."""
    config, rng = PYNQ, np.random.default_rng(1)
    inp = np.full((128,) + (config.batch, config.block_in), 127)
    inp[::7] = tiles(rng, config, MemoryType.INP, len(inp[::7]))
    wgt = np.full((128, config.block_out, config.block_in), 127)
    wgt[::5] = tiles(rng, config, MemoryType.WGT, len(wgt[::5]))
    uops = [Uop(dst_idx=3, src_idx=0, wgt_idx=0)]
    acc = tiles(rng, config, MemoryType.ACC, 4, -1000, 1000)
    fields = dict(iter_out=2, iter_in=64, src_factor_out=64, src_factor_in=1, wgt_factor_out=64,
                  wgt_factor_in=1)
    simulator, counters = run_gemm(config, inp, wgt, uops, acc, **fields)
    expected = reference(config, inp, wgt, uops, acc, **fields)
    assert (simulator.sram.acc[:4] == expected).all()
    assert counters["gemm_counter"] == 128
    assert (simulator.sram.out[3] == ((expected[3] + 128) % 256 - 128)).all()


def test_long_reduction_over_many_rows_stays_exact():
    """32 overlapping rows of 2048 products each (near 127·127): the weight operand is the
    smaller one here, held as (K, N), and its reduction split in two."""
    config, rng = PYNQ, np.random.default_rng(3)
    inp = np.full((160, config.batch, config.block_in), 127)
    inp[::3] = tiles(rng, config, MemoryType.INP, len(inp[::3]))
    wgt = np.full((128, config.block_out, config.block_in), -127)
    wgt[::11] = tiles(rng, config, MemoryType.WGT, len(wgt[::11]))
    acc = tiles(rng, config, MemoryType.ACC, 32, -1000, 1000)
    fields = dict(iter_out=32, iter_in=128, dst_factor_out=1, src_factor_out=1, src_factor_in=1,
                  wgt_factor_in=1)
    simulator, _ = run_gemm(config, inp, wgt, [Uop()], acc, **fields)
    assert (simulator.sram.acc[:32] == reference(config, inp, wgt, [Uop()], acc, **fields)).all()


def test_repeated_executions_multiply_and_wrap():
    """iter_out = iter_in = 16383 with zero factors: 268 402 689 identical accumulations."""
    config, rng = PYNQ, np.random.default_rng(2)
    inp, wgt = tiles(rng, config, MemoryType.INP, 1), tiles(rng, config, MemoryType.WGT, 1)
    acc = tiles(rng, config, MemoryType.ACC, 1, -(1 << 31), 1 << 31)
    simulator, counters = run_gemm(config, inp, wgt, [Uop()], acc, iter_out=16383, iter_in=16383)
    count = 16383 * 16383
    expected = wrap(acc[0] + (inp[0].astype(np.int64) @ wgt[0].astype(np.int64).T) * count)
    assert (simulator.sram.acc[0] == expected).all()
    assert counters["gemm_counter"] == count


def test_accumulation_wraps_around():
    config = PYNQ
    inp = np.full((1, config.batch, config.block_in), -128)
    wgt = np.full((1, config.block_out, config.block_in), -128)
    acc = np.full((1, config.batch, config.block_out), (1 << 31) - 1000)
    simulator, _ = run_gemm(config, inp, wgt, [Uop()], acc, iter_out=1, iter_in=1)
    assert (simulator.sram.acc[0] == wrap((1 << 31) - 1000 + 16 * 16384)).all()


def test_reset_zeroes_acc_and_out_of_its_destinations_only():
    config, rng = PYNQ, np.random.default_rng(3)
    acc = tiles(rng, config, MemoryType.ACC, 8, 1, 100)
    uops = [Uop(dst_idx=1), Uop(dst_idx=6)]
    simulator, counters = run_gemm(config, tiles(rng, config, MemoryType.INP, 1),
                                   tiles(rng, config, MemoryType.WGT, 1), uops, acc,
                                   reset_reg=True, iter_out=1, iter_in=1)
    assert counters["gemm_counter"] == 0  # reset GEMMs are not counted
    expected = acc.copy()
    expected[[1, 6]] = 0
    assert (simulator.sram.acc[:8] == expected).all()
    assert (simulator.sram.out[[1, 6]] == 0).all()


@pytest.mark.parametrize("config", [PYNQ, PYNQ.replace(LOG_BATCH=1), PYNQ.replace(LOG_BLOCK=5)],
                         ids=["1x16", "2x16", "1x32"])
@pytest.mark.parametrize("shape", ["dense", "shuffled", "irregular", "colliding"])
def test_micro_op_tables(config, shape):
    """Affine, shuffled affine, irregular and colliding tables inside a loop nest."""
    rng = np.random.default_rng(4)
    grid = [(d, s, w) for d in range(4) for s in range(3) for w in range(2)]
    table = {
        "dense": [Uop(dst_idx=4 * w + d, src_idx=3 * d + s, wgt_idx=2 * w + s) for d, s, w in grid],
        "irregular": [Uop(dst_idx=int(d), src_idx=int(s), wgt_idx=int(w)) for d, s, w in
                      zip(rng.integers(0, 12, 40), rng.integers(0, 20, 40), rng.integers(0, 8, 40))],
        "colliding": [Uop(dst_idx=(d + s) % 5, src_idx=d + s, wgt_idx=w) for d, s, w in grid],
    }
    table["shuffled"] = [table["dense"][k] for k in rng.permutation(len(grid))]
    uops = table[shape]
    inp, wgt = tiles(rng, config, MemoryType.INP, 40), tiles(rng, config, MemoryType.WGT, 20)
    acc = tiles(rng, config, MemoryType.ACC, 40, -(1 << 31), 1 << 31)
    fields = dict(iter_out=3, iter_in=2, dst_factor_out=12, dst_factor_in=2, src_factor_out=1,
                  src_factor_in=5, wgt_factor_out=4, wgt_factor_in=0)
    simulator, counters = run_gemm(config, inp, wgt, uops, acc, **fields)
    assert (simulator.sram.acc[:40] == reference(config, inp, wgt, uops, acc, **fields)).all()
    assert counters["gemm_counter"] == 6 * len(uops)
