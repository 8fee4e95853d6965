"""Chains of element-wise float operators between a DequantizeLinear and a QuantizeLinear become
one lookup table of the 256 input integers, computed in float64 (`vta.compiler.tables`): the
integer graph gives the exact evaluation of the QDQ graph (ONNX's reference evaluator in
float64) for every input, also where float32 arithmetic flips a value lying near a rounding
tie; the .vtab carries the table, the report names the operators, a damaged table is a
one-line error."""

import json

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from vtab_damage import join, split

from backend_graphs import run_both
from vta.compiler import artifact, ir, reference
from vta.compiler.artifact_schema import ArtifactError
from vta.compiler.build import compile_graph
from vta.compiler.compare import exact_values
from vta.compiler.onnx_import import import_onnx
from vta.isa import Config

EVERY_INPUT = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)


def _qdq_model(chain, constants: dict, x_quant, y_quant, *, dtype=TensorProto.INT8, opset=17,
               after=()):
    """Graph input "q" (the 256 integers) → DequantizeLinear → `chain` (from "r" to "f") →
    QuantizeLinear → "y"; `after` may read "y" on (then the output is "z")."""
    (x_scale, x_zero), (y_scale, y_zero) = x_quant, y_quant
    kind = helper.tensor_dtype_to_np_dtype(dtype)
    init = {"xs": np.float32(x_scale), "xz": kind.type(x_zero), "ys": np.float32(y_scale),
            "yz": kind.type(y_zero)} | constants
    nodes = [helper.make_node("DequantizeLinear", ["q", "xs", "xz"], ["r"], name="dq"), *chain,
             helper.make_node("QuantizeLinear", ["f", "ys", "yz"], ["y"], name="qy"), *after]
    output = "z" if after else "y"
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("q", dtype, [1, 256])],
        [helper.make_tensor_value_info(output, dtype if not after else TensorProto.INT8,
                                       [1, 256])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in init.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def node(op, inputs, output, **attributes):
    return helper.make_node(op, inputs, [output], name=output, **attributes)


SQRT2 = {"sqrt2": np.float32(np.sqrt(2))}
ONE = {"one": np.float32(1.0)}
CHAINS = {
    "sigmoid": ([node("Sigmoid", ["r"], "f")], {}, (0, 1)),
    "tanh": ([node("Tanh", ["r"], "f")], {}, (-1, 1)),
    "gelu-erf": ([node("Div", ["r", "sqrt2"], "d"), node("Erf", ["d"], "e"),
                  node("Add", ["e", "one"], "f")], SQRT2 | ONE, (0, 2)),
    "exp": ([node("Exp", ["r"], "f")], {}, (0, 60)),
    "softplus": ([node("Softplus", ["r"], "f")], {}, (0, 4.5)),
    "elu": ([node("Elu", ["r"], "f", alpha=0.7)], {}, (-0.7, 4.5)),
    "selu": ([node("Selu", ["r"], "f")], {}, (-1.8, 4.8)),
    "mish": ([node("Mish", ["r"], "f")], {}, (-0.4, 4.5)),
    "gelu-op": ([node("Gelu", ["r"], "f", approximate="tanh")], {}, (-0.2, 4.5)),
    "pow": ([node("Mul", ["r", "two"], "m"), node("Pow", ["m", "two"], "f")],
            {"two": np.float32(2.0)}, (0, 81)),
    "log-abs": ([node("Abs", ["r"], "a"), node("Add", ["a", "quarter"], "b"),
                 node("Log", ["b"], "f")], {"quarter": np.float32(0.25)}, (-1.4, 1.6)),
    "sqrt-neg": ([node("Neg", ["r"], "n"), node("Relu", ["n"], "p"), node("Sqrt", ["p"], "f")],
                 {}, (0, 2.1)),
    "sigmoid-sub-relu": ([node("Sigmoid", ["r"], "s"), node("Sub", ["s", "half"], "h"),
                          node("Relu", ["h"], "f")], {"half": np.float32(0.5)}, (0, 0.5)),
    "tanh-clip": ([node("Tanh", ["r"], "t"), node("Clip", ["t", "lo", "hi"], "f")],
                  {"lo": np.float32(-0.8), "hi": np.float32(0.9)}, (-0.8, 0.9)),
    "sigmoid-hardswish": ([node("Sigmoid", ["r"], "s"), node("HardSwish", ["s"], "f")], {},
                          (0, 0.7)),
}


def _output_quant(lo: float, hi: float, dtype) -> tuple[float, int]:
    scale = np.float32((hi - lo) / 255)
    lowest = 0 if dtype == TensorProto.UINT8 else -128
    return float(scale), int(np.clip(np.rint(lowest - lo / scale), lowest, lowest + 255))


@pytest.mark.parametrize("dtype", [TensorProto.INT8, TensorProto.UINT8], ids=["int8", "uint8"])
@pytest.mark.parametrize("case", CHAINS)
def test_chain_is_one_exact_table(case, dtype, tmp_path):
    """Every input integer's output is the float64 evaluation of ONNX's semantics (the
    reference evaluator), in the reference executor and in the compiled model."""
    chain, constants, (lo, hi) = CHAINS[case]
    x_zero = 3 if dtype == TensorProto.INT8 else 131
    model = _qdq_model(chain, constants, (0.035, x_zero), _output_quant(lo, hi, dtype),
                       dtype=dtype, opset=20)
    graph = import_onnx(model)
    table = next(n for n in graph.nodes if isinstance(n, ir.Table))
    assert table.operators == tuple(n.op_type for n in chain)
    assert not any(isinstance(n, ir.HostOp) and n.op_type != "Identity" for n in graph.nodes)
    feed = {"q": EVERY_INPUT if dtype == TensorProto.INT8 else
            (EVERY_INPUT.astype(np.int16) + 128).astype(np.uint8)}
    exact = exact_values(model, graph, feed)[table.output]
    assert len(np.unique(exact)) > 40                        # the scales spread the outputs
    np.testing.assert_array_equal(reference.run(graph, feed)[table.output], exact)
    got, _, model, _ = run_both(graph, feed)
    np.testing.assert_array_equal(got["y"], graph.values[table.output].to_onnx(exact))
    placed = {n["name"]: n for n in model.nodes}[table.name]
    assert placed["placement"] == "host" and placed["operator"] == \
        "+".join(table.operators) + " (table)"


def test_sigmoid_table_by_hand():
    """An independent expectation: 1 / (1 + e^−x) in float64 numpy, divided by the scale,
    rounded half to even, saturated."""
    model = _qdq_model([node("Sigmoid", ["r"], "f")], {}, (0.0625, -5), (1 / 256, -128))
    table = next(n for n in import_onnx(model).nodes if isinstance(n, ir.Table))
    real = (np.arange(-128, 128) + 5) * 0.0625
    expected = np.clip(np.rint(1 / (1 + np.exp(-real)) * 256) - 128, -128, 127)
    np.testing.assert_array_equal(table.table, expected)


def test_dequantized_constant_joins_the_table():
    """A scalar constant given as DequantizeLinear of an integer (a Q/DQ pair on a constant)
    joins the chain, dequantized in float64 from its integers as the exact evaluation does."""
    constant = [helper.make_node("DequantizeLinear", ["cq", "cs", "cz"], ["c"], name="dqc")]
    model = _qdq_model(constant + [node("Sigmoid", ["r"], "s"), node("Mul", ["s", "c"], "f")],
                       {"cq": np.int8(77), "cs": np.float32(0.0123), "cz": np.int8(-3)},
                       (0.035, 3), _output_quant(0, 1, TensorProto.INT8))
    graph = import_onnx(model)
    table = next(n for n in graph.nodes if isinstance(n, ir.Table))
    assert table.operators == ("Sigmoid", "Mul")
    exact = exact_values(model, graph, {"q": EVERY_INPUT})[table.output]
    np.testing.assert_array_equal(table.table, exact.ravel())


# A SiLU whose Sigmoid lies near a rounding tie: x_scale 0.0411 and the gate's scale the float32
# of sigmoid(x)/248.5 at q = 33, where the exact quotient is then 248.5000008 (found by search).
FLIP_X, FLIP_Q = (0.0411, 0), 33


def _flip_scale() -> float:
    x = FLIP_Q * np.float64(np.float32(FLIP_X[0]))
    return float(np.float32(1 / (1 + np.exp(-x)) / 248.5))


def test_silu_is_exact_where_float32_flips(tmp_path):
    """x · Sigmoid(x) (the Mul on VTA): the gate's table is the exact evaluation at every input,
    where a float32 Sigmoid of the float32 dequantized input (the host's former path, and
    onnxruntime's) rounds one input the other way."""
    gate_scale = _flip_scale()
    after = [helper.make_node("DequantizeLinear", ["y", "ys", "yz"], ["g"], name="dqg"),
             node("Mul", ["r", "g"], "m"),
             helper.make_node("QuantizeLinear", ["m", "ms", "mz"], ["z"], name="qz")]
    model = _qdq_model([node("Sigmoid", ["r"], "f")], {"ms": np.float32(0.021),
                                                      "mz": np.int8(-100)},
                       FLIP_X, (gate_scale, -128), after=after)
    graph = import_onnx(model)
    table = next(n for n in graph.nodes if isinstance(n, ir.Table))
    gate = ir.Quant(gate_scale, -128)
    float32 = gate.quantize(1 / (1 + np.exp(-ir.Quant(*FLIP_X).dequantize(EVERY_INPUT))))
    exact = exact_values(model, graph, {"q": EVERY_INPUT})
    assert np.count_nonzero(float32 != exact[table.output]) >= 1          # the premise
    ours = reference.run(graph, {"q": EVERY_INPUT})
    for name, value in exact.items():
        np.testing.assert_array_equal(ours[name], value, name)
    got, expected, compiled, _ = run_both(graph, {"q": EVERY_INPUT})
    np.testing.assert_array_equal(got["z"], expected["z"])
    placed = {n["name"]: n for n in compiled.nodes}
    assert (placed["f"]["operator"], placed["f"]["placement"]) == ("Sigmoid (table)", "host")
    assert placed["m"]["placement"] == "vta"


def test_nan_quantizes_to_the_lowest_value():
    """Log of negative inputs is NaN, which QuantizeLinear takes to the lowest value (ONNX's
    reference, onnxruntime, `ir.Quant.quantize`); zero gives −inf, which saturates."""
    model = _qdq_model([node("Log", ["r"], "f")], {}, (0.05, 0), _output_quant(-3, 2, 1))
    graph = import_onnx(model)
    table = next(n for n in graph.nodes if isinstance(n, ir.Table))
    exact = exact_values(model, graph, {"q": EVERY_INPUT})[table.output]
    np.testing.assert_array_equal(table.table, exact.ravel())
    assert np.all(table.table[:128] == -128) and table.table[-1] > -128


def test_float_use_keeps_the_operators_reason():
    """A chain whose result is read as a float tensor runs on the host as it is."""
    model = _qdq_model([node("Sigmoid", ["r"], "s"), node("Mul", ["s", "w"], "f")],
                       {"w": np.full((1, 256), 0.5, np.float32)}, (0.05, 0), (0.01, 0))
    graph = import_onnx(model)
    assert not any(isinstance(n, ir.Table) for n in graph.nodes)
    assert graph.host_reasons["s"] == "Sigmoid has no VTA layer"


@pytest.mark.parametrize("change, message", [
    (lambda entry: entry.update(shape=[16, 16]), "a table holds 256 int8 outputs, not int8 (16, 16)"),
    (lambda entry: entry.update(dtype="uint8"), "a table holds 256 int8 outputs, not uint8 (256,)"),
])
def test_damaged_table_is_a_one_line_error(change, message, tmp_path):
    model = _qdq_model([node("Sigmoid", ["r"], "f")], {}, (0.05, 0), (1 / 256, -128))
    path = tmp_path / "m.vtab"
    artifact.save(compile_graph(import_onnx(model), Config.preset("pynq")), path)
    version, header, payload = split(path.read_bytes())
    change(next(e for e in header["constants"] if e["name"] == "step:f:table"))
    path.write_bytes(join(version, json.dumps(header).encode(), payload))
    with pytest.raises(ArtifactError) as error:
        artifact.load(path)
    assert len(str(error.value).splitlines()) == 1 and message in str(error.value)
