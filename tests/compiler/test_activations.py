"""LeakyRelu, PRelu (constant slopes), HardSigmoid and HardSwish between a DequantizeLinear and
a QuantizeLinear run on the VTA ALU (`compiler/activations.py`): the program gives ONNX's int8
output, evaluated exactly (float64), for every one of the 256 inputs, the compiled layer is
bit-exact with the reference on VTA, and the model stays within a step of onnxruntime."""

import numpy as np
import pytest
from onnx import helper

from backend_graphs import run_both
from qdq_models import float_model, output_steps, quantize_with_onnxruntime
from vta.compiler import ir, reference
from vta.compiler.activations import Activation, plan_activation
from vta.compiler.alu_program import run_steps
from vta.compiler.compare import exact_values
from vta.compiler.onnx_import import import_onnx
from vta.isa import AluOp, Config

INPUTS = np.arange(-128, 128)


def _numpy_table(f, x_quant, out_quant):
    """ONNX's result computed independently of the host kernels, exactly: dequantize, f and
    quantize (round half to even, saturate) in float64."""
    real = (INPUTS - x_quant.zero_point) * np.float64(np.float32(x_quant.scale))
    out = f(real)
    return np.clip(np.rint(out / np.float64(np.float32(out_quant.scale))) + out_quant.zero_point,
                   -128, 127)


FUNCTIONS = {
    "LeakyRelu": lambda alpha: (lambda v: np.where(v < 0, alpha * v, v)),
    "HardSigmoid": lambda alpha: (lambda v: np.clip(alpha * v + 0.5, 0, 1)),
    "HardSwish": lambda alpha: (lambda v: v * np.clip(v / 6 + 0.5, 0, 1)),
}


@pytest.mark.parametrize("op,alpha", [("LeakyRelu", 0.01), ("LeakyRelu", 0.1),
                                      ("LeakyRelu", 0.2), ("HardSigmoid", 1 / 6),
                                      ("HardSigmoid", 0.2), ("HardSwish", None)])
def test_program_gives_onnx_result_for_every_input(op, alpha):
    """Random input and output quantizations as a calibration would give them: the program's
    result equals ONNX's on all 256 inputs (or the activation goes to the host, never a wrong
    result); most plans succeed."""
    rng = np.random.default_rng(11)
    planned = 0
    f = FUNCTIONS[op](alpha)
    for _ in range(40):
        low, high = sorted(rng.uniform(-12, 12, 2))
        low, high = min(low, -0.5), max(high, 0.5)
        x_quant = ir.Quant(float(np.float32((high - low) / 255)),
                           int(np.clip(np.rint(-128 - low / ((high - low) / 255)), -128, 127)))
        outs = f(np.array([low, high]))
        out_lo, out_hi = min(outs.min(), 0.0), max(outs.max(), 1e-3)
        out_quant = ir.Quant(float(np.float32((out_hi - out_lo) / 255)),
                             int(np.clip(np.rint(-128 - out_lo / ((out_hi - out_lo) / 255)),
                                         -128, 127)))
        slopes = None if alpha is None else ((alpha, 1.0) if op == "LeakyRelu" else (alpha, alpha))
        slopes = slopes and tuple(np.float64(s) for s in slopes)
        spec = Activation(op, slopes, f)
        try:
            requant = plan_activation(spec, x_quant, out_quant, -128, 127, (-128, 127), (),
                                      "node test")
        except Exception:                   # noqa: BLE001 - counted below
            continue
        planned += 1
        got = run_steps(requant.steps, INPUTS - x_quant.zero_point)
        np.testing.assert_array_equal(got, _numpy_table(f, x_quant, out_quant))
    assert planned >= 36


def test_per_channel_slopes():
    rng = np.random.default_rng(2)
    slopes = rng.normal(0, 0.5, (6, 1, 1))
    x_quant, out_quant = ir.Quant(0.0513, 3), ir.Quant(0.0417, -20)   # no exact ties
    spec = Activation("PRelu", (slopes, np.ones_like(slopes)),
                      lambda real: np.where(real < 0, slopes * real, real))
    requant = plan_activation(spec, x_quant, out_quant, -128, 127, (-128, 127), (6, 1, 1), "n")
    got = run_steps(requant.steps, (INPUTS - 3).reshape(-1, 1, 1, 1) + np.zeros((1, 6, 1, 1),
                                                                                 np.int64))
    for channel in range(6):
        f = (lambda s: (lambda v: np.where(v < 0, s * v, v)))(slopes[channel, 0, 0])
        np.testing.assert_array_equal(got[:, channel, 0, 0], _numpy_table(f, x_quant, out_quant))


def _model(rng, node, extra=None, opset=13):
    """Conv → the activation → 1×1 Conv (so that quantize_static quantizes the activation's
    output even where it does not quantize the operator itself)."""
    node.output[0] = "a"
    init = {"w": rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32),
            "w2": rng.normal(0, 0.3, (8, 8, 1, 1)).astype(np.float32)} | (extra or {})
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]), node,
             helper.make_node("Conv", ["a", "w2"], ["y"], name="conv2")]
    return float_model(nodes, init, [1, 3, 8, 8], opset=opset)


