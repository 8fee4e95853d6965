"""Node kinds moved onto VTA from imported (onnxruntime-quantized) models: each is placed on
VTA, the functional backend's values equal the integer reference's bit for bit, and the
reference is within one quantization step of onnxruntime given the same inputs (the other
node kinds' references are checked so in test_import_synthetic.py)."""

import numpy as np
import pytest
from onnx import helper

from qdq_models import float_model, quantize_with_onnxruntime
from test_import_synthetic import case_conv_transpose, case_token_matmul
from test_nonsquare_blocks import TINY_IN16_OUT8
from vta.compiler import ir, reference
from vta.compiler.build import compile_graph
from vta.compiler.compare import onnxruntime_values
from vta.compiler.executor import Executor
from vta.compiler.onnx_import import import_onnx
from vta.isa import Config

PYNQ = Config.preset("pynq")
RNG = np.random.default_rng(77)


def weights(*shape):
    return RNG.normal(0, 1 / np.sqrt(shape[0]), shape).astype(np.float32)


def attention_heads(heads=2, tokens=7, width=24):
    """Multi-head attention scores and context: Q·Kᵀ and softmax(·)·V over `heads` heads of
    (1, heads, tokens, width/heads) — 4-D products with one axis of heads."""
    size = width // heads
    init = {"q.w": weights(width, width), "k.w": weights(width, width),
            "v.w": weights(width, width),
            "split": np.array([1, tokens, heads, size], np.int64)}
    nodes = [helper.make_node("MatMul", ["x", f"{p}.w"], [p], name=p) for p in "qkv"]
    for p in "qkv":
        nodes += [helper.make_node("Reshape", [p, "split"], [f"{p}.r"], name=f"{p}.r"),
                  helper.make_node("Transpose", [f"{p}.r"], [f"{p}.t"], name=f"{p}.t",
                                   perm=[0, 2, 3, 1] if p == "k" else [0, 2, 1, 3])]
    nodes += [helper.make_node("MatMul", ["q.t", "k.t"], ["s"], name="scores"),
              helper.make_node("Softmax", ["s"], ["a"], name="softmax", axis=-1),
              helper.make_node("MatMul", ["a", "v.t"], ["y"], name="context")]
    return nodes, init, (1, tokens, width)


def attention_single_head():
    nodes, init, shape = attention_heads(heads=1)
    return nodes, init, shape


def heads_to_rows(heads=2, tokens=8, width=32):
    """nn.MultiheadAttention's output projection as torch exports it: the heads' context
    (1, heads, tokens, d) permuted to (tokens, 1, heads, d) and flattened to (tokens, heads·d)
    for the projection's Gemm — a 4-D value with many rows (tokens) flattened for a Dense."""
    size = width // heads
    init = {"v.w": weights(width, width), "o.w": weights(width, width),
            "o.b": RNG.normal(0, 0.1, width).astype(np.float32),
            "split": np.array([1, tokens, heads, size], np.int64),
            "rows": np.array([tokens, width], np.int64)}
    nodes = [helper.make_node("MatMul", ["x", "v.w"], ["v"], name="v"),
             helper.make_node("Reshape", ["v", "split"], ["v.r"], name="v.r"),
             helper.make_node("Transpose", ["v.r"], ["v.t"], name="v.t", perm=[0, 2, 1, 3]),
             helper.make_node("Transpose", ["v.t"], ["c"], name="c", perm=[2, 0, 1, 3]),
             helper.make_node("Reshape", ["c", "rows"], ["c.r"], name="c.r"),
             helper.make_node("Gemm", ["c.r", "o.w", "o.b"], ["y"], name="out_proj",
                              transB=1)]
    return nodes, init, (1, tokens, width)


def compiled_case(case, tmp_path, seed=0, **settings):
    nodes, init, shape = case()
    rng = np.random.default_rng(seed)
    samples = rng.normal(size=(16,) + shape[1:]).astype(np.float32)
    path = quantize_with_onnxruntime(float_model(nodes, init, list(shape)), tmp_path, samples,
                                     **settings)
    graph = import_onnx(path)
    return path, graph, compile_graph(graph, PYNQ), rng.normal(size=shape).astype(np.float32)


