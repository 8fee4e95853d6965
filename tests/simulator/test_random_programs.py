"""The simulator against the reference interpreter on random programs (hypothesis).

The generated micro-op tables are affine, shuffled, irregular or repeat destinations, so both
the strided and the gathered GEMM paths and the segmented ALU path are exercised."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vta.isa import PRESETS, Config
from vta.simulator import check_program
from vta.simulator.functional import FunctionalSimulator

from program_strategies import programs
from reference_interpreter import reference_run

PYNQ = Config.preset("pynq")
CONFIGS = {
    "1x16": PYNQ,
    "1x32": PYNQ.replace(LOG_BLOCK=5),
    "2x16": PYNQ.replace(LOG_BATCH=1),
    "1x16-no-mul": PYNQ.replace(ALU_MUL=False),
}
SIMULATORS = {name: FunctionalSimulator(config) for name, config in CONFIGS.items()}
PREPARED = {name: FunctionalSimulator(config) for name, config in CONFIGS.items()}


@pytest.mark.parametrize("name", CONFIGS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_program_matches_reference(name, data):
    image = data.draw(programs(CONFIGS[name]))
    expected, expected_counters = reference_run(image)
    check_program(image)
    dram = image.dram.copy()
    counters = SIMULATORS[name].run(dram, image.insn_addr, image.insn_count)
    different = np.flatnonzero(dram != expected)
    assert not different.size, f"{different.size} bytes differ, first at {different[0]:#x}"
    assert counters == expected_counters


@pytest.mark.parametrize("name", CONFIGS)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_prepared_program_matches_reference(name, data):
    """`prepare` changes nothing in DRAM, and the prepared run gives the reference's bytes."""
    image = data.draw(programs(CONFIGS[name]))
    expected, expected_counters = reference_run(image)
    dram = image.dram.copy()
    PREPARED[name].prepare(dram, image.insn_addr, image.insn_count)
    assert (dram == image.dram).all()
    counters = PREPARED[name].run(dram, image.insn_addr, image.insn_count)
    assert (dram == expected).all() and counters == expected_counters


@pytest.mark.parametrize("preset", PRESETS)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_preset(preset, data):
    config = Config.preset(preset)
    image = data.draw(programs(config))
    expected, expected_counters = reference_run(image)
    check_program(image)
    counters = FunctionalSimulator(config).run(image.dram, image.insn_addr, image.insn_count)
    assert (image.dram == expected).all()
    assert counters == expected_counters
