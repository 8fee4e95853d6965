"""`vta compile` and `vta run` on models with host operators: the placement report (`--report`,
`--json`), `--input-shape` for dynamic dimensions, several inputs and outputs."""

import json
import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qdq_models
from vta.cli import main
from vta.compiler import reference
from vta.compiler.onnx_import import import_onnx

RNG = np.random.default_rng(31)


def run_cli(capsys, *argv):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def gated_model(tmp_path_factory):
    """Conv → Sigmoid → Conv, quantized by onnxruntime: two VTA layers around a host segment."""
    return qdq_models.gated_model(tmp_path_factory.mktemp("gated"), RNG)[0]


def test_report_lists_every_node_with_where_and_why(gated_model, tmp_path, capsys):
    status, out, err = run_cli(capsys, "compile", gated_model, "-o", tmp_path / "m.vtab",
                               "--report")
    assert status == 0 and err == ""
    rows = {line.split()[0]: line for line in out.splitlines()[1:-2]}
    assert set(rows) >= {"conv_a", "gate", "conv_b"}
    assert re.search(r"gate\s+Sigmoid \(table\)\s+host\s+0\s+\d+\s+a lookup table of the 256 "
                     r"input values, exact \(VTA has no gather\)$", rows["gate"])
    assert re.search(r"conv_a\s+Conv2d\s+vta\s+13824\s+\d+", rows["conv_a"])   # 8·8·8 × 27
    assert re.search(r"100\.00 % of 0\.03 M MACs on VTA; VTA \d+ cycles .*host \d+\.\d+ ms per "
                     r"inference", out.splitlines()[-1])


def test_json_is_one_document_on_stdout(gated_model, tmp_path, capsys):
    status, out, err = run_cli(capsys, "compile", gated_model, "-o", tmp_path / "m.vtab",
                               "--json")
    assert status == 0 and err == ""
    report = json.loads(out)
    graph = import_onnx(gated_model)
    assert [node["name"] for node in report["nodes"]] == [node.name for node in graph.nodes]
    by_name = {node["name"]: node for node in report["nodes"]}
    assert by_name["conv_a"]["placement"] == "vta" and by_name["conv_a"]["cycles"] > 0
    assert by_name["gate"]["placement"] == "host" and by_name["gate"]["host_seconds"] > 0
    summary = report["summary"]
    assert summary["macs"] == 8 * 8 * 8 * 27 + 4 * 8 * 8 * 72
    assert summary["vta_mac_share"] == 1.0 and summary["host_seconds"] > 0
    assert summary["vta_operators"] == 2 and summary["operators"] == len(graph.nodes)


def dynamic_model(dims):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "dynamic",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_unfixed_dynamic_dimension_is_refused(tmp_path, capsys):
    path = tmp_path / "dynamic.onnx"
    onnx.save(dynamic_model(["batch", 3, "height", 5]), path)
    status, out, err = run_cli(capsys, "compile", path, "-o", tmp_path / "d.vtab", "--quiet")
    assert status == 1 and len(err.strip().splitlines()) == 1
    assert "graph input 'x' has dynamic dimensions 0 ('batch') and 2 ('height'); fix them " \
        "with --input-shape x=DIMS" in err
    assert not (tmp_path / "d.vtab").exists()


def test_input_shape_fixes_it_and_a_dynamic_batch_becomes_one(tmp_path, capsys):
    path = tmp_path / "dynamic.onnx"
    onnx.save(dynamic_model(["batch", 3, "height", 5]), path)
    status, _, err = run_cli(capsys, "compile", path, "-o", tmp_path / "d.vtab", "--quiet",
                             "--input-shape", "x=2,3,4,5")
    assert status == 0 and "dynamic batch" not in err
    onnx.save(dynamic_model(["batch", 3, 4, 5]), path)
    status, _, err = run_cli(capsys, "compile", path, "-o", tmp_path / "d.vtab", "--quiet")
    assert status == 0 and "has a dynamic batch dimension: compiled for batch 1" in err
    x = RNG.normal(size=(1, 3, 4, 5)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    status, _, _ = run_cli(capsys, "run", tmp_path / "d.vtab", "--input", tmp_path / "x.npy",
                           "-o", tmp_path / "y.npy")
    assert status == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), np.maximum(x, 0))


@pytest.mark.parametrize("key, value", [("labels", '["cat", "dog", "owl"]'),
                                        ("class_names", "cat\ndog\nowl")])