def placements(model, operator):
    return [node["placement"] for node in model.nodes if node["operator"] == operator]


def assert_functional_matches_reference(graph, model, x):
    executor = Executor(model, "functional")
    got = executor.run({"x": x}).outputs
    expected = reference.run(graph, {"x": x})
    for name in graph.values:
        if name not in graph.inputs and (model.values[name]["addr"] is not None
                                         or name in executor.host_values):
            np.testing.assert_array_equal(executor.read(name), expected[name], name)
    for name in got:
        np.testing.assert_array_equal(got[name], expected[name])


@pytest.mark.parametrize("case", [case_token_matmul], ids=lambda c: c.__name__[5:])
def test_token_products_run_on_vta(case, tmp_path):
    _, graph, model, x = compiled_case(case, tmp_path)
    assert placements(model, "Dense") == ["vta", "vta"]
    assert_functional_matches_reference(graph, model, x)


def test_rows_flattened_from_a_4d_value_are_gathered_for_dense(tmp_path):
    """A (tokens, 1, heads, d) tensor flattened to (tokens, heads·d): the Dense reads its rows
    channels last, which the 4-D value's layout is not, so the flatten is a device move, not
    read in place (read in place, the projection was 67 output steps off on a
    TransformerEncoder)."""
    path, graph, model, x = compiled_case(heads_to_rows, tmp_path)
    assert placements(model, "Dense") == ["vta", "vta"]
    assert_functional_matches_reference(graph, model, x)
    theirs = onnxruntime_values(path, graph, {"x": x}, False)
    ours = reference.run(graph, {"x": x})
    assert max(np.abs(ours[name].astype(int) - theirs[name]).max() for name in theirs) <= 1


def test_transposed_convolutions_run_on_vta(tmp_path):
    _, graph, model, x = compiled_case(case_conv_transpose, tmp_path)
    assert placements(model, "ConvTranspose2d") == ["vta", "vta"]
    assert_functional_matches_reference(graph, model, x)


def shared_weights():
    """Two MatMuls reading one weight through Identity nodes, as torch exports the layers
    `nn.TransformerEncoder` deep-copies: onnxruntime quantizes the shared weight as an
    activation, per tensor and asymmetric — its range (−0.99…1) gives zero point −1, so w − z
    reaches 128, beyond int8."""
    w = np.clip(weights(16, 16), -0.99, 1.0)
    w[0, 0], w[1, 1] = 1.0, -0.99
    nodes = [helper.make_node("Identity", ["w"], ["w1"], name="w1"),
             helper.make_node("Identity", ["w"], ["w2"], name="w2"),
             helper.make_node("MatMul", ["x", "w1"], ["h"], name="first"),
             helper.make_node("Relu", ["h"], ["h.relu"], name="relu"),
             helper.make_node("MatMul", ["h.relu", "w2"], ["y"], name="second")]
    return nodes, {"w": w}, (1, 6, 16)


def uint8_weight_convolutions():
    """Convolutions (3×3 with all-positive weights: zero point 0, w − z up to 255; depthwise;
    1×1) and a Gemm for uint8 weights quantized asymmetrically."""
    init = {"a.w": np.abs(weights(8, 3, 3, 3)) + 0.05, "d.w": weights(8, 1, 3, 3) + 0.1,
            "b.w": weights(20, 8, 1, 1) + 0.2, "f.w": weights(10, 20 * 36) - 0.02,
            "shape": np.array([1, -1], np.int64)}
    nodes = [helper.make_node("Conv", ["x", "a.w"], ["a"], name="a", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["a.relu"], name="a.relu"),
             helper.make_node("Conv", ["a.relu", "d.w"], ["d"], name="d", pads=[1, 1, 1, 1],
                              group=8),
             helper.make_node("Conv", ["d", "b.w"], ["b"], name="b"),
             helper.make_node("Reshape", ["b", "shape"], ["flat"], name="flat"),
             helper.make_node("Gemm", ["flat", "f.w"], ["y"], name="f", transB=1)]
    return nodes, init, (1, 3, 6, 6)


