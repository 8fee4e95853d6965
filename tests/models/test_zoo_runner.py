"""The zoo runner (scripts/zoo.py, zoo.evaluate) and its measurements from the ONNX graph."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import zoo
from zoo import evaluate, measure
from vta.isa import Config, VtaError

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "zoo.py"


def _model(nodes, inputs, outputs, initializers, opset=13):
    graph = helper.make_graph(nodes, "hand", inputs, outputs,
                              [numpy_helper.from_array(np.asarray(v), k)
                               for k, v in initializers.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_node_macs_are_the_hand_counted_ones():
    """Conv 4×(3·3·3) per output pixel of 8×8; ConvTranspose (2 groups): each of 4·8·8
    inputs meets its group's 1 output channel × 2·2 weights; batched 3-D MatMul 2·5·6 outputs
    × 7; Gemm (transA) 6·4 outputs × 5; GRU 3 steps × 3·8 gates × (6 + 8)."""
    rng = np.random.default_rng(0)
    init = {"cw": rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
            "tw": rng.normal(size=(4, 1, 2, 2)).astype(np.float32),
            "b": rng.normal(size=(2, 7, 6)).astype(np.float32),
            "gw": rng.normal(size=(5, 4)).astype(np.float32),
            "W": rng.normal(size=(1, 24, 6)).astype(np.float32),
            "R": rng.normal(size=(1, 24, 8)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "cw"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("ConvTranspose", ["c", "tw"], ["t"], name="up", strides=[2, 2],
                              group=2),
             helper.make_node("MatMul", ["m", "b"], ["mm"], name="matmul"),
             helper.make_node("Gemm", ["g", "gw"], ["gg"], name="gemm", transA=1, transB=0),
             helper.make_node("GRU", ["s", "W", "R"], ["", "h"], name="gru", hidden_size=8)]
    info = helper.make_tensor_value_info
    model = _model(nodes, [info("x", TensorProto.FLOAT, [1, 3, 8, 8]),
                           info("m", TensorProto.FLOAT, [2, 5, 7]),
                           info("g", TensorProto.FLOAT, [5, 6]),
                           info("s", TensorProto.FLOAT, [3, 1, 6])],
                   [info(n, TensorProto.FLOAT, None) for n in ("t", "mm", "gg", "h")], init)
    feed = {"x": np.zeros((1, 3, 8, 8), np.float32), "m": np.zeros((2, 5, 7), np.float32),
            "g": np.zeros((5, 6), np.float32), "s": np.zeros((3, 1, 6), np.float32)}
    assert measure.node_macs(model, feed) == {
        "conv": 4 * 8 * 8 * 27, "up": 4 * 8 * 8 * 1 * 2 * 2, "matmul": 2 * 5 * 6 * 7,
        "gemm": 6 * 4 * 5, "gru": 3 * 24 * (6 + 8)}


def test_output_step_is_the_last_activation_dequantize():
    """y = Tanh(DQ(Q(x) · 0.25)) · 2: the step is 0.25, not the (constant) weight DQ's 0.5."""
    init = {"s": np.float32(0.25), "z": np.int8(0), "wq": np.array([3], np.int8),
            "ws": np.float32(0.5), "two": np.float32(2.0)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["d"]),
             helper.make_node("DequantizeLinear", ["wq", "ws", "z"], ["w"]),
             helper.make_node("Mul", ["d", "w"], ["dw"]),
             helper.make_node("Tanh", ["dw"], ["t"]),
             helper.make_node("Mul", ["t", "two"], ["y"])]
    info = helper.make_tensor_value_info
    model = _model(nodes, [info("x", TensorProto.FLOAT, [1, 4])],
                   [info("y", TensorProto.FLOAT, [1, 4])], init)
    assert measure.output_steps(model) == {"y": 0.25}


def test_top1_agreement_allows_ties_within_the_tolerance():
    theirs = [np.array([[1.0, 1.05, 0.0], [0.0, 2.0, 1.0]])]
    assert evaluate.top1_agreement(np.array([[1.0, 0.9, 0], [0, 2, 1]]), theirs, 0.1) == (2, 2)
    assert evaluate.top1_agreement(np.array([[0, 0, 1.0], [0, 2, 1]]), theirs, 0.1) == (1, 2)


def test_runner_passes_a_model_that_compiles(torch_installed):
    """vgg_small compiles today: every measurement is taken, from real runs."""
    result = evaluate.evaluate(zoo.build("vgg_small"), Config.preset("pynq"), samples=2)
    assert result.compiled and result.error is None, result
    assert result.top1 == (2, 2) and result.backends_agree
    assert result.cycles > 0 and result.vta_mac_share == 1.0
    assert result.steps <= max(2, result.spread) and result.passed


def test_runner_reports_a_refusal_in_one_line(monkeypatch, torch_installed):
    built = zoo.build("vgg_small")

    def refuse(built, config):
        raise VtaError("node /x (Foo): operator Foo is not supported\nsecond line")
    monkeypatch.setattr(evaluate, "compile_model", refuse)
    result = evaluate.evaluate(built, Config.preset("pynq"), samples=1)
    assert not result.compiled and not result.passed
    assert result.error == "node /x (Foo): operator Foo is not supported second line"

    def crash(built, config):
        return {}["missing"]
    monkeypatch.setattr(evaluate, "compile_model", crash)
    error = evaluate.evaluate(built, Config.preset("pynq"), samples=1).error
    assert error.startswith("crash: KeyError: 'missing' at test_zoo_runner.py:")


@pytest.mark.slow
def test_script_prints_one_line_per_model_and_exits_by_the_verdict(torch_installed):
    done = subprocess.run([sys.executable, str(SCRIPT), "vgg_small", "--samples", "1"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].startswith("vgg_small") and lines[1].endswith("PASS")
    assert lines[-1] == "1/1 models pass"


def test_script_names_an_unknown_model():
    done = subprocess.run([sys.executable, str(SCRIPT), "no_such_model"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("zoo: no zoo model 'no_such_model'")
    assert len(done.stderr.splitlines()) == 1
