"""The .vtab artifact: a round trip runs bit-exact with the reference; a damaged file, another
format version or another config is a one-line error (library and CLI), never a traceback."""

import dataclasses
import hashlib
import struct

import numpy as np
import pytest

from backend_graphs import conv_graph, random_feeds
from vta.cli import main
from vta.compiler import artifact, reference
from vta.compiler.build import compile_graph
from vta.compiler.executor import Executor
from vta.isa import Config, VtaError

PYNQ = Config.preset("pynq")


@pytest.fixture(scope="module")
def compiled():
    graph = conv_graph(np.random.default_rng(7), c=5, o=20, h=6, w=5)
    return graph, compile_graph(graph, PYNQ)


@pytest.fixture
def vtab(compiled, tmp_path):
    path = tmp_path / "model.vtab"
    artifact.save(compiled[1], path)
    return path


def test_round_trip_runs_bit_exact(compiled, vtab):
    graph, _ = compiled
    loaded = artifact.load(vtab, PYNQ)
    feeds = random_feeds(np.random.default_rng(8), graph)
    got = Executor(loaded).run(feeds).outputs["y"]
    np.testing.assert_array_equal(got, reference.run(graph, feeds)["y"])


def test_incompressible_sections_are_stored_and_others_compressed():
    """A section is one zlib stream: stored where it barely compresses (random int8 weights:
    compressing them costs time and saves nothing), compressed where it does (a program's
    repeated instructions); either inflates to its bytes."""
    import zlib
    rng = np.random.default_rng(9)
    weights = rng.integers(-128, 128, 300_000, dtype=np.int8).tobytes()
    program = np.tile(rng.integers(0, 256, 16 * 37, dtype=np.uint8), 500).tobytes()
    for data, most in ((weights, 1.001), (program, 0.1)):
        packed = artifact._packed(data)
        assert zlib.decompress(packed) == data
        assert len(packed) <= most * len(data)
    assert len(artifact._packed(weights)) >= len(weights)          # stored, not deflated


def test_number_json_cannot_hold_is_refused_before_writing(compiled, tmp_path):
    """An infinity or NaN anywhere in the header, which the loader would refuse, is a one-line
    error saying where it is, and nothing is written."""
    model = dataclasses.replace(compiled[1], values=dict(
        compiled[1].values, y=dict(compiled[1].values["y"], scale=float("inf"))))
    with pytest.raises(VtaError, match=r"^\S+: the header\.values\.y\.scale \(inf\) is not a "
                                       r"finite number, which a \.vtab cannot hold$"):
        artifact.save(model, tmp_path / "model.vtab")
    assert not (tmp_path / "model.vtab").exists()


def test_same_isa_with_other_bus_is_accepted(vtab):
    """The fingerprint covers the ISA keys and ALU_MUL, not bus width or clock."""
    assert artifact.load(vtab, Config.preset("ultra96")).config == PYNQ


def rewrite(path, data: bytes) -> None:
    path.write_bytes(data)


@pytest.mark.parametrize("damage, message", [
    (lambda d: d[:len(d) // 2], "truncated"),
    (lambda d: d[:20], "truncated"),
    (lambda d: d[:-1], "checksum"),
    (lambda d: d[:200] + bytes([d[200] ^ 1]) + d[201:], "checksum"),
    (lambda d: b"PK\x03\x04" + d[4:], "not a .vtab"),
    (lambda d: b"", "not a .vtab"),
])
def test_damaged_file_is_a_clear_error(vtab, damage, message):
    rewrite(vtab, damage(vtab.read_bytes()))
    with pytest.raises(artifact.ArtifactError, match=message):
        artifact.load(vtab)


def test_other_format_version_is_refused(vtab):
    data = bytearray(vtab.read_bytes()[:-32])
    struct.pack_into("<I", data, 8, artifact.FORMAT_VERSION + 1)
    rewrite(vtab, bytes(data) + hashlib.sha256(data).digest())
    with pytest.raises(artifact.ArtifactError, match=f"format version {artifact.FORMAT_VERSION + 1}"):
        artifact.load(vtab)


@pytest.mark.parametrize("other", [PYNQ.replace(ALU_MUL=False), PYNQ.replace(LOG_BLOCK=5),
                                   PYNQ.replace(LOG_ACC_BUFF_SIZE=16)])
def test_other_config_is_refused(vtab, other):
    with pytest.raises(artifact.ArtifactError, match="recompile for this config"):
        artifact.load(vtab, other)


def run_cli(capsys, *argv):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_errors_are_one_line(vtab, tmp_path, capsys):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 5, 6, 5), np.int8))
    data = vtab.read_bytes()
    bad = tmp_path / "bad.vtab"
    bad.write_bytes(data[:-100])
    for argv in (["run", bad, "--input", x],
                 ["run", vtab, "--input", x, "--config", _config_file(tmp_path)],
                 ["run", vtab, "--input", tmp_path / "missing.npy"],
                 ["run", vtab, "--input", vtab],
                 ["run", vtab, "--input", x, "--backend", "nonesuch"]):
        status, out, err = run_cli(capsys, *argv)
        assert status != 0, argv
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_cli_wrong_input_shape_is_one_line(vtab, tmp_path, capsys):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 5, 6, 6), np.int8))
    status, _, err = run_cli(capsys, "run", vtab, "--input", x)
    assert status == 1 and "shape" in err and len(err.strip().splitlines()) == 1


