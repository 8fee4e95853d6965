"""Sweeps: Dask's distributed and synchronous schedulers agree, a killed worker does not lose
the sweep, the store makes a re-run free and keeps what an interrupted sweep finished."""

import json
import os
import signal

import pytest

from vta.cli import main
from vta.dse.engine import Engine
from vta.dse.models import resolve
from vta.dse.space import load
from vta.dse.store import Store
from vta.dse import sweep as sweep_module
from vta.dse.sweep import Explorer
from vta.isa import Config

SPACE = """
base = "pynq"
[parameters]
LOG_BLOCK = [3, 4]
LOG_INP_BUFF_SIZE = [14]
LOG_WGT_BUFF_SIZE = [15, 16]
LOG_ACC_BUFF_SIZE = [16]
LOG_BUS_WIDTH = [5, 6]
CLOCK_MHZ = [100.0, 200.0]
"""


def sweep(write_space, tmp_path, small_model, name, engine, progress=None):
    space = load(write_space(tmp_path, SPACE))
    with Store(tmp_path / f"{name}.sqlite") as store, engine:
        explorer = Explorer(space, [resolve(str(small_model))], "estimate", store, engine,
                            progress)
        results = explorer.evaluate(space.check_feasible())
    return {r.fingerprint: (r.models, r.resources) for r in results}, explorer.evaluated


def test_local_cluster_and_synchronous_scheduler_agree_and_a_killed_worker_is_survived(
        write_space, tmp_path, small_model):
    synchronous, evaluated = sweep(write_space, tmp_path, small_model, "sync",
                                   Engine(synchronous=True))
    # 16 points, 8 distinct cycle configs (the clock changes no cycle) + 1 accuracy
    assert len(synchronous) == 16 and evaluated == 9
    engine = Engine(workers=2)
    killed = []

    def kill_one_worker(done, total):
        if not killed:
            pids = engine.client.run(os.getpid)
            killed.append(next(iter(pids.values())))
            os.kill(killed[0], signal.SIGKILL)

    distributed, evaluated = sweep(write_space, tmp_path, small_model, "dask", engine,
                                   kill_one_worker)
    assert killed and evaluated == 9

    def comparable(results):
        return {key: (
            {name: {k: v for k, v in m.items() if k not in ("seconds", "cpu_seconds")}
             for name, m in models.items()},
            resources) for key, (models, resources) in results.items()}

    assert comparable(distributed) == comparable(synchronous)
    # everything is in the store now: a re-run starts no cluster
    space = load(write_space(tmp_path, SPACE))
    with Store(tmp_path / "dask.sqlite") as store, Engine(workers=2) as engine:
        explorer = Explorer(space, [resolve(str(small_model))], "estimate", store, engine)
        explorer.evaluate(space.check_feasible())
        assert explorer.evaluated == 0 and engine.client is None


def test_rerun_reuses_the_store_and_an_interrupted_sweep_keeps_what_finished(write_space, tmp_path,
                                                                           small_model, capsys,
                                                                           monkeypatch):
    space = write_space(tmp_path, SPACE)
    out = tmp_path / "out"
    argv = ["dse", str(space), "--models", str(small_model), "-o", str(out), "--synchronous"]

    class Interrupt(Exception):
        pass

    stopped = {"after": 3}
    original = Store.put

    def put_then_stop(self, *args, **kwargs):
        original(self, *args, **kwargs)
        stopped["after"] -= 1
        if stopped["after"] == 0:
            raise Interrupt

    Store.put = put_then_stop
    try:
        with pytest.raises(Interrupt):
            main(argv)
    finally:
        Store.put = original
    with Store(out / "results.sqlite") as store:
        assert len([k for k in store.keys() if k.startswith(("model:", "accuracy:"))]) == 3
    assert main(argv + ["--json"]) == 0
    first = json.loads((out / "front.json").read_text())
    assert first["evaluated"] == 6 and first["points"] == 16
    capsys.readouterr()
    assert main(argv + ["--quiet"]) == 0
    assert capsys.readouterr().out == ""
    again = json.loads((out / "front.json").read_text())
    assert again["evaluated"] == 0
    assert [p["fingerprint"] for p in again["front"]] == [p["fingerprint"] for p in first["front"]]
    assert (out / "front.png").stat().st_size > 0 and (out / "front.svg").stat().st_size > 0
    # another compiler: its cycles and accuracies are evaluated again, not read from the store
    monkeypatch.setattr(sweep_module, "compiler_digest", lambda: "another compiler")
    assert main(argv + ["--json", "--quiet"]) == 0
    assert json.loads((out / "front.json").read_text())["evaluated"] == 9  # 8 cycle keys + 1


