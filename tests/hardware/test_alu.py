"""Tensor ALU against its gold model, the lane of `vta.isa.alu`: every op, the shift rule,
wrap-around."""

import pytest
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

import numpy as np

from vta.hardware.alu import TensorAlu
from vta.isa import AluOp, Config
from vta.isa.alu import alu

CONFIG = Config.preset("pynq").replace(LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=10, LOG_INP_BUFF_SIZE=8,
                                       LOG_WGT_BUFF_SIZE=10, LOG_ACC_BUFF_SIZE=10)
LANES = CONFIG.batch * CONFIG.block_out
INT32 = st.integers(-2**31, 2**31 - 1)


def gold(op: AluOp, a: int, b: int) -> int:
    return int(alu(op, np.int32(a), np.int32(b)))


def run_alu(vectors, config=CONFIG):
    """vectors: [(op, [a lanes], [b lanes])] -> result lanes per vector."""
    dut = TensorAlu(config=config)
    results = []

    async def testbench(ctx):
        for op, a, b in vectors:
            ctx.set(dut.op, op)
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            await ctx.tick()
            results.append(list(ctx.get(dut.result)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return results


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(AluOp)), st.lists(INT32, min_size=LANES,
                                                                   max_size=LANES),
                          st.lists(INT32, min_size=LANES, max_size=LANES)),
                min_size=1, max_size=12))
def test_alu_random_operands(vectors):
    for (op, a, b), result in zip(vectors, run_alu(vectors)):
        assert result == [gold(op, x, y) for x, y in zip(a, b)], op.name


def test_alu_edges():
    """Shift amounts −16…15 (and what the low 5 bits make of larger ones), wrap-around."""
    extremes = [-2**31, 2**31 - 1, -1, 1]
    vectors = []
    for amount in list(range(-16, 16)) + [16, 31, 32, -17, 0x7FE3]:
        vectors.append((AluOp.SHR, extremes, [amount] * LANES))
    vectors.append((AluOp.ADD, extremes, [2**31 - 1, -1, -2**31, 2**31 - 1]))
    vectors.append((AluOp.MUL, extremes, [0x7FFF, -0x8000, 0x18000, -1]))
    vectors.append((AluOp.MIN, extremes, [2**31 - 1, -2**31, 0, 0]))
    vectors.append((AluOp.MAX, extremes, [2**31 - 1, -2**31, 0, 0]))
    for (op, a, b), result in zip(vectors, run_alu(vectors)):
        assert result == [gold(op, x, y) for x, y in zip(a, b)], (op.name, b[0])


@pytest.mark.parametrize("op", [5, 6, 7])
def test_alu_invalid_opcodes_leave_a(op):
    assert run_alu([(op, [5, -6, 7, -8], [1, 2, 3, 4])]) == [[5, -6, 7, -8]]


def test_alu_mul_off_leaves_a():
    config = CONFIG.replace(ALU_MUL=False)
    assert run_alu([(AluOp.MUL, [5, -6, 7, -8], [3] * 4)], config) == [[5, -6, 7, -8]]
