"""`compare.exact_values`: the QDQ graph evaluated in float64 (docs/zoo.md, "Exact evaluation")."""

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from vta.compiler import reference
from vta.compiler.compare import exact_values, onnxruntime_values
from vta.compiler.onnx_import import import_onnx


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
