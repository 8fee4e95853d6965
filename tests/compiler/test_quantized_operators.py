"""The standard quantized operators: QLinearConv/QLinearMatMul (onnxruntime's QOperator format)
and ConvInteger/MatMulInteger with their float rescaling, against onnxruntime."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from qdq_models import float_model, quantize_with_onnxruntime, steps_apart
from vta.compiler import ir
from vta.compiler.onnx_import import import_onnx

RNG = np.random.default_rng(99)


@pytest.mark.parametrize("activation", ["int8", "uint8"])
@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_qoperator_model(activation, per_channel, tmp_path):
    init = {"c.w": RNG.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32),
            "c.b": RNG.normal(size=8).astype(np.float32),
            "m.w": RNG.normal(0, 0.05, (8 * 4 * 4, 6)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "c.w", "c.b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
             helper.make_node("MatMul", ["f", "m.w"], ["y"], name="matmul")]
    model = float_model(nodes, init, [1, 3, 8, 8])
    samples = RNG.normal(size=(16, 3, 8, 8)).astype(np.float32)
    path = quantize_with_onnxruntime(model, tmp_path, samples, per_channel=per_channel,
                                     activation=activation, quant_format="QOperator")
    ops = {node.op_type for node in __import__("onnx").load(path).graph.node}
    assert {"QLinearConv", "QLinearMatMul"} <= ops
    graph = import_onnx(path)
    assert [type(n) for n in graph.nodes] == [ir.Quantize, ir.Conv2d, ir.MaxPool, ir.Reshape,
                                             ir.Dense, ir.Dequantize]
    for _ in range(3):
        apart = steps_apart(graph, path, RNG.normal(size=(1, 3, 8, 8)).astype(np.float32),
                            optimized=True)
        assert max(isolated for _, isolated in apart.values()) <= 1


def integer_model(x_type, per_channel: bool):
    """(onnxruntime's ConvInteger takes one weight zero point; per-channel scales live in the Mul.)
    x → QuantizeLinear → ConvInteger → Cast → Mul(scale) → Add(bias) → Relu → QuantizeLinear
    → DequantizeLinear → Flatten → QuantizeLinear → MatMulInteger → Cast → Mul → Q → DQ → y."""
    np_type = np.uint8 if x_type == TensorProto.UINT8 else np.int8
    x_zero = np.array(3 if np_type is np.uint8 else -5, np_type)
    w = RNG.integers(-127, 128, (4, 2, 3, 3)).astype(np.int8)
    w_scale = (RNG.uniform(0.001, 0.01, 4) if per_channel else np.full(4, 0.004)).astype(np.float32)
    x_scale = np.float32(0.02)
    m = RNG.integers(-127, 128, (4 * 3 * 3, 5)).astype(np.int8)
    init = {
        "xs": x_scale, "xz": x_zero, "w": w, "wz": np.int8(0),
        "rescale": (x_scale * w_scale).reshape(1, 4, 1, 1), "bias": RNG.normal(0, 0.1, (1, 4, 1, 1)).astype(np.float32),
        "hs": np.float32(0.01), "hz": np.array(-128 if np_type is np.int8 else 0, np_type),
        "m": m, "mz": np.int8(0), "mrescale": np.float32(0.01 * 0.003), "ys": np.float32(0.05),
        "yz": np.array(0 if np_type is np.int8 else 128, np_type),
    }
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"], name="quantize_x"),
        helper.make_node("ConvInteger", ["xq", "w", "xz", "wz"], ["acc"], name="conv_integer",
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Cast", ["acc"], ["accf"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Mul", ["accf", "rescale"], ["scaled"], name="rescale_conv"),
        helper.make_node("Add", ["scaled", "bias"], ["biased"], name="bias"),
        helper.make_node("Relu", ["biased"], ["h"], name="relu"),
        helper.make_node("QuantizeLinear", ["h", "hs", "hz"], ["hq"], name="quantize_h"),
        helper.make_node("Flatten", ["hq"], ["hflat"], name="flatten"),
        helper.make_node("MatMulInteger", ["hflat", "m", "hz", "mz"], ["macc"], name="matmul_integer"),
        helper.make_node("Cast", ["macc"], ["maccf"], name="cast2", to=TensorProto.FLOAT),
        helper.make_node("Mul", ["maccf", "mrescale"], ["yf"], name="rescale_matmul"),
        helper.make_node("QuantizeLinear", ["yf", "ys", "yz"], ["yq"], name="quantize_y"),
        helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"], name="dequantize_y"),
    ]
    graph = helper.make_graph(nodes, "integer", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in init.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("x_type", [TensorProto.INT8, TensorProto.UINT8], ids=["int8", "uint8"])
@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_conv_integer_and_matmul_integer(x_type, per_channel, tmp_path):
    import onnx
    path = tmp_path / "integer.onnx"
    onnx.save(integer_model(x_type, per_channel), path)
    graph = import_onnx(path)
    assert [type(n) for n in graph.nodes] == [ir.Quantize, ir.Conv2d, ir.Reshape, ir.Dense,
                                             ir.Dequantize]
    for _ in range(3):
        x = RNG.normal(size=(1, 2, 6, 6)).astype(np.float32)
        apart = steps_apart(graph, path, x)
        assert apart and max(isolated for _, isolated in apart.values()) <= 1


@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=["int8", "uint8"])
def test_integer_graph_input_and_output_run_on_vta(dtype, tmp_path):
    """x (int8/uint8) → DequantizeLinear → Conv → QuantizeLinear → y (int8/uint8): the graph's
    own tensors are integers; the convolution runs on VTA between them."""
    import onnx
    import onnxruntime
    from vta.compiler import reference
    from vta.compiler.build import compile_graph
    from vta.compiler.executor import Executor
    from vta.isa import Config
    element = TensorProto.INT8 if dtype is np.int8 else TensorProto.UINT8
    zero = np.array(-3 if dtype is np.int8 else 125, dtype)
    init = {"xs": np.float32(0.04), "xz": zero, "w": RNG.integers(-127, 128, (6, 3, 3, 3)).astype(
        np.int8), "ws": np.float32(0.01), "wz": np.int8(0), "ys": np.float32(0.2),
        "yz": np.array(7 if dtype is np.int8 else 131, dtype)}
    nodes = [helper.make_node("DequantizeLinear", ["x", "xs", "xz"], ["xf"], name="dq_x"),
             helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wf"], name="dq_w"),
             helper.make_node("Conv", ["xf", "wf"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("QuantizeLinear", ["c", "ys", "yz"], ["y"], name="q_y")]
    graph = helper.make_graph(nodes, "integer_io", [helper.make_tensor_value_info(
        "x", element, [1, 3, 6, 6])], [helper.make_tensor_value_info("y", element, [1, 6, 6, 6])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in init.items()])
    path = tmp_path / "integer_io.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    imported = import_onnx(path)
    model = compile_graph(imported, Config.preset("pynq"))
    assert {n["name"]: n["placement"] for n in model.nodes}["conv"] == "vta"
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    executor = Executor(model)
    for _ in range(3):
        x = RNG.integers(np.iinfo(dtype).min, np.iinfo(dtype).max + 1, (1, 3, 6, 6)).astype(dtype)
        got = executor.run({"x": x}).outputs["y"]
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, reference.run(imported, {"x": x})["y"])
        theirs = session.run(None, {"x": x})[0]
        assert np.abs(got.astype(int) - theirs.astype(int)).max() <= 1
