"""examples/blocked_gemm.py, the README's main job, on every test backend."""

import importlib.util
from pathlib import Path

import pytest
from runtime_helpers import BACKENDS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "blocked_gemm.py"
spec = importlib.util.spec_from_file_location("blocked_gemm_example", EXAMPLE)
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)


@pytest.mark.parametrize("threads", ["1", "2"])
@pytest.mark.parametrize("preset", ["pynq", "ultra96"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_example_passes(backend, preset, threads, capsys):
    status = example.main(["--backend", backend, "--preset", preset, "--threads", threads,
                           "--m", "64", "--k", "256", "--n", "128", "--shift", "9"])
    output = capsys.readouterr().out
    assert status == 0 and "PASS: all 8192 outputs match numpy" in output
    assert "gemm_counter" in output


def test_example_rejects_bad_sizes(capsys):
    assert example.main(["--k", "100"]) == 1
    assert "--k 100 is not a positive multiple of 16" in capsys.readouterr().err


def test_blocks_fit_the_buffers():
    from vta.isa import Config
    config = Config.preset("pynq")
    bm, bk, bn = example.choose_blocks(config, 256, 64, 32, 2)
    assert 2 * bm * bk <= config.inp_depth and 2 * bn * bk <= config.wgt_depth
    assert 2 * bm * bn <= config.acc_depth
    assert 256 % bm == 0 and 64 % bk == 0 and 32 % bn == 0
