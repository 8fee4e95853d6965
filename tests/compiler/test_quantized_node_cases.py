"""ONNX's own backend node tests of the quantized operators (QuantizeLinear, DequantizeLinear,
QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger, DynamicQuantizeLinear) and of integer
arithmetic on int8/uint8 tensors, each imported, compiled and run on the functional backend:
the outputs must equal ONNX's expected data exactly. Scales and zero points are graph inputs in
these tests, so the operators run on the host with ONNX's arithmetic; their models span opsets
10 to 28 (older ones converted)."""

import numpy as np
import pytest

from onnx_node_cases import node_cases
from vta.compiler.build import compile_graph
from vta.compiler.executor import Executor
from vta.compiler.onnx_import import import_onnx
from vta.isa import Config

QUANTIZED = ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul",
             "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear")
INTEGER = ("Add", "Sub", "Mul", "Div", "Max", "Min", "Clip", "MaxPool")


def _selected():
    cases = []
    for case, data in node_cases():
        operators = {node.op_type for node in case.model.graph.node}
        tensors = [a for inputs, outputs in data for a in list(inputs) + list(outputs)]
        integer = any(isinstance(a, (np.ndarray, np.generic)) and a.dtype in (np.int8, np.uint8)
                      for a in tensors)
        if operators & set(QUANTIZED) or (operators & set(INTEGER) and integer
                                           and len(case.model.graph.node) == 1):
            cases.append((case, data))
    return cases


CASES = _selected()


def test_the_selection_holds_every_quantized_operator():
    found = {node.op_type for case, _ in CASES for node in case.model.graph.node}
    assert set(QUANTIZED) | set(INTEGER) <= found
    assert len(CASES) >= 60


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case.name for case, _ in CASES])
def test_compiled_model_matches_onnx_test_data_exactly(index):
    case, data = CASES[index]
    executor = Executor(compile_graph(import_onnx(case.model), Config.preset("pynq")))
    names = [value.name for value in case.model.graph.input]
    for inputs, outputs in data:
        got = executor.run(dict(zip(names, inputs))).outputs
        for value, expected in zip(case.model.graph.output, outputs):
            expected = np.asarray(expected)
            assert got[value.name].dtype == expected.dtype, value.name
            np.testing.assert_array_equal(got[value.name], expected, err_msg=value.name)
