"""What `vta run` reports besides the outputs, on a model with two VTA layers around a host
segment: `--json` (one document), `--trace` (one Perfetto trace of every layer and host step),
`--report` (a self-contained HTML page, checked in headless Chromium), and the Python API
(`vta.InferenceSession`, `vta.compile`)."""

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

import vta
from qdq_models import gated_model
from vta.cli import main
from vta.compiler import artifact, reference
from vta.compiler.onnx_import import import_onnx
from vta.isa import VtaError

RNG = np.random.default_rng(5)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """Conv → Sigmoid → Conv quantized by onnxruntime, compiled; (onnx path, .vtab path, x)."""
    folder = tmp_path_factory.mktemp("run_outputs")
    onnx_path, samples = gated_model(folder, RNG)
    vtab = folder / "m.vtab"
    assert main(["compile", str(onnx_path), "-o", str(vtab), "--quiet"]) == 0
    np.save(folder / "x.npy", samples[:1])
    return onnx_path, vtab, samples[:1]


def expected_output(onnx_path, x):
    """The integer reference executor's output of the imported graph (not the device's)."""
    return reference.run(import_onnx(onnx_path), {"x": x})["y"]


def run_cli(capsys, *argv):
    capsys.readouterr()
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_json_is_the_whole_stdout_and_describes_the_run(model, capsys, tmp_path):
    onnx_path, vtab, x = model
    status, out, err = run_cli(capsys, "run", vtab, "--input", vtab.parent / "x.npy",
                               "--backend", "cycle", "--json", "--top", "2",
                               "-o", tmp_path / "y.npy")
    assert status == 0, err
    document = json.loads(out)
    steps = artifact.load(vtab).steps
    assert [layer["name"] for layer in document["layers"]] == \
        [step["layer"] for step in steps if step["op"] == "vta"]
    assert sorted(document["host"]) == sorted(s["node"] for s in steps if s["op"] == "host")
    assert document["cycles"] == sum(layer["cycles"] for layer in document["layers"]) > 0
    y = expected_output(onnx_path, x)
    assert document["outputs"] == {"y": {"dtype": str(y.dtype), "shape": list(y.shape)}}
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), y)
    flat = y.reshape(-1)
    assert [entry["index"] for entry in document["top"]] == \
        list(np.argsort(-flat, kind="stable")[:2])


def test_trace_holds_every_layer_and_host_step_in_order(model, capsys, tmp_path):
    _, vtab, _ = model
    trace = tmp_path / "trace.json"
    status, _, err = run_cli(capsys, "run", vtab, "--input", vtab.parent / "x.npy",
                             "--backend", "cycle", "--trace", trace, "--quiet")
    assert status == 0, err
    slices = [e for e in json.loads(trace.read_text())["traceEvents"] if e["ph"] == "X"]
    steps = artifact.load(vtab).steps
    tops = [e for e in slices if "cat" in e]            # one per step, in the order they ran
    assert [e["cat"] for e in tops] == [s["op"] for s in steps]
    assert [e["name"] for e in tops if e["cat"] != "move"] == \
        [s.get("layer") or s["node"] for s in steps if s["op"] != "move"]
    for before, after in zip(tops, tops[1:]):
        assert after["ts"] == pytest.approx(before["ts"] + before["dur"])
    # every instruction of every layer's program once, inside its layer's slice
    instructions = [e for e in slices if "insn" in e.get("args", {}) and e["name"] != "wait"]
    assert len(instructions) == sum(s["insn_count"] for s in steps if s["op"] == "vta")
    layers = [e for e in tops if e["cat"] == "vta"]
    for event in instructions:
        assert any(layer["ts"] <= event["ts"] <= layer["ts"] + layer["dur"] for layer in layers)


def test_report_needs_a_backend_that_counts_cycles(model, capsys, tmp_path):
    _, vtab, _ = model
    status, out, err = run_cli(capsys, "run", vtab, "--input", vtab.parent / "x.npy",
                               "--report", tmp_path / "r.html")
    assert status == 1 and "counts cycles" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium package is not installed "
                                             "(scripts/bootstrap installs it)")
