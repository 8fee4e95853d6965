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


@pytest.mark.parametrize("opset,nodes,scales", [
    (10, [("Resize", {"mode": "nearest"})], [1, 1, 2, 3]),
    (10, [("Resize", {"mode": "nearest"})], [1, 1, 0.45, 0.7]),       # shrinking: rounded up
    (10, [("Resize", {"mode": "nearest"})], [1, 1, 1.7, 0.3]),         # both
    (10, [("Resize", {"mode": "linear"})], [1, 1, 2, 1.5]),
    (9, [("Upsample", {"mode": "linear"})], [1, 1, 2, 2]),
    (10, [("Mul", {}), ("Resize", {"mode": "nearest"})], [1, 1, 1.3, 0.35]),  # computed scales
    (11, [("Hardmax", {"axis": 1})], None),                            # rows flattened at axis
    (12, [("Hardmax", {"axis": 2})], None),
    (9, [("Hardmax", {})], None),
])
def test_old_opset_semantics_survive_the_conversion(opset, nodes, scales):
    """What onnx.version_converter changes silently, as onnxruntime runs the model at its own
    opset: a Resize (or Upsample) before opset 11 maps coordinates as x / scale and rounds a
    nearest one down where it enlarges and up where it shrinks; a Hardmax before opset 13 takes
    the input flattened at `axis`. The converter left opset 11's defaults (half-pixel) and opset
    13's per-axis Hardmax, whose results differed."""
    import onnxruntime
    from vta.compiler import reference
    init = {} if scales is None else {"s": np.array(scales, np.float32)}
    made, current = [], "x"
    for op, attributes in nodes:
        if op == "Mul":                          # scales computed in the graph, not a constant
            init["two"] = np.float32(2)
            made.append(helper.make_node("Mul", ["s", "two"], ["s2"], name="twice"))
            init["s"] = init["s"] / 2
            continue
        inputs = [current] + (["s2" if "two" in init else "s"] if scales is not None else [])
        made.append(helper.make_node(op, inputs, ["y"], name=op.lower(), **attributes))
    model = float_model(made, init, [1, 3, 7, 9], opset=opset)
    model.ir_version = 6
    x = RNG.normal(size=(1, 3, 7, 9)).astype(np.float32)
    theirs = onnxruntime.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(reference.run(import_onnx(model), {"x": x})["y"], theirs,
                               rtol=1e-5, atol=1e-6)


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


# -- models ONNX defines as invalid: refused as onnxruntime refuses them ------------------------
def _tensors(init: dict) -> list:
    return [numpy_helper.from_array(np.asarray(value), name) for name, value in init.items()]


def qdq_conv(**attributes):
    """x → QuantizeLinear → DequantizeLinear → Conv `conv` (int8 weights 5×3×3×3, dequantized)
    → QuantizeLinear → DequantizeLinear on a 1×3×7×5 input: the integer (VTA) path's Conv."""
    init = {"xs": np.float32(0.02), "xz": np.int8(0), "ws": np.float32(0.01),
            "wz": np.int8(0), "ys": np.float32(0.05), "yz": np.int8(0),
            "wq": (np.arange(135).reshape(5, 3, 3, 3) % 17 - 8).astype(np.int8)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"]),
             helper.make_node("Conv", ["xd", "wd"], ["c"], name="conv", **attributes),
             helper.make_node("QuantizeLinear", ["c", "ys", "yz"], ["cq"]),
             helper.make_node("DequantizeLinear", ["cq", "ys", "yz"], ["y"])]
    return float_model(nodes, init, [1, 3, 7, 5])


def qlinear_conv(**attributes):
    """x → QuantizeLinear → QLinearConv `conv` (int8 weights 5×3×3×3) → DequantizeLinear."""
    init = {"xs": np.float32(0.02), "xz": np.int8(0), "ws": np.float32(0.01),
            "wz": np.int8(0), "ys": np.float32(0.05), "yz": np.int8(0),
            "wq": (np.arange(135).reshape(5, 3, 3, 3) % 17 - 8).astype(np.int8)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("QLinearConv", ["xq", "xs", "xz", "wq", "ws", "wz", "ys", "yz"],
                              ["cq"], name="conv", **attributes),
             helper.make_node("DequantizeLinear", ["cq", "ys", "yz"], ["y"])]
    return float_model(nodes, init, [1, 3, 7, 5])


def one_node(op_type, input_shape, init=None, opset=17, **attributes):
    """A float model of the one node `n` (inputs: x, then the initializers `init`)."""
    init = init or {}
    node = helper.make_node(op_type, ["x", *init], ["y"], name="n", **attributes)
    return float_model([node], init, list(input_shape), opset=opset)


