"""Tile replay (`compiler/tile_replay.py`): a layer emitted for timing with each distinct tile's
commands recorded once and replayed for its repeats gives the program image — instructions,
micro-ops, every DRAM byte — that emitting every tile gives, on random layers, tilings and
configs; and the replay does happen."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend_graphs import (conv_graph, conv_pool_graph, conv_transpose_graph, downsample_graph,
                            residual_graph)
from vta.compiler import schedule, sram_plan, tile_replay
from vta.compiler.partition import partition
from vta.isa import Config

PYNQ = Config.preset("pynq")
CONFIGS = {"pynq": PYNQ, "tiny": PYNQ.replace(LOG_INP_BUFF_SIZE=10, LOG_WGT_BUFF_SIZE=13,
                                               LOG_ACC_BUFF_SIZE=13),
           "one-unit": PYNQ.replace(MACHINE={"overlap_kernels": 0}),
           "no-mul": PYNQ.replace(ALU_MUL=False),
           "1x16x8": PYNQ.replace(LOG_BLOCK_OUT=3, LOG_WGT_BUFF_SIZE=17, LOG_ACC_BUFF_SIZE=16),
           "1x8x16": PYNQ.replace(LOG_BLOCK_IN=3, LOG_INP_BUFF_SIZE=14, LOG_WGT_BUFF_SIZE=17),
           "batch2": PYNQ.replace(LOG_BATCH=1), "1x32": PYNQ.replace(LOG_BLOCK=5)}


def _graph(data, alu_mul):
    rng = np.random.default_rng(data.draw(st.integers(0, 1 << 16), label="seed"))
    kinds = ["conv", "depthwise", "downsample", "pool"] + ["transpose", "residual"] * alu_mul
    kind = data.draw(st.sampled_from(kinds), label="kind")
    size = data.draw(st.integers(6, 30), label="size")
    n = data.draw(st.sampled_from([1, 1, 2]), label="batch")
    channels = data.draw(st.sampled_from([16, 24, 40, 64, 96]), label="channels")
    if kind == "conv":
        return conv_graph(rng, n=n, c=channels, o=data.draw(st.sampled_from([16, 40, 64, 128])),
                          h=size, w=data.draw(st.integers(6, 30)), k=data.draw(
                              st.sampled_from([1, 3, 5])), stride=data.draw(st.sampled_from([1, 2])),
                          alu_mul=alu_mul)
    if kind == "depthwise":
        return conv_graph(rng, n=n, c=channels, o=channels, h=size, w=size, groups=channels,
                          k=data.draw(st.sampled_from([3, 5])),
                          stride=data.draw(st.sampled_from([1, 2])), alu_mul=alu_mul)
    if kind == "transpose":
        return conv_transpose_graph(rng, n=n, c=channels, o=16, h=size // 2, w=size // 2)
    if kind == "residual":
        return residual_graph(rng, c=channels, h=size, w=size)
    if kind == "downsample":
        return downsample_graph(rng, n=n, c=channels, o=2 * channels, h=size,
                                downsample_first=data.draw(st.booleans()), alu_mul=alu_mul)
    pool, pool_stride, pool_pad = data.draw(st.sampled_from(
        [(3, 2, 1), (3, 2, 0), (2, 2, 0), (3, 1, 1), (3, 3, 0), (2, 2, 1)]), label="pool")
    return conv_pool_graph(rng, n=n, c=data.draw(st.sampled_from([3, 8, channels])), o=32,
                           h=size + 4, w=data.draw(st.integers(10, 40)),
                           k=data.draw(st.sampled_from([3, 5, 7])),
                           stride=data.draw(st.sampled_from([1, 2])), pool=pool,
                           pool_stride=pool_stride, pool_pad=pool_pad,
                           ceil_mode=data.draw(st.booleans()), alu_mul=alu_mul)


def _same_image(config, layer, tiling) -> None:
    emitted = schedule.scratch_image(config, layer, tiling, decoded=False)
    replayed = schedule.scratch_image(config, layer, tiling, decoded=False, replay=True)
    assert (replayed.insn_addr, replayed.insn_count) == (emitted.insn_addr, emitted.insn_count)
    assert np.array_equal(replayed.dram, emitted.dram), (layer.name, tiling)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_replay_gives_the_image_of_emitting_every_tile(data):
    name = data.draw(st.sampled_from(sorted(CONFIGS)), label="config")
    config = CONFIGS[name]
    graph = _graph(data, config.ALU_MUL)
    for layer in partition(graph, config).layers.values():
        plans = sram_plan.fitting_plans(layer, config)
        for plan in data.draw(st.lists(st.sampled_from(plans), min_size=1, max_size=3,
                                       unique_by=lambda plan: plan.tiling), label="plans"):
            _same_image(config, layer, plan.tiling)


@pytest.mark.parametrize("graph", [
    lambda rng: conv_graph(rng, c=64, o=64, h=56, w=56, k=3),
    lambda rng: conv_graph(rng, c=96, o=96, h=56, w=56, k=3, groups=96),
    lambda rng: downsample_graph(rng, c=64, o=128, h=56),
    lambda rng: conv_pool_graph(rng, c=3, o=64, h=112, w=112, k=7, stride=2, pad=3),
], ids=["conv", "depthwise", "downsample", "stem"])
def test_repeated_tiles_are_replayed(monkeypatch, graph):
    """Layers of many tiles replay most of them (with streamed and resident weights, bias
    GEMMs, fused shortcuts and pools), and still give the image of emitting every tile."""
    counts = {"recorded": 0, "replayed": 0}
    begin, replay = tile_replay.TileJournal.begin, tile_replay.TileJournal.replay

    def counted(name, method):
        def wrapper(self, *args):
            counts[name] += 1
            return method(self, *args)
        return wrapper

    monkeypatch.setattr(tile_replay.TileJournal, "begin", counted("recorded", begin))
    monkeypatch.setattr(tile_replay.TileJournal, "replay", counted("replayed", replay))
    for layer in partition(graph(np.random.default_rng(1)), PYNQ).layers.values():
        for plan, _ in schedule.shortlisted(layer, PYNQ, 2):
            _same_image(PYNQ, layer, plan.tiling)
    assert counts["replayed"] > counts["recorded"] > 0, counts


def test_a_tile_finished_at_once_leaves_no_epilogue_carried():
    """The last tile of a batch of two replays the last of the first batch block, which
    finishes its epilogue at once and carries none; what the tile before it carried is spent
    (a replay once left it to be emitted again at the end of the layer: the fusion sweep's
    seed 72)."""
    config = CONFIGS["1x32"]
    graph = conv_pool_graph(np.random.default_rng(72), n=2, c=4, o=32, h=19, w=31, k=7, stride=3,
                            pad=(3, 4, 4, 3), pool=3, pool_stride=2, pool_pad=1)
    (layer,) = partition(graph, config).layers.values()
    for plan in sram_plan.fitting_plans(layer, config):
        if (plan.tiling.rows, plan.tiling.cols) == (1, 3):
            _same_image(config, layer, plan.tiling)
