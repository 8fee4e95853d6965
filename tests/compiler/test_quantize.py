"""`vta quantize`: onnxruntime's static quantizer with VTA's settings, from the command line."""

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from qdq_models import float_model, steps_apart
from vta.cli import main
from vta.compiler.onnx_import import import_onnx

RNG = np.random.default_rng(5)


@pytest.fixture
def float_path(tmp_path):
    init = {"a.w": RNG.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32),
            "a.b": RNG.normal(0, 0.1, 8).astype(np.float32),
            "b.w": RNG.normal(0, 0.3, (8, 8, 3, 3)).astype(np.float32),
            "f.w": RNG.normal(0, 0.1, (4, 8)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "a.w", "a.b"], ["a"], name="a", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["ar"], name="a_relu"),
             helper.make_node("Conv", ["ar", "b.w"], ["b"], name="b", pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["b", "ar"], ["s"], name="add"),
             helper.make_node("GlobalAveragePool", ["s"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "f.w"], ["y"], name="fc", transB=1)]
    path = tmp_path / "float.onnx"
    onnx.save(float_model(nodes, init, [1, 3, 16, 16]), path)
    return path


def initializers(path):
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}


def dequantizers(path):
    return [n for n in onnx.load(path).graph.node if n.op_type == "DequantizeLinear"]


def test_quantize_writes_symmetric_per_channel_int8_qdq(float_path, tmp_path, capsys):
    samples = tmp_path / "samples.npy"
    np.save(samples, RNG.normal(size=(20, 3, 16, 16)).astype(np.float32))
    output = tmp_path / "int8.onnx"
    assert main(["quantize", str(float_path), "--calibrate", str(samples), "-o", str(output)]) == 0
    assert "calibrated on 20 samples" in capsys.readouterr().out
    arrays = initializers(output)
    weights = [n for n in dequantizers(output) if n.input[0] in ("a.w_quantized", "b.w_quantized")]
    assert len(weights) == 2
    for node in weights:
        assert arrays[node.input[0]].dtype == np.int8
        assert arrays[node.input[1]].shape == (8,)                 # per output channel
        assert not arrays[node.input[2]].any()                     # symmetric
    activation_zero_points = [arrays[n.input[2]] for n in dequantizers(output)
                              if n.input[0] not in arrays]
    assert activation_zero_points and all(z.dtype == np.int8 for z in activation_zero_points)
    graph = import_onnx(output)
    apart = steps_apart(graph, output, RNG.normal(size=(1, 3, 16, 16)).astype(np.float32))
    assert max(isolated for _, isolated in apart.values()) <= 1


def test_quantizing_leaves_the_root_logger_without_handlers(tmp_path, monkeypatch):
    """onnxruntime's quantizer calls `logging.info` for a bias two layers share, which gives a
    root logger without handlers one on stderr for good (a `vta dse` building its models then
    printed Dask's INFO records): quantizing leaves the root logger as it was."""
    import logging

    from vta.compiler.quantize import quantize

    init = {"w1": RNG.normal(0, 0.3, (8, 8)).astype(np.float32),
            "w2": RNG.normal(0, 0.3, (8, 8)).astype(np.float32),
            "b": RNG.normal(0, 0.1, 8).astype(np.float32)}
    nodes = [helper.make_node("Gemm", ["x", "w1", "b"], ["h"], name="fc1", transB=1),
             helper.make_node("Gemm", ["h", "w2", "b"], ["y"], name="fc2", transB=1)]
    onnx.save(float_model(nodes, init, [1, 8]), tmp_path / "float.onnx")
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    quantize(tmp_path / "float.onnx", RNG.normal(size=(4, 8)).astype(np.float32),
             tmp_path / "int8.onnx")
    assert (tmp_path / "int8.onnx").is_file() and root.handlers == []


