"""The seeded CI slice of the differential fuzzer: a few programs per config on the functional
and cycle backends (through Dask, as `vta fuzz` runs them), a few on the RTL fast path, and
every saved regression case replayed on every backend."""

import json
from pathlib import Path

import pytest

from vta.cli import main
from vta.fuzz.campaign import Batch, run_batch
from vta.fuzz.compare import compare, run
from vta.fuzz.configs import CONFIGS
from vta.isa.image import ProgramImage

CASES = Path(__file__).resolve().parent / "cases"


def run_main(capsys, *argv):
    capsys.readouterr()
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_vta_fuzz_on_a_local_dask_cluster(capsys, tmp_path):
    status, out, err = run_main(capsys, "fuzz", "--programs", "6", "--configs", "pynq,1x8,tiny",
                                "--seed", "11", "--workers", "2", "--batch-size", "3",
                                "--invalid-every", "3", "--save", tmp_path, "--json")
    assert status == 0, err
    summary = json.loads(out)
    assert summary["findings"] == 0
    assert {name: entry["programs"] for name, entry in summary["configs"].items()} == \
        {"pynq": 6, "1x8": 6, "tiny": 6}
    assert all(sum(entry["invalid"].values()) == 2 for entry in summary["configs"].values())
    assert list(tmp_path.iterdir()) == []


def test_vta_fuzz_on_a_running_scheduler(capsys):
    """--scheduler ADDRESS sends the batches to an existing cluster (here a local one)."""
    import logging

    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=logging.ERROR) as cluster:
        status, out, err = run_main(capsys, "fuzz", "--programs", "4", "--configs", "tiny",
                                    "--scheduler", cluster.scheduler_address, "--json")
        assert "run_batch" in cluster.scheduler.task_prefixes      # the work went there
    assert status == 0, err
    assert json.loads(out)["configs"]["tiny"]["programs"] == 4


@pytest.mark.parametrize("name", CONFIGS)
def test_functional_and_cycle_slice(name):
    """Four seeded programs of every fuzz config (one of them invalid), as a campaign runs
    them: narrow operands, BLOCK_IN ≠ BLOCK_OUT, batch 2, blocks 8 to 32, tiny buffers."""
    batch = Batch(name, CONFIGS[name].to_dict(), ("functional", "cycle"), seed=13, start=0,
                  count=4, invalid_every=4)
    result = run_batch(batch)
    assert result.programs == 4 and sum(result.invalid.values()) == 1
    assert result.findings == [], [f.divergences for f in result.findings]


@pytest.mark.parametrize("name", ["pynq", "2x16", "2x16x8-i4w8"])
def test_rtl_fast_path_slice(name):
    batch = Batch(name, CONFIGS[name].to_dict(), ("functional", "cycle", "rtl"), seed=12,
                  start=0, count=5, invalid_every=5)
    result = run_batch(batch)
    assert result.programs == 5 and result.invalid
    assert result.findings == [], [f.divergences for f in result.findings]


@pytest.mark.parametrize("argv, message", [
    (["--backends", "functional"], "--backends needs two or more"),
    (["--backends", "functional,gpu"], "--backends needs two or more"),
    (["--configs", "pynq,nope"], "unknown fuzz config 'nope'"),
    (["--programs", "0"], "--programs must be positive"),
    (["--workers", "0"], "--workers must be positive, not 0"),
    (["--seed", "-1"], "--seed must be at least 0, not -1"),
    (["--invalid-every", "-1"], "--invalid-every must be at least 0, not -1"),
    (["--backends", "cycle,cycle"], "--backends needs two or more"),
    (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"],
     "argument --workers: not allowed with argument --scheduler"),
    (["--scheduler", "garbage://x", "--programs", "1"],
     "scheduler 'garbage://x': unknown address scheme 'garbage'"),
])
def test_bad_options_are_one_line(argv, message, capsys):
    status, _, err = run_main(capsys, "fuzz", *argv)
    assert status == 1 and message in err and len(err.splitlines()) == 1


def _cases():
    return sorted(p for p in CASES.iterdir() if (p / "case.json").exists()) if CASES.is_dir() else []


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.name)
def test_regression_case_agrees_on_every_backend(case):
    """A shrunk divergence found by a campaign, replayed after its fix."""
    image = ProgramImage.load(case)
    outcomes = [run(image, backend) for backend in ("functional", "cycle", "rtl")]
    assert compare(outcomes) == []
    assert outcomes[0].status == 0


def test_verify_config_reuses_an_open_campaign():
    """The design-space exploration's entry point: one cluster for several design points."""
    from vta.fuzz.campaign import Campaign, verify_config

    with Campaign(workers=1) as campaign:
        first = verify_config(CONFIGS["tiny"], 3, seed=4, campaign=campaign)
        client = campaign._session.client
        second = verify_config(CONFIGS["no-mul"], 3, seed=4, campaign=campaign)
        assert campaign._session.client is client
    assert first == [] and second == []


def test_configs_take_turns_in_a_campaign():
    """Two workers start on two configs (their RTL builds run side by side), and every
    program index of every config is in exactly one batch."""
    from vta.fuzz.campaign import batches

    configs = {name: CONFIGS[name] for name in ("pynq", "int4", "2x16")}
    work = batches(configs, 60, seed=1, backends=("functional", "cycle"), batch_size=25)
    assert [batch.name for batch in work[:3]] == ["pynq", "int4", "2x16"]
    for name in configs:
        indices = [i for b in work if b.name == name for i in range(b.start, b.start + b.count)]
        assert sorted(indices) == list(range(60))