def gru(**attributes):
    """A GRU `n` of hidden size 7 on 5 input features (W 1×21×5, R 1×21×7), 4 steps."""
    weights = {"w": np.full((1, 21, 5), 0.1, np.float32), "r": np.full((1, 21, 7), 0.1, np.float32)}
    return one_node("GRU", (4, 1, 5), weights, **attributes)


def duplicate_output():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="a"),
             helper.make_node("Neg", ["x"], ["y"], name="b")]
    return float_model(nodes, {}, [1, 4])


TRANSPOSED = {"w": np.full((3, 4, 2, 2), 0.1, np.float32)}
INVALID = {
    "conv-strides-zero": (lambda: qdq_conv(strides=[0, 1]),
                          r"conv \(Conv\): attribute strides \[0, 1\]: its values must be "
                          r"positive"),
    "conv-float-strides": (lambda: qdq_conv(strides=[1.0, 1.0]),
                           r"conv \(Conv\): attribute strides is of type FLOATS; Conv defines "
                           r"it as INTS"),
    "conv-dilations-zero": (lambda: qdq_conv(dilations=[0, 1]),
                            r"conv \(Conv\): attribute dilations \[0, 1\]: its values must be "
                            r"positive"),
    "conv-dilations-negative": (lambda: qdq_conv(dilations=[-1, 1]),
                                r"conv \(Conv\): attribute dilations \[-1, 1\]: its values "
                                r"must be positive"),
    "conv-kernel-shape": (lambda: qdq_conv(kernel_shape=[5, 5]),
                          r"conv \(Conv\): attribute kernel_shape \[5, 5\] does not match the "
                          r"weights of shape \(5, 3, 3, 3\)"),
    "conv-pads-short": (lambda: qdq_conv(pads=[1, 1]),
                        r"conv \(Conv\): attribute pads \[1, 1\] has 2 values; a 2-D window "
                        r"takes 4"),
    "conv-pads-long": (lambda: qdq_conv(pads=[1] * 6),
                       r"conv \(Conv\): attribute pads \[1, 1, 1, 1, 1, 1\] has 6 values"),
    "conv-pads-negative": (lambda: qdq_conv(pads=[-1, 0, 0, 0]),
                           r"conv \(Conv\): attribute pads \[-1, 0, 0, 0\]: its values must not "
                           r"be negative"),
    "conv-group-zero": (lambda: qdq_conv(group=0),
                        r"conv \(Conv\): attribute group 0 must be positive"),
    "conv-groups-mismatch": (lambda: qdq_conv(group=3),
                             r"conv \(Conv\): 3 input channels do not match weights "
                             r"\(5, 3, 3, 3\) in 3 groups \(attribute group\)"),
    "qlinearconv-kernel-shape": (lambda: qlinear_conv(kernel_shape=[5, 5]),
                                 r"conv \(QLinearConv\): attribute kernel_shape \[5, 5\] does not "
                                 r"match the weights"),
    "qlinearconv-strides-zero": (lambda: qlinear_conv(strides=[0, 1]),
                                 r"conv \(QLinearConv\): attribute strides \[0, 1\]"),
    "maxpool-kernel-zero": (lambda: one_node("MaxPool", (1, 3, 7, 5), kernel_shape=[0, 3]),
                            r"n \(MaxPool\): attribute kernel_shape \[0, 3\]: its values must "
                            r"be positive"),
    "maxpool-pads-kernel": (lambda: one_node("MaxPool", (1, 3, 7, 5), kernel_shape=[3, 3],
                                             pads=[3, 3, 3, 3]),
                            r"n \(MaxPool\): attribute pads \[3, 3, 3, 3\]: each pad must be "
                            r"smaller than the kernel \[3, 3\]"),
    "maxpool-strides-zero": (lambda: one_node("MaxPool", (1, 3, 7, 5), kernel_shape=[3, 3],
                                              strides=[0, 2]),
                             r"n \(MaxPool\): attribute strides \[0, 2\]"),
    "maxpool-dilations-zero": (lambda: one_node("MaxPool", (1, 3, 7, 5), kernel_shape=[3, 3],
                                                dilations=[0, 1]),
                               r"n \(MaxPool\): attribute dilations \[0, 1\]"),
    "averagepool-kernel-zero": (lambda: one_node("AveragePool", (1, 3, 7, 5),
                                                 kernel_shape=[0, 0]),
                                r"n \(AveragePool\): attribute kernel_shape \[0, 0\]"),
    "averagepool-strides-zero": (lambda: one_node("AveragePool", (1, 3, 7, 5),
                                                  kernel_shape=[3, 3], strides=[0, 0]),
                                 r"n \(AveragePool\): attribute strides \[0, 0\]"),
    "convtranspose-group-zero": (lambda: one_node("ConvTranspose", (1, 3, 7, 5), TRANSPOSED,
                                                  group=0),
                                 r"n \(ConvTranspose\): attribute group 0 must be positive"),
    "convtranspose-dilations-zero": (lambda: one_node("ConvTranspose", (1, 3, 7, 5),
                                                      TRANSPOSED, dilations=[0, 1]),
                                     r"n \(ConvTranspose\): attribute dilations \[0, 1\]"),
    "convtranspose-empty": (lambda: one_node("ConvTranspose", (1, 3, 7, 5), TRANSPOSED,
                                             strides=[2, 2], pads=[7, 0, 7, 0]),
                            r"n \(ConvTranspose\): attribute pads \[7, 0, 7, 0\] crop all 14 "
                            r"outputs of axis 0 \(an empty output\)"),
    "convtranspose-output-padding": (lambda: one_node("ConvTranspose", (1, 3, 7, 5),
                                                      TRANSPOSED, strides=[2, 2],
                                                      output_padding=[2, 2]),
                                     r"n \(ConvTranspose\): attribute output_padding \[2, 2\]: "
                                     r"2 on axis 0 is not smaller than the stride or dilation"),
    "convtranspose-output-shape": (lambda: one_node("ConvTranspose", (1, 3, 7, 5), TRANSPOSED,
                                                    strides=[2, 2], output_shape=[16, 10]),
                                   r"n \(ConvTranspose\): attribute output_shape \[16, 10\]: "
                                   r"16 on axis 0 is beyond what the input makes \(at most 15\)"),
    "depthtospace-blocksize-zero": (lambda: one_node("DepthToSpace", (1, 8, 3, 5), blocksize=0),
                                    r"n \(DepthToSpace\): attribute blocksize 0 must be "
                                    r"positive"),
    "depthtospace-blocksize-channels": (lambda: one_node("DepthToSpace", (1, 8, 3, 5),
                                                         blocksize=3),
                                        r"n \(DepthToSpace\): attribute blocksize 3: the 8 "
                                        r"channels are no multiple of 3×3"),
    "concat-axis": (lambda: one_node("Concat", (1, 3, 4), axis=9),
                    r"n \(Concat\): attribute axis 9 is out of range for an input of rank 3 "
                    r"\(-3…2\)"),
    "softmax-axis": (lambda: one_node("Softmax", (1, 3, 4), axis=7),
                     r"n \(Softmax\): attribute axis 7 is out of range"),
    "layernormalization-axis": (lambda: one_node("LayerNormalization", (1, 3, 4),
                                                 {"s": np.ones(4, np.float32)}, axis=5),
                                r"n \(LayerNormalization\): attribute axis 5 is out of range"),
    "flatten-axis": (lambda: one_node("Flatten", (1, 3, 4), axis=-4),
                     r"n \(Flatten\): attribute axis -4 is out of range for an input of rank 3 "
                     r"\(-3…3\)"),
    "squeeze-axes": (lambda: one_node("Squeeze", (1, 3, 4), {"axes": np.array([5])}),
                     r"n \(Squeeze\): input axes: axis 5 is out of range"),
    "transpose-perm": (lambda: one_node("Transpose", (1, 3, 4), perm=[0, 1, 1]),
                       r"n \(Transpose\): attribute perm \[0, 1, 1\] is no permutation"),
    "gru-hidden-size": (lambda: gru(hidden_size=9),
                        r"n \(GRU\): input W of shape \(1, 21, 5\) does not fit: a forward GRU "
                        r"of hidden_size 9 on 5 input features takes \(1, 27, 5\)"),
    "gru-hidden-size-zero": (lambda: gru(hidden_size=0),
                             r"n \(GRU\): attribute hidden_size 0 must be positive"),
    "gru-direction": (lambda: gru(hidden_size=7, direction="sideways"),
                      r"n \(GRU\): attribute direction 'sideways' is not forward, reverse or "
                      r"bidirectional"),
    "duplicate-output": (duplicate_output,
                         r"b \(Neg\): output 'y' is already the output of node a \(Relu\)"),
}


