"""Each machine-description parameter reaches the generated Verilog and, where it affects timing,
the cycle model's prediction (docs/machine.md). That the prediction stays exact against the RTL
for non-default machines is tests/simulator/test_cycle_model.py (a subset) and
`scripts/cycle_vs_rtl.py --machine ...` (the whole corpus, docs/cycle-model.md)."""

import dataclasses
from functools import cache

import pytest

from vta.hardware.verilog import generate_verilog
from vta.isa import Config
from vta.isa.image import ProgramImage
from vta.isa.machine import Machine
from vta.simulator.cycle import CycleModel

#: A small core (32-bit bus, 4 × 4 GEMM, small buffers), so that Verilog generation is quick.
SMALL = Config.preset("pynq").replace(LOG_BUS_WIDTH=5, LOG_BLOCK=2, LOG_UOP_BUFF_SIZE=8,
                                      LOG_INP_BUFF_SIZE=6, LOG_WGT_BUFF_SIZE=8,
                                      LOG_ACC_BUFF_SIZE=8)
#: Corpus programs that exercise fetch, bursts, GEMM and vector/immediate ALU loops, and one
#: whose loads run up to eight rounds (tokens) ahead of compute (e_deep_prefetch).
PROGRAMS = ["vta-1x16/e_long_stream_2k", "vta-1x16/p_blocked_gemm_64_256_64_nocomp_vt2",
            "vta-1x16/p_gemm_default", "vta-1x16/p_alu_add_vv", "vta-1x16/p_shift_and_scale",
            "vta-1x16/r_multiphase_029", "vta-1x16/e_deep_prefetch"]

#: A non-default value of every parameter; True where it changes the timing.
VARIANTS = {
    "command_queue_depth": (8, True),
    "fetch_buffer_depth": (8, True),
    "max_burst_beats": (4, True),
    "burst_boundary_bytes": (256, True),
    "max_outstanding_reads": (1, True),
    "max_outstanding_writes": (1, True),
    "gemm_initiation_interval": (2, True),
    "alu_initiation_interval": (3, True),
    "token_queue_depth": (4, True),
    "store_prefetch_tiles": (2, False),
    "pack_multiplier_pairs": (False, False),
    "overlap_kernels": (0, True),
}


@cache
def verilog(**overrides) -> str:
    return generate_verilog(SMALL.replace(MACHINE=overrides))


@cache
def predictions(**overrides) -> tuple[int, ...]:
    """Cycles the model predicts for PROGRAMS on the pynq core with the overrides."""
    from corpus import CORPUS

    config = Config.preset("pynq").replace(MACHINE=overrides)
    cycles = []
    for name in PROGRAMS:
        image = ProgramImage.load(CORPUS / name, config)
        cycles.append(CycleModel(config).run(image.program, image.insn_addr, image.dram).cycles)
    return tuple(cycles)


@pytest.mark.parametrize("parameter", VARIANTS)
def test_parameter_changes_the_verilog_and_the_timing(parameter):
    value, timed = VARIANTS[parameter]
    assert verilog(**{parameter: value}) != verilog(), f"{parameter} does not reach the Verilog"
    changed = predictions(**{parameter: value}) != predictions()
    assert changed == timed, (f"{parameter} = {value} should {'' if timed else 'not '}change "
                              f"the cycle model's prediction")


def test_every_parameter_has_a_variant():
    assert set(VARIANTS) == {field.name for field in dataclasses.fields(Machine)}
    for parameter, (value, _) in VARIANTS.items():
        assert value != getattr(Machine(), parameter), f"{parameter}'s variant is its default"
