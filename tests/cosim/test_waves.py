"""Waveforms of RTL runs (`--waves`): the dump holds the core's signals under their Amaranth
names, read back with a waveform reader (pywellen, the reader of the Surfer viewer): the
control block's `cycles` counter counts once per clock while the program runs and ends at the
cycles the cycle model (an independent model of the same RTL) predicts, and the clock has one
rising edge per period of the config's clock."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from corpus import CORPUS

from vta.cli import main

from vta.cli.common import load_image
from vta.isa import Config
from vta.runtime.backends import get_backend

pywellen = pytest.importorskip("pywellen", reason="the waveform reader pywellen is not "
                                                  "installed (pip install 'pyvta[test]')")

REPO = Path(__file__).resolve().parents[2]
CASE = CORPUS / "vta-1x16" / "p_gemm_default"
#: The signal `cycles` of hardware/control.py's ControlRegisters, instance `control` of `core`.
CYCLES = "TOP.vta_core.core.control.cycles"
PERIOD_PS = 10_000                      # 100 MHz, the pynq preset's clock


@pytest.fixture(scope="module")
def expected_cycles():
    return get_backend("cycle", Config.preset()).run(load_image(CASE, Config.preset())).cycles


def run_main(capsys, *argv):
    """The command's exit status, stdout and stderr."""
    capsys.readouterr()
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def signals(path):
    return {var.full_name: var for var in pywellen.Waveform(str(path)).all_vars()}


def rising_edges(var):
    return [time for time, value in var.tv if value == 1]


def test_fst_dump_of_a_run_counts_its_cycles(tmp_path, capsys, expected_cycles):
    waves = tmp_path / "run.fst"
    status, out, err = run_main(capsys, "exec", CASE, "--backend", "rtl", "--waves", waves,
                                "--json")
    assert status == 0, err
    assert json.loads(out)["cycles"] == expected_cycles
    found = signals(waves)
    counts = [value for _, value in found[CYCLES].tv]
    assert counts[-1] == expected_cycles
    running = counts[counts.index(1):]
    assert running == list(range(1, expected_cycles + 1))
    edges = rising_edges(found["TOP.vta_core.clk"])
    assert {later - earlier for earlier, later in zip(edges, edges[1:])} == {PERIOD_PS}


def test_a_cycle_window_dumps_only_those_cycles(tmp_path, capsys):
    waves = tmp_path / "window.fst"
    status, _, err = run_main(capsys, "exec", CASE, "--backend", "rtl", "--waves", waves,
                              "--waves-window", "40:49")
    assert status == 0, err
    found = signals(waves)
    edges = rising_edges(found["TOP.vta_core.clk"])
    assert len(edges) == 10 and edges[-1] - edges[0] == 9 * PERIOD_PS
    # the counter started after the first request: cycle 40 is inside the run
    counts = [value for _, value in found[CYCLES].tv]
    assert counts == sorted(counts) and len(set(counts)) >= 9


def test_icarus_dump_of_a_run_under_cocotb(tmp_path, capsys, expected_cycles):
    """The cocotb harness on Icarus (plain Verilog-2005 core) dumps an FST as well."""
    waves = tmp_path / "icarus.fst"
    status, _, err = run_main(capsys, "exec", CASE, "--backend", "rtl", "--simulator", "icarus",
                              "--waves", waves)
    assert status == 0, err
    counts = [value for _, value in signals(waves)["vta_core.core.control.cycles"].tv]
    assert counts[-1] == expected_cycles


@pytest.mark.slow      # a second traced Verilator build of the core (minutes)
def test_vcd_dump_of_a_run(tmp_path, capsys, expected_cycles):
    waves = tmp_path / "run.vcd"
    status, _, err = run_main(capsys, "exec", CASE, "--backend", "rtl", "--waves", waves)
    assert status == 0, err
    assert waves.read_bytes().startswith(b"$")          # a VCD header, not FST's binary
    assert [value for _, value in signals(waves)[CYCLES].tv][-1] == expected_cycles


