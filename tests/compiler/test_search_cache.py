"""The schedule search's cache (`vta.compiler.search_cache`): `vta compile` of a model whose layer
shapes an earlier compile searched ranks and times none of them again, and writes the bytes a
compile without the cache writes; a damaged file is searched around and written again; another
config or shortlist length searches afresh; `vta cache` lists and cleans the files."""

import json

import numpy as np
import onnx
import pytest

import qdq_models
from vta.cli import main
from vta.compiler import schedule, search_cache


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two quantized models of the same graph, with other weights."""
    return [qdq_models.gated_model(tmp_path_factory.mktemp(f"gated{seed}"),
                                   np.random.default_rng(seed))[0] for seed in (5, 6)]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VTA_COMPILE_CACHE", "1")     # the suite turns it off elsewhere
    # every ranking and timing in this process, where the counters below see them
    monkeypatch.setattr(schedule, "PARALLEL_CYCLES", float("inf"))
    monkeypatch.setattr(schedule, "PARALLEL_TILINGS", float("inf"))
    return tmp_path / "cache"


@pytest.fixture
def searched(monkeypatch):
    """Counts of the layers ranked and the tilings timed."""
    counts = {"ranked": 0, "timed": 0}
    shortlisted, time_tiling = schedule.shortlisted, schedule.time_tiling

    def ranked(*args):
        counts["ranked"] += 1
        return shortlisted(*args)

    def timed(*args):
        counts["timed"] += 1
        return time_tiling(*args)

    monkeypatch.setattr(schedule, "shortlisted", ranked)
    monkeypatch.setattr(schedule, "time_tiling", timed)
    return counts


def compile_cli(capsys, *argv) -> str:
    assert main(["compile", *map(str, argv)]) == 0
    return capsys.readouterr().out


def renamed(model, folder, label="again"):
    """The same model with other bytes (the compile cache misses it, the search cache not)."""
    proto = onnx.load(str(model))
    proto.doc_string = f"the same graph {label}"
    path = folder / f"{label}.onnx"
    onnx.save(proto, str(path))
    return path


def test_known_layer_shapes_are_neither_ranked_nor_timed_again(models, tmp_path, capsys,
                                                               searched):
    assert "search cache" not in compile_cli(capsys, models[0], "-o", tmp_path / "a.vtab")
    ranked = searched["ranked"]
    assert ranked > 0 and searched["timed"] > 0
    searched.update(ranked=0, timed=0)
    out = compile_cli(capsys, renamed(models[0], tmp_path), "-o", tmp_path / "b.vtab")
    assert searched == {"ranked": 0, "timed": 0}
    assert f"({ranked} layer shapes searched before, from the search cache)" in out
    assert (tmp_path / "a.vtab").read_bytes() == (tmp_path / "b.vtab").read_bytes()


def test_other_weights_give_the_bytes_of_a_compile_without_the_cache(models, tmp_path, capsys):
    compile_cli(capsys, models[1], "-o", tmp_path / "alone.vtab", "--no-cache")
    compile_cli(capsys, models[0], "-o", tmp_path / "a.vtab")
    compile_cli(capsys, models[1], "-o", tmp_path / "b.vtab")
    assert (tmp_path / "alone.vtab").read_bytes() == (tmp_path / "b.vtab").read_bytes()


def test_a_damaged_file_is_searched_around_and_written_again(models, tmp_path, capsys,
                                                             cache_dir, searched):
    compile_cli(capsys, models[0], "-o", tmp_path / "a.vtab")
    (entry,) = (cache_dir / search_cache.FOLDER).glob("*.json")
    layers = json.loads(entry.read_text())["layers"]
    for number, damage in enumerate((b"{not json", json.dumps({"layers": {
            digest: {"shortlists": {"8": [["1,2", "x"]]}, "cycles": {"1,1,1,1,1,0": "many"}}
            for digest in layers}}).encode())):
        entry.write_bytes(damage)
        searched.update(ranked=0, timed=0)
        compile_cli(capsys, renamed(models[0], tmp_path, f"damaged{number}"),
                    "-o", tmp_path / "b.vtab")
        assert searched["ranked"] > 0 and searched["timed"] > 0
        assert (tmp_path / "a.vtab").read_bytes() == (tmp_path / "b.vtab").read_bytes()
    assert json.loads(entry.read_text())["layers"] == layers


def test_no_cache_another_config_or_compile_cache_0_search_again(models, tmp_path, capsys,
                                                                 cache_dir, searched,
                                                                 monkeypatch):
    compile_cli(capsys, models[0], "-o", tmp_path / "a.vtab")
    for options in (["--no-cache"], ["--preset", "ultra96"]):
        searched.update(timed=0)
        compile_cli(capsys, renamed(models[0], tmp_path, options[-1].strip("-")),
                    "-o", tmp_path / "b.vtab", *options)
        assert searched["timed"] > 0
    # another shortlist length: the layers are ranked again, their tilings timed before not
    searched.update(ranked=0, timed=0)
    compile_cli(capsys, renamed(models[0], tmp_path, "short"), "-o", tmp_path / "c.vtab",
                "--shortlist", "3")
    assert searched["ranked"] > 0 and searched["timed"] == 0
    assert len(list((cache_dir / search_cache.FOLDER).glob("*.json"))) == 2
    monkeypatch.setenv("VTA_COMPILE_CACHE", "0")
    searched.update(timed=0)
    compile_cli(capsys, renamed(models[0], tmp_path, "off"), "-o", tmp_path / "d.vtab")
    assert searched["timed"] > 0


def test_compiles_at_once_keep_each_others_entries(cache_dir):
    """Two compiles of one config that load the file before either saves: the second to save
    keeps the first's entries."""
    from vta.compiler.tiling import Tiling
    from vta.isa import Config
    config = Config.preset("pynq")
    first, second = search_cache.SearchCache.load(config), search_cache.SearchCache.load(config)
    tiling = Tiling(1, 2, 3, 1, 2, False)
    first.keep_cycles("a", tiling, 100)
    second.keep_cycles("b", tiling, 200)
    second.keep_shortlist("b", 8, [(tiling, 150.5)])
    first.save()
    second.save()
    kept = search_cache.SearchCache.load(config)
    assert (kept.cycles("a", tiling), kept.cycles("b", tiling)) == (100, 200)
    assert kept.shortlist("b", 8) == [(tiling, 150.5)] and kept.shortlist("a", 8) is None


def test_shortlist_must_be_positive(models, tmp_path, capsys):
    assert main(["compile", str(models[0]), "-o", str(tmp_path / "a.vtab"),
                 "--shortlist", "0"]) != 0
    assert "--shortlist 0" in capsys.readouterr().err
    assert not (tmp_path / "a.vtab").exists()


def test_vta_cache_lists_and_cleans_the_searches(models, tmp_path, capsys, cache_dir):
    compile_cli(capsys, models[0], "-o", tmp_path / "a.vtab")
    assert main(["cache", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kinds"]["search"]["entries"] == 1
    assert main(["cache", "clean", "--kind", "search"]) == 0
    capsys.readouterr()
    assert not list((cache_dir / search_cache.FOLDER).glob("*.json"))
    assert list((cache_dir / "compiled").glob("*.vtab"))          # the other kinds stay
