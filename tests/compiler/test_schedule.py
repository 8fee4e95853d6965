"""Tiling choice: the cycles the compiler's cycle-model timing records for each layer (on a
scratch device) are the cycles the layer takes when the compiled model runs on the cycle
backend, and the RTL agrees with the cycle backend (docs/cycle-model.md)."""

import numpy as np

from backend_graphs import chained_graph, random_feeds, run_both


def test_recorded_cycles_are_the_cycle_backends():
    graph = chained_graph(np.random.default_rng(3))
    got, expected, model, result = run_both(graph, random_feeds(np.random.default_rng(4), graph),
                                            backend="cycle")
    for name in graph.outputs:
        np.testing.assert_array_equal(got[name], expected[name])
    recorded = {node["name"]: node["estimated_cycles"] for node in model.nodes
                if node["placement"] == "vta"}
    assert recorded == {name: report.cycles for name, report in result.reports}

