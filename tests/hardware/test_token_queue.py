"""Token queue against a counter model: random pushes and pops, full and empty."""

import gc
import random
import warnings

import pytest
from amaranth.sim import Simulator

from vta.hardware.token_queue import TokenQueue


@pytest.mark.parametrize("depth", [1, 3, 64])
def test_token_queue_matches_model(depth):
    dut = TokenQueue(depth=depth)
    rng = random.Random(depth)
    # Phases: fill past full, drain past empty, then random traffic.
    plan = [(1, 0)] * (depth + 5) + [(0, 1)] * (depth + 5)
    plan += [(rng.random() < 0.55, rng.random() < 0.5) for _ in range(400)]

    async def testbench(ctx):
        level = 0
        for push, pop in plan:
            ctx.set(dut.push.valid, push)
            ctx.set(dut.pop.ready, pop)
            assert ctx.get(dut.push.ready) == (level < depth)
            assert ctx.get(dut.pop.valid) == (level > 0)
            level += (push and level < depth) - (pop and level > 0)
            await ctx.tick()
            assert ctx.get(dut.level) == level

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()


def test_token_queue_rejects_bad_depth():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*created but never used")
        with pytest.raises(ValueError, match="token queue depth must be a positive integer"):
            TokenQueue(depth=0)
        gc.collect()