def test_html_report_is_self_contained_and_renders_in_chromium(model, capsys, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api",
                                     reason="playwright is not installed (pyvta[test])")
    onnx_path, vtab, _ = model
    page_path = tmp_path / "report.html"
    status, _, err = run_cli(capsys, "run", vtab, "--input", vtab.parent / "x.npy",
                             "--backend", "cycle", "--report", page_path, "--quiet")
    assert status == 0, err
    compiled = artifact.load(vtab)
    layers = [s["layer"] for s in compiled.steps if s["op"] == "vta"]
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            requests, errors = [], []
            page.on("request", lambda request: requests.append(request.url))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(page_path.as_uri())
            rows = page.locator("#layers tr")
            assert rows.count() == len(layers) + 1
            assert [rows.nth(i + 1).locator("td").first.inner_text()
                    for i in range(len(layers))] == layers
            placement = page.locator("#placement tr")
            assert placement.count() == len(compiled.nodes) + 1
            gate = placement.filter(has_text="Sigmoid").locator("td")
            assert [gate.nth(i).inner_text() for i in range(3)] == ["gate", "Sigmoid (table)", "host"]
            plot = page.locator("#roofline svg").bounding_box()
            assert plot and plot["width"] > 200 and plot["height"] > 100
            assert page.locator("#roofline svg text", has_text="conv_b").count() >= 1
            config = page.locator("#config").inner_text()
            assert "LOG_BLOCK_IN\t4" in config and "CLOCK_MHZ\t100" in config
        finally:
            browser.close()
    assert requests == [page_path.as_uri()] and not errors


# -- the Python API ------------------------------------------------------------------------
def test_inference_session_runs_like_onnxruntime(model):
    onnx_path, vtab, x = model
    session = vta.InferenceSession(vtab, backend="cycle")
    (info,) = session.get_inputs()
    assert (info.name, info.shape, info.type) == ("x", (1, 3, 8, 8), "tensor(float)")
    assert [o.name for o in session.get_outputs()] == ["y"]
    (y,) = session.run(None, {"x": x})
    np.testing.assert_array_equal(y, expected_output(onnx_path, x))
    assert session.last_result.cycles > 0
    assert session.run(["y"], {"x": x})[0].shape == y.shape


@pytest.mark.parametrize("feed, message", [
    (lambda x: {"image": x}, "'image' is not an input of the model (its inputs: x)"),
    (lambda x: {}, "input 'x' is missing"),
    (lambda x: {"x": x.astype(np.float64)}, "input 'x' must be tensor(float) (float32), not float64"),
    (lambda x: {"x": x[:, :2]}, "input 'x' must have shape (1, 3, 8, 8), not (1, 2, 8, 8)"),
])
def test_inference_session_checks_names_dtypes_and_shapes(model, feed, message):
    _, vtab, x = model
    with pytest.raises(VtaError) as error:
        vta.InferenceSession(vtab).run(None, feed(x))
    assert message in str(error.value)


def test_inference_session_refuses_an_unknown_output(model):
    _, vtab, x = model
    with pytest.raises(VtaError, match="'z' is not an output of the model"):
        vta.InferenceSession(vtab).run(["z"], {"x": x})


def test_compile_takes_an_onnx_model_and_a_config(model, tmp_path):
    onnx_path, _, x = model
    program = vta.compile(onnx.load(onnx_path), config="ultra96")
    assert program.config.TARGET == "ultra96"
    vta.save(program, tmp_path / "u.vtab")
    (y,) = vta.InferenceSession(Path(tmp_path / "u.vtab")).run(None, {"x": x})
    np.testing.assert_array_equal(y, expected_output(onnx_path, x))
    (same,) = vta.InferenceSession(program).run(None, {"x": x})
    np.testing.assert_array_equal(same, y)


@pytest.mark.parametrize("outputs, fragment", [
    (["-o", "{tmp}/y.npy", "--trace", "{tmp}/t.json", "--report", "{tmp}/no/r.html"],
     "{tmp}/no/r.html: cannot write: folder {tmp}/no does not exist"),
    (["-o", "{tmp}/y.npy", "--trace", "{tmp}/y.npy"], "{tmp}/y.npy: named for two outputs"),
    (["-o", "{model}"], "{model}: is also an input of the command; write the output elsewhere"),
    (["-o", "{tmp}/x.npy"], "{tmp}/x.npy: is also an input of the command"),
])
def test_outputs_are_checked_before_the_run(outputs, fragment, model, capsys, tmp_path):
    """An output that cannot be written, or would replace an input, is refused before the
    model runs: no output is left behind (-o and --trace were written, then --report failed)
    and no input is overwritten (-o MODEL.vtab replaced the model with the output)."""
    vtab = tmp_path / "m.vtab"
    shutil.copy(model[1], vtab)
    np.save(tmp_path / "x.npy", model[2])
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    argv = [arg.format(tmp=tmp_path, model=vtab) for arg in outputs]
    status, out, err = run_cli(capsys, "run", vtab, "--input", f"x={tmp_path / 'x.npy'}",
                               "--backend", "cycle", *argv)
    assert status == 1 and out == "" and len(err.splitlines()) == 1, err
    assert err.startswith(f"vta run: {fragment.format(tmp=tmp_path, model=vtab)}"), err
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before
