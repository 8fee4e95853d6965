"""Bad `--input` arrays and bad output paths: one line naming the file and what is wrong, exit
status 1, no traceback, nothing allocated past what the file holds, no output written."""

import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_one_line_error, case, run_main

from vta.compiler import artifact
from vta.compiler.build import compile_graph
from vta.isa import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compiler"))
from backend_graphs import conv_graph  # noqa: E402


@pytest.fixture(scope="module")
def vtab(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.vtab"
    graph = conv_graph(np.random.default_rng(7), c=5, o=20, h=6, w=5)
    artifact.save(compile_graph(graph, Config.preset("pynq")), path)
    return path


def lying_header(path, shape):
    """A .npy whose header declares `shape` (int8) but that holds 16 bytes of data."""
    header = f"{{'descr': '|i1', 'fortran_order': False, 'shape': {shape}, }}".encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(16))


@pytest.mark.parametrize("make, fragment", [
    (lambda p: p.write_bytes(b""), "empty file, not a .npy array"),
    (lambda p: lying_header(p, (1000, 1000)), "declares a int8 array of shape (1000, 1000) "
                                              "(1000000 bytes), but only 16 bytes follow"),
    (lambda p: lying_header(p, (100000, 1000000)), "an array of 100000000000 bytes, more than 2 GiB"),
    (lambda p: p.write_text("0.5 0.25\n"), "not a .npy file"),
    (lambda p: np.save(p, np.array([None, 1], dtype=object)), "holds Python objects"),
    (lambda p: p.mkdir(), "a folder, not a .npy file"),
])
def test_bad_input_array(make, fragment, vtab, tmp_path, capsys):
    x = tmp_path / "x.npy"
    make(x)
    result = run_main(capsys, "run", vtab, "--input", x, "-o", tmp_path / "y.npy")
    assert_one_line_error(result, "run", 1, f"{x}: ", fragment)
    assert not (tmp_path / "y.npy").exists()


def test_an_empty_npz_is_an_archive_without_the_input(vtab, tmp_path, capsys):
    """An empty .npz (it starts PK\\x05\\x06, not PK\\x03\\x04) is an archive of no arrays:
    the model's input is missing (it was called 'a .npz archive, not one .npy array')."""
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs)
    result = run_main(capsys, "run", vtab, "--input", inputs, "-o", tmp_path / "y.npy")
    assert_one_line_error(result, "run", 1, f"{vtab}: no input ")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["inputs.npz"]


@pytest.mark.parametrize("top", ["0", "-3"])
def test_top_must_be_positive(top, vtab, tmp_path, capsys):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 5, 6, 5), np.int8))
    result = run_main(capsys, "run", vtab, "--input", x, "--top", top)
    assert_one_line_error(result, "run", 1, f"--top must be a positive number of classes, not {top}")


@pytest.mark.parametrize("command", [
    ["exec", "{case}", "-o", "{folder}"],
    ["run", "{vtab}", "--input", "{x}", "-o", "{folder}"],
    ["header", "-o", "{folder}"],
])
def test_output_naming_a_folder(command, vtab, tmp_path, capsys):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 5, 6, 5), np.int8))
    folder = tmp_path / "out"
    folder.mkdir()
    argv = [a.format(case=case("vta-1x16/p_save_load_out"), vtab=vtab, x=x, folder=folder)
            for a in command]
    result = run_main(capsys, *argv)
    assert_one_line_error(result, argv[0], 1, f"{folder}: is a folder, not a file name")
    assert ".tmp" not in result.err
    assert list(folder.iterdir()) == []