def test_class_names_in_the_metadata_reach_the_vtab(tmp_path, capsys, key, value):
    """The importer reads the class names (a JSON list or one per line) that `vta run --top`
    prints from the ONNX metadata; a model without them has none."""
    from vta.compiler import artifact
    model = dynamic_model([1, 3, 4, 5])
    path = tmp_path / "named.onnx"
    onnx.save(model, path)
    status, _, _ = run_cli(capsys, "compile", path, "-o", tmp_path / "plain.vtab", "--quiet")
    assert status == 0 and artifact.load(tmp_path / "plain.vtab").labels is None
    helper.set_model_props(model, {"source": "test", key: value})
    onnx.save(model, path)
    status, _, _ = run_cli(capsys, "compile", path, "-o", tmp_path / "named.vtab", "--quiet")
    assert status == 0 and artifact.load(tmp_path / "named.vtab").labels == ["cat", "dog", "owl"]


@pytest.mark.parametrize("spec, message", [
    ("x=1,3", r"--input-shape x=1,3 does not fit the declared shape"),
    ("y=1,3,4,5", r"--input-shape names 'y', which is no graph input"),
    ("x=1,0,4,5", r"give NAME=DIMS with positive dimensions"),
])
def test_bad_input_shape_is_one_line(tmp_path, capsys, spec, message):
    path = tmp_path / "dynamic.onnx"
    onnx.save(dynamic_model(["batch", 3, "height", 5]), path)
    status, _, err = run_cli(capsys, "compile", path, "-o", tmp_path / "d.vtab",
                             "--input-shape", spec)
    assert status == 1 and len(err.strip().splitlines()) == 1 and re.search(message, err), err


def test_run_feeds_inputs_by_name_and_writes_every_output(tmp_path, capsys):
    """Token ids (int64) gather rows of a table; a float input scales them: two inputs, two
    outputs."""
    table = RNG.normal(size=(10, 4)).astype(np.float32)
    nodes = [helper.make_node("Gather", ["table", "ids"], ["rows"], name="embed"),
             helper.make_node("Mul", ["rows", "scale"], ["scaled"], name="scale"),
             helper.make_node("ReduceSum", ["scaled"], ["total"], name="sum", keepdims=0)]
    graph = helper.make_graph(
        nodes, "two", [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 6]),
                       helper.make_tensor_value_info("scale", TensorProto.FLOAT, [1, 6, 4])],
        [helper.make_tensor_value_info("scaled", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("total", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(table, "table")])
    path = tmp_path / "two.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    assert run_cli(capsys, "compile", path, "-o", tmp_path / "two.vtab", "--quiet")[0] == 0
    ids = RNG.integers(0, 10, (1, 6)).astype(np.int64)
    scale = RNG.normal(size=(1, 6, 4)).astype(np.float32)
    np.save(tmp_path / "ids.npy", ids)
    np.save(tmp_path / "scale.npy", scale)
    status, _, err = run_cli(capsys, "run", tmp_path / "two.vtab", "--input",
                             f"ids={tmp_path / 'ids.npy'}", "--input",
                             f"scale={tmp_path / 'scale.npy'}", "-o", tmp_path / "out.npz")
    assert status == 0, err
    out = np.load(tmp_path / "out.npz")
    np.testing.assert_array_equal(out["scaled"], table[ids] * scale)
    np.testing.assert_array_equal(out["total"], reference.run(import_onnx(path), {
        "ids": ids, "scale": scale})["total"])
    np.savez(tmp_path / "inputs.npz", ids=ids, scale=scale)
    status, _, err = run_cli(capsys, "run", tmp_path / "two.vtab", "--input",
                             tmp_path / "inputs.npz", "-o", tmp_path / "scaled.npy")
    assert status == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "scaled.npy"), table[ids] * scale)
    status, _, err = run_cli(capsys, "run", tmp_path / "two.vtab", "--input",
                             tmp_path / "ids.npy")
    assert status == 1 and "give each as --input NAME=X.npy" in err
    np.savez(tmp_path / "wrong.npz", ids=ids, offset=scale)
    status, _, err = run_cli(capsys, "run", tmp_path / "two.vtab", "--input",
                             tmp_path / "wrong.npz")
    assert status == 1 and "'offset' is not an input of the model (its inputs: ids, scale)" \
        in err and len(err.strip().splitlines()) == 1