EXPORTS = {
    "leaky-relu-torch": (lambda rng: helper.make_node("LeakyRelu", ["c"], ["y"], name="act"),
                         None, 13),
    "leaky-relu-0.1": (lambda rng: helper.make_node("LeakyRelu", ["c"], ["y"], name="act",
                                                    alpha=0.1), None, 17),
    "hardsigmoid-torch": (lambda rng: helper.make_node("HardSigmoid", ["c"], ["y"], name="act",
                                                       alpha=1 / 6), None, 13),
    "hardsigmoid-default": (lambda rng: helper.make_node("HardSigmoid", ["c"], ["y"], name="act"),
                            None, 13),
    "hardswish": (lambda rng: helper.make_node("HardSwish", ["c"], ["y"], name="act"), None, 14),
    "prelu-one": (lambda rng: helper.make_node("PRelu", ["c", "s"], ["y"], name="act"),
                  {"s": np.array([0.25], np.float32)}, 13),
    "prelu-channels": (lambda rng: helper.make_node("PRelu", ["c", "s"], ["y"], name="act"),
                       {"s": np.random.default_rng(4).normal(0, 0.5, (8, 1, 1))
                        .astype(np.float32)}, 13),
}


@pytest.mark.parametrize("case", EXPORTS)
def test_activation_runs_on_vta_bit_exact_and_near_onnxruntime(case, tmp_path):
    rng = np.random.default_rng(sorted(EXPORTS).index(case))
    make, extra, opset = EXPORTS[case]
    path = quantize_with_onnxruntime(_model(rng, make(rng), extra, opset), tmp_path,
                                     rng.normal(size=(8, 3, 8, 8)).astype(np.float32))
    graph = import_onnx(path)
    node = next(n for n in graph.nodes if n.name == "act")
    assert isinstance(node, ir.Requantization) and "act" not in graph.host_reasons
    for _ in range(2):
        assert output_steps(graph, path, rng.normal(size=(1, 3, 8, 8)).astype(np.float32)) <= 1
    feeds = {"x": rng.normal(size=(1, 3, 8, 8)).astype(np.float32)}
    exact = exact_values(path, graph, feeds)            # the QDQ graph in float64
    ours = reference.run(graph, feeds)
    for name in exact:
        np.testing.assert_array_equal(ours[name], exact[name], name)
    got, expected, model, _ = run_both(graph, feeds)
    assert {n["name"]: n["placement"] for n in model.nodes}["act"] == "vta"
    for name in got:
        np.testing.assert_array_equal(got[name], expected[name])


def _gate_model(rng):
    """Squeeze-excite: x (1×16×6×6) times a gate (1×16×1×1: average pool, 1×1 convolution,
    HardSigmoid) broadcast over its positions."""
    init = {"w": rng.normal(0, 0.3, (16, 3, 3, 3)).astype(np.float32),
            "s.w": rng.normal(0, 0.3, (16, 16, 1, 1)).astype(np.float32),
            "w2": rng.normal(0, 0.3, (8, 16, 1, 1)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c"], ["g"], name="pool"),
             helper.make_node("Conv", ["g", "s.w"], ["s"], name="squeeze"),
             helper.make_node("HardSigmoid", ["s"], ["h"], name="act", alpha=1 / 6),
             helper.make_node("Mul", ["c", "h"], ["a"], name="mul"),
             helper.make_node("Conv", ["a", "w2"], ["y"], name="conv2")]
    return float_model(nodes, init, [1, 3, 6, 6])


@pytest.mark.parametrize("backend", ["functional", "rtl"])
def test_squeeze_excite_gate_runs_on_vta(backend, tmp_path):
    """The gate's one position per channel is read at every position of x (a GEMM copy with
    source stride 0), then the vector MUL: bit-exact with the reference, on RTL too."""
    rng = np.random.default_rng(30)
    path = quantize_with_onnxruntime(_gate_model(rng), tmp_path,
                                     rng.normal(size=(8, 3, 6, 6)).astype(np.float32))
    graph = import_onnx(path)
    assert output_steps(graph, path, rng.normal(size=(1, 3, 6, 6)).astype(np.float32)) <= 1
    got, expected, model, _ = run_both(graph, {"x": rng.normal(size=(1, 3, 6, 6))
                                               .astype(np.float32)}, backend=backend)
    placed = {n["name"]: (n["operator"], n["placement"]) for n in model.nodes}
    assert placed["mul"] == ("Mul", "vta") and placed["act"] == ("HardSigmoid", "vta")
    for name in got:
        np.testing.assert_array_equal(got[name], expected[name])


PRODUCTS = {
    "hardswish-opset13": [helper.make_node("HardSigmoid", ["c"], ["h"], name="act", alpha=1 / 6),
                          helper.make_node("Mul", ["c", "h"], ["a"], name="mul")],
    "silu": [helper.make_node("Sigmoid", ["c"], ["h"], name="act"),
             helper.make_node("Mul", ["c", "h"], ["a"], name="mul")],
    "square": [helper.make_node("Mul", ["c", "c"], ["a"], name="mul")],
}


@pytest.mark.parametrize("case", PRODUCTS)
def test_product_of_two_activations_runs_on_vta(case, tmp_path):
    """A same-shape Mul of two dequantized tensors (x·HardSigmoid(x), x·Sigmoid(x) with the
    Sigmoid on the host, x·x) is a vector MUL on the ALU and a requantization."""
    rng = np.random.default_rng(20 + sorted(PRODUCTS).index(case))
    init = {"w": rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32),
            "w2": rng.normal(0, 0.3, (8, 8, 1, 1)).astype(np.float32)}
    nodes = ([helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1])]
             + PRODUCTS[case] + [helper.make_node("Conv", ["a", "w2"], ["y"], name="conv2")])
    path = quantize_with_onnxruntime(float_model(nodes, init, [1, 3, 8, 8]), tmp_path,
                                     rng.normal(size=(8, 3, 8, 8)).astype(np.float32))
    graph = import_onnx(path)
    mul = next(n for n in graph.nodes if n.name == "mul")
    assert isinstance(mul, ir.Add) and mul.product
    for _ in range(2):
        assert output_steps(graph, path, rng.normal(size=(1, 3, 8, 8)).astype(np.float32)) <= 1
    got, expected, model, _ = run_both(graph, {"x": rng.normal(size=(1, 3, 8, 8))
                                               .astype(np.float32)})
    placed = {n["name"]: (n["operator"], n["placement"]) for n in model.nodes}
    assert placed["mul"] == ("Mul", "vta")
    for name in got:
        np.testing.assert_array_equal(got[name], expected[name])


