"""ONNX's own backend node tests for the quantized operators and the int8/uint8 variants of the
integer operators, through the compiler and one backend, compared exactly with the test data.

The onnx wheel does not ship the serialized tests (`onnx/backend/test/data/node`); it ships the
modules that generate them (`onnx.backend.test.case.node`), whose `collect_testcases()` yields
the same models, inputs and expected outputs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from onnx import TensorProto

from zoo.evaluate import one_line

#: Every node test of these operators, whatever its types (float8, int4, blocked, ...).
QUANTIZED_OPERATORS = ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul",
                       "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear")
#: The node tests of these operators with an int8 or uint8 graph input or output (issue 11
#: names them; `--all-integer` takes every operator's).
INTEGER_OPERATORS = ("Add", "Sub", "Mul", "Div", "Max", "Min", "Clip", "MaxPool")
INTEGER_TYPES = (TensorProto.INT8, TensorProto.UINT8)


@dataclass(frozen=True)
class Outcome:
    name: str
    passed: bool
    reason: str = ""


def select(cases, all_integer: bool = False) -> list:
    """The node test cases with a node of `QUANTIZED_OPERATORS`, and those with an int8/uint8
    graph input or output that test one of `INTEGER_OPERATORS` (ONNX names them
    test_<operator>_..., their function-expanded forms included) — or any, with
    `all_integer`."""
    prefixes = tuple(f"test_{name.lower()}_" for name in INTEGER_OPERATORS)
    chosen = []
    for case in cases:
        graph = case.model.graph
        types = {v.type.tensor_type.elem_type for v in list(graph.input) + list(graph.output)}
        if {node.op_type for node in graph.node} & set(QUANTIZED_OPERATORS):
            chosen.append(case)
        elif types & set(INTEGER_TYPES) and (all_integer or case.name.startswith(prefixes)):
            chosen.append(case)
    return chosen


def onnx_node_tests(all_integer: bool = False) -> list:
    """ONNX's node test cases to run (generating all of onnx's cases takes some seconds)."""
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")          # generators' overflow notes on their own data
        return select(collect_testcases(None), all_integer)


def vta_runner(config, backend: str = "functional"):
    """`prepare(model)` → `run(feeds)` → outputs by name: compiled for VTA, run on `backend`."""
    from vta.compiler.build import compile_graph
    from vta.compiler.executor import Executor
    from vta.compiler.onnx_import import import_onnx

    def prepare(model):
        executor = Executor(compile_graph(import_onnx(model, alu_mul=config.ALU_MUL), config),
                            backend)
        return lambda feeds: executor.run(feeds).outputs
    return prepare


def run_case(case, prepare) -> Outcome:
    """Prepare the case's model (`vta_runner`), run each of its data sets, compare every output
    exactly with the expected one."""
    graph = case.model.graph
    try:
        run = prepare(case.model)
    except Exception as error:                           # noqa: BLE001 - reported, one line
        return Outcome(case.name, False, f"compile: {one_line(error)}")
    for inputs, expected in case.data_sets:
        feeds = {info.name: as_array(value) for info, value in zip(graph.input, inputs)}
        try:
            outputs = run(feeds)
        except Exception as error:                       # noqa: BLE001
            return Outcome(case.name, False, f"run: {one_line(error)}")
        for info, want in zip(graph.output, expected):
            problem = difference(info.name, outputs.get(info.name), as_array(want))
            if problem:
                return Outcome(case.name, False, problem)
    return Outcome(case.name, True)


def as_array(value) -> np.ndarray:
    """A test datum as an array: `collect_testcases` keeps some tensors (float8, int4, ...) as
    `onnx.TensorProto`s, which `np.asarray` would wrap as a 0-d object array."""
    if hasattr(value, "data_type"):
        from onnx.numpy_helper import to_array
        return to_array(value)
    return np.asarray(value)


def difference(name: str, got: np.ndarray | None, want: np.ndarray) -> str:
    """Why `got` is not exactly `want` ("" when it is): dtype, shape, or the differing
    elements (NaN equals NaN)."""
    if got is None:
        return f"output {name!r} missing"
    got = np.asarray(got)
    if got.dtype != want.dtype:
        return f"output {name!r} is {got.dtype}, expected {want.dtype}"
    if got.shape != want.shape:
        return f"output {name!r} has shape {got.shape}, expected {want.shape}"
    same = (got == want) | (np.isnan(got) & np.isnan(want) if got.dtype.kind == "f" else False)
    if np.all(same):
        return ""
    wrong = int(np.size(same) - np.count_nonzero(same))
    gap = np.abs(got.astype(np.float64) - want.astype(np.float64))[~same].max()
    return f"output {name!r}: {wrong} of {got.size} elements differ (max {gap:g})"
