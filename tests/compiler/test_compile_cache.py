"""`vta compile`'s cache of compiled models (`vta.compiler.compile_cache`): a second compile of
an unchanged model for an unchanged config reads the `.vtab` written before; another config,
another model, `--no-cache` or a damaged entry compile again."""

import numpy as np
import onnx
import pytest

import qdq_models
from vta.cli import main
from vta.compiler import compile_cache
from vta.isa import Config

RNG = np.random.default_rng(47)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return qdq_models.gated_model(tmp_path_factory.mktemp("gated"), RNG)[0]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VTA_COMPILE_CACHE", "1")     # the suite turns it off elsewhere
    return tmp_path / "cache"


def compile_cli(capsys, *argv):
    status = main(["compile", *map(str, argv)])
    out = capsys.readouterr().out
    assert status == 0
    return out


def test_second_compile_reads_the_cache_and_writes_the_same_bytes(model, tmp_path, capsys,
                                                                  cache_dir):
    first = compile_cli(capsys, model, "-o", tmp_path / "a.vtab")
    assert "compiled in" in first
    assert len(list((cache_dir / compile_cache.FOLDER).glob("*.vtab"))) == 1
    second = compile_cli(capsys, model, "-o", tmp_path / "b.vtab")
    assert "read from the compile cache" in second
    assert (tmp_path / "a.vtab").read_bytes() == (tmp_path / "b.vtab").read_bytes()
    # the summary line is the same either way
    assert first.splitlines()[1:] == second.splitlines()[1:]


def test_no_cache_another_config_or_a_damaged_entry_compile_again(model, tmp_path, capsys,
                                                                  cache_dir):
    compile_cli(capsys, model, "-o", tmp_path / "a.vtab")
    assert "compiled in" in compile_cli(capsys, model, "-o", tmp_path / "b.vtab", "--no-cache")
    assert "compiled in" in compile_cli(capsys, model, "-o", tmp_path / "c.vtab",
                                        "--preset", "ultra96")
    for entry in (cache_dir / compile_cache.FOLDER).glob("*.vtab"):
        entry.write_bytes(entry.read_bytes()[:100])
    assert "compiled in" in compile_cli(capsys, model, "-o", tmp_path / "d.vtab")
    assert (tmp_path / "a.vtab").read_bytes() == (tmp_path / "d.vtab").read_bytes()
    assert "read from the compile cache" in compile_cli(capsys, model, "-o", tmp_path / "e.vtab")


def test_key_covers_model_config_options_and_compiler(model, tmp_path, monkeypatch):
    pynq = Config.preset("pynq")
    key = compile_cache.key(model, pynq, {"widths": [8, 8]})
    assert key == compile_cache.key(model, Config.preset("pynq"), {"widths": [8, 8]})
    assert key != compile_cache.key(model, pynq, {"widths": [4, 8]})
    assert key != compile_cache.key(model, Config(MEM_READ_LATENCY=40), {"widths": [8, 8]})
    changed = tmp_path / "changed.onnx"
    proto = onnx.load(str(model))
    proto.doc_string = "another model"
    onnx.save(proto, str(changed))
    assert key != compile_cache.key(changed, pynq, {"widths": [8, 8]})
    monkeypatch.setattr(compile_cache, "compiler_digest", lambda: "another compiler")
    assert key != compile_cache.key(model, pynq, {"widths": [8, 8]})


def test_vta_compile_cache_0_turns_it_off(model, tmp_path, capsys, cache_dir, monkeypatch):
    monkeypatch.setenv("VTA_COMPILE_CACHE", "0")
    compile_cli(capsys, model, "-o", tmp_path / "a.vtab")
    assert "compiled in" in compile_cli(capsys, model, "-o", tmp_path / "b.vtab")
    assert not (cache_dir / compile_cache.FOLDER).exists()


def test_models_with_external_data_are_not_cached(model, tmp_path):
    proto = onnx.load(str(model))
    external = tmp_path / "external.onnx"
    onnx.save(proto, str(external), save_as_external_data=True, all_tensors_to_one_file=True,
              location="external.data", size_threshold=0)
    assert compile_cache.key(external, Config.preset("pynq"), {}) is None
    assert compile_cache.key(model, Config.preset("pynq"), {}) is not None
