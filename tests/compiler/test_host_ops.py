"""The host kernels against ONNX's backend node tests: every single-node case of an operator
with a kernel of its own, with the tolerance ONNX's backend runner uses."""

import numpy as np
import pytest

from onnx_node_cases import assert_matches, attribute_values, default_opset, node_cases
from vta.compiler import host_ops
from vta.compiler.host_ops.registry import numpy_type


def _single_node_cases():
    by_operator = {}
    for case, data in node_cases():
        graph = case.model.graph
        if len(graph.node) != 1 or graph.node[0].domain not in ("", "ai.onnx"):
            continue
        if host_ops.has_kernel(graph.node[0].op_type):
            by_operator.setdefault(graph.node[0].op_type, []).append((case, data))
    return by_operator


def _numpy_types_only(arrays) -> bool:
    """Tensors of numpy's types only: cases of sequences, optionals, or types numpy cannot
    compute with (float8, bfloat16, int4) are onnx.reference's."""
    return all(isinstance(a, (np.ndarray, np.generic)) and numpy_type(a.dtype) for a in arrays)


OPERATORS = sorted(_single_node_cases())


def test_the_operators_real_models_use_have_kernels():
    needed = {"HardSigmoid", "HardSwish", "LeakyRelu", "Sigmoid", "Tanh", "Erf", "Gelu",
              "Softmax", "LayerNormalization", "ReduceMean", "Pow", "Sqrt", "Div", "Sub", "Mul",
              "Gather", "Slice", "Transpose", "Resize", "ConvTranspose", "Concat", "Reshape",
              "MatMul", "Split", "Expand", "Where", "Cast", "Squeeze", "Unsqueeze", "Pad", "Clip",
              "ReduceSum", "ReduceMax", "ArgMax", "TopK", "Exp", "Log", "Neg", "Abs", "Range",
              "Einsum", "Conv", "Gemm", "GRU", "LSTM", "QuantizeLinear", "DequantizeLinear",
              "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"}
    assert needed <= set(OPERATORS)


@pytest.mark.parametrize("operator", OPERATORS)
def test_kernel_matches_onnx_node_tests(operator):
    checked = 0
    for case, data in _single_node_cases()[operator]:
        node = case.model.graph.node[0]
        names = [value.name for value in case.model.graph.input]
        call = host_ops.Call(node.op_type, attribute_values(node), default_opset(case.model),
                             len(node.output), node.SerializeToString())
        for inputs, outputs in data:
            if not _numpy_types_only(list(inputs) + list(outputs)):
                continue
            feed = dict(zip(names, inputs))
            got = host_ops.run(call, [feed.get(name) if name else None for name in node.input])
            got = [array for name, array in zip(node.output, got) if name]
            for index, (array, expected) in enumerate(zip(got, outputs)):
                assert_matches(array, np.asarray(expected), case.rtol, case.atol,
                               f"{case.name} output {index}")
            checked += 1
    assert checked or operator in ("Constant",), f"no case of {operator} was checked"
