"""Compiled layers on the RTL backend: the generated Verilog runs the compiler's instructions
(GEMM, ALU epilogues, virtual threads and their tokens) bit-exact with the reference executor,
and reports cycles. (The first run builds the Verilator harness, cached afterwards.)"""

import numpy as np
import pytest

from backend_graphs import (add_graph, chained_graph, conv_graph, conv_pool_graph,
                            conv_transpose_graph, dense_graph, downsample_graph, pool_graph,
                            random_feeds, residual_graph, run_both)

GRAPHS = {
    "conv3x3": lambda rng: conv_graph(rng, c=16, o=16, h=4, w=4, k=3, pad=1),
    "depthwise-s2": lambda rng: conv_graph(rng, c=40, o=40, groups=40, k=5, stride=2, pad=2,
                                           h=9, w=9),
    "dense": lambda rng: dense_graph(rng, k=100, m=10),
    "maxpool": lambda rng: pool_graph(rng, k=3, stride=2, pad=1, ceil_mode=True, h=8, w=8),
    "add": lambda rng: add_graph(rng),
    "conv+residual": lambda rng: residual_graph(rng, c=20, h=5, w=5),
    "conv+maxpool": lambda rng: conv_pool_graph(rng, c=3, o=20, k=7, stride=2, pad=3, h=12,
                                                w=12),
    "dense-tokens": lambda rng: dense_graph(rng, lead=(1, 20), k=40, m=24),
    "conv-transpose": lambda rng: conv_transpose_graph(rng, c=20, o=16, h=3, w=4, k=4, stride=2,
                                                       pad=1),
}


def test_chained_layers_on_rtl_are_bit_exact():
    """Two layers through DRAM (a conv with its max pool fused, then a conv reading its
    padding from the halo the pooled buffer was allocated with)."""
    rng = np.random.default_rng(5)
    graph = chained_graph(rng)
    got, expected, model, result = run_both(graph, random_feeds(rng, graph), backend="rtl")
    np.testing.assert_array_equal(got["z"], expected["z"])
    assert len(result.reports) == 2 and result.cycles > 0


def test_fused_pool_carrying_rows_on_rtl(monkeypatch):
    """A fused max pool whose tiles take their first convolution row from the tile above
    (`tiling.carries`: two threads, each walking down its own column chunks): bit-exact on the
    RTL, in the cycles the cycle model times for that tiling."""
    from vta.compiler import build, sram_plan, tiling
    from vta.compiler.schedule import time_tiling
    rng = np.random.default_rng(3)
    graph = conv_pool_graph(rng, c=3, o=20, k=7, stride=2, pad=3, h=24, w=24)
    original = build.choose

    def carrying(layer, config, cost=None):
        if getattr(layer, "pool", None) is None:
            return original(layer, config, cost)
        plan = next(plan for plan in sram_plan.fitting_plans(layer, config)
                    if plan.tiling.threads == 2 and tiling.carries(layer, plan.tiling))
        return plan, time_tiling(config, layer, plan.tiling)

    monkeypatch.setattr(build, "choose", carrying)
    got, expected, model, result = run_both(graph, random_feeds(rng, graph), backend="rtl")
    np.testing.assert_array_equal(got["p"], expected["p"])
    assert [node["placement"] for node in model.nodes] == ["vta", "fused"]
    assert result.cycles == sum(node.get("estimated_cycles", 0) for node in model.nodes)


def test_fused_shortcut_on_rtl_is_bit_exact():
    """A residual block whose strided 1×1 shortcut is fused into conv2's layer with the Add:
    bit-exact on the RTL, and the cycles the compiler recorded are the RTL's."""
    rng = np.random.default_rng(7)
    graph = downsample_graph(rng, c=20, o=40, h=9, w=9)
    got, expected, model, result = run_both(graph, random_feeds(rng, graph), backend="rtl")
    np.testing.assert_array_equal(got["z"], expected["z"])
    assert {node["name"]: node["placement"] for node in model.nodes} == {
        "conv1": "vta", "conv2": "vta", "downsample": "fused", "add": "fused"}
    assert result.cycles == sum(node.get("estimated_cycles", 0) for node in model.nodes)


@pytest.mark.parametrize("kind", GRAPHS)
def test_layer_on_rtl_is_bit_exact(kind):
    rng = np.random.default_rng(3)
    graph = GRAPHS[kind](rng)
    got, expected, model, result = run_both(graph, random_feeds(rng, graph), backend="rtl")
    for name in graph.outputs:
        np.testing.assert_array_equal(got[name], expected[name])
    assert result.cycles and result.cycles > 0
    assert [node["placement"] for node in model.nodes if node["placement"] != "fused"] == ["vta"]
    assert result.cycles == sum(node.get("estimated_cycles", 0) for node in model.nodes)


@pytest.mark.parametrize("residual", [False, True], ids=["conv", "residual"])
def test_steps_in_parts_and_halved_last_tile_on_rtl(monkeypatch, residual):
    """A tiling whose first reduction steps run in parts and whose last tile runs in two
    halves (`ConvEmitter.parts`, `run_tiles`): bit-exact on the RTL, which counts the cycles
    the compiler recorded (the cycle model's timing of the same tiling)."""
    from vta.compiler import build
    from vta.compiler.schedule import time_tiling
    from vta.compiler.sram_plan import plan_sram
    from vta.compiler.tiling import Tiling
    chosen = Tiling(2, 3, 8, 4, 2, False)
    monkeypatch.setattr(build, "choose", lambda layer, config, cost: (
        plan_sram(layer, chosen, config), time_tiling(config, layer, chosen)))
    rng = np.random.default_rng(11)
    graph = residual_graph(rng, c=64, h=8, w=8) if residual else \
        conv_graph(rng, c=64, o=64, h=8, w=8)
    got, expected, model, result = run_both(graph, random_feeds(rng, graph), backend="rtl")
    for name in graph.outputs:
        np.testing.assert_array_equal(got[name], expected[name])
    assert result.cycles == sum(node.get("estimated_cycles", 0) for node in model.nodes)
