"""The same model compiled twice gives the same `.vtab` bytes, also across processes with
different hash seeds (set and dict orders), with the schedule search timing candidates in a
process pool (layers ranked there too) in one run and in the compiling process in the other."""

import hashlib
import os
import subprocess
import sys

import numpy as np
from onnx import helper

from qdq_models import float_model, quantize_with_onnxruntime

COMPILE = """
import hashlib, sys
from vta.compiler import artifact, schedule
from vta.compiler.build import compile_graph
from vta.compiler.onnx_import import import_onnx
from vta.isa import Config
if __name__ == "__main__":
    schedule.PARALLEL_CYCLES = schedule.PARALLEL_TILINGS = float(sys.argv[2])
    model = compile_graph(import_onnx(sys.argv[1]), Config.preset("pynq"))
    print(hashlib.sha256(artifact.to_bytes(model)).hexdigest())
"""


def test_vtab_bytes_are_the_same_across_runs(tmp_path):
    rng = np.random.default_rng(5)
    init = {"a.w": rng.normal(0, 0.3, (32, 16, 3, 3)).astype(np.float32),
            "b.w": rng.normal(0, 0.2, (16, 32, 3, 3)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "a.w"], ["a"], name="conv_a", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["r"], name="relu"),
             helper.make_node("Sigmoid", ["r"], ["g"], name="gate"),
             helper.make_node("Conv", ["g", "b.w"], ["y"], name="conv_b", pads=[1, 1, 1, 1])]
    samples = rng.normal(size=(8, 16, 12, 12)).astype(np.float32)
    path = quantize_with_onnxruntime(float_model(nodes, init, [1, 16, 12, 12]), tmp_path,
                                     samples)
    script = tmp_path / "compile.py"
    script.write_text(COMPILE)
    digests = []
    for seed, parallel_from in (("1", "0"), ("2", "inf")):
        result = subprocess.run([sys.executable, str(script), str(path), parallel_from],
                                capture_output=True, text=True, timeout=600,
                                env=dict(os.environ, PYTHONHASHSEED=seed))
        assert result.returncode == 0, result.stderr
        digests.append(result.stdout.strip())
    assert len(digests[0]) == len(hashlib.sha256().hexdigest())
    assert digests[0] == digests[1]
