"""GEMM core against numpy: one tile product per cycle, two cycles of latency."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from vta.hardware.gemm import GemmCore
from vta.isa import Config

CONFIGS = {"1x16": Config.preset("pynq"), "2x4": Config.preset("pynq").replace(
    LOG_BATCH=1, LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=10, LOG_INP_BUFF_SIZE=8, LOG_WGT_BUFF_SIZE=10,
    LOG_ACC_BUFF_SIZE=10),
    # narrow and mixed operands, BLOCK_IN ≠ BLOCK_OUT
    "1x4x8-i4w4": Config.preset("pynq").replace(
        LOG_BLOCK_IN=2, LOG_BLOCK_OUT=3, LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2, LOG_UOP_BUFF_SIZE=10,
        LOG_INP_BUFF_SIZE=8, LOG_WGT_BUFF_SIZE=10, LOG_ACC_BUFF_SIZE=10),
    "2x8x4-i2w8": Config.preset("pynq").replace(
        LOG_BATCH=1, LOG_BLOCK_IN=3, LOG_BLOCK_OUT=2, LOG_INP_WIDTH=1, LOG_UOP_BUFF_SIZE=10,
        LOG_INP_BUFF_SIZE=8, LOG_WGT_BUFF_SIZE=10, LOG_ACC_BUFF_SIZE=10),
    "1x8-i8w2": Config.preset("pynq").replace(
        LOG_BLOCK=3, LOG_WGT_WIDTH=1, LOG_UOP_BUFF_SIZE=10, LOG_INP_BUFF_SIZE=8,
        LOG_WGT_BUFF_SIZE=10, LOG_ACC_BUFF_SIZE=10)}


def gold(inp, wgt, acc, reset):
    """ACC + inp · wgtᵀ mod 2³² (int32), or zeros."""
    if reset:
        return np.zeros_like(acc)
    total = acc.astype(np.int64) + inp.astype(np.int64) @ wgt.astype(np.int64).T
    return ((total + 2**31) % 2**32 - 2**31).astype(np.int32)


def operands(config, rng, count):
    cases = []
    x_low, w_low = -(1 << (config.inp_width - 1)), -(1 << (config.wgt_width - 1))
    for index in range(count):
        inp = rng.integers(x_low, -x_low, (config.batch, config.block_in), dtype=np.int8)
        wgt = rng.integers(w_low, -w_low, (config.block_out, config.block_in), dtype=np.int8)
        acc = rng.integers(-2**31, 2**31, (config.batch, config.block_out), dtype=np.int64)
        if index % 5 == 1:   # extreme operands: every product the most positive or negative
            inp[:] = x_low
            wgt[:] = np.where(rng.random(wgt.shape) < 0.5, w_low, -w_low - 1)
            acc[:] = 2**31 - 1 if index % 2 else -2**31
        cases.append((inp, wgt, acc.astype(np.int32), index % 7 == 3))
    return cases


@pytest.mark.parametrize("pack_pairs", [True, False], ids=["packed", "plain"])
@pytest.mark.parametrize("name", CONFIGS)
def test_gemm_core_one_product_per_cycle(name, pack_pairs):
    config = CONFIGS[name]
    dut = GemmCore(config=config.replace(MACHINE={"pack_multiplier_pairs": pack_pairs}))
    cases = operands(config, np.random.default_rng(7), 40)
    results = []

    async def testbench(ctx):
        for case in cases + [None, None]:
            if case is not None:
                inp, wgt, acc, reset = case
                ctx.set(dut.valid, 1)
                ctx.set(dut.reset, int(reset))
                ctx.set(dut.inp, [[int(v) for v in row] for row in inp])
                ctx.set(dut.wgt, [[int(v) for v in row] for row in wgt])
                ctx.set(dut.acc, [int(v) for v in acc.reshape(-1)])
            else:
                ctx.set(dut.valid, 0)
            await ctx.tick()
            if ctx.get(dut.result_valid):
                results.append(np.array(ctx.get(dut.result), dtype=np.int64))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert len(results) == len(cases)     # II = 1: one result per cycle, in order
    for result, (inp, wgt, acc, reset) in zip(results, cases):
        np.testing.assert_array_equal(result.astype(np.int32).reshape(acc.shape),
                                      gold(inp, wgt, acc, reset))