def onnxruntime_refuses(model) -> bool:
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    try:
        session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                               providers=["CPUExecutionProvider"])
        session.run(None, {"x": np.zeros(shape, np.float32)})
    except Exception:  # noqa: BLE001 - onnxruntime's load and run errors alike
        return True
    return False


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_model_is_refused_naming_node_and_attribute(case):
    """ONNX defines the model as invalid and onnxruntime refuses it: the importer refuses it
    too, on either path, with one line naming the node and what is wrong."""
    build, pattern = INVALID[case]
    model = build()
    assert onnxruntime_refuses(model)
    expect_error(model, rf"^node {pattern}")


VALID_EDGES = {     # the limits of the checks above, on the valid side: onnxruntime runs them
    "conv-pads-beyond-kernel": (lambda: qdq_conv(pads=[3, 3, 3, 3]), 0.05),
    "maxpool-pads-below-kernel": (lambda: one_node("MaxPool", (1, 3, 7, 5), kernel_shape=[3, 3],
                                                   pads=[2, 2, 2, 2]), 0),
    "convtranspose-output-padding": (lambda: one_node("ConvTranspose", (1, 3, 7, 5), TRANSPOSED,
                                                      strides=[2, 2], output_padding=[1, 1]),
                                     1e-6),
    "convtranspose-output-shape-within-stride": (
        lambda: one_node("ConvTranspose", (1, 3, 7, 5), TRANSPOSED, strides=[2, 2],
                         output_shape=[15, 10]), 1e-6),
    "flatten-axis-rank": (lambda: one_node("Flatten", (1, 3, 4), axis=3), 0),
}


