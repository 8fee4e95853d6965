"""--json on every command that reports: stdout is one JSON document (json.loads reads it whole)
holding the figures the text form shows, checked against independent expectations. `vta fuzz`
(tests/fuzz), `vta fpga synth`/`timing` (tests/fpga, slow) and `vta cache` (tests/cosim) are
checked beside their other tests."""

import json

import numpy as np
import onnx
from cli_helpers import case, run_main
from onnx import TensorProto, helper, numpy_helper

from vta.fpga.boards import BOARDS
from vta.isa import Config

IMAGE = case("vta-1x16/p_gemm_default")


def document(capsys, *argv) -> dict:
    result = run_main(capsys, *argv)
    assert result.status == 0, result.err
    return json.loads(result.out)


def test_config(capsys):
    config = Config.preset("ultra96")
    doc = document(capsys, "config", "--preset", "ultra96", "--json")
    assert doc["keys"]["LOG_BUS_WIDTH"] == 7 and doc["derived"]["bus_bits"] == config.bus_bits


def test_exec_report(capsys):
    counters = json.loads((IMAGE / "case.json").read_text())["counters"]
    doc = document(capsys, "exec", IMAGE, "--backend", "cycle", "--report", "--json")
    assert doc["counters"] == counters and doc["cycles"] > 0
    figures = doc["roofline"]
    assert figures["cycles"] == doc["cycles"]
    assert figures["macs"] == counters["gemm_counter"] * 256
    assert figures["dram_bytes"] == sum(v for k, v in counters.items() if k.endswith("nbytes"))
    assert figures["gemm_utilization"] == figures["macs"] / (doc["cycles"] * 256)


def test_roofline(capsys, tmp_path):
    doc = document(capsys, "roofline", IMAGE, "-o", tmp_path / "plot.svg", "--json")
    cycles = document(capsys, "exec", IMAGE, "--backend", "cycle", "--json")["cycles"]
    assert doc["plot"] == str(tmp_path / "plot.svg") and (tmp_path / "plot.svg").exists()
    [point] = doc["points"]
    assert point["label"] == IMAGE.name and point["cycles"] == cycles


def test_fpga_boards(capsys):
    doc = document(capsys, "fpga", "boards", "--json")
    assert [board["name"] for board in doc["boards"]] == list(BOARDS)
    assert doc["boards"][0]["capacity"] == {"LUT": 53_200, "FF": 106_400, "BRAM36": 140,
                                            "DSP": 220}


def test_fpga_project(capsys, tmp_path):
    doc = document(capsys, "fpga", "project", "--board", "pynq-z1", "-o", tmp_path, "--json")
    assert sorted(doc["files"]) == sorted(str(path) for path in tmp_path.iterdir())
    assert doc["board"] == "pynq-z1" and doc["config"]["TARGET"] == "pynq"


def test_quantize(capsys, tmp_path):
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(8, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 8, 8])],
        [numpy_helper.from_array(weight, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              tmp_path / "conv.onnx")
    np.save(tmp_path / "samples.npy", rng.normal(size=(5, 3, 8, 8)).astype(np.float32))
    doc = document(capsys, "quantize", tmp_path / "conv.onnx", "--calibrate",
                   tmp_path / "samples.npy", "-o", tmp_path / "int8.onnx", "--json")
    assert doc == {"output": str(tmp_path / "int8.onnx"), "samples": 5, "power_of_two": False,
                   "per_channel": True}
    operators = {node.op_type for node in onnx.load(tmp_path / "int8.onnx").graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= operators