def test_power_of_two_scales_need_only_shifts(float_path, tmp_path):
    samples = tmp_path / "samples.npy"
    np.save(samples, RNG.normal(size=(20, 3, 16, 16)).astype(np.float32))
    output = tmp_path / "pow2.onnx"
    assert main(["quantize", str(float_path), "--calibrate", str(samples), "-o", str(output),
                 "--power-of-two"]) == 0
    arrays = initializers(output)
    for node in dequantizers(output):
        scale = arrays[node.input[1]].astype(np.float64)
        assert np.array_equal(scale, np.exp2(np.round(np.log2(scale))))
    original = initializers(float_path)["a.w"]
    restored = next(n for n in dequantizers(output) if n.input[0] == "a.w_quantized")
    scale = arrays[restored.input[1]].reshape(8, 1, 1, 1)
    real = arrays["a.w_quantized"] * scale
    # Two roundings (onnxruntime's, then to the coarser scale) but never a clipped weight.
    assert np.all(np.abs(real - original) <= scale * 1.0001)
    graph = import_onnx(output, alu_mul=False)
    assert all(step.op.name != "MUL" for node in graph.nodes if hasattr(node, "requant")
               for step in node.requant.steps)


def test_calibrate_from_a_folder_of_images(float_path, tmp_path):
    from skimage import data, io
    folder = tmp_path / "images"
    folder.mkdir()
    io.imsave(folder / "chelsea.png", data.chelsea())
    io.imsave(folder / "coffee.png", data.coffee())
    np.save(folder / "extra.npy", RNG.normal(size=(3, 16, 16)).astype(np.float32))
    output = tmp_path / "int8.onnx"
    assert main(["quantize", str(float_path), "--calibrate", str(folder), "-o", str(output),
                 "--mean", "0.5", "--std", "0.25"]) == 0
    assert import_onnx(output).nodes


def test_calibration_errors_are_one_line(float_path, tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["quantize", str(float_path), "--calibrate", str(missing), "-o",
                 str(tmp_path / "o.onnx")]) == 1
    assert capsys.readouterr().err.strip() == f"vta quantize: {missing}: calibration data not found"
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((2, 3, 8, 8), np.float32))
    assert main(["quantize", str(float_path), "--calibrate", str(wrong), "-o",
                 str(tmp_path / "o.onnx")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "does not match the model input (1, 3, 16, 16)" in error
    assert not (tmp_path / "o.onnx").exists()


@pytest.mark.parametrize("write, fragment", [
    (lambda p: np.savez(p, a=np.array([{"x": 1}], dtype=object)), "holds Python objects"),
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_text("1 2 3\n"), "not a .npy file"),
])
def test_bad_calibration_files_are_one_line(write, fragment, float_path, tmp_path, capsys):
    data = tmp_path / "calibration.npz"
    write(data)
    status = main(["quantize", str(float_path), "--calibrate", str(data), "-o",
                   str(tmp_path / "o.onnx")])
    error = capsys.readouterr().err
    assert status == 1 and error.count("\n") == 1 and "Traceback" not in error
    assert fragment in error and str(data) in error


def test_quantized_model_gets_the_umask_mode(float_path, tmp_path):
    import os
    samples = tmp_path / "x.npy"
    np.save(samples, RNG.normal(size=(2, 3, 16, 16)).astype(np.float32))
    output = tmp_path / "q.onnx"
    old = os.umask(0o022)
    try:
        assert main(["quantize", str(float_path), "--calibrate", str(samples), "-o",
                     str(output), "--no-preprocess"]) == 0
    finally:
        os.umask(old)
    assert output.stat().st_mode & 0o777 == 0o644


def _model_file(tmp_path, kind):
    """A model `vta quantize` cannot quantize (onnxruntime refuses it, or it is not one)."""
    path = tmp_path / f"{kind}.onnx"
    conv = [helper.make_node("Conv", ["x", "a.w"], ["y"], kernel_shape=[5, 5])]
    init = {"a.w": np.ones((4, 3, 3, 3), np.float32)}
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "kernel_mismatch":      # onnxruntime fails running it (calibration)
        onnx.save(float_model(conv, init, [1, 3, 16, 16]), path)
    elif kind == "unknown_operator":     # ... or inferring its shapes (pre-processing)
        onnx.save(float_model([helper.make_node("Frobnicate", ["x"], ["y"])], {}, [1, 3, 16, 16]), path)
    elif kind == "future_opset":
        onnx.save(float_model([helper.make_node("Relu", ["x"], ["y"])], {}, [1, 3, 16, 16],
                              opset=99), path)
    elif kind == "two_inputs":
        model = float_model([helper.make_node("Add", ["x", "z"], ["y"])], {}, [1, 3, 16, 16])
        model.graph.input.append(helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT,
                                                               [1, 3, 16, 16]))
        onnx.save(model, path)
    return path


