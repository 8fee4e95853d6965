"""Issue-3 throughput on the RTL: one GEMM/ALU instruction of N ≥ 4096 micro-op executions
occupies compute for at most II·N + c cycles (II = 1, or 2 for vector ALU; c = 6 measured, the
pipeline drain of docs/hardware.md)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from rtl_steady_state import INITIATION_INTERVAL, occupancy  # noqa: E402

from vta.isa import Config

DRAIN_CYCLES = 6


@pytest.mark.parametrize("kind", INITIATION_INTERVAL)
def test_one_instruction_occupies_compute_for_ii_times_n_plus_drain(kind):
    executions = 4096
    cycles = occupancy(Config.preset("pynq"), kind, executions)
    assert INITIATION_INTERVAL[kind] * executions <= cycles
    assert cycles <= INITIATION_INTERVAL[kind] * executions + DRAIN_CYCLES