@pytest.mark.parametrize("argv, message", [
    (["--backend", "rtl", "--waves", "run.txt"], "a waveform file is .fst or .vcd"),
    (["--backend", "cycle", "--waves", "run.fst"], "backend cycle has no option 'waves'"),
    (["--backend", "rtl", "--waves", "run.fst", "--waves-window", "9:3"], "is not FIRST:LAST"),
    (["--backend", "rtl", "--harness", "cocotb", "--waves", "run.fst"], "writes .vcd waveforms"),
    (["--backend", "rtl", "--waves-window", "1:3"], "needs a waves file"),
])
def test_bad_waves_options_are_one_line_errors(tmp_path, capsys, argv, message):
    argv = [str(tmp_path / a) if a.startswith("run.") else a for a in argv]
    try:
        status, _, error = run_main(capsys, "exec", CASE, *argv)
    except SystemExit as stop:                          # argparse's own error
        status, error = stop.code, capsys.readouterr().err
    assert status != 0 and message in error
    assert not list(tmp_path.iterdir())


# -- waveforms of the cocotb tests: kept for the failing ones --------------------------------
INNER_TESTS = '''
import numpy as np
from copy_design import copy_design_verilog
from vta.isa import Config
from vta.runtime.backends.rtl.backend import make_harness, run_in_harness

CONFIG = Config.preset("pynq")


def simulate(waves):
    path = waves("icarus")
    harness = make_harness(copy_design_verilog(CONFIG.bus_bits), "icarus", "cocotb", "fst")
    dram = np.zeros(8192, np.uint8)
    run_in_harness(harness, CONFIG, dram, 0x300, 40, max_cycles=100_000, waves=path)
    print("dumped", path)


def test_passes(waves):
    simulate(waves)


def test_fails(waves):
    simulate(waves)
    assert False, "failing on purpose"
'''


def test_a_failing_cocotb_test_keeps_its_waveform(tmp_path):
    """Two tests using the `waves` fixture of tests/cosim/conftest.py, run by pytest: the
    failing one's dump is kept and named in the report, the passing one's is deleted."""
    shutil.copy(REPO / "tests" / "cosim" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-p", "no:xdist",
         "--rootdir", str(tmp_path), "--basetemp", str(tmp_path / "base"), "test_inner.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": f"{REPO / 'tests' / 'cosim'}:{REPO / 'tests'}"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 passed" in done.stdout
    dumped = [Path(path) for path in re.findall(r"dumped (\S+)", done.stdout)]
    kept = [Path(path) for path in re.findall(r"kept: (\S+)", done.stdout)]
    assert len(dumped) == 2 and len(kept) == 1 and "test_fails" in kept[0].parent.name
    assert [path.exists() for path in dumped] == [path == kept[0] for path in dumped]
    assert len(rising_edges(signals(kept[0])["vta_core.clk"])) > 40


def test_vta_run_writes_one_waveform_per_layer_run(tmp_path, capsys):
    """A model of several VTA layers on the rtl backend: FILE for the first layer run, then
    FILE.2, ...; each ends at the cycles its layer took, and the output is the reference's."""
    sys.path.insert(0, str(REPO / "tests" / "compiler"))
    from backend_graphs import chained_graph, random_feeds

    from vta.compiler import artifact, reference
    from vta.compiler.build import compile_graph

    rng = np.random.default_rng(8)
    graph = chained_graph(rng)
    feeds = random_feeds(rng, graph)
    (name,) = graph.inputs
    artifact.save(compile_graph(graph, Config.preset()), tmp_path / "m.vtab")
    np.save(tmp_path / "x.npy", feeds[name])
    status, out, err = run_main(capsys, "run", tmp_path / "m.vtab", "--input", tmp_path / "x.npy",
                                "--backend", "rtl", "--waves", tmp_path / "m.fst", "--json",
                                "-o", tmp_path / "y.npy")
    assert status == 0, err
    document = json.loads(out)
    layers = document["layers"]
    assert len(layers) >= 2
    assert document["waves"] == [
        {"layer": layer["name"],
         "path": str(tmp_path / ("m.fst" if index == 0 else f"m.{index + 1}.fst"))}
        for index, layer in enumerate(layers)]
    for layer, entry in zip(layers, document["waves"]):
        assert [value for _, value in signals(entry["path"])[CYCLES].tv][-1] == layer["cycles"]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"),
                                  reference.run(graph, feeds)[graph.outputs[0]])
