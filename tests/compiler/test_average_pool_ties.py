"""An average of 2^k values in its input's scale (how quantize_static quantizes an
AveragePool's output) lands on exact rounding ties: the compiled pool rounds them to even, as
ONNX's QuantizeLinear (and onnxruntime's QLinearAveragePool) do, so that it equals the exact
float64 evaluation of the QDQ graph on every output, on VTA as in the reference."""

import numpy as np
import pytest
from onnx import helper

from qdq_models import float_model, quantize_with_onnxruntime
from vta.compiler import ir, reference
from vta.compiler.build import compile_graph
from vta.compiler.compare import exact_values
from vta.compiler.executor import Executor
from vta.compiler.onnx_import import import_onnx
from vta.compiler.requantize import plan_requantization
from vta.isa import Config

POOLS = {
    "2x2/2": lambda: helper.make_node("AveragePool", ["c"], ["y"], name="pool",
                                      kernel_shape=[2, 2], strides=[2, 2]),
    "4x4/4": lambda: helper.make_node("AveragePool", ["c"], ["y"], name="pool",
                                      kernel_shape=[4, 4], strides=[4, 4]),
}


@pytest.mark.parametrize("case", POOLS)
def test_pool_of_power_of_two_values_equals_the_exact_evaluation(case, tmp_path):
    rng = np.random.default_rng(sorted(POOLS).index(case))
    init = {"c.w": rng.normal(0, 0.3, (24, 3, 3, 3)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "c.w"], ["c"], name="c", pads=[1, 1, 1, 1]),
             POOLS[case]()]
    path = quantize_with_onnxruntime(float_model(nodes, init, [1, 3, 8, 8]), tmp_path,
                                     rng.normal(size=(16, 3, 8, 8)).astype(np.float32))
    graph = import_onnx(path)
    pool = next(node for node in graph.nodes if isinstance(node, ir.AvgPool))
    assert pool.requant.ties_to_even
    pooled = pool.output
    for _ in range(3):
        feeds = {"x": rng.normal(size=(1, 3, 8, 8)).astype(np.float32)}
        exact = exact_values(path, graph, feeds)[pooled]
        model = compile_graph(graph, Config.preset("pynq"))
        assert {n["name"]: n["placement"] for n in model.nodes}[pool.name] == "vta"
        executor = Executor(model, "functional")
        executor.run(feeds)
        np.testing.assert_array_equal(executor.read(pooled), exact)
        np.testing.assert_array_equal(reference.run(graph, feeds)[pooled], exact)


@pytest.mark.parametrize("shift", [1, 2, 4, 6])
@pytest.mark.parametrize("zero_point", [-128, -3, 0, 9, 127])
def test_power_of_two_plan_rounds_every_tie_to_even(shift, zero_point):
    """`ties_to_even` on M = 2^−s: every accumulator of the range gives numpy's round half to
    even (then the zero point and the int8 clamp); without it, ties round up."""
    bound = 255 << shift
    acc = np.arange(-bound, bound + 1)
    even = plan_requantization(2.0 ** -shift, zero_point=zero_point, acc_bound=bound,
                               alu_mul=True, where="t", ties_to_even=True)
    up = plan_requantization(2.0 ** -shift, zero_point=zero_point, acc_bound=bound,
                             alu_mul=True, where="t")
    assert even.ties_to_even and not up.ties_to_even
    np.testing.assert_array_equal(even(acc), np.clip(np.round(acc / 2**shift) + zero_point,
                                                     -128, 127))
    np.testing.assert_array_equal(up(acc), np.clip(np.floor(acc / 2**shift + 0.5) + zero_point,
                                                   -128, 127))