def uint8_weight_transposed():
    """Transposed convolutions (phases of different biases, and of one) of all-positive
    weights: zero point 0, w − z up to 255."""
    nodes, init, shape = case_conv_transpose()
    return nodes, {name: np.abs(value) for name, value in init.items()}, shape


def uint8_weight_tokens():
    nodes, init, shape = case_token_matmul()
    return nodes, {name: value + 0.1 for name, value in init.items()}, shape


#: onnxruntime's asymmetric uint8 weights, per tensor (uint8 weights need uint8 activations)
UINT8_WEIGHTS = dict(weight="uint8", activation="uint8", weight_symmetric=False, per_channel=False)


@pytest.mark.parametrize("case, settings", [
    (shared_weights, {}),
    (uint8_weight_convolutions, UINT8_WEIGHTS), (uint8_weight_transposed, UINT8_WEIGHTS),
    (uint8_weight_tokens, UINT8_WEIGHTS)],
    ids=["shared", "uint8-convolutions", "uint8-transposed", "uint8-tokens"])
def test_weights_beyond_int8_run_on_vta(case, settings, tmp_path):
    """Weights whose values minus their zero point do not fit int8 run on VTA as a sum of int8
    parts over the same input: every product on VTA, the functional backend bit-exact with
    the reference, which is within one step of onnxruntime."""
    path, graph, model, x = compiled_case(case, tmp_path, **settings)
    products = [node for node in graph.nodes
                if isinstance(node, (ir.Conv2d, ir.ConvTranspose2d, ir.Dense))]
    assert any(np.abs(node.weight.astype(int)).max() > 127 for node in products)
    assert [model.nodes[index]["placement"] for index, node in enumerate(model.nodes)
            if node["name"] in {p.name for p in products}] == ["vta"] * len(products)
    assert_functional_matches_reference(graph, model, x)
    # separate input and output blocks, small SRAMs (reduction chunks, per-tile weights)
    assert_functional_matches_reference(graph, compile_graph(graph, TINY_IN16_OUT8), x)
    theirs = onnxruntime_values(path, graph, {"x": x}, False)
    ours = reference.run(graph, {"x": x})
    assert max(np.abs(ours[name].astype(int) - theirs[name]).max() for name in theirs) <= 1


def concat_of_branches():
    """Branches of different scales (two convolutions and a host Sigmoid) concatenated along
    the channels and read by a padded convolution."""
    init = {"a.w": weights(16, 3, 3, 3), "b.w": 4 * weights(32, 3, 1, 1),
            "o.w": weights(8, 51, 3, 3)}
    nodes = [helper.make_node("Conv", ["x", "a.w"], ["a"], name="a", pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["x", "b.w"], ["b"], name="b"),
             helper.make_node("Sigmoid", ["x"], ["s"], name="s"),
             helper.make_node("Concat", ["a", "b", "s"], ["cat"], name="cat", axis=1),
             helper.make_node("Conv", ["cat", "o.w"], ["y"], name="o", pads=[1, 1, 1, 1])]
    return nodes, init, (1, 3, 6, 7)


def test_concat_inputs_are_written_into_their_channel_slices(tmp_path):
    _, graph, model, x = compiled_case(concat_of_branches, tmp_path)
    assert placements(model, "Concat") == ["alias"]
    concat = next(node for node in graph.nodes if isinstance(node, ir.Concat))
    addresses = [model.values[name]["addr"] for name in concat.inputs]
    assert addresses[0] == model.values[concat.output]["addr"] < addresses[1] < addresses[2]
    assert_functional_matches_reference(graph, model, x)


@pytest.mark.parametrize("bits, zero_points", [
    *((8, pair) for pair in [(0, 0), (-128, 7), (127, -128), (-128, -128), (3, 0)]),
    *((4, pair) for pair in [(-8, -8), (-8, 7), (7, 0), (-3, -8)])])
