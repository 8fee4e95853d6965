"""The runner of ONNX's backend node tests (scripts/onnx_node_tests.py, zoo.node_tests): which
tests it picks, and how it compares outputs with the test data."""

import numpy as np
from onnx import TensorProto, helper
from onnx.backend.test.case.test_case import TestCase

from zoo import node_tests


def case(name, op_type, x_type, inputs, expected, **attributes):
    """A TestCase in ONNX's own form: one node, every input a graph input."""
    names = [f"in{i}" for i in range(len(inputs))]
    node = helper.make_node(op_type, names, ["out"], **attributes)
    graph = helper.make_graph(
        [node], name, [helper.make_tensor_value_info(n, x_type, a.shape)
                       for n, a in zip(names, inputs)],
        [helper.make_tensor_value_info("out", helper.np_dtype_to_tensor_dtype(expected.dtype),
                                       expected.shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    return TestCase(name, name, None, None, model, [(inputs, [expected])], "node", 1e-3, 1e-7)


X = np.array([100, -100, 7], np.int8)
Y = np.array([100, -100, -9], np.int8)
ADD_INT8 = case("test_add_int8", "Add", TensorProto.INT8, [X, Y],
                np.array([-56, 56, -2], np.int8))           # ONNX's integer Add wraps around


def test_selection_is_the_quantized_operators_and_the_named_integer_ones():
    floats = np.ones(3, np.float32)
    cases = [ADD_INT8,
             case("test_add", "Add", TensorProto.FLOAT, [floats, floats], 2 * floats),
             case("test_dequantizelinear_e4m3fn", "DequantizeLinear", TensorProto.FLOAT,
                  [floats, np.float32(1)], floats),
             case("test_bitshift_left_uint8", "BitShift", TensorProto.UINT8,
                  [X.view(np.uint8), np.ones(3, np.uint8)], X.view(np.uint8),
                  direction="LEFT")]
    assert [c.name for c in node_tests.select(cases)] == [
        "test_add_int8", "test_dequantizelinear_e4m3fn"]
    assert [c.name for c in node_tests.select(cases, all_integer=True)] == [
        "test_add_int8", "test_dequantizelinear_e4m3fn", "test_bitshift_left_uint8"]


def test_exact_comparison_names_what_differs():
    want = np.array([1.0, np.nan, 3.0], np.float32)
    assert node_tests.difference("y", want.copy(), want) == ""
    assert node_tests.difference("y", None, want) == "output 'y' missing"
    assert node_tests.difference("y", want.astype(np.float64), want) == \
        "output 'y' is float64, expected float32"
    assert node_tests.difference("y", want[:2], want) == \
        "output 'y' has shape (2,), expected (3,)"
    assert node_tests.difference("y", np.array([1.0, np.nan, 3.5], np.float32), want) == \
        "output 'y': 1 of 3 elements differ (max 0.5)"


def test_a_case_passes_only_on_the_exact_data():
    """Run through onnx's reference evaluator (an engine independent of the runner), the int8
    Add passes; an engine that saturates instead of wrapping fails on two elements; an engine
    that raises gives its one-line reason."""
    from onnx.reference import ReferenceEvaluator

    def reference(model):
        evaluator = ReferenceEvaluator(model)
        return lambda feeds: dict(zip(["out"], evaluator.run(None, feeds)))

    def saturating(model):
        return lambda feeds: {"out": np.clip(feeds["in0"].astype(int) + feeds["in1"], -128,
                                             127).astype(np.int8)}

    def refusing(model):
        raise ValueError("no\nkernel")
    assert node_tests.run_case(ADD_INT8, reference) == node_tests.Outcome("test_add_int8", True)
    assert node_tests.run_case(ADD_INT8, saturating).reason == \
        "output 'out': 2 of 3 elements differ (max 184)"          # -128 for 56
    assert node_tests.run_case(ADD_INT8, refusing).reason.startswith(
        "compile: crash: ValueError: no kernel at test_node_tests.py:")
