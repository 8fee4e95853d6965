"""The bit-exact functional simulator of VTA (`FunctionalSimulator`)."""

from vta.simulator.functional.simulator import FunctionalSimulator

__all__ = ["FunctionalSimulator"]
