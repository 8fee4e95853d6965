"""Both harnesses against the copy test design (copy_design.py): the final image against numpy,
and the fast harness, cocotb on Verilator and cocotb on Icarus against each other, cycle for
cycle."""

import numpy as np
import pytest
from copy_design import copy_design_verilog

from vta.isa import Config
from vta.runtime.backends.rtl.backend import make_harness, run_in_harness

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


def run(verilog, simulator, harness, dram, config=CONFIG, units=UNITS, max_cycles=100_000):
    return run_in_harness(make_harness(verilog, config, simulator, harness), dram, INSN_ADDR, units,
                          config, max_cycles)


@pytest.fixture(scope="module")
def fast_result(verilog):
    dram = dram_image()
    return dram, *run(verilog, "verilator", "fast", dram)


def test_fast_harness_copies_the_block(fast_result):
    dram, result, final = fast_result
    assert result["status"] == "ok", result["message"]
    np.testing.assert_array_equal(final, expected_copy(dram))
    beats = UNITS * 16 // CONFIG.bus_bytes
    assert result["registers"]["LOAD_BUSY"] == beats and result["registers"]["STORE_BUSY"] == beats
    assert 0 < result["registers"]["CYCLES"] < result["edges"]


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_cocotb_harness_matches_the_fast_harness_cycle_for_cycle(verilog, fast_result, simulator):
    dram, fast, fast_final = fast_result
    result, final = run(verilog, simulator, "cocotb", dram)
    assert result == fast
    np.testing.assert_array_equal(final, fast_final)


def test_memory_latency_changes_the_cycle_count_by_the_expected_amount(verilog, fast_result):
    """The copy design has exactly one outstanding transfer at a time, so every extra cycle of
    read latency costs one cycle per read burst, and likewise for writes."""
    _, base, _ = fast_result
    slower = CONFIG.replace(MEM_READ_LATENCY=CONFIG.MEM_READ_LATENCY + 5,
                            MEM_WRITE_LATENCY=CONFIG.MEM_WRITE_LATENCY + 3)
    result, _ = run(verilog, "verilator", "fast", dram_image(), config=slower)
    bursts = -(-UNITS * 16 // CONFIG.bus_bytes // 16)
    delta = result["registers"]["CYCLES"] - base["registers"]["CYCLES"]
    # The design throttles RREADY/BREADY with a free-running 2-bit phase, so a shift can also
    # move a burst's start by up to 3 cycles relative to that phase.
    assert abs(delta - bursts * (5 + 3)) <= 3 * bursts


def test_wide_bus_fast_harness():
    config = Config.preset("ultra96")
    dram = dram_image()
    result, final = run(copy_design_verilog(config.bus_bits), "verilator", "fast", dram, config=config)
    assert result["status"] == "ok", result["message"]
    np.testing.assert_array_equal(final, expected_copy(dram))


@pytest.mark.parametrize("simulator, harness", [("verilator", "fast"), ("icarus", "cocotb")])
def test_access_outside_the_image_is_reported(verilog, simulator, harness):
    dram = dram_image(size=1024)
    result, _ = run(verilog, simulator, harness, dram, units=30)   # reads up to 0x4e0
    assert result["status"] == "error"
    assert "outside the DRAM image of 1024 bytes" in result["message"]


def test_watchdog_stops_a_run_that_does_not_finish(verilog):
    result, _ = run(verilog, "verilator", "fast", dram_image(), max_cycles=50)
    assert result["status"] == "deadlock"
    assert "not done after 50 cycles" in result["message"]
