"""The ``board`` backend (docs/fpga.md): one driver (`driver.BoardDriver`) over a narrow
interface (`interface`: MMIO read/write, DRAM buffer allocation), bound either to PYNQ on a
board (`pynq_binding`) or to the RTL co-simulation (`cosim_binding`)."""

from vta.runtime.backends.board.backend import BoardBackend

__all__ = ["BoardBackend"]
