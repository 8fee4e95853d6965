"""What the importer refuses — one-line errors that name the node (or the model) — and what it
sends to the host instead of refusing, with the reason the placement report shows."""

import re
import zlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qdq_models import float_model, output_steps, quantize_with_onnxruntime
from vta.compiler import ir
from vta.compiler.onnx_import import import_onnx
from vta.isa import VtaError

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def _own_random_stream(request):
    """Each test draws its weights and inputs from its own stream (seeded by its name), not from
    wherever the tests that ran before it in the same worker left a shared one: the data, and
    so the result, do not depend on the order or the distribution of the tests."""
    global RNG
    RNG = np.random.default_rng([7, zlib.crc32(request.node.name.encode())])
    yield


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


def on_host(graph, name):
    """The host node `name` and the reason it is there."""
    node = next(node for node in graph.nodes if node.name == name)
    assert isinstance(node, ir.HostOp), f"{name} is a {type(node).__name__}"
    return node, graph.host_reasons[name]


def close_to_onnxruntime(graph, path, shape=(1, 3, 8, 8)):
    for _ in range(3):
        assert output_steps(graph, path, RNG.normal(size=shape).astype(np.float32)) <= 1


def test_float_model_runs_on_the_host_with_a_notice(tmp_path):
    onnx.save(conv_model([]), tmp_path / "float.onnx")
    graph = import_onnx(tmp_path / "float.onnx")
    assert [node.op_type for node in graph.nodes] == ["Conv"]
    assert any(re.search(r"float model .*`vta quantize MODEL\.onnx --calibrate", notice)
               for notice in graph.notices)


def test_operator_without_vta_layer_runs_on_the_host(tmp_path):
    path = quantized(conv_model([helper.make_node("Softmax", ["c"], ["y"], name="gate")],
                                output="y"), tmp_path)
    graph = import_onnx(path)
    _, reason = on_host(graph, "gate")
    assert reason == "Softmax has no VTA layer"
    close_to_onnxruntime(graph, path)


def test_unknown_attribute_names_the_node_and_attribute(tmp_path):
    # onnxruntime refuses unknown attributes too, so the quantized model is edited afterwards.
    path = quantized(conv_model([helper.make_node("MaxPool", ["c"], ["y"], name="pool",
                                                  kernel_shape=[2, 2])], output="y"), tmp_path)
    model = onnx.load(path)
    pool = next(n for n in model.graph.node if n.op_type == "MaxPool")
    pool.attribute.append(helper.make_attribute("unheard_of", 1))
    expect_error(model, r"^node pool \(MaxPool\): attribute 'unheard_of' is not an attribute of "
                        r"MaxPool \(opset 13\)$")


def test_microsoft_operators_are_named(tmp_path):
    init = {"w": RNG.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Add", ["c", "c"], ["y"], name="double")]
    path = quantized(float_model(nodes, init, [1, 3, 8, 8]), tmp_path, quant_format="QOperator")
    expect_error(path, r"^node .*\(QLinearAdd\): operator com\.microsoft\.QLinearAdd is not "
                       r"supported: domain 'com\.microsoft' is not ONNX's standard domain, and no "
                       r"engine here runs it \(onnxruntime's QOperator format writes it: quantize "
                       r"with quant_format=QuantFormat\.QDQ, whose operators are all standard\)$")


def test_broadcast_add_runs_on_the_host(tmp_path):
    init = {"w": RNG.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32),
            "w2": RNG.normal(0, 0.3, (4, 3, 8, 8)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], name="conv_a"),
             helper.make_node("Conv", ["x", "w2"], ["b"], name="conv_b"),
             helper.make_node("Add", ["a", "b"], ["y"], name="broadcast_add")]
    path = quantized(float_model(nodes, init, [1, 3, 8, 8]), tmp_path)
    graph = import_onnx(path)
    _, reason = on_host(graph, "broadcast_add")
    assert reason.startswith("only same-shape Add is supported")
    close_to_onnxruntime(graph, path)


def test_old_opset_is_converted():
    q = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q")
    dq = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq")
    graph = helper.make_graph([q, dq], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [numpy_helper.from_array(np.float32(0.5), "s"),
                               numpy_helper.from_array(np.int8(3), "z")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 10)])
    imported = import_onnx(model)
    assert any("converted from opset 10 to 13" in notice for notice in imported.notices)
    from vta.compiler import reference
    x = np.array([[-1.0, 0.2, 0.75, 70.0]], np.float32)
    expected = (np.clip(np.rint(x / 0.5) + 3, -128, 127) - 3) * 0.5
    np.testing.assert_array_equal(reference.run(imported, {"x": x})["y"], expected)


def test_shift_only_config_runs_other_scales_on_the_host(tmp_path):
    path = quantized(conv_model([]), tmp_path)
    graph = import_onnx(path, alu_mul=False)
    _, reason = on_host(graph, "conv")
    assert re.search(r"requantization scale .* not a power of two", reason), reason
    close_to_onnxruntime(graph, path)


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
    expect_error(model, r"^node pool \(MaxPool\): window of 9 \(dilation 1\) is larger "
                        r"than the padded input \(6 \+ 0 \+ 0\)$")


def test_missing_input_names_the_node(tmp_path):
    path = quantized(conv_model([]), tmp_path)
    model = onnx.load(path)
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    del conv.input[1:]
    expect_error(model, r"^node conv \(Conv\): Conv takes 2 to 3 inputs, not 1$")


def test_shift_only_config_averages_other_counts_on_the_host(tmp_path):
    path = quantized(conv_model([helper.make_node("GlobalAveragePool", ["c"], ["y"], name="gap")],
                                output="y"), tmp_path)
    from vta.compiler.quantize import round_scales_to_powers_of_two
    model = onnx.load(path)
    round_scales_to_powers_of_two(model)
    graph = import_onnx(model, alu_mul=False)
    _, reason = on_host(graph, "gap")
    assert re.search(r"averaging over 36 elements is no power-of-two division", reason), reason
