"""The .vtab artifact: a round trip runs bit-exact with the reference; a damaged file, another
format version or another config is a one-line error (library and CLI), never a traceback."""

import hashlib
import struct

import numpy as np
import pytest

from backend_graphs import conv_graph, random_feeds
from vta.cli import main
from vta.compiler import artifact, reference
from vta.compiler.build import compile_graph
from vta.compiler.executor import Executor
from vta.isa import Config

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
    with pytest.raises(artifact.ArtifactError, match="format version 2"):
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