@pytest.mark.parametrize("kind, fragment", [
    ("empty", "not an ONNX model (no graph nodes"),
    ("kernel_mismatch", "onnxruntime cannot quantize the model ([ONNXRuntimeError]"),
    ("unknown_operator", "onnxruntime cannot quantize the model (Incomplete symbolic shape"),
    ("future_opset", "onnxruntime cannot quantize the model ("),
    ("two_inputs", "2 graph inputs; `vta quantize` takes models with one"),
])
def test_models_onnxruntime_cannot_quantize_are_one_line(kind, fragment, tmp_path, capfd,
                                                         monkeypatch):
    """onnxruntime's exceptions, Python logs and C++ log lines become one line naming the
    model (they were a traceback after onnxruntime's own error lines), and nothing is left in
    the working folder (onnxruntime's failed shape inference wrote sym_shape_infer_temp.onnx
    there)."""
    model, samples = _model_file(tmp_path, kind), tmp_path / "samples.npy"
    np.save(samples, RNG.normal(size=(2, 3, 16, 16)).astype(np.float32))
    monkeypatch.chdir(tmp_path)
    status = main(["quantize", model.name, "--calibrate", str(samples), "-o", "o.onnx"])
    error = capfd.readouterr().err
    assert status == 1 and error.count("\n") == 1 and "Traceback" not in error, error
    assert error.startswith(f"vta quantize: {model.name}: {fragment}"), error
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([model.name, "samples.npy"])


@pytest.mark.parametrize("data, options, fragment", [
    (np.full((2, 3, 16, 16), np.nan, np.float32), [], "calibration data holds NaN"),
    (np.full((2, 3, 16, 16), -np.inf), [], "calibration data holds infinity"),
    (np.full((2, 3, 16, 16), 1e300), [], "calibration data holds infinity"),
    (np.ones((2, 3, 16, 16), np.complex64), [], "calibration data of type complex64, not real"),
    (np.full((2, 3, 16, 16), "a"), [], "calibration data of type <U1, not real numbers"),
    (np.ones((2, 3, 16, 16), np.float32), ["--std", "0"], "--std 0: give one finite value"),
    (np.ones((2, 3, 16, 16), np.float32), ["--std", "1", "2"], "or one per channel (3)"),
    (np.ones((2, 3, 16, 16), np.float32), ["--mean", "nan"], "--mean nan: give one finite"),
])
def test_calibration_values_quantize_can_use(data, options, fragment, float_path, tmp_path,
                                             capfd):
    """Calibration data of NaN, infinities or complex numbers, and normalisations that make
    them, are refused naming the file or option (NaN was an AssertionError traceback inside
    onnxruntime, complex numbers lost their imaginary parts with a warning)."""
    samples = tmp_path / "samples.npy"
    np.save(samples, data)
    status = main(["quantize", str(float_path), "--calibrate", str(samples), "-o",
                   str(tmp_path / "o.onnx"), *options])
    error = capfd.readouterr().err
    assert status == 1 and error.count("\n") == 1 and "Traceback" not in error, error
    assert fragment in error
    assert not (tmp_path / "o.onnx").exists()