@pytest.mark.parametrize("case", sorted(VALID_EDGES))
def test_valid_edge_geometry_runs_as_onnxruntime(case):
    import onnxruntime
    from vta.compiler import reference
    build, tolerance = VALID_EDGES[case]
    model = build()
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = RNG.normal(size=shape).astype(np.float32)
    theirs = onnxruntime.InferenceSession(model.SerializeToString(),
                                          providers=["CPUExecutionProvider"]).run(None, {"x": x})
    ours = reference.run(import_onnx(model), {"x": x})["y"]
    np.testing.assert_allclose(ours, theirs[0], rtol=1e-5, atol=tolerance)


def qdq_activation(node, input_shape, scale=np.float32(1 / 255), zero_point=np.int8(-128)):
    """x → QuantizeLinear → DequantizeLinear → `node` (from "xd" to "a") → QuantizeLinear
    (`scale`, `zero_point`) → DequantizeLinear."""
    init = {"xs": np.float32(0.02), "xz": np.int8(0), "ys": scale, "yz": zero_point}
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]), node,
             helper.make_node("QuantizeLinear", ["a", "ys", "yz"], ["aq"]),
             helper.make_node("DequantizeLinear", ["aq", "ys", "yz"], ["y"])]
    return float_model(nodes, init, list(input_shape))


INFINITIES = {
    # no ALU program has an infinite slope: the activation becomes a table on the host
    "hardsigmoid-alpha-inf": lambda: qdq_activation(
        helper.make_node("HardSigmoid", ["xd"], ["a"], name="act", alpha=float("inf")),
        (1, 3, 4, 4)),
    # windows wholly in the padding: the pool's result is -inf and calibration makes its scale
    # infinite; the QuantizeLinear/DequantizeLinear pair stays ONNX nodes on the host
    "scale-inf": lambda: qdq_activation(
        helper.make_node("MaxPool", ["xd"], ["a"], name="pool", kernel_shape=[2, 2],
                         dilations=[2, 2], pads=[1, 1, 1, 1]),
        (1, 3, 1, 1), np.float32(np.inf), np.int8(0)),
}


@pytest.mark.parametrize("case", sorted(INFINITIES))
def test_infinities_compile_to_a_vtab_that_runs_as_onnxruntime(case, tmp_path):
    """Infinite attributes and scales are valid ONNX (onnxruntime runs them): the .vtab holds
    them (none in its JSON header), loads, and gives onnxruntime's output, NaNs included."""
    import onnxruntime
    import vta
    model = INFINITIES[case]()
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = RNG.normal(size=shape).astype(np.float32)
    x.flat[0] = 0.0                     # alpha · 0 is NaN
    vta.save(vta.compile(model, config="pynq"), tmp_path / "model.vtab")
    ours = vta.InferenceSession(tmp_path / "model.vtab").run(None, {"x": x})[0]
    theirs = onnxruntime.InferenceSession(model.SerializeToString(),
                                          providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_array_equal(ours, theirs[0])
