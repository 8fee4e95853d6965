"""What the importer refuses: one-line errors that name the node (or the model)."""

import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qdq_models import float_model, quantize_with_onnxruntime
from vta.compiler.onnx_import import import_onnx
from vta.isa import VtaError

RNG = np.random.default_rng(7)


def conv_model(extra_nodes, extra_init=None, output="c"):
    init = {"w": RNG.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32)} | (extra_init or {})
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv")] + extra_nodes
    return float_model(nodes, init, [1, 3, 8, 8], output_name=output)


def quantized(model, tmp_path, **settings):
    samples = RNG.normal(size=(8, 3, 8, 8)).astype(np.float32)
    return quantize_with_onnxruntime(model, tmp_path, samples, **settings)


def expect_error(path_or_model, pattern):
    with pytest.raises(VtaError) as caught:
        import_onnx(path_or_model)
    message = str(caught.value)
    assert "\n" not in message
    assert re.search(pattern, message), message


def test_float_model_points_to_vta_quantize(tmp_path):
    onnx.save(conv_model([]), tmp_path / "float.onnx")
    expect_error(tmp_path / "float.onnx", r"float model .*`vta quantize MODEL\.onnx --calibrate")


def test_unsupported_operator_names_the_node(tmp_path):
    path = quantized(conv_model([helper.make_node("Sigmoid", ["c"], ["y"], name="gate")],
                                output="y"), tmp_path)
    expect_error(path, r"^node gate \(Sigmoid\): operator Sigmoid is not supported$")


def test_unsupported_attribute_names_the_node_and_attribute(tmp_path):
    # onnxruntime refuses unknown attributes too, so the quantized model is edited afterwards.
    path = quantized(conv_model([helper.make_node("MaxPool", ["c"], ["y"], name="pool",
                                                  kernel_shape=[2, 2])], output="y"), tmp_path)
    model = onnx.load(path)
    pool = next(n for n in model.graph.node if n.op_type == "MaxPool")
    pool.attribute.append(helper.make_attribute("unheard_of", 1))
    expect_error(model, r"^node pool \(MaxPool\): attribute 'unheard_of' is not supported$")


def test_microsoft_operators_are_named(tmp_path):
    init = {"w": RNG.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Add", ["c", "c"], ["y"], name="double")]
    path = quantized(float_model(nodes, init, [1, 3, 8, 8]), tmp_path, quant_format="QOperator")
    expect_error(path, r"^node .*\(QLinearAdd\): operator com\.microsoft\.QLinearAdd is not supported")


def test_asymmetric_uint8_weights_are_refused(tmp_path):
    init = {"w": np.abs(RNG.normal(0, 0.3, (4, 3, 3, 3))).astype(np.float32) + 0.1}
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv")]
    path = quantized(float_model(nodes, init, [1, 3, 8, 8]), tmp_path, weight="uint8",
                     activation="uint8", weight_symmetric=False, per_channel=False)
    expect_error(path, r"^node conv \(Conv\): weights minus their zero point do not fit int8")


def test_broadcast_add_is_refused(tmp_path):
    init = {"w": RNG.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32),
            "w2": RNG.normal(0, 0.3, (4, 3, 8, 8)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], name="conv_a"),
             helper.make_node("Conv", ["x", "w2"], ["b"], name="conv_b"),
             helper.make_node("Add", ["a", "b"], ["y"], name="broadcast_add")]
    path = quantized(float_model(nodes, init, [1, 3, 8, 8]), tmp_path)
    expect_error(path, r"^node broadcast_add \(Add\): only same-shape Add is supported")


def test_old_opset_is_refused():
    q = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q")
    graph = helper.make_graph([q], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("q", TensorProto.INT8, [1])],
                              [numpy_helper.from_array(np.float32(1), "s"),
                               numpy_helper.from_array(np.int8(0), "z")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    expect_error(model, r"opset 11 is older than 13")


def test_shift_only_config_refuses_other_scales(tmp_path):
    path = quantized(conv_model([]), tmp_path)
    with pytest.raises(VtaError, match=r"^node conv \(Conv\): requantization scale .* not a power of two"):
        import_onnx(path, alu_mul=False)


def test_unreadable_file(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    expect_error(tmp_path / "junk.onnx", r"junk\.onnx: not a readable ONNX model")


def test_impossible_window_names_the_node(tmp_path):
    path = quantized(conv_model([helper.make_node("MaxPool", ["c"], ["y"], name="pool",
                                                  kernel_shape=[2, 2])], output="y"), tmp_path)
    model = onnx.load(path)
    pool = next(n for n in model.graph.node if n.op_type == "MaxPool")
    del pool.attribute[:]
    pool.attribute.append(helper.make_attribute("kernel_shape", [9, 9]))
    expect_error(model, r"^node pool \(MaxPool\): window of 9 \(dilation 1\) is larger than the "
                        r"padded input$")


def test_missing_input_names_the_node(tmp_path):
    path = quantized(conv_model([]), tmp_path)
    model = onnx.load(path)
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    del conv.input[1:]
    expect_error(model, r"^node conv \(Conv\): malformed \(IndexError")


def test_shift_only_config_refuses_averages_over_other_counts(tmp_path):
    path = quantized(conv_model([helper.make_node("GlobalAveragePool", ["c"], ["y"], name="gap")],
                                output="y"), tmp_path)
    from vta.compiler.quantize import round_scales_to_powers_of_two
    model = onnx.load(path)
    round_scales_to_powers_of_two(model)
    with pytest.raises(VtaError, match=r"^node gap \(GlobalAveragePool\): averaging over 36 "
                                       r"elements is no power-of-two division"):
        import_onnx(model, alu_mul=False)
