"""The digits CNN end to end: ONNX → integer graph → .vtab → VTA (functional simulator), with
every value in device memory bit-exact with the reference executor, through the library and
through `vta compile` / `vta run`. The accuracy over all 1797 digits is a slow test (and
`scripts/model_accuracy.py digits`)."""

import numpy as np
import pytest

from vta.cli import main
from vta.compiler import reference
from vta.compiler.evaluate import onnxruntime_outputs, prepare, run_one
from vta.compiler.onnx_import import import_onnx
from vta.isa import Config

PYNQ = Config.preset("pynq")


@pytest.fixture(scope="module")
def evaluation(digits_models):
    return prepare(digits_models[1], PYNQ)


def test_everything_runs_on_vta(evaluation):
    placements = {}
    for node in evaluation.model.nodes:
        placements.setdefault(node["operator"], set()).add(node["placement"])
    assert placements == {"Conv2d": {"vta"}, "MaxPool": {"fused"}, "Reshape": {"alias"},
                          "Dense": {"vta"}, "Quantize": {"host"}, "Dequantize": {"host"}}
    assert evaluation.shares["vta_mac_share"] == 1.0


def test_digits_bit_exact_in_every_value(evaluation, digits_data):
    inputs, _ = digits_data
    for x in inputs[:12]:
        run_one(evaluation, x[None])
    assert evaluation.mismatched_values == []


def test_cli_compile_and_run(digits_models, digits_data, tmp_path, capsys):
    inputs, labels = digits_data
    vtab, x, out = tmp_path / "digits.vtab", tmp_path / "x.npy", tmp_path / "out.npy"
    np.save(x, inputs[3:4])
    assert main(["compile", str(digits_models[1]), "-o", str(vtab), "--quiet"]) == 0
    assert main(["run", str(vtab), "--input", str(x), "-o", str(out), "--top", "3"]) == 0
    printed = capsys.readouterr().out.splitlines()
    graph = import_onnx(digits_models[1])
    expected = reference.run(graph, {graph.inputs[0]: inputs[3:4]})[graph.outputs[0]]
    result = np.load(out)
    assert result.dtype == np.float32 and result.shape == (1, 10)
    np.testing.assert_array_equal(result, expected)
    assert int(printed[1].split()[0]) == int(np.argmax(expected))


@pytest.mark.slow
def test_accuracy_over_all_digits_matches_onnxruntime(evaluation, digits_models, digits_data):
    inputs, labels = digits_data
    ours = np.array([np.argmax(run_one(evaluation, x[None], check_all=False)) for x in inputs])
    theirs = onnxruntime_outputs(digits_models[1], inputs).argmax(axis=1)
    assert abs(np.mean(ours == labels) - np.mean(theirs == labels)) * 100 <= 0.5
    assert evaluation.mismatched_values == []


#: int4 inputs and weights (INP/WGT buffers halved: the same depths as pynq's).
INT4 = PYNQ.replace(LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2, LOG_INP_BUFF_SIZE=14, LOG_WGT_BUFF_SIZE=17)


def test_int4_digits_bit_exact_with_the_int4_reference(digits_models, digits_data):
    """Re-quantized for int4 (compiler/narrow.py), every value VTA computes equals the integer
    reference of the int4 graph, whose activations and weights all fit 4 bits."""
    inputs, _ = digits_data
    evaluation = prepare(digits_models[1], INT4)
    for value in evaluation.graph.values.values():
        assert value.quant is None or value.quant.bits == 4
    for node in evaluation.graph.nodes:
        if hasattr(node, "weight"):
            assert -8 <= node.weight.min() and node.weight.max() <= 7
    for x in inputs[:4]:
        run_one(evaluation, x[None])
        for name, info in evaluation.model.values.items():
            if info["addr"] is not None and name in evaluation.graph.values:
                assert evaluation.executor.read(name).min() >= -8
                assert evaluation.executor.read(name).max() <= 7
    assert evaluation.mismatched_values == []
