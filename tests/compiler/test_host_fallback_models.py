"""Small models of the architectures the VTA path alone refused — squeeze-excite with hard
activations, a U-Net step (transposed convolution, resize, skip concat), attention on 3-D
tokens (LayerNormalization, Softmax, GELU), token embeddings — quantized by onnxruntime,
compiled and run: every value the executor computes (on VTA or the host) bit-exact with the
reference, and the reference's output close to onnxruntime's."""

import numpy as np
import pytest
from onnx import helper

from qdq_models import float_model, quantize_with_onnxruntime
from vta.compiler import artifact, reference
from vta.compiler.build import compile_graph
from vta.compiler.compare import onnxruntime_values
from vta.compiler.executor import Executor
from vta.compiler.onnx_import import import_onnx
from vta.compiler.partition import NO_TILING_FITS
from vta.dse.layers import evaluate_model
from vta.fuzz.configs import CONFIGS
from vta.isa import Config, VtaError

RNG = np.random.default_rng(2024)


def weights(*shape):
    return RNG.normal(0, 1 / np.sqrt(np.prod(shape[1:])), shape).astype(np.float32)


def node(op, inputs, output, **attributes):
    return helper.make_node(op, inputs, [output], name=output, **attributes)


def squeeze_excite():
    init = {"c.w": weights(16, 3, 3, 3), "d.w": weights(16, 1, 3, 3), "s1.w": weights(4, 16, 1, 1),
            "s2.w": weights(16, 4, 1, 1), "p.w": weights(8, 16, 1, 1)}
    nodes = [node("Conv", ["x", "c.w"], "c", pads=[1, 1, 1, 1]), node("HardSwish", ["c"], "h"),
             node("Conv", ["h", "d.w"], "d", group=16, pads=[1, 1, 1, 1]),
             node("GlobalAveragePool", ["d"], "g"), node("Conv", ["g", "s1.w"], "s1"),
             node("Relu", ["s1"], "r"), node("Conv", ["r", "s2.w"], "s2"),
             node("HardSigmoid", ["s2"], "gate", alpha=1 / 6), node("Mul", ["d", "gate"], "m"),
             node("Conv", ["m", "p.w"], "y")]
    return float_model(nodes, init, [1, 3, 12, 12], opset=14), (1, 3, 12, 12)


def unet_step():
    init = {"a.w": weights(8, 3, 3, 3), "b.w": weights(16, 8, 3, 3),
            "t.w": weights(16, 8, 2, 2), "o.w": weights(4, 24, 3, 3),
            "scales": np.array([1, 1, 2, 2], np.float32)}
    nodes = [node("Conv", ["x", "a.w"], "a", pads=[1, 1, 1, 1]), node("Relu", ["a"], "ar"),
             node("MaxPool", ["ar"], "p", kernel_shape=[2, 2], strides=[2, 2]),
             node("Conv", ["p", "b.w"], "b", pads=[1, 1, 1, 1]), node("Relu", ["b"], "br"),
             node("ConvTranspose", ["br", "t.w"], "up", strides=[2, 2]),
             node("Resize", ["br", "", "scales"], "near", mode="nearest"),
             node("Concat", ["up", "near"], "cat", axis=1),
             node("Conv", ["cat", "o.w"], "y", pads=[1, 1, 1, 1])]
    init["o.w"] = weights(4, 24, 3, 3)
    return float_model(nodes, init, [1, 3, 8, 8]), (1, 3, 8, 8)


