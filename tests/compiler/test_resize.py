"""Nearest Resize by integer factors runs on VTA as a transposed convolution with identity taps
(the attribute combinations torch and other exporters write: scales or sizes, asymmetric/floor,
half_pixel/round_prefer_floor, factors 2 and 3, unequal factors), bit-exact with the reference
and equal to onnxruntime's; other resizes stay on the host with their reason."""

import numpy as np
import pytest
from onnx import helper

from backend_graphs import run_both
from qdq_models import float_model, output_steps, quantize_with_onnxruntime
from vta.compiler import ir
from vta.compiler.onnx_import import import_onnx

TORCH = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
CASES = {
    "torch-scale-2": (TORCH, {"scales": np.array([1, 1, 2, 2], np.float32)}, (1, 16, 6, 5)),
    "torch-size": (TORCH, {"sizes": np.array([1, 16, 12, 15], np.int64)}, (1, 16, 6, 5)),
    "defaults-3": ({"mode": "nearest"}, {"scales": np.array([1, 1, 3, 3], np.float32)},
                   (1, 16, 4, 4)),
    "half-pixel-2x1": (dict(mode="nearest", coordinate_transformation_mode="half_pixel",
                            nearest_mode="round_prefer_ceil"),
                       {"scales": np.array([1, 1, 2, 1], np.float32)}, (1, 16, 5, 6)),
}


def _model(attributes, inputs, conv_out, rng):
    """Conv → Resize → 1×1 Conv; `inputs` gives the Resize's scales or sizes."""
    names = ["c", "", "scales" if "scales" in inputs else "", "sizes" if "sizes" in inputs else ""]
    while names[-1] == "":
        names.pop()
    init = {"w": rng.normal(0, 0.3, (conv_out, 3, 3, 3)).astype(np.float32),
            "w2": rng.normal(0, 0.3, (8, conv_out, 1, 1)).astype(np.float32)} | inputs
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Resize", names, ["r"], name="resize", **attributes),
             helper.make_node("Conv", ["r", "w2"], ["y"], name="conv2")]
    return nodes, init


@pytest.mark.parametrize("case", CASES)
def test_nearest_integer_resize_runs_on_vta(case, tmp_path):
    rng = np.random.default_rng(sorted(CASES).index(case))
    attributes, inputs, shape = CASES[case]
    nodes, init = _model(attributes, inputs, shape[1], rng)
    x_shape = (1, 3) + shape[2:]
    path = quantize_with_onnxruntime(float_model(nodes, init, list(x_shape)), tmp_path,
                                     rng.normal(size=(8,) + x_shape[1:]).astype(np.float32))
    graph = import_onnx(path)
    node = next(n for n in graph.nodes if n.name == "resize")
    assert isinstance(node, ir.ConvTranspose2d) and node.upsample
    for _ in range(2):
        assert output_steps(graph, path, rng.normal(size=x_shape).astype(np.float32)) <= 1
    got, expected, model, _ = run_both(graph, {"x": rng.normal(size=x_shape).astype(np.float32)})
    placed = {n["name"]: n for n in model.nodes}
    assert (placed["resize"]["operator"], placed["resize"]["placement"]) == ("Resize", "vta")
    assert placed["resize"]["macs"] == 0
    for name in got:
        np.testing.assert_array_equal(got[name], expected[name])


@pytest.mark.parametrize("attributes,scales,reason", [
    ({"mode": "linear"}, [1, 1, 2, 2], "only nearest up-sampling by integer factors"),
    (TORCH, [1, 1, 1.5, 1.5], "integer factors of the height and width only"),
])
def test_other_resizes_stay_on_the_host(attributes, scales, reason, tmp_path):
    rng = np.random.default_rng(9)
    nodes, init = _model(attributes, {"scales": np.array(scales, np.float32)}, 16, rng)
    path = quantize_with_onnxruntime(float_model(nodes, init, [1, 3, 6, 6]), tmp_path,
                                     rng.normal(size=(8, 3, 6, 6)).astype(np.float32))
    graph = import_onnx(path)
    node = next(n for n in graph.nodes if n.name == "resize")
    assert isinstance(node, ir.HostOp) and reason in graph.host_reasons["resize"]