def test_best_prints_a_loadable_config_of_the_fastest_point(write_space, tmp_path, small_model,
                                                             capsys):
    out = tmp_path / "out"
    twice = f"{small_model},{small_model}"           # a model named twice is evaluated once
    assert main(["dse", str(write_space(tmp_path, SPACE)), "--models", twice,
                 "-o", str(out), "--synchronous", "--json"]) == 0
    capsys.readouterr()
    assert len(json.loads((out / "front.json").read_text())["models"]) == 1
    assert main(["dse", "best", "-o", str(out), "--objective", "latency"]) == 0
    path = tmp_path / "best.json"
    path.write_text(capsys.readouterr().out)
    best = Config.from_file(path)
    # the fastest point, from the stored cycles of every point (not from the front)
    with Store(out / "results.sqlite") as store:
        rows = store.connection.execute(
            "select c.config, json_extract(r.result, '$.cycles') from results r "
            "join configs c on c.fingerprint = r.config where r.kind = 'model'").fetchall()
    space = load(write_space(tmp_path, SPACE))
    cycles = {json.dumps(json.loads(keys), sort_keys=True): count for keys, count in rows}
    latency = {config.fingerprint: cycles[json.dumps(
        config.replace(CLOCK_MHZ=100.0).to_dict(), sort_keys=True)] / config.CLOCK_MHZ
        for _, config in space.check_feasible()}
    assert latency[best.fingerprint] == min(latency.values())


BUSES = """
base = "pynq"
[parameters]
LOG_BLOCK = [4]
LOG_INP_BUFF_SIZE = [14]
LOG_WGT_BUFF_SIZE = [16]
LOG_ACC_BUFF_SIZE = [16]
LOG_BUS_WIDTH = [6, 7]
"""