def attention():
    d = 16
    init = {"q.w": weights(d, d), "k.w": weights(d, d), "v.w": weights(d, d),
            "o.w": weights(d, d), "o.b": np.zeros(d, np.float32),
            "ln.s": np.ones(d, np.float32), "ln.b": np.zeros(d, np.float32),
            "scale": np.array(0.25, np.float32), "half": np.array(0.5, np.float32),
            "one": np.array(1.0, np.float32), "root2": np.array(np.sqrt(2), np.float32)}
    nodes = [node("LayerNormalization", ["x", "ln.s", "ln.b"], "n", axis=-1),
             node("MatMul", ["n", "q.w"], "q"), node("MatMul", ["n", "k.w"], "k"),
             node("MatMul", ["n", "v.w"], "v"), node("Transpose", ["k"], "kt", perm=[0, 2, 1]),
             node("MatMul", ["q", "kt"], "s"), node("Mul", ["s", "scale"], "ss"),
             node("Softmax", ["ss"], "a", axis=-1), node("MatMul", ["a", "v"], "c"),
             node("MatMul", ["c", "o.w"], "o"), node("Add", ["o", "o.b"], "ob"),
             node("Div", ["ob", "root2"], "e0"), node("Erf", ["e0"], "e1"),
             node("Add", ["e1", "one"], "e2"), node("Mul", ["ob", "e2"], "e3"),
             node("Mul", ["e3", "half"], "y")]
    return float_model(nodes, init, [1, 8, d], opset=17), (1, 8, d)


def causal_attention():
    """Decoder self-attention masked as GPT exports have it: Where(causal, −inf, scores). The
    quantizer calibrates the masked scores' range to −inf, so their scale is infinite: every
    quantized score is NaN or ±inf over ∞, and onnxruntime quantizes a NaN to the lowest value."""
    d, t = 16, 8
    init = {"q.w": weights(d, d), "k.w": weights(d, d), "v.w": weights(d, d),
            "o.w": weights(d, d), "scale": np.array(0.25, np.float32),
            "causal": np.triu(np.ones((t, t), bool), 1),
            "minus_inf": np.array(-np.inf, np.float32)}
    nodes = [node("MatMul", ["x", "q.w"], "q"), node("MatMul", ["x", "k.w"], "k"),
             node("MatMul", ["x", "v.w"], "v"), node("Transpose", ["k"], "kt", perm=[0, 2, 1]),
             node("MatMul", ["q", "kt"], "s"), node("Mul", ["s", "scale"], "ss"),
             node("Where", ["causal", "minus_inf", "ss"], "masked"),
             node("Softmax", ["masked"], "a", axis=-1), node("MatMul", ["a", "v"], "c"),
             node("MatMul", ["c", "o.w"], "y")]
    return float_model(nodes, init, [1, t, d], opset=17), (1, t, d)


MODELS = {"squeeze_excite": squeeze_excite, "unet_step": unet_step, "attention": attention,
          "causal_attention": causal_attention}


@pytest.fixture(scope="module", params=sorted(MODELS))
def quantized(request, tmp_path_factory):
    model, shape = MODELS[request.param]()
    samples = RNG.normal(size=(16,) + shape[1:]).astype(np.float32)
    path = quantize_with_onnxruntime(model, tmp_path_factory.mktemp(request.param), samples)
    graph = import_onnx(path)
    return request.param, path, shape, graph, compile_graph(graph, Config.preset("pynq"))


def test_every_value_bit_exact_with_the_reference(quantized):
    _, _, shape, graph, model = quantized
    executor = Executor(model)
    for trial in range(2):
        feeds = {"x": RNG.normal(size=shape).astype(np.float32)}
        result = executor.run(feeds)
        expected = reference.run(graph, feeds)
        for name in graph.values:
            if name not in graph.inputs and (model.values[name]["addr"] is not None
                                             or name in executor.host_values):
                np.testing.assert_array_equal(executor.read(name), expected[name], name)
        np.testing.assert_array_equal(result.outputs["y"], expected["y"])


def test_vtab_round_trip_runs_as_in_memory(quantized, tmp_path):
    """The .vtab loads and runs as the model did in memory (causal attention's infinite scale
    included: its QuantizeLinear and DequantizeLinear stay ONNX nodes on the host)."""
    _, _, shape, _, model = quantized
    artifact.save(model, tmp_path / "model.vtab")
    loaded = artifact.load(tmp_path / "model.vtab")
    feeds = {"x": RNG.normal(size=shape).astype(np.float32)}
    np.testing.assert_array_equal(Executor(loaded).run(feeds).outputs["y"],
                                  Executor(model).run(feeds).outputs["y"])


