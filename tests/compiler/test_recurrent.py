"""GRU, LSTM and RNN decomposed at import (compiler/onnx_recurrent.py, docs/host.md "Recurrent
operators"): the decomposition is the ONNX definition (checked against onnxruntime in float),
and compiled, its products run on VTA as wide Dense layers, bit-exact with the reference on
every backend and close to onnxruntime."""

import numpy as np
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from vta.compiler import host_ops, onnx_recurrent, reference
from vta.compiler.host_ops import Call
from vta.compiler.build import compile_graph
from vta.compiler.executor import Executor
from vta.compiler.onnx_import import import_onnx
from vta.isa import Config

GATES = {"GRU": 3, "LSTM": 4, "RNN": 1}

#: (name, operator, attributes, steps, batch, features, hidden, initial state, peepholes)
VARIANTS = [
    ("gru_forward", "GRU", {"linear_before_reset": 1}, 5, 1, 6, 8, False, False),
    ("gru_reset_first_bidirectional", "GRU", {"direction": "bidirectional"}, 4, 2, 5, 7, True,
     False),
    ("gru_reverse_batch_first", "GRU", {"direction": "reverse", "layout": 1,
                                        "linear_before_reset": 1}, 4, 3, 6, 5, True, False),
    ("lstm_peepholes", "LSTM", {}, 4, 2, 6, 6, True, True),
    ("lstm_bidirectional_input_forget", "LSTM", {"direction": "bidirectional",
                                                 "input_forget": 1}, 3, 1, 4, 5, False, False),
    ("rnn_clip", "RNN", {"clip": 1.5}, 4, 2, 5, 6, True, False),
]


def exact_rows(rng, shape):
    """Weights that per-row int8 quantization keeps exactly (each row's peak at ±127 steps)."""
    q = rng.integers(-127, 128, size=shape)
    q[..., 0] = 127
    scale = rng.uniform(0.2, 0.6, size=shape[:-1] + (1,)) / 127 / np.sqrt(shape[-1])
    return (q * scale).astype(np.float32)