def _config_file(tmp_path):
    path = tmp_path / "nomul.json"
    path.write_text('{"ALU_MUL": false}')
    return path


@pytest.mark.parametrize("domain, operator, message", [
    ("com.example", "Sin", r"node sine \(Sin\): operator com\.example\.Sin is not supported"),
    ("", "Sine", r"node sine \(Sine\): operator Sine is not an ONNX operator at opset 13"),
])
def test_cli_operator_that_runs_nowhere_is_one_line(tmp_path, capsys, domain, operator, message):
    import re

    import onnx
    from onnx import TensorProto, helper
    node = helper.make_node(operator, ["x"], ["y"], name="sine", domain=domain)
    graph = helper.make_graph([node], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "sin.onnx"
    opsets = [helper.make_opsetid("", 13)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    onnx.save(helper.make_model(graph, opset_imports=opsets), path)
    status, _, err = run_cli(capsys, "compile", path, "-o", tmp_path / "sin.vtab", "--quiet")
    assert status == 1 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert re.search(message, err), err
    assert not (tmp_path / "sin.vtab").exists()


def test_uint8_input_and_output_keep_their_onnx_type():
    """Graph tensors the ONNX model declares uint8 are shifted by 128 on the way in and out."""
    from vta.compiler import ir
    graph = conv_graph(np.random.default_rng(9), c=4, o=6, h=4, w=4)
    for name in ("x", "y"):
        v = graph.values[name]
        graph.values[name] = ir.Value(v.name, v.shape, v.quant, onnx_dtype="uint8")
    x = np.random.default_rng(10).integers(0, 256, size=(1, 4, 4, 4)).astype(np.uint8)
    got = Executor(compile_graph(graph, PYNQ)).run({"x": x}).outputs["y"]
    expected = graph.values["y"].to_onnx(reference.run(graph, {"x": graph.values["x"].from_onnx(x)})["y"])
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


def test_labels_travel_in_the_artifact(tmp_path, capsys):
    from backend_graphs import dense_graph
    model = compile_graph(dense_graph(np.random.default_rng(11), k=40, m=20), PYNQ)
    model.labels = [f"class {i}" for i in range(20)]
    path = tmp_path / "labelled.vtab"
    artifact.save(model, path)
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(12).integers(-128, 128, size=(1, 40)).astype(np.int8))
    status, out, _ = run_cli(capsys, "run", path, "--input", x, "--top", "2")
    lines = out.splitlines()
    assert status == 0 and len(lines) == 3
    assert lines[1].split()[-2:] == ["class", lines[1].split()[0]]


def test_scalar_host_constant_keeps_its_shape(tmp_path):
    """A 0-d host constant (a Gather's scalar index, which drops the axis) is written with its
    shape: the loaded model's output has onnxruntime's shape and values. It came back 1-D, so
    the Gather kept the axis (output (1, 8, 3, 1) instead of (1, 8, 3))."""
    import onnxruntime
    from onnx import helper
    from qdq_models import float_model
    from vta.compiler.onnx_import import import_onnx
    rng = np.random.default_rng(13)
    init = {"w": rng.normal(size=(8, 3, 3, 3)).astype(np.float32), "i": np.array(1, np.int64)}
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Gather", ["c", "i"], ["y"], name="column", axis=-1)]
    onnx_model = float_model(nodes, init, [1, 3, 3, 4])
    artifact.save(compile_graph(import_onnx(onnx_model), PYNQ), tmp_path / "gather.vtab")
    x = rng.normal(size=(1, 3, 3, 4)).astype(np.float32)
    got = Executor(artifact.load(tmp_path / "gather.vtab")).run({"x": x}).outputs["y"]
    expected = onnxruntime.InferenceSession(onnx_model.SerializeToString()).run(None, {"x": x})[0]
    assert got.shape == expected.shape == (1, 8, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
