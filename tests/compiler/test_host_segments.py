"""Graphs cut into VTA and host segments: the executor runs both, bit-exact with the reference
in every value; the .vtab carries the host steps and their constants; and running a .vtab
needs neither onnx nor onnxruntime nor amaranth."""

import subprocess
import sys

import numpy as np
import pytest

from host_graphs import host_segment_graph
from vta.compiler import artifact, reference
from vta.compiler.build import compile_graph
from vta.compiler.executor import Executor
from vta.isa import Config

PYNQ = Config.preset("pynq")


@pytest.fixture(scope="module")
def compiled():
    graph = host_segment_graph(np.random.default_rng(21))
    return graph, compile_graph(graph, PYNQ)


def feeds(seed):
    return {"x": np.random.default_rng(seed).normal(0, 2, (1, 4, 6, 6)).astype(np.float32)}


def test_convolutions_on_vta_the_rest_on_the_host(compiled):
    _, model = compiled
    placements = {node["name"]: node["placement"] for node in model.nodes}
    assert placements == {"quantize_x": "host", "conv": "vta", "dequantize_y": "host",
                          "gate": "host", "scaled": "host", "quantize_s": "host", "conv2": "vta",
                          "dequantize_z": "host"}
    kinds = [step["op"] + (f" {step['kind']}" if step["op"] == "move" else "")
             for step in model.steps]
    # the first convolution reads what the host wrote with few channels: lowered to im2col
    assert kinds == ["host", "move im2col", "vta", "host", "host", "host", "host", "vta",
                     "host"]
    assert {"x", "yf", "g", "s", "out"}.isdisjoint(
        name for name, info in model.values.items() if info["layout"] is not None)


@pytest.mark.parametrize("backend", ["functional", "cycle"])
def test_every_value_bit_exact_with_the_reference(compiled, backend):
    graph, model = compiled
    executor = Executor(model, backend)
    for seed in range(3):
        result = executor.run(feeds(seed))
        expected = reference.run(graph, feeds(seed))
        for name in graph.values:
            if name not in graph.inputs:
                np.testing.assert_array_equal(executor.read(name), expected[name], err_msg=name)
        np.testing.assert_array_equal(result.outputs["out"], expected["out"])
        assert result.outputs["out"].dtype == np.float32
        assert result.host_seconds > 0


def test_vtab_round_trip_carries_host_steps_and_constants(compiled, tmp_path):
    graph, model = compiled
    path = tmp_path / "host.vtab"
    artifact.save(model, path)
    loaded = artifact.load(path, PYNQ)
    assert any(key.startswith("value:scale") for key in loaded.constants)
    np.testing.assert_array_equal(Executor(loaded).run(feeds(5)).outputs["out"],
                                  reference.run(graph, feeds(5))["out"])


BLOCKED = """
import sys
for name in ("onnx", "onnxruntime", "amaranth"):
    sys.modules[name] = None          # any import of these now fails
import numpy as np
from vta.compiler import artifact
from vta.compiler.executor import Executor
model = artifact.load(sys.argv[1])
x = np.load(sys.argv[2])
out = Executor(model).run({"x": x}).outputs["out"]
np.save(sys.argv[3], out)
loaded = [name for name in ("onnx", "onnxruntime", "amaranth") if sys.modules.get(name)]
print("imported:", loaded)
"""


def test_running_a_vtab_imports_neither_onnx_nor_amaranth(compiled, tmp_path):
    graph, model = compiled
    path, x, out = tmp_path / "host.vtab", tmp_path / "x.npy", tmp_path / "out.npy"
    artifact.save(model, path)
    np.save(x, feeds(7)["x"])
    run = subprocess.run([sys.executable, "-c", BLOCKED, str(path), str(x), str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "imported: []"
    np.testing.assert_array_equal(np.load(out), reference.run(graph, feeds(7))["out"])
