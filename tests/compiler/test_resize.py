"""Nearest Resize by integer factors runs on VTA as a transposed convolution with identity taps
(the attribute combinations torch and other exporters write: scales or sizes, asymmetric/floor,
half_pixel/round_prefer_floor, factors 2 and 3, unequal factors), bit-exact with the reference
and equal to onnxruntime's; interpolating resizes are quantized exactly on the host; other
resizes stay on the host with their reason."""

import numpy as np
import pytest
from onnx import helper

from backend_graphs import run_both
from qdq_models import float_model, output_steps, quantize_with_onnxruntime
from vta.compiler import ir, reference
from vta.compiler.compare import exact_values
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


@pytest.mark.parametrize("mode,transformation,scales", [
    ("linear", "half_pixel", [1, 1, 2, 2]),          # torch's bilinear, align_corners=False
    ("linear", "align_corners", [1, 1, 2, 2]),
    ("linear", "pytorch_half_pixel", [1, 1, 1.5, 1.5]),
    ("cubic", "half_pixel", [1, 1, 2, 2]),
])
def test_interpolating_resize_is_quantized_exactly(mode, transformation, scales, tmp_path):
    """Dequantize → linear/cubic Resize → Quantize runs on the host in float64 from the
    integers: every quantized tensor is the exact (float64) evaluation's of the QDQ graph. A ×2
    half-pixel linear resize puts about 2 % of its outputs exactly on a tie between two steps
    (weights ¼ and ¾), which a float32 resize of float32 dequantized values breaks either way by
    its rounding noise (as onnxruntime's does); the exact evaluation rounds them half to even."""
    rng = np.random.default_rng(13)
    attributes = {"mode": mode, "coordinate_transformation_mode": transformation}
    nodes, init = _model(attributes, {"scales": np.array(scales, np.float32)}, 16, rng)
    path = quantize_with_onnxruntime(float_model(nodes, init, [1, 3, 12, 12]), tmp_path,
                                     rng.normal(size=(8, 3, 12, 12)).astype(np.float32))
    graph = import_onnx(path)
    resized = next(n for n in graph.nodes if n.name == "resize/exact/resize")
    assert isinstance(resized, ir.HostOp) and resized.op_type == "Resize"
    for _ in range(3):
        feed = {"x": rng.normal(size=(1, 3, 12, 12)).astype(np.float32)}
        exact, ours = exact_values(path, graph, feed), reference.run(graph, feed)
        assert len(exact) >= 3
        for name, value in exact.items():
            np.testing.assert_array_equal(ours[name], value, name)
    got, expected, model, _ = run_both(graph, feed)
    for name in got:
        np.testing.assert_array_equal(got[name], expected[name])
    placed = {n["name"]: n["placement"] for n in model.nodes}
    assert placed["conv"] == placed["conv2"] == "vta"



def test_tf_half_pixel_for_nn_at_opset_11(tmp_path):
    """Resize-11's coordinate transformation `tf_half_pixel_for_nn` (x = (y + 0.5) / scale, as
    tf2onnx writes TensorFlow's half-pixel nearest resizes; opset 13 dropped it, the opset
    conversion keeps it): the model compiles, its Resize computes what onnxruntime computes for
    every nearest rounding, up- and down-sampling, and the quantized model is bit-exact with the
    reference. It was refused ("is not an ONNX mode")."""
    import onnxruntime
    rng = np.random.default_rng(11)
    init = {"w": rng.normal(0, 0.3, (16, 3, 3, 3)).astype(np.float32),
            "w2": rng.normal(0, 0.3, (8, 16, 1, 1)).astype(np.float32),
            "roi": np.zeros(0, np.float32)}
    feed = {"x": rng.normal(size=(1, 3, 5, 6)).astype(np.float32)}
    for rounding, scales in [("round_prefer_ceil", [1, 1, 2, 2]), ("floor", [1, 1, 1.5, 0.7]),
                             ("round_prefer_floor", [1, 1, 3, 0.5]), ("ceil", [1, 1, 2, 1])]:
        init["scales"] = np.array(scales, np.float32)
        nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
                 helper.make_node("Resize", ["c", "roi", "scales"], ["r"], name="resize",
                                  mode="nearest", nearest_mode=rounding,
                                  coordinate_transformation_mode="tf_half_pixel_for_nn"),
                 helper.make_node("Conv", ["r", "w2"], ["y"], name="conv2")]
        model = float_model(nodes, init, [1, 3, 5, 6], opset=11)
        ours = reference.run(import_onnx(model), feed)["y"]
        theirs = onnxruntime.InferenceSession(model.SerializeToString()).run(None, feed)[0]
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5, err_msg=rounding)
    path = quantize_with_onnxruntime(model, tmp_path, rng.normal(size=(8, 3, 5, 6)).astype(
        np.float32), per_channel=False)
    graph = import_onnx(path)
    got, expected, _, _ = run_both(graph, feed)
    np.testing.assert_array_equal(got["y"], expected["y"])
    assert output_steps(graph, path, feed["x"]) <= 1
