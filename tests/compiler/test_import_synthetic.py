"""Small synthetic models, quantized by onnxruntime itself, imported and run by the reference:
every node within one quantization step of onnxruntime given the same inputs, and the outputs
close after the whole graph (per-channel and per-tensor, int8 and uint8)."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from onnx import helper

from qdq_models import float_model, output_steps, quantize_with_onnxruntime, steps_apart
from vta.compiler import artifact, ir
from vta.compiler.build import compile_graph
from vta.compiler.onnx_import import import_onnx
from vta.isa import Config

RNG = np.random.default_rng(1234)


def weights(*shape):
    return RNG.normal(0, 1 / np.sqrt(np.prod(shape[1:])), shape).astype(np.float32)


def conv(name, x, *, bias=True, **attrs):
    inputs = [x, f"{name}.w"] + ([f"{name}.b"] if bias else [])
    return helper.make_node("Conv", inputs, [name], name=name, **attrs)


def relu(x):
    return helper.make_node("Relu", [x], [f"{x}.relu"], name=f"{x}.relu")


def case_conv_relu():
    init = {"c.w": weights(8, 3, 3, 3), "c.b": RNG.normal(size=8).astype(np.float32)}
    nodes = [conv("c", "x", pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])]
    return nodes, init, (1, 3, 10, 10)


def case_strided_asymmetric_pads():
    init = {"c.w": weights(6, 4, 3, 3), "c.b": RNG.normal(size=6).astype(np.float32)}
    return [helper.make_node("Conv", ["x", "c.w", "c.b"], ["y"], name="c", pads=[0, 1, 2, 0],
                             strides=[2, 2])], init, (1, 4, 11, 9)


def case_auto_pad_same_upper():
    init = {"c.w": weights(5, 4, 3, 3)}
    return [helper.make_node("Conv", ["x", "c.w"], ["y"], name="c", auto_pad="SAME_UPPER",
                             strides=[2, 2])], init, (1, 4, 10, 7)


def case_grouped_and_dilated():
    init = {"g.w": weights(8, 2, 3, 3), "g.b": np.zeros(8, np.float32), "d.w": weights(8, 8, 3, 3)}
    nodes = [conv("g", "x", group=2, pads=[1, 1, 1, 1]), relu("g"),
             helper.make_node("Conv", ["g.relu", "d.w"], ["y"], name="d", dilations=[2, 2],
                              pads=[2, 2, 2, 2])]
    return nodes, init, (1, 4, 9, 9)


def case_depthwise_relu6():
    init = {"e.w": weights(16, 4, 1, 1), "e.b": np.zeros(16, np.float32),
            "dw.w": weights(16, 1, 3, 3), "dw.b": RNG.normal(size=16).astype(np.float32),
            "lo": np.float32(0), "hi": np.float32(6)}
    nodes = [conv("e", "x"), helper.make_node("Clip", ["e", "lo", "hi"], ["e6"], name="e6"),
             conv("dw", "e6", group=16, strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Clip", ["dw", "lo", "hi"], ["y"], name="dw6")]
    return nodes, init, (1, 4, 12, 12)


def case_residual_add():
    init = {"a.w": weights(8, 8, 3, 3), "a.b": np.zeros(8, np.float32),
            "b.w": weights(8, 8, 1, 1), "b.b": np.zeros(8, np.float32)}
    nodes = [conv("a", "x", pads=[1, 1, 1, 1]), relu("a"), conv("b", "a.relu"),
             helper.make_node("Add", ["b", "x"], ["sum"], name="add"),
             helper.make_node("Relu", ["sum"], ["y"], name="add.relu")]
    return nodes, init, (1, 8, 6, 6)


def case_pools():
    init = {"c.w": weights(4, 3, 3, 3)}
    nodes = [helper.make_node("Conv", ["x", "c.w"], ["c"], name="c"),
             helper.make_node("MaxPool", ["c"], ["m"], name="max", kernel_shape=[3, 3],
                              strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["m"], ["m2"], name="max_ceil", kernel_shape=[2, 2],
                              strides=[2, 2], ceil_mode=1),
             helper.make_node("AveragePool", ["c"], ["a"], name="avg_excl", kernel_shape=[3, 3],
                              strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0),
             helper.make_node("AveragePool", ["c"], ["a2"], name="avg_incl", kernel_shape=[3, 3],
                              strides=[2, 2], pads=[0, 0, 1, 1], count_include_pad=1, ceil_mode=1),
             helper.make_node("Add", ["a", "a2"], ["s"], name="sum_avg"),
             helper.make_node("Concat", ["s", "m"], ["cat"], name="concat", axis=1),
             helper.make_node("GlobalAveragePool", ["m2"], ["y"], name="gap")]
    model_outputs = ["cat"]
    return nodes, init, (1, 3, 17, 15), model_outputs


def case_concat_of_different_scales():
    init = {"a.w": weights(4, 3, 1, 1), "b.w": 5 * weights(6, 3, 3, 3)}
    nodes = [helper.make_node("Conv", ["x", "a.w"], ["a"], name="a"),
             helper.make_node("Conv", ["x", "b.w"], ["b"], name="b", pads=[1, 1, 1, 1]),
             helper.make_node("Concat", ["a", "b"], ["y"], name="concat", axis=1)]
    return nodes, init, (1, 3, 8, 8)


def case_gemm_head():
    init = {"c.w": weights(16, 3, 3, 3), "f.w": weights(10, 16 * 4 * 4).reshape(10, 256),
            "f.b": RNG.normal(size=10).astype(np.float32), "g.w": weights(7, 10).T.copy(),
            "g.b": RNG.normal(size=7).astype(np.float32), "shape": np.array([1, -1], np.int64),
            "m.w": weights(5, 7).T.copy()}
    nodes = [helper.make_node("Conv", ["x", "c.w"], ["c"], name="c", strides=[2, 2], pads=[1, 1, 1, 1]),
             relu("c"),
             helper.make_node("Reshape", ["c.relu", "shape"], ["flat"], name="reshape"),
             helper.make_node("Gemm", ["flat", "f.w", "f.b"], ["f"], name="fc_transB", transB=1),
             relu("f"),
             helper.make_node("Gemm", ["f.relu", "g.w", "g.b"], ["g"], name="fc_alpha_beta",
                              alpha=0.5, beta=2.0),
             helper.make_node("MatMul", ["g", "m.w"], ["y"], name="matmul")]
    return nodes, init, (1, 3, 8, 8)


def case_flatten():
    init = {"c.w": weights(6, 2, 2, 2), "f.w": weights(3, 6 * 3 * 3).reshape(3, 54)}
    nodes = [helper.make_node("Conv", ["x", "c.w"], ["c"], name="c", strides=[2, 2]),
             helper.make_node("Flatten", ["c"], ["flat"], name="flatten", axis=1),
             helper.make_node("Gemm", ["flat", "f.w"], ["y"], name="fc", transB=1)]
    return nodes, init, (1, 2, 6, 6)


def case_token_matmul():
    """MatMul over the features of (batch, tokens, features), a bias Add and a ReLU between."""
    init = {"q.w": weights(20, 12).T.copy(), "q.b": RNG.normal(size=20).astype(np.float32),
            "o.w": weights(7, 20).T.copy()}
    nodes = [helper.make_node("MatMul", ["x", "q.w"], ["q"], name="q"),
             helper.make_node("Add", ["q", "q.b"], ["q.biased"], name="q.bias"),
             relu("q.biased"),
             helper.make_node("MatMul", ["q.biased.relu", "o.w"], ["y"], name="o")]
    return nodes, init, (1, 5, 12)


def case_conv_transpose():
    """A U-Net up-sampling step: stride-2 transposed convolutions (pads and output_shape), ReLU."""
    init = {"u.w": weights(6, 8, 2, 2), "u.b": RNG.normal(size=8).astype(np.float32),
            "v.w": weights(8, 4, 3, 3)}
    nodes = [helper.make_node("ConvTranspose", ["x", "u.w", "u.b"], ["u"], name="u",
                              strides=[2, 2]),
             relu("u"),
             helper.make_node("ConvTranspose", ["u.relu", "v.w"], ["y"], name="v",
                              strides=[2, 2], output_shape=[20, 24])]
    return nodes, init, (1, 6, 5, 6)


CASES = [case_conv_relu, case_strided_asymmetric_pads, case_auto_pad_same_upper,
         case_grouped_and_dilated, case_depthwise_relu6, case_residual_add, case_pools,
         case_concat_of_different_scales, case_gemm_head, case_flatten, case_token_matmul,
         case_conv_transpose]
SETTINGS = {
    "int8-per-channel": dict(per_channel=True),
    "int8-per-tensor": dict(per_channel=False),
    "uint8-activations": dict(per_channel=True, activation="uint8"),
    "uint8-all-per-tensor": dict(per_channel=False, activation="uint8", weight="uint8"),
}


def build(case, settings, tmp_path):
    nodes, init, shape, *extra = case()
    model = float_model(nodes, init, list(shape))
    for name in (extra[0] if extra else []):
        model.graph.output.append(helper.make_tensor_value_info(name, 1, None))
    samples = RNG.normal(size=(16,) + shape[1:]).astype(np.float32)
    path = quantize_with_onnxruntime(model, tmp_path, samples, **settings)
    return path, shape


@pytest.mark.parametrize("settings", SETTINGS.values(), ids=SETTINGS.keys())
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__[5:])
def test_layers_match_onnxruntime(case, settings, tmp_path):
    path, shape = build(case, settings, tmp_path)
    graph = import_onnx(path)
    for trial in range(3):
        x = RNG.normal(size=shape).astype(np.float32) * (1 + trial)
        apart = steps_apart(graph, path, x)
        assert apart, "no layer to compare"
        worst = {value: isolated for value, (_, isolated) in apart.items() if isolated > 1}
        assert not worst, f"nodes more than one step from onnxruntime: {worst}"
        assert output_steps(graph, path, x) <= 3


def test_uint8_values_are_stored_shifted_to_int8(tmp_path):
    path, _ = build(case_conv_relu, SETTINGS["uint8-activations"], tmp_path)
    graph = import_onnx(path)
    quantize = next(node for node in graph.nodes if isinstance(node, ir.Quantize))
    assert quantize.inputs[0] == graph.inputs[0]
    value = graph.values[quantize.output]
    assert value.onnx_dtype == "uint8"
    assert np.array_equal(value.from_onnx(np.array([0, 128, 255], np.uint8)), [-128, 0, 127])


def test_relu_after_quantize_static_is_the_saturation_at_the_zero_point(tmp_path):
    path, _ = build(case_conv_relu, SETTINGS["int8-per-channel"], tmp_path)
    graph = import_onnx(path)
    conv_node = next(node for node in graph.nodes if isinstance(node, ir.Conv2d))
    assert graph.values[conv_node.output].quant.zero_point == -128


class CountingExecutor(ThreadPoolExecutor):
    """An executor that counts the tasks given to it."""

    submitted = 0

    def submit(self, *args, **kwargs):
        self.submitted += 1
        return super().submit(*args, **kwargs)


@pytest.mark.parametrize("alu_mul", [True, False], ids=["multiply", "shifts-only"])
def test_plans_computed_in_an_executor_give_the_plain_import(alu_mul, tmp_path):
    """The requantization plans computed in an executor while the walk goes on give the same
    model, byte for byte, and the same notices; without the ALU multiply a plan fails (the
    scale is no power of two), its layer runs on the host as in the plain import."""
    path, _ = build(case_residual_add, SETTINGS["int8-per-channel"], tmp_path)
    config = Config.preset("pynq").replace(ALU_MUL=alu_mul)
    plain = import_onnx(path, alu_mul=alu_mul)
    with CountingExecutor(2) as executor:
        pooled = import_onnx(path, alu_mul=alu_mul, executor=executor)
    assert executor.submitted >= 3         # both convolutions and the residual add
    assert pooled.notices == plain.notices
    on_host = [node for node in pooled.nodes if isinstance(node, ir.HostOp)]
    assert bool(on_host) is not alu_mul
    assert (artifact.to_bytes(compile_graph(pooled, config))
            == artifact.to_bytes(compile_graph(plain, config)))


def test_plans_no_worker_took_are_computed_by_the_importer(tmp_path):
    """Where the executor's workers are busy (still starting, on a board of two cores) when the
    walk ends, the importer computes the plans none has taken itself: the same model, and no
    plan is left to the executor."""
    import threading

    path, _ = build(case_residual_add, SETTINGS["int8-per-channel"], tmp_path)
    plain = import_onnx(path, alu_mul=True)
    ran = []
    release = threading.Event()
    # the only worker is busy meanwhile (for 20 s at most: an importer that waited for it
    # gets its plans then, computed there, and fails below rather than hangs)
    timer = threading.Timer(20, release.set)
    timer.start()
    with CountingExecutor(1) as executor:
        executor.submit(release.wait)
        original = executor.submit

        def submit(function, *args, **kwargs):
            return original(lambda: ran.append(function) or function(*args, **kwargs))

        executor.submit = submit
        try:
            shared = import_onnx(path, alu_mul=True, executor=executor)
        finally:
            timer.cancel()
            release.set()
    assert executor.submitted >= 4 and not ran      # the busy task, two convolutions, the add
    config = Config.preset("pynq")
    assert (artifact.to_bytes(compile_graph(shared, config))
            == artifact.to_bytes(compile_graph(plain, config)))


def test_power_of_two_model_needs_no_multiply(tmp_path):
    from vta.compiler.quantize import round_scales_to_powers_of_two
    import onnx
    path, shape = build(case_residual_add, SETTINGS["int8-per-channel"], tmp_path)
    model = onnx.load(path)
    round_scales_to_powers_of_two(model)
    onnx.save(model, tmp_path / "pow2.onnx")
    graph = import_onnx(tmp_path / "pow2.onnx", alu_mul=False)
    steps = [s for node in graph.nodes if hasattr(node, "requant") for s in node.requant.steps]
    assert steps and all(s.op.name != "MUL" for s in steps)
    x = RNG.normal(size=shape).astype(np.float32)
    apart = steps_apart(graph, tmp_path / "pow2.onnx", x)
    assert max(isolated for _, isolated in apart.values()) <= 1


def test_constant_channels_get_zero_weights_and_keep_their_outputs(tmp_path):
    """A channel with tiny weights and a large bias (onnxruntime clips its int32 bias) outputs one
    value for every input; the importer rewrites it so it cannot lengthen the requantization."""
    w = weights(6, 3, 3, 3)
    w[2] *= 1e-6                                             # dead channel, saturating low
    w[4] *= 1e-6                                             # dead channel, constant inside
    bias = np.zeros(6, np.float32)
    bias[2], bias[4] = -50.0, 0.3
    nodes = [helper.make_node("Conv", ["x", "c.w", "c.b"], ["y"], name="c", pads=[1, 1, 1, 1])]
    model = float_model(nodes, {"c.w": w, "c.b": bias}, [1, 3, 8, 8])
    samples = RNG.normal(size=(16, 3, 8, 8)).astype(np.float32)
    path = quantize_with_onnxruntime(model, tmp_path, samples)
    graph = import_onnx(path)
    conv_node = next(node for node in graph.nodes if isinstance(node, ir.Conv2d))
    assert not conv_node.weight[2].any() and not conv_node.weight[4].any()
    assert conv_node.weight[[0, 1, 3, 5]].any(axis=(1, 2, 3)).all()
    assert max(abs(step.operand).max() for step in conv_node.requant.steps if step.op.name == "SHR") <= 15
    for _ in range(3):
        apart = steps_apart(graph, path, RNG.normal(size=(1, 3, 8, 8)).astype(np.float32) * 3)
        assert max(isolated for _, isolated in apart.values()) <= 1


def test_constant_channel_saturating_where_no_bias_reaches_the_value():
    """A channel whose huge bias saturates it at 127 for every input, in a layer whose typical
    multiplier is above 1 (9.076: a bias of 25 gives 124, of 26 gives 133): its rewritten bias
    saturates (26), so the channel still outputs 127 — the exact evaluation, on VTA and in the
    reference. The nearest bias (25) made it 124."""
    from onnx import TensorProto, numpy_helper
    from vta.compiler import reference
    from backend_graphs import run_both
    rng = np.random.default_rng(325)
    sx, sw, sy, zy = 0.25, np.full(4, 0.5, np.float32), np.float32(0.125 / 9.076), -103
    w = rng.integers(-3, 4, (16, 4)).astype(np.int8)
    bias = np.array([0, 100000, 0, -50], np.int32)
    init = {"sx": np.float32(sx), "zx": np.int8(0), "w": w, "sw": sw, "zw": np.zeros(4, np.int8),
            "b": bias, "sb": (np.float32(sx) * sw).astype(np.float32),
            "zb": np.zeros(4, np.int32), "sy": sy, "zy": np.int8(zy)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xd"]),
             helper.make_node("DequantizeLinear", ["w", "sw", "zw"], ["wd"], axis=1),
             helper.make_node("DequantizeLinear", ["b", "sb", "zb"], ["bd"], axis=0),
             helper.make_node("Gemm", ["xd", "wd", "bd"], ["a"], name="dense"),
             helper.make_node("QuantizeLinear", ["a", "sy", "zy"], ["yq"]),
             helper.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                         [1, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in init.items()])
    imported = import_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    xq = rng.integers(-128, 128, (1, 16))
    feeds = {"x": (xq * sx).astype(np.float32)}
    acc = xq @ w.astype(np.int64) + bias
    exact = np.clip(np.floor(acc * (sx * sw.astype(np.float64)) / np.float64(sy) + 0.5) + zy,
                    -128, 127)
    assert exact[0, 1] == 127
    quantized = imported.producer("y").inputs[0]
    np.testing.assert_array_equal(reference.run(imported, feeds)[quantized], exact)
    got, expected, _, _ = run_both(imported, feeds)
    np.testing.assert_array_equal(got["y"], expected["y"])


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_integer_graph_input_and_output_at_narrow_widths(dtype):
    """A model whose graph input and output are int8/uint8 tensors (DequantizeLinear of the
    input, QuantizeLinear into the output) on a 4-bit config: those integers are the model's
    8-bit ones, so the reading and the writing node run on the host and the output is
    onnxruntime's (within a step), bit-exact with the reference. The integers were reinterpreted
    as 4-bit operands (inputs wrapped, outputs 17 times too small)."""
    import onnxruntime
    from onnx import TensorProto, numpy_helper
    from backend_graphs import run_both
    from vta.fuzz.configs import CONFIGS
    rng = np.random.default_rng(8)
    element, npt = ((TensorProto.INT8, np.int8) if dtype == "int8" else
                    (TensorProto.UINT8, np.uint8))
    zero = npt(3 if dtype == "int8" else 131)
    init = {"xs": np.float32(0.05), "xz": zero, "w": weights(8, 3, 3, 3),
            "ys": np.float32(0.1), "yz": zero}
    nodes = [helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["x"]),
             helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("QuantizeLinear", ["c", "ys", "yz"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("xq", element,
                                                                         [1, 3, 6, 6])],
                              [helper.make_tensor_value_info("y", element, [1, 8, 6, 6])],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in init.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    config = CONFIGS["int4"]
    imported = import_onnx(model, widths=(config.inp_width, config.wgt_width))
    feeds = {"xq": rng.integers(np.iinfo(npt).min, np.iinfo(npt).max + 1, (1, 3, 6, 6))
             .astype(npt)}
    got, expected, _, _ = run_both(imported, feeds, config)
    np.testing.assert_array_equal(got["y"], expected["y"])
    options = onnxruntime.SessionOptions()     # each operator as ONNX defines it
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    theirs = onnxruntime.InferenceSession(model.SerializeToString(), options).run(None, feeds)[0]
    assert got["y"].dtype == theirs.dtype
    assert np.abs(got["y"].astype(int) - theirs.astype(int)).max() <= 1
