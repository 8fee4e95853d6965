"""`compare.exact_values`: the QDQ graph evaluated in float64 (docs/zoo.md, "Exact evaluation")."""

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from vta.compiler import reference
from vta.compiler.build import compile_graph
from vta.compiler.compare import exact_values, onnxruntime_values
from vta.compiler.executor import Executor
from vta.compiler.host_kernels import Kernels
from vta.compiler.onnx_import import import_onnx
from vta.isa import Config


def _reciprocal_model(scale: float):
    """x -> Q/DQ (scale) -> Reciprocal -> Q/DQ (0.1) -> y, opset 13 (before onnx.reference's
    own DequantizeLinear/QuantizeLinear versions)."""
    def qdq(source, name):
        return [helper.make_node("QuantizeLinear", [source, f"s_{name}", f"z_{name}"], [f"{name}_q"]),
                helper.make_node("DequantizeLinear", [f"{name}_q", f"s_{name}", f"z_{name}"], [name])]
    nodes = qdq("x", "a") + [helper.make_node("Reciprocal", ["a"], ["r"])] + qdq("r", "y")
    initializers = [numpy_helper.from_array(np.float32(scale), "s_a"),
                    numpy_helper.from_array(np.int8(0), "z_a"),
                    numpy_helper.from_array(np.float32(0.1), "s_y"),
                    numpy_helper.from_array(np.int8(0), "z_y")]
    graph = helper.make_graph(nodes, "reciprocal",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
                              initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_exact_values_saturate_infinities_as_onnx_quantizes_them():
    """1/0 is +inf: QuantizeLinear saturates it to 127 (the integer graph and onnxruntime do),
    where onnx.reference's own QuantizeLinear casts it to int32 first."""
    model = _reciprocal_model(0.05)
    graph = import_onnx(model)
    x = np.array([[0.0, -0.0, 0.01, -0.01, 0.4, 1.0, -2.0, 3.0]], np.float32)
    exact = exact_values(model, graph, {"x": x})
    ours = reference.run(graph, {"x": x})
    names = {graph.onnx_names[name]: name for name in ("a_q", "y_q")}
    assert set(exact) == set(names)
    for name in exact:
        assert np.array_equal(exact[name], ours[name]), names[name]
    assert exact[graph.onnx_names["y_q"]][0, :4].tolist() == [127] * 4


def test_exact_values_are_float64_not_float32():
    """0.35 / 0.1 in float32 is 3.5 (rounded half to even: 4, onnxruntime's result); the
    float32 values' exact quotient is 3.4999999 (3)."""
    model = _reciprocal_model(0.1)
    graph = import_onnx(model)
    x = np.full((1, 8), 0.35, np.float32)
    name = graph.onnx_names["a_q"]
    assert (np.float32(0.35) / np.float32(0.1)) == np.float32(3.5)
    assert exact_values(model, graph, {"x": x})[name].tolist() == [[3] * 8]
    assert onnxruntime_values(model, graph, {"x": x})[name].tolist() == [[4] * 8]


def test_the_input_quantize_rounds_the_exact_quotient():
    """The input's QuantizeLinear divides in float64 (the host kernel too): 0.35/0.1 of the
    float32 values is 3.4999999, so 3 — not float32's 3.5, rounded to even 4."""
    model = _reciprocal_model(0.1)
    graph = import_onnx(model)
    x = np.full((1, 8), 0.35, np.float32)
    name = graph.onnx_names["a_q"]
    assert reference.run(graph, {"x": x})[name].tolist() == [[3] * 8]
    compiled = compile_graph(graph, Config.preset("pynq"))
    executor = Executor(compiled)
    executor.run({"x": x})
    assert executor.read(name).tolist() == [[3] * 8]
    # the executor's kernel for a quantized value in device memory (the graph's input)
    values = np.zeros(8, np.int8)
    real = np.array([0.35, -0.35, 0.25, 0.15, 0.05, 12.7, 13.0, -13.0], np.float32)
    Kernels().quantize(values, np.arange(8, dtype=np.int64), real, 0.1, 0)
    assert values.tolist() == np.clip(np.rint(real.astype(np.float64) / np.float64(np.float32(0.1))),
                                      -128, 127).astype(int).tolist() == [3, -3, 2, 2, 0, 127, 127, -128]


def _conv_model(x_scale: float, w_scale: float, y_scale: float, weights: np.ndarray):
    """x (1×C×1×1) -> Q/DQ -> 1×1 Conv of one output channel (int8 weights, no bias) -> Q/DQ,
    as quantize_static writes it (zero points 0)."""
    def qdq(source, name):
        return [helper.make_node("QuantizeLinear", [source, f"s_{name}", f"z_{name}"], [f"{name}_q"]),
                helper.make_node("DequantizeLinear", [f"{name}_q", f"s_{name}", f"z_{name}"], [name])]
    nodes = qdq("x", "a") + [
        helper.make_node("DequantizeLinear", ["w_q", "s_w", "z_w"], ["w"]),
        helper.make_node("Conv", ["a", "w"], ["c"])] + qdq("c", "y")
    channels = weights.size
    initializers = [numpy_helper.from_array(np.float32(x_scale), "s_a"),
                    numpy_helper.from_array(np.int8(0), "z_a"),
                    numpy_helper.from_array(weights.astype(np.int8).reshape(1, channels, 1, 1), "w_q"),
                    numpy_helper.from_array(np.float32(w_scale), "s_w"),
                    numpy_helper.from_array(np.int8(0), "z_w"),
                    numpy_helper.from_array(np.float32(y_scale), "s_y"),
                    numpy_helper.from_array(np.int8(0), "z_y")]
    graph = helper.make_graph(nodes, "conv",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, 1, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 1, 1])],
                              initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_requantization_multiplier_is_the_exact_quotient():
    """x_scale·w_scale / y_scale in float64, not rounded to float32 (onnxruntime's fused
    QLinearConv): with these scales the accumulator 70 827 is 82.4999956 output steps exactly
    (82), but 82.5000002 with the float32 multiplier (83)."""
    x_scale, w_scale, y_scale = 0.01603609509766102, 0.005946984980255365, 0.08187294006347656
    acc = 70827
    exact = acc * (np.float64(x_scale) * np.float64(w_scale) / np.float64(y_scale))
    rounded32 = acc * np.float64(np.float32(np.float32(x_scale) * np.float32(w_scale))
                                 / np.float32(y_scale))
    assert np.rint(exact) == 82 and np.floor(rounded32 + 0.5) == 83
    weights = np.array([127] * 15 + [1])
    q = np.array([127] * 4 + [49] + [0] * 10 + [88])           # Σ q·w = 70 827
    assert int(q @ weights) == acc
    model = _conv_model(x_scale, w_scale, y_scale, weights)
    graph = import_onnx(model)
    x = (q * np.float32(x_scale)).astype(np.float32).reshape(1, -1, 1, 1)
    exact_tensors = exact_values(model, graph, {"x": x})
    ours = reference.run(graph, {"x": x})
    name = graph.onnx_names["y_q"]
    assert exact_tensors[name].ravel().tolist() == [82]
    assert ours[name].ravel().tolist() == [82]