def test_product_operands_compute_the_zero_point_product(bits, zero_points):
    """The prepared operands fit `bits`, their zero point pieces included (−(−128) = 64 + 64 at
    8 bits, −(−8) = 4 + 4 at 4), and their plain product plus the node's constant is
    Σ (a − za)(b − zb), for every kind of zero point."""
    za, zb = zero_points
    low, high = -(1 << (bits - 1)), 1 << (bits - 1)
    a = RNG.integers(low, high, size=(1, 3, 5, 20)).astype(np.int8)
    b = RNG.integers(low, high, size=(1, 3, 20, 9)).astype(np.int8)
    expected = np.einsum("nhik,nhkj->nhij", a.astype(np.int64) - za, b.astype(np.int64) - zb)
    for head in range(3):
        prepared = [reference.run_node(ir.MatMulOperand(name=side, inputs=("x",), output=side,
                                                        side=side, head=head,
                                                        zero_points=zero_points, bits=bits),
                                       [x])[0]
                    for side, x in (("a", a), ("b", b))]
        assert all(p.dtype == np.int8 and p.min() >= low and p.max() < high for p in prepared)
        product = prepared[0].astype(np.int64) @ prepared[1].astype(np.int64).T
        np.testing.assert_array_equal(product[0, 0] + 20 * za * zb, expected[0, head])


def test_products_of_activations_on_four_bit_operands(tmp_path):
    """uint8 attention (the softmax's zero point −128, −8 at 4 bits) on an int4 config: the
    products run on VTA, bit-exact with the reference in every value."""
    int4 = PYNQ.replace(LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2, LOG_INP_BUFF_SIZE=14,
                        LOG_WGT_BUFF_SIZE=17)
    nodes, init, shape = attention_single_head()
    rng = np.random.default_rng(3)
    path = quantize_with_onnxruntime(float_model(nodes, init, list(shape)), tmp_path,
                                     rng.normal(size=(16,) + shape[1:]).astype(np.float32),
                                     activation="uint8")
    graph = import_onnx(path, widths=(int4.inp_width, int4.wgt_width))
    model = compile_graph(graph, int4)
    assert placements(model, "MatMul") == ["vta"] * 2
    assert_functional_matches_reference(graph, model, rng.normal(size=shape).astype(np.float32))


def products_close_to_onnxruntime(path, graph, x):
    """Each product (one head), given onnxruntime's operands, within one step of onnxruntime's
    result for that head; the number of products checked."""
    theirs = onnxruntime_values(path, graph, {"x": x})
    checked = 0
    for node in graph.nodes:
        if isinstance(node, ir.MatMul):
            operands = [graph.producer(name) for name in node.inputs]
            prepared = [reference.run_node(op, [theirs[op.inputs[0]]])[0] for op in operands]
            ours = reference.run_node(node, prepared)[0]
            if node.output in theirs:
                expected = theirs[node.output]
            else:                                    # one head of a Concat over the heads
                concat = graph.consumers(node.output)[0]
                expected = np.take(theirs[concat.output], [operands[0].head], axis=concat.axis)
            assert np.abs(ours.astype(int) - expected.astype(int)).max() <= 1, node.name
            checked += 1
    return checked


@pytest.mark.parametrize("activation", ["int8", "uint8"])
@pytest.mark.parametrize("case", [attention_heads, attention_single_head],
                         ids=lambda c: c.__name__)
def test_products_of_activations_run_on_vta(case, activation, tmp_path):
    path, graph, model, x = compiled_case(case, tmp_path, activation=activation)
    heads = 2 if case is attention_heads else 1
    assert placements(model, "MatMul") == ["vta"] * 2 * heads
    assert products_close_to_onnxruntime(path, graph, x) == 2 * heads
    assert_functional_matches_reference(graph, model, x)


@pytest.mark.slow
@pytest.mark.parametrize("case", [attention_heads, concat_of_branches], ids=lambda c: c.__name__)
def test_new_kinds_on_rtl_are_bit_exact(case, tmp_path):
    _, _, model, x = compiled_case(case, tmp_path)
    functional = Executor(model, "functional").run({"x": x}).outputs
    rtl = Executor(model, "rtl").run({"x": x}).outputs
    np.testing.assert_array_equal(rtl["y"], functional["y"])