def test_convolutions_run_on_vta_and_the_rest_on_the_host(quantized):
    name, _, _, graph, model = quantized
    placements = {node["name"]: node["placement"] for node in model.nodes}
    host = {node["operator"] for node in model.nodes if node["placement"] == "host"}
    if name == "squeeze_excite":      # the activations and the gate's Mul on the ALU
        assert placements["h"] == placements["gate"] == placements["m"] == "vta"
        assert host == {"Quantize", "Dequantize"}
    if name == "unet_step":           # nearest ×2 up-sampling on VTA (identity taps)
        assert placements["near"] == "vta"
    # GELU's x/√2 and Erf between a DequantizeLinear and a QuantizeLinear: one table (`tables`)
    assert {"LayerNormalization", "Softmax", "Div+Erf (table)"} <= host or name != "attention"
    assert {"Where", "Softmax"} <= host or name != "causal_attention"
    convolutions = [n.name for n in graph.nodes
                    if type(n).__name__ in ("Conv2d", "ConvTranspose2d", "Dense")]
    assert all(placements[conv] == "vta" for conv in convolutions)
    assert all(node.get("reason") for node in model.nodes if node["placement"] == "host")


def test_output_close_to_onnxruntime(quantized):
    _, path, shape, graph, _ = quantized
    output = graph.producer("y").inputs[0]         # the quantized value the output dequantizes
    worst = 0
    for _ in range(3):
        x = RNG.normal(size=shape).astype(np.float32)
        theirs = onnxruntime_values(path, graph, {"x": x}, optimized=False)[output]
        ours = reference.run(graph, {"x": x})[output]
        worst = max(worst, int(np.abs(ours.astype(int) - theirs.astype(int)).max()))
    assert worst <= 3


@pytest.mark.slow
def test_rtl_bit_exact_with_functional(quantized):
    """Every model's VTA segments on the RTL backend (Verilator) as on the functional one."""
    _, _, shape, _, model = quantized
    feeds = {"x": RNG.normal(size=shape).astype(np.float32)}
    functional = Executor(model).run(feeds).outputs
    rtl = Executor(model, "rtl").run(feeds).outputs
    np.testing.assert_array_equal(rtl["y"], functional["y"])


def test_a_layer_no_tiling_fits_runs_on_the_host(tmp_path):
    """On a config whose WGT holds fewer tiles than a 3×3 convolution has taps (the fuzzer's
    `tiny`), that convolution runs on the host, the 1×1 one after it on VTA, and the model is
    bit-exact with the reference; a design point refuses such a config (the host's work would
    not count in its cycles)."""
    init = {"a.w": weights(16, 16, 3, 3), "b.w": weights(16, 16, 1, 1)}
    nodes = [node("Conv", ["x", "a.w"], "a", pads=[1, 1, 1, 1]), node("Relu", ["a"], "ar"),
             node("Conv", ["ar", "b.w"], "y")]
    samples = RNG.normal(size=(8, 16, 6, 6)).astype(np.float32)
    path = quantize_with_onnxruntime(float_model(nodes, init, [1, 16, 6, 6]), tmp_path, samples)
    graph, config = import_onnx(path), CONFIGS["tiny"]
    model = compile_graph(graph, config)
    placed = {node["name"]: (node["placement"], node.get("reason")) for node in model.nodes}
    assert placed["a"] == ("host", NO_TILING_FITS) and placed["y"][0] == "vta"
    feeds = {"x": RNG.normal(size=(1, 16, 6, 6)).astype(np.float32)}
    np.testing.assert_array_equal(Executor(model).run(feeds).outputs["y"],
                                  reference.run(graph, feeds)["y"])
    with pytest.raises(VtaError, match="layer a: no tiling fits the on-chip buffers"):
        evaluate_model(graph, config, timed=False)