AFFINE = {
    "add-scalar": ("Add", ["c", "k"], np.array(0.7, np.float32)),
    "constant-minus-x": ("Sub", ["k", "c"], np.array(0.25, np.float32)),
    "mul-per-channel": ("Mul", ["c", "k"], np.linspace(-1.5, 2, 8).astype(np.float32)
                        .reshape(8, 1, 1)),
    "div-scalar": ("Div", ["c", "k"], np.array(1.7, np.float32)),
}


@pytest.mark.parametrize("case", AFFINE)
def test_arithmetic_with_a_constant_runs_on_vta(case, tmp_path):
    """x + c, c − x, x·c (per channel, signs mixed), x / c: affine functions of one dequantized
    tensor, planned like the activations."""
    op, inputs, constant = AFFINE[case]
    rng = np.random.default_rng(40 + sorted(AFFINE).index(case))
    path = quantize_with_onnxruntime(
        _model(rng, helper.make_node(op, inputs, ["y"], name="act"), {"k": constant}),
        tmp_path, rng.normal(size=(8, 3, 8, 8)).astype(np.float32))
    graph = import_onnx(path)
    node = next(n for n in graph.nodes if n.name == "act")
    assert isinstance(node, ir.Requantization) and node.activation == op
    for _ in range(2):
        assert output_steps(graph, path, rng.normal(size=(1, 3, 8, 8)).astype(np.float32)) <= 1
    got, expected, model, _ = run_both(graph, {"x": rng.normal(size=(1, 3, 8, 8))
                                               .astype(np.float32)})
    assert {n["name"]: n["placement"] for n in model.nodes}["act"] == "vta"
    for name in got:
        np.testing.assert_array_equal(got[name], expected[name])


@pytest.mark.parametrize("case", ["leaky-relu-0.1", "hardsigmoid-torch", "hardswish",
                                  "add-scalar", "div-scalar"])
def test_activation_without_the_alu_multiply(case, tmp_path):
    """On a config without ALU_MUL an activation's program has no MUL: a shift alone where the
    slope allows it, else the node runs on the host; the model compiles, is bit-exact with the
    reference and within a step of onnxruntime (its MULs used to fail the compile)."""
    if case in EXPORTS:
        make, extra, opset = EXPORTS[case]
        rng = np.random.default_rng(70 + sorted(EXPORTS).index(case))
        node = make(rng)
    else:
        op, inputs, constant = AFFINE[case]
        rng = np.random.default_rng(80 + sorted(AFFINE).index(case))
        node, extra, opset = helper.make_node(op, inputs, ["y"], name="act"), {"k": constant}, 13
    path = quantize_with_onnxruntime(_model(rng, node, extra, opset), tmp_path,
                                     rng.normal(size=(8, 3, 8, 8)).astype(np.float32))
    graph = import_onnx(path, alu_mul=False)
    act = next((n for n in graph.nodes if n.name == "act"), None)
    if isinstance(act, ir.Requantization):
        assert all(step.op != AluOp.MUL for step in act.requant.steps)
    feeds = {"x": rng.normal(size=(1, 3, 8, 8)).astype(np.float32)}
    assert output_steps(graph, path, feeds["x"]) <= 1
    got, expected, _, _ = run_both(graph, feeds, Config.preset("pynq").replace(ALU_MUL=False))
    for name in got:
        np.testing.assert_array_equal(got[name], expected[name])
