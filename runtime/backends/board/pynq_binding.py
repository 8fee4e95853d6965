"""The board interface bound to PYNQ: its ``MMIO`` for the control registers and its
``allocate`` for physically contiguous (CMA) DRAM buffers. Runs on the board only, where the
``pynq`` package is installed (docs/fpga.md gives the bring-up steps)."""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import numpy as np

from vta.isa import VtaError
from vta.isa.address_map import AddressMap

#: Block-design cell of the core (`vta.fpga.vivado.CORE_CELL`), as the overlay's ip_dict names it.
CORE_CELL = "vta_0"


def import_pynq():
    try:
        return importlib.import_module("pynq")
    except ImportError:
        raise VtaError("the board backend needs the pynq package, which only runs on a PYNQ "
                       "board; set VTA_BOARD_BINDING=cosim to run the same driver against the "
                       "RTL co-simulation") from None


def load_overlay(bitstream: str | Path, address_map: AddressMap) -> None:
    """Program the FPGA with `bitstream` (``vta.hwh`` beside it) and check that the core's
    registers are where the driver will look for them."""
    pynq = import_pynq()
    overlay = pynq.Overlay(str(bitstream))
    core = overlay.ip_dict.get(CORE_CELL)
    if core is not None and int(core["phys_addr"]) != address_map.control_base:
        raise VtaError(f"{bitstream}: the core's registers are at {int(core['phys_addr']):#x}, "
                       f"not {address_map.control_base:#x} (rebuild it with vta fpga project)")


class PynqBus:
    """`MmioBus` over ``pynq.MMIO`` of the control window."""

    def __init__(self, address_map: AddressMap):
        self.mmio = import_pynq().MMIO(address_map.control_base, address_map.control_range)

    def read(self, offset: int) -> int:
        return int(self.mmio.read(offset))

    def write(self, offset: int, value: int) -> None:
        self.mmio.write(offset, int(value))

    def wait(self, microseconds: float) -> None:
        time.sleep(microseconds / 1e6)


class PynqDeviceBuffer:
    """A ``pynq.allocate`` buffer: cacheable host memory, so flush before the core reads and
    invalidate before the host reads what the core wrote (the HP port is not coherent)."""

    def __init__(self, buffer):
        self.buffer = buffer
        self.array = buffer.view(np.ndarray)
        self.physical_address = int(buffer.physical_address)

    def sync_to_device(self) -> None:
        self.buffer.flush()

    def sync_from_device(self) -> None:
        self.buffer.invalidate()

    def free(self) -> None:
        self.buffer.freebuffer()


class PynqMemory:
    """`BufferAllocator` over ``pynq.allocate``."""

    def __init__(self):
        self.pynq = import_pynq()

    def allocate(self, nbytes: int) -> PynqDeviceBuffer:
        return PynqDeviceBuffer(self.pynq.allocate(shape=(nbytes,), dtype=np.uint8))