def test_the_front_holds_only_points_that_fit_its_board(write_space, tmp_path, small_model,
                                                       capsys):
    """The PYNQ-Z1's memory port carries at most 64 bits (docs/fpga.md): the 128-bit point of
    a space without a `fits` constraint is evaluated, but it is not on the front on pynq-z1 and
    `best` does not print it for that board; on the ZCU104 it is."""
    out = tmp_path / "out"
    argv = ["dse", str(write_space(tmp_path, BUSES)), "--models", str(small_model), "-o",
            str(out), "--synchronous", "--json", "--quiet"]
    assert main(argv) == 0
    document = json.loads(capsys.readouterr().out)
    assert [p["point"]["LOG_BUS_WIDTH"] for p in document["front"]] == [6]
    assert document["points"] == 2 and document["unfit"] == ["1x16_i8w8a32_15_14_16_16"]
    assert main(["dse", "best", "-o", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["LOG_BUS_WIDTH"] == 6
    assert main(argv + ["--board", "zcu104"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["unfit"] == [] and 7 in [p["point"]["LOG_BUS_WIDTH"]
                                             for p in document["front"]]


def test_a_front_on_a_board_outside_the_fits_constraint_has_its_resources(write_space, tmp_path,
                                                                          small_model, capsys):
    """Points constrained to fit the PYNQ-Z1, their front on the larger ZCU104: utilization
    there, not a KeyError."""
    space = write_space(tmp_path, BUSES.replace("[6, 7]", "[6]")
                        + '[constraints]\nfits = "pynq-z1"\n')
    assert main(["dse", str(space), "--models", str(small_model), "-o", str(tmp_path / "out"),
                 "--synchronous", "--json", "--quiet", "--board", "zcu104"]) == 0
    (point,) = json.loads(capsys.readouterr().out)["front"]
    resources = point["resources"]
    assert point["objectives"]["utilization"] == resources["zcu104"]["utilization"]
    assert resources["zcu104"]["utilization"] < resources["pynq-z1"]["utilization"] / 2


def test_points_left_out_are_counted_by_reason(write_space, tmp_path, small_model, capsys):
    """An 8-wide int8 INP tile is 64 bits, half a 128-bit bus word: that point cannot be built,
    and the summary and front.json say so instead of the sweep shrinking silently."""
    space = write_space(tmp_path, BUSES.replace("LOG_BLOCK = [4]", "LOG_BLOCK = [3, 4]")
                        .replace("[6, 7]", "[7]"))
    assert main(["dse", str(space), "--models", str(small_model), "-o", str(tmp_path / "out"),
                 "--synchronous", "--board", "zcu104"]) == 0
    out = capsys.readouterr().out
    assert "1 left out: config key LOG_BUS_WIDTH = 7: INP tiles of 64 bits" in out
    document = json.loads((tmp_path / "out" / "front.json").read_text())
    assert document["points"] == 1 and list(document["rejected"].values()) == [1]


SEPARATE_BLOCKS = """
base = "pynq"
[parameters]
LOG_BLOCK_IN = [3, 4]
LOG_BLOCK_OUT = [3, 4]
LOG_INP_BUFF_SIZE = [14]
LOG_WGT_BUFF_SIZE = [17]
LOG_ACC_BUFF_SIZE = [16]
LOG_BUS_WIDTH = [6]
"""


def test_points_with_separate_blocks_are_evaluated_and_best_prints_them(write_space, tmp_path,
                                                                        small_model, capsys):
    """BLOCK_IN ≠ BLOCK_OUT points compile (docs/compiler.md, "Separate input and output
    blocks"): their evaluations hold cycles, not an error, and `best` prints a config file that
    loads back as the same point."""
    space = load(write_space(tmp_path, SEPARATE_BLOCKS))
    with Store(tmp_path / "blocks.sqlite") as store, Engine(synchronous=True) as engine:
        explorer = Explorer(space, [resolve(str(small_model))], "estimate", store, engine)
        results = explorer.evaluate(space.check_feasible())
    separate = {r.fingerprint: r for r in results
                if r.config.block_in != r.config.block_out}
    assert len(separate) == 2
    assert all(not r.errors and all(m["cycles"] > 0 for m in r.models.values())
               for r in separate.values())
    for index, result in enumerate(separate.values()):     # as `best` writes a point
        path = tmp_path / f"point{index}.json"
        path.write_text(json.dumps(Config(**result.config.to_dict()).to_dict(), indent=1))
        assert Config.from_file(path) == result.config
    out = tmp_path / "out"
    assert main(["dse", str(write_space(tmp_path, SEPARATE_BLOCKS)), "--models",
                 str(small_model), "-o", str(out), "--synchronous", "--json"]) == 0
    capsys.readouterr()
    front = json.loads((out / "front.json").read_text())["front"]
    assert main(["dse", "best", "-o", str(out), "--objective", "utilization"]) == 0
    path = tmp_path / "best.json"
    path.write_text(capsys.readouterr().out)
    best = Config.from_file(path)
    assert best.fingerprint in {point["fingerprint"] for point in front}


@pytest.mark.parametrize("model, named", [
    ("zoo:no_such_model", "model 'zoo:no_such_model': the zoo has no such model"),
    ("garbage.onnx", "garbage.onnx: not a readable ONNX model"),
    ("missing.onnx", "missing.onnx': no such file"),
    ("resnet", "model 'resnet': not digits, resnet18, zoo:NAME or an .onnx file"),
])
def test_a_model_that_is_not_there_or_not_onnx_is_one_line_and_writes_nothing(
        write_space, tmp_path, capsys, model, named):
    (tmp_path / "garbage.onnx").write_bytes(b"not a protobuf")
    out = tmp_path / "out"
    model = str(tmp_path / model) if model.endswith(".onnx") else model
    status = main(["dse", str(write_space(tmp_path, SPACE)), "--models", model, "-o", str(out),
                   "--synchronous"])
    captured = capsys.readouterr()
    assert status == 1 and captured.out == ""
    assert captured.err.count("\n") == 1 and named in captured.err
    assert not out.exists()


def test_a_space_whose_every_point_fails_exits_1_and_leaves_no_stale_plot(write_space, tmp_path,
                                                                          small_model, capsys):
    """Batch 2 with BLOCK_IN ≠ BLOCK_OUT is a config the compiler refuses: every point's model
    evaluation is an error, so there is no front to plot (the plot of an earlier run goes)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "front.png").write_bytes(b"an earlier run's plot")
    space = write_space(tmp_path, """
base = "pynq"
[parameters]
LOG_BATCH = [1]
LOG_BLOCK_IN = [3]
LOG_BLOCK_OUT = [4]
LOG_BUS_WIDTH = [7]
""")
    status = main(["dse", str(space), "--models", str(small_model), "-o", str(out),
                   "--synchronous", "--quiet"])
    captured = capsys.readouterr()
    assert status == 1 and captured.err.count("\n") == 1
    assert "no point of the space was evaluated without an error" in captured.err
    assert "BATCH = 1 where BLOCK_IN ≠ BLOCK_OUT" in captured.err
    failed = json.loads((out / "front.json").read_text())["failed"]
    assert len(failed) == 1 and not (out / "front.png").exists()


@pytest.mark.parametrize("document, named", [
    ('{"space": "s.toml"}', "not a front as 'vta dse' writes it"),
    ("[]", "not a front as 'vta dse' writes it"),
    ('{"board": "pynq-z1", "front": [{"fingerprint": "0123"}]}',
     "not a front as 'vta dse' writes it"),
    ('{"board": "pynq-z1", "front": [{"fingerprint": "0123", "objectives": {"latency_ms": 1}}]}',
     "results.sqlite: no results store beside"),
])
def test_best_on_a_folder_without_a_front_of_vta_dse_is_one_line_and_writes_nothing(
        tmp_path, capsys, document, named):
    (tmp_path / "front.json").write_text(document)
    status = main(["dse", "best", "-o", str(tmp_path)])
    captured = capsys.readouterr()
    assert status == 1 and captured.out == ""
    assert captured.err.count("\n") == 1 and named in captured.err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["front.json"]
