"""Node kinds moved onto VTA from imported (onnxruntime-quantized) models: each is placed on
VTA, and the functional backend's outputs equal the integer reference's bit for bit (the
reference itself is checked against onnxruntime in test_import_synthetic.py and
test_reference_ops.py)."""

import numpy as np
import pytest

from qdq_models import float_model, quantize_with_onnxruntime
from test_import_synthetic import case_conv_transpose, case_token_matmul
from vta.compiler import reference
from vta.compiler.build import compile_graph
from vta.compiler.executor import Executor
from vta.compiler.onnx_import import import_onnx
from vta.isa import Config

PYNQ = Config.preset("pynq")


def compiled_case(case, tmp_path, seed=0):
    nodes, init, shape = case()
    rng = np.random.default_rng(seed)
    samples = rng.normal(size=(16,) + shape[1:]).astype(np.float32)
    path = quantize_with_onnxruntime(float_model(nodes, init, list(shape)), tmp_path, samples)
    graph = import_onnx(path)
    return graph, compile_graph(graph, PYNQ), rng.normal(size=shape).astype(np.float32)


def placements(model, operator):
    return [node["placement"] for node in model.nodes if node["operator"] == operator]


def assert_functional_matches_reference(graph, model, x):
    got = Executor(model, "functional").run({"x": x}).outputs
    expected = reference.run(graph, {"x": x})
    for name in got:
        np.testing.assert_array_equal(got[name], expected[name])


@pytest.mark.parametrize("case", [case_token_matmul], ids=lambda c: c.__name__[5:])
def test_token_products_run_on_vta(case, tmp_path):
    graph, model, x = compiled_case(case, tmp_path)
    assert placements(model, "Dense") == ["vta", "vta"]
    assert_functional_matches_reference(graph, model, x)


def test_transposed_convolutions_run_on_vta(tmp_path):
    graph, model, x = compiled_case(case_conv_transpose, tmp_path)
    assert placements(model, "ConvTranspose2d") == ["vta", "vta"]
    assert_functional_matches_reference(graph, model, x)
