"""The cycle-level model of the RTL core (`CycleModel`), timed per instruction and burst."""

from vta.simulator.cycle.model import CycleModel, CycleReport

__all__ = ["CycleModel", "CycleReport"]
