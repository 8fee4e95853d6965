"""ONNX's backend node tests (onnx.backend.test.case.node), loaded once: each case is a model,
input arrays and the expected outputs that ONNX's own reference computed."""

from __future__ import annotations

import functools
import warnings

import numpy as np
from onnx import helper, numpy_helper


def _array(value):
    return numpy_helper.to_array(value) if hasattr(value, "data_type") else value


@functools.cache
def node_cases():
    """All cases with a model, their data sets converted to numpy arrays."""
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cases = [case for case in collect_testcases(None) if case.model is not None]
    return [(case, [([_array(v) for v in inputs], [_array(v) for v in outputs])
                    for inputs, outputs in case.data_sets]) for case in cases]


def attribute_values(node) -> dict:
    """A node's attributes as the host kernels take them (tensors as numpy arrays)."""
    values = {}
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        if hasattr(value, "data_type"):
            value = numpy_helper.to_array(value)
        elif isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list):
            value = [v.decode() if isinstance(v, bytes) else v for v in value]
        values[attribute.name] = value
    return values


def default_opset(model) -> int:
    return max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] or [1])


def assert_matches(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float, where: str):
    assert got.shape == expected.shape, f"{where}: shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"{where}: dtype {got.dtype} != {expected.dtype}"
    if expected.dtype.kind in "fc":
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=where)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=where)
