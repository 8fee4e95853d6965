"""vta.simulator: the bit-exact functional simulator (`vta.simulator.functional`) and the static
program check every backend runs first."""

from vta.simulator.checks import check_program

__all__ = ["check_program"]
