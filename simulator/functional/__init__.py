"""The bit-exact functional simulator of VTA (`FunctionalSimulator`)."""

from vta.simulator.functional.simulator import COUNTERS, FunctionalSimulator

__all__ = ["COUNTERS", "FunctionalSimulator"]
