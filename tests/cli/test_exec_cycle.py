"""`vta exec --backend cycle`: the corpus image, cycles and a Perfetto trace of the run."""

import json

import numpy as np
from cli_helpers import case, run_main


def test_cycle_backend_reproduces_the_image_and_writes_a_trace(capsys, tmp_path):
    image = case("vta-1x16/p_gemm_default")
    output, trace = tmp_path / "out.bin", tmp_path / "trace.json"
    result = run_main(capsys, "exec", image, "--backend", "cycle", "--json", "-o", output,
                      "--trace", trace)
    assert result.status == 0, result.err
    report = json.loads(result.out)
    assert report["backend"] == "cycle" and report["cycles"] > 0
    assert report["counters"] == json.loads((image / "case.json").read_text())["counters"]
    assert np.array_equal(np.fromfile(output, np.uint8), np.fromfile(image / "expected.bin", np.uint8))
    slices = [event for event in json.loads(trace.read_text())["traceEvents"] if event["ph"] == "X"]
    assert slices and all(event["dur"] >= 0 for event in slices)


def test_trace_is_refused_by_a_backend_without_it(capsys, tmp_path):
    result = run_main(capsys, "exec", case("vta-1x16/p_gemm_default"), "--backend", "functional",
                      "--trace", tmp_path / "trace.json")
    assert result.status == 1 and "trace" in result.err
    assert not (tmp_path / "trace.json").exists()