def recurrent_model(variant, rng, exact=False):
    """A one-node model of the variant: float input x, outputs y, y_h (and y_c)."""
    name, op, attrs, steps, batch, features, hidden, initial, peepholes = variant
    directions = 2 if attrs.get("direction") == "bidirectional" else 1
    gates = GATES[op]
    draw = (lambda *s: exact_rows(rng, s)) if exact else (
        lambda *s: rng.normal(0, 0.4, s).astype(np.float32))
    init = {"W": draw(directions, gates * hidden, features),
            "R": draw(directions, gates * hidden, hidden),
            "B": rng.normal(0, 0.3, (directions, 2 * gates * hidden)).astype(np.float32)}
    inputs = ["x", "W", "R", "B", ""]
    layout = attrs.get("layout", 0)
    x_shape = [batch, steps, features] if layout else [steps, batch, features]
    state = [batch, directions, hidden] if layout else [directions, batch, hidden]
    info = helper.make_tensor_value_info
    graph_inputs = [info("x", TensorProto.FLOAT, x_shape)]
    if initial:
        inputs.append("h0")
        graph_inputs.append(info("h0", TensorProto.FLOAT, state))
        if op == "LSTM":
            inputs.append("c0")
            graph_inputs.append(info("c0", TensorProto.FLOAT, state))
    if peepholes:
        inputs += [""] * (7 - len(inputs)) + ["P"]
        init["P"] = rng.normal(0, 0.3, (directions, 3 * hidden)).astype(np.float32)
    outputs = ["y", "y_h"] + (["y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, inputs, outputs, name=name, hidden_size=hidden, **attrs)
    graph = helper.make_graph([node], name, graph_inputs,
                              [info(o, TensorProto.FLOAT, None) for o in outputs],
                              [numpy_helper.from_array(v, k) for k, v in init.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    feeds = {"x": rng.normal(0, 1.5, x_shape).astype(np.float32)}
    if initial:
        feeds["h0"] = rng.uniform(-1.5, 1.5, state).astype(np.float32)
        if op == "LSTM":
            feeds["c0"] = rng.normal(0, 1, state).astype(np.float32)
    return model, feeds


def run_onnxruntime(model, feeds):
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def expected_outputs(model, feeds):
    """The recurrent node's outputs: onnxruntime's, or (batch-first layout, which onnxruntime
    refuses) the host kernel's, itself checked against ONNX's node tests."""
    node = model.graph.node[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if not attrs.get("layout", 0):
        return run_onnxruntime(model, feeds)
    attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    arrays = [feeds.get(name, init.get(name)) if name else None for name in node.input]
    call = Call(node.op_type, attrs, 14, len(node.output), node.SerializeToString())
    return dict(zip(node.output, host_ops.run(call, arrays)))


def decomposed_model(model):
    """The model with its recurrent node replaced by `decompose`'s nodes (no importer: float
    products, the structure alone)."""
    node = model.graph.node[0]
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
    given = lambda i: node.input[i] if len(node.input) > i and node.input[i] else None  # noqa: E731
    x = next(v for v in model.graph.input if v.name == "x")
    shape = tuple(d.dim_value for d in x.type.tensor_type.shape.dim)
    layer = onnx_recurrent.Layer(node.op_type, shape, True, init["W"], init["R"], init.get("B"),
                                 given(5), given(6), init.get(given(7)), attrs)
    build = onnx_recurrent.decompose(layer, node, onnx_recurrent.Builder(node.name))
    graph = helper.make_graph(build.nodes, "decomposed", model.graph.input, model.graph.output,
                              list(model.graph.initializer) + [
                                  numpy_helper.from_array(np.asarray(v), k)
                                  for k, v in build.constants.items()])
    return helper.make_model(graph, opset_imports=model.opset_import)


@pytest.mark.parametrize("variant", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_decomposition_is_the_onnx_definition(variant):
    """With weights that int8 rows hold exactly, the decomposed graph computes what
    onnxruntime's own operator does, to float32 rounding."""
    rng = np.random.default_rng(11)
    model, feeds = recurrent_model(variant, rng, exact=True)
    expected = expected_outputs(model, feeds)
    got = run_onnxruntime(decomposed_model(model), feeds)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=2e-6, err_msg=name)


@pytest.fixture(scope="module", params=VARIANTS, ids=[v[0] for v in VARIANTS])
def compiled(request):
    rng = np.random.default_rng(7)
    model, feeds = recurrent_model(request.param, rng)
    graph = import_onnx(model)
    return request.param, model, feeds, graph, compile_graph(graph, Config.preset("pynq"))


def test_products_run_on_vta(compiled):
    """Every product is a VTA Dense; all but the first step's (zero state) recurrent MACs of
    the layer are on VTA; nothing else of the layer is."""
    variant, model, _, graph, vtab = compiled
    _, op, attrs, steps, batch, features, hidden, initial, _ = variant
    directions = 2 if attrs.get("direction") == "bidirectional" else 1
    placements = {node["name"]: node for node in vtab.nodes}
    dense = [n for n in graph.nodes if type(n).__name__ == "Dense"]
    assert dense and all(placements[n.name]["placement"] == "vta" for n in dense)
    vta_macs = sum(node["macs"] for node in vtab.nodes if node["placement"] == "vta")
    total = directions * steps * batch * GATES[op] * hidden * (features + hidden)
    skipped = 0 if initial else directions * batch * GATES[op] * hidden * hidden
    assert vta_macs == total - skipped
    host = {node["operator"] for node in vtab.nodes if node["placement"] == "host"}
    assert op not in host and "MatMul" not in host


def test_backends_agree_and_match_the_reference(compiled):
    _, _, feeds, graph, vtab = compiled
    functional = Executor(vtab).run(feeds).outputs
    cycle = Executor(vtab, "cycle").run(feeds).outputs
    expected = reference.run(graph, feeds)
    for name in functional:
        np.testing.assert_array_equal(cycle[name], functional[name], name)
        np.testing.assert_array_equal(functional[name], expected[name], name)


def test_close_to_onnxruntime(compiled):
    """States lie in [-1, 1]; the int8 state and weights leave about 1 % of that."""
    _, model, feeds, _, vtab = compiled
    ours = Executor(vtab).run(feeds).outputs
    for name, theirs in expected_outputs(model, feeds).items():
        scale = max(1.0, float(np.abs(theirs).max()))
        assert np.abs(ours[name] - theirs).max() <= 0.03 * scale, name


def test_what_is_not_decomposed_runs_on_the_host():
    """Other activations (unbounded states) and shorter sequences: the node runs whole on the
    host, with its reason."""
    rng = np.random.default_rng(3)
    model, feeds = recurrent_model(VARIANTS[0], rng)
    node = model.graph.node[0]
    node.attribute.append(helper.make_attribute("activations", ["Relu", "Tanh"]))
    graph = import_onnx(model)
    gru = [n for n in graph.nodes if getattr(n, "op_type", "") == "GRU"]
    assert len(gru) == 1 and "activations" in graph.host_reasons[gru[0].name]
    vtab = compile_graph(graph, Config.preset("pynq"))
    got = Executor(vtab).run(feeds).outputs
    for name, theirs in expected_outputs(model, feeds).items():
        np.testing.assert_allclose(got[name], theirs, rtol=1e-5, atol=1e-5)


def test_recurrent_layer_on_rtl_is_bit_exact():
    """A small GRU's wide Dense layers on the RTL backend as on the functional one."""
    rng = np.random.default_rng(5)
    variant = ("gru_rtl", "GRU", {"linear_before_reset": 1}, 2, 1, 4, 6, False, False)
    model, feeds = recurrent_model(variant, rng)
    vtab = compile_graph(import_onnx(model), Config.preset("pynq"))
    functional = Executor(vtab).run(feeds).outputs
    rtl = Executor(vtab, "rtl").run(feeds).outputs
    for name in functional:
        np.testing.assert_array_equal(rtl[name], functional[name], name)


def test_host_kernel_reads_batch_first_initial_states():
    """layout 1: initial_h and initial_c are (batch, directions, hidden), as onnx.reference
    reads them (the host kernel once took them as (directions, batch, hidden))."""
    from onnx.reference import ReferenceEvaluator
    rng = np.random.default_rng(4)
    variant = ("lstm_batch_first", "LSTM", {"layout": 1, "direction": "bidirectional"}, 3, 2,
               4, 5, True, False)
    model, feeds = recurrent_model(variant, rng)
    expected = ReferenceEvaluator(model).run(None, feeds)
    got = expected_outputs(model, feeds)
    for name, value in zip(("y", "y_h", "y_c"), expected):
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-6, err_msg=name)


def test_wide_results_are_the_rounded_accumulator():
    """Each wide Dense stores, per row of each weight digit, F's low byte and
    ⌊(F + 128) / 256⌋ — F the accumulator rounded to 2^j units, within ±WIDE_LIMIT — so
    low + 256·high is F exactly, for the extreme inputs too."""
    rng = np.random.default_rng(8)
    model, _ = recurrent_model(VARIANTS[0], rng)
    graph = import_onnx(model)
    dense = [n for n in graph.nodes if type(n).__name__ == "Dense"]
    # input projection: weight and input as two digits each; recurrent: the state's two
    assert dense and sorted({n.copies for n in dense}) == [4, 8]
    for node in dense:
        k = node.weight.shape[1]
        rows = node.weight[::2].astype(np.int64)            # the low copy of each pair
        assert np.array_equal(node.weight[1::2], node.weight[::2])
        x = np.concatenate([rng.integers(-128, 128, (64, k)), np.where(rows > 0, 127, -128),
                            np.where(rows > 0, -128, 127)]).astype(np.int8)
        pairs = reference.run_node(node, [x])[0].astype(np.int64).reshape(len(x), -1, 2)
        acc = (x.astype(np.int64) - node.input_zero_point) @ rows.T
        shift = np.rint(-np.log2(node.requant.multiplier[::2])).astype(np.int64)
        exact = np.floor_divide(acc + node.bias[::2].astype(np.int64), np.left_shift(1, shift))
        np.testing.assert_array_equal(pairs[..., 0] + 256 * pairs[..., 1], exact)
        assert np.abs(exact).max() < onnx_recurrent.WIDE_LIMIT


def test_narrow_operands_run_the_layer_on_the_host():
    """On a config of 4-bit operands the products' int8 digits do not fit: the node runs whole
    on the host, bit-exact with the reference and as onnxruntime (its wide Dense layers used to
    differ from the reference)."""
    rng = np.random.default_rng(9)
    model, feeds = recurrent_model(VARIANTS[2], rng)
    config = Config.preset("pynq").replace(LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2,
                                           LOG_INP_BUFF_SIZE=14, LOG_WGT_BUFF_SIZE=17)
    graph = import_onnx(model, widths=(config.inp_width, config.wgt_width))
    gru = [n for n in graph.nodes if getattr(n, "op_type", "") == "GRU"]
    assert len(gru) == 1 and "narrow" in graph.host_reasons[gru[0].name]
    got = Executor(compile_graph(graph, config)).run(feeds).outputs
    expected = reference.run(graph, feeds)
    for name, theirs in expected_outputs(model, feeds).items():
        np.testing.assert_array_equal(got[name], expected[name], name)
        np.testing.assert_allclose(got[name], theirs, rtol=1e-5, atol=1e-5)
