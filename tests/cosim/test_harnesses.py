"""Both harnesses against the copy test design (copy_design.py), driven by the one host driver:
the final image against numpy, and the fast harness, cocotb on Verilator and cocotb on Icarus
against each other, cycle for cycle."""

import numpy as np
import pytest
from copy_design import copy_design_verilog

from vta.isa import Config, DeadlockError, VtaError
from vta.runtime.backends.rtl import harnesses
from vta.runtime.backends.rtl.backend import make_harness, run_in_harness
from vta.runtime.backends.rtl.memory_model import MemoryBoundsError

CONFIG = Config.preset("pynq")
INSN_ADDR, UNITS = 0x300, 40          # copies 640 bytes from 0x300 to 0x580


@pytest.fixture(scope="module")
def verilog():
    return copy_design_verilog(CONFIG.bus_bits)


def dram_image(size=8192, seed=7):
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)


def expected_copy(dram, insn_addr=INSN_ADDR, units=UNITS):
    expected = dram.copy()
    expected[insn_addr + 16 * units:insn_addr + 32 * units] = dram[insn_addr:insn_addr + 16 * units]
    return expected


def run(verilog, simulator, harness, dram, config=CONFIG, units=UNITS, max_cycles=100_000,
        waves=None):
    """The run's counters; `dram` becomes the final image. `waves`: a waveform file to dump."""
    wave_format = None if waves is None else waves.suffix[1:]
    return run_in_harness(make_harness(verilog, simulator, harness, wave_format), config, dram,
                          INSN_ADDR, units, max_cycles=max_cycles, waves=waves)


@pytest.fixture(scope="module")
def fast_result(verilog):
    dram = dram_image()
    final = dram.copy()
    return dram, run(verilog, "verilator", "fast", final), final


def test_fast_harness_copies_the_block(fast_result):
    dram, result, final = fast_result
    np.testing.assert_array_equal(final, expected_copy(dram))
    beats = UNITS * 16 // CONFIG.bus_bytes
    assert result.modules["load"]["busy"] == beats and result.modules["store"]["busy"] == beats
    assert result.cycles > 0


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_cocotb_harness_matches_the_fast_harness_cycle_for_cycle(verilog, fast_result, simulator,
                                                                 waves):
    dram, fast, fast_final = fast_result
    final = dram.copy()
    assert run(verilog, simulator, "cocotb", final, waves=waves(simulator)) == fast
    np.testing.assert_array_equal(final, fast_final)


def test_memory_latency_changes_the_cycle_count_by_the_expected_amount(verilog, fast_result):
    """The copy design has exactly one outstanding transfer at a time, so every extra cycle of
    read latency costs one cycle per read burst, and likewise for writes."""
    _, base, _ = fast_result
    slower = CONFIG.replace(MEM_READ_LATENCY=CONFIG.MEM_READ_LATENCY + 5,
                            MEM_WRITE_LATENCY=CONFIG.MEM_WRITE_LATENCY + 3)
    result = run(verilog, "verilator", "fast", dram_image(), config=slower)
    bursts = -(-UNITS * 16 // CONFIG.bus_bytes // 16)
    # The design throttles RREADY/BREADY with a free-running 2-bit phase, so a shift can also
    # move a burst's start by up to 3 cycles relative to that phase.
    assert abs(result.cycles - base.cycles - bursts * (5 + 3)) <= 3 * bursts


def test_wide_bus_fast_harness():
    config = Config.preset("ultra96")
    dram = dram_image()
    final = dram.copy()
    run(copy_design_verilog(config.bus_bits), "verilator", "fast", final, config=config)
    np.testing.assert_array_equal(final, expected_copy(dram))


@pytest.mark.parametrize("simulator, harness", [("verilator", "fast"), ("icarus", "cocotb")])
def test_access_outside_the_image_is_a_bounds_error(verilog, simulator, harness, waves):
    dump = waves(simulator) if harness == "cocotb" else None
    with pytest.raises(MemoryBoundsError, match="outside the DRAM image of 1024 bytes"):
        run(verilog, simulator, harness, dram_image(size=1024), units=30,   # reads up to 0x4e0
            waves=dump)


def test_watchdog_stops_a_run_that_does_not_finish(verilog):
    with pytest.raises(DeadlockError, match="not done after"):
        run(verilog, "verilator", "fast", dram_image(), max_cycles=50)


def test_a_failed_training_run_falls_back_to_a_plain_build(verilog, tmp_path, monkeypatch, capfd):
    """A profile-guided build whose training fails is built again without a profile, with a
    one-line notice, and works (the copy design, in a fresh cache)."""
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path))

    def no_training(config):
        raise VtaError("no training program here")

    monkeypatch.setattr(harnesses, "training_program", no_training)
    harness = harnesses.FastHarness(verilog, training=CONFIG)
    folder = harness.build()
    notice = capfd.readouterr().err
    assert "profile-guided build of the fast harness failed (no training program here)" in notice
    assert not (folder / "profile").exists()
    assert "-fprofile-use" not in (folder / "build.log").read_text()
    dram = dram_image()
    final = dram.copy()
    run_in_harness(harness, CONFIG, final, INSN_ADDR, UNITS, max_cycles=100_000)
    np.testing.assert_array_equal(final, expected_copy(dram))
