"""SRAM plans: every tile of every tiling that fits keeps its regions inside its own slot (so the
two virtual threads never touch each other's data), regions of one slot do not overlap, and the
shared regions lie beyond all slots and inside the buffers."""

import numpy as np
import pytest

from backend_graphs import (add_graph, conv_graph, conv_pool_graph, dense_graph, pool_graph,
                            residual_graph)
from vta.compiler.partition import partition
from vta.compiler.sram_plan import PLANNED, feasible, fitting_plans
from vta.compiler.tiling import Tile, halved, tiles
from vta.fuzz.configs import CONFIGS as FUZZ_CONFIGS
from vta.isa import Config, MemoryType

PYNQ = Config.preset("pynq")
TINY = PYNQ.replace(LOG_INP_BUFF_SIZE=10, LOG_WGT_BUFF_SIZE=13, LOG_ACC_BUFF_SIZE=13)

LAYERS = {
    "dense-80": lambda rng: dense_graph(rng, k=20, m=80),
    "dense-128": lambda rng: dense_graph(rng, k=40, m=128),
    "conv-narrow": lambda rng: conv_graph(rng, c=20, o=40, h=5, w=5, k=3, pad=1),
    "depthwise": lambda rng: conv_graph(rng, c=40, o=40, groups=40, k=3, h=7, w=5, pad=1),
    "maxpool": lambda rng: pool_graph(rng, k=3, stride=2, pad=1, h=9, w=9),
    "avgpool": lambda rng: pool_graph(rng, kind="avg", k=3, stride=1, pad=1, h=5, w=5),
    "add": lambda rng: add_graph(rng, c=40, h=3, w=5),
    "residual": lambda rng: residual_graph(rng, c=40, h=5, w=5),
    "conv+pool": lambda rng: conv_pool_graph(rng, h=9, w=9),
}


def check_plan(plan):
    depths = plan.capacity.depths
    for memory in PLANNED:
        shared = sorted((r.offset, r.end) for r in plan.shared.values() if r.memory == memory)
        slots_end = plan.tiling.threads * plan.slots[memory]
        assert all(start >= slots_end and end <= depths[memory] for start, end in shared)
        assert all(a[1] <= b[0] for a, b in zip(shared, shared[1:]))
    check_acc_slots(plan)
    for tile in tiles(plan.layer, plan.tiling):
        regions = plan.regions(tile)
        for memory in PLANNED:
            spans = sorted((r.offset, r.end) for r in regions.values()
                           if r.memory == memory and r.size)
            assert all(0 <= start and end <= plan.slots[memory] for start, end in spans), \
                (plan.tiling, tile, memory, spans, plan.slots[memory])
            assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def check_acc_slots(plan):
    """The ACC slots tiles rotate through (`acc_slots`: one per thread, or with two threads four
    where a tile's regions fit a quarter of ACC) lie inside ACC without overlapping, and with two
    threads consecutive tiles lie in different halves (their GEMM and ALU work overlap)."""
    depth, size = plan.capacity.depths[MemoryType.ACC], plan.slots[MemoryType.ACC]
    count = plan.acc_slots
    assert count in (plan.tiling.threads, 4)
    assert count == 4 or plan.tiling.threads == 1 or size > depth // 4
    starts = [plan.slot(MemoryType.ACC, index) for index in range(2 * count)]
    assert starts[:count] == starts[count:]                     # they rotate
    spans = sorted((start, start + size) for start in set(starts))
    assert len(spans) == count and spans[-1][1] <= depth
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    if plan.tiling.threads == 2:
        halves = [start // (depth // 2) for start in starts]
        assert all(a != b for a, b in zip(halves, halves[1:]))
        assert all((start + size - 1) // (depth // 2) == half for start, half in zip(starts, halves))


@pytest.mark.parametrize("config", [PYNQ, TINY], ids=["pynq", "tiny"])
@pytest.mark.parametrize("kind", LAYERS)
def test_every_tile_stays_inside_its_slots(kind, config):
    graph = LAYERS[kind](np.random.default_rng(1))
    for layer in partition(graph, config).layers.values():
        plans = fitting_plans(layer, config)
        assert plans
        for plan in plans[::max(1, len(plans) // 200)]:
            check_plan(plan)


def test_halved_splits_blocks_then_rows_and_keeps_whole_accumulators():
    tile = Tile(0, 4, 3, 2, 5, 0, 7)
    assert halved(tile) == [Tile(0, 4, 2, 2, 5, 0, 7), Tile(0, 6, 1, 2, 5, 0, 7)]
    one_block = tile._replace(blocks=1)
    assert halved(one_block) == [one_block._replace(rows=3), one_block._replace(first_row=5,
                                                                                rows=2)]
    assert halved(one_block._replace(rows=1)) == [one_block._replace(rows=1)]
    # halves of 1 × 2 outputs would spread their reduction over partial accumulators
    narrow = Tile(0, 0, 1, 0, 2, 0, 2)
    assert halved(narrow) == [narrow]


@pytest.mark.parametrize("kind", LAYERS)
def test_feasible_is_whether_some_tiling_fits(kind):
    """`feasible` (which tries the tilings smallest first and stops at the first that fits)
    says whether any tiling fits, as the plans of all of them that fit do — on buffers from
    roomy to too small for most of these layers (the fuzzer's tiny config and smaller)."""
    layers = list(partition(LAYERS[kind](np.random.default_rng(1)), PYNQ).layers.values())
    answers = set()
    for config in (PYNQ, TINY, FUZZ_CONFIGS["tiny"],
                   FUZZ_CONFIGS["tiny"].replace(LOG_INP_BUFF_SIZE=9, LOG_ACC_BUFF_SIZE=9)):
        for layer in layers:
            answer = feasible(layer, config)
            assert answer == bool(fitting_plans(layer, config)), (layer.name, config)
            answers.add(answer)
    assert True in answers
