"""The reference executor's kernels of the VTA node kinds beyond convolution, checked against
onnxruntime running the same operator in float32 on the same integers (exact: every sum stays
below 2^24), before the requantization (replaced by the identity)."""

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from vta.compiler import ir, reference

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def identity(acc):
    """The accumulators themselves, in place of a requantization."""
    return np.asarray(acc, dtype=np.int64)


def onnxruntime_float32(node: onnx.NodeProto, inputs: dict, initializers: dict) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    graph = helper.make_graph(
        [node], "reference", [helper.make_tensor_value_info(name, TensorProto.FLOAT, None)
                              for name in inputs],
        [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, None)],
        [numpy_helper.from_array(array.astype(np.float32), name)
         for name, array in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {name: array.astype(np.float32) for name, array in inputs.items()})[0]


@SETTINGS
@given(st.data())
def test_conv_transpose_reference_is_onnx_conv_transpose(data):
    draw = data.draw
    groups = draw(st.sampled_from([1, 2]))
    c, o = groups * draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = tuple(draw(st.integers(0, min(kernel, 2) - 1)) for kernel in (kh, kw, kh, kw))
    output_padding = (draw(st.integers(0, sh - 1)), draw(st.integers(0, sw - 1)))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 999)))
    x = rng.integers(-128, 128, (draw(st.integers(1, 2)), c, h, w)).astype(np.int8)
    weight = rng.integers(-128, 128, (c, o, kh, kw)).astype(np.int8)
    bias = rng.integers(-9999, 9999, o * groups).astype(np.int32)
    zero_point = draw(st.integers(-128, 127))
    node = ir.ConvTranspose2d("t", ("x",), "y", weight=weight, bias=bias, strides=(sh, sw),
                              pads=pads, dilations=(dh, dw), output_padding=output_padding,
                              groups=groups, input_zero_point=zero_point, requant=identity)
    assume(min(node.output_size(h, w)) > 0)      # pads larger than the output: no valid node
    onnx_node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], strides=[sh, sw],
                                 dilations=[dh, dw], pads=list(pads),
                                 output_padding=list(output_padding), group=groups)
    expected = onnxruntime_float32(onnx_node, {"x": x.astype(np.float64) - zero_point},
                                   {"w": weight, "b": bias})
    got = reference.run_node(node, [x])[0]
    assert got.shape == expected.shape == (x.shape[0], o * groups) + node.output_size(h, w)
    np.testing.assert_array_equal(got, expected.astype(np.int64))
