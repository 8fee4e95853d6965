"""The board driver: runs a program image on the core through an `MmioBus` and a
`BufferAllocator` (`vta.runtime.backends.bus`), exactly as it would on a PYNQ board.

A program image addresses DRAM from 0; on a board the image lives in a buffer at some physical
address P. Like the original runtime (``dram_base = phys_addr / elem_bytes``), the driver
relocates the instruction stream: every LOAD/STORE that moves data gets ``P / elem_bytes`` added
to its ``dram_base``, and INSN_ADDR is ``P + insn_addr``. Micro-ops hold only SRAM indices and
need nothing. After the run the original instruction words are put back, so the image that
comes back compares byte for byte with one run at address 0.

The register protocol is the one host driver's (`vta.runtime.backends.driver.CoreDriver`).
"""

from __future__ import annotations

import numpy as np

from vta.isa import FieldRangeError, Opcode, VtaError, encode
from vta.isa.address_map import AddressMap
from vta.isa.image import ProgramImage
from vta.runtime.backends.bus import BufferAllocator, DeviceBuffer, MmioBus
from vta.runtime.backends.driver import CoreDriver, RunResult


def relocated_stream(image: ProgramImage, physical_base: int) -> np.ndarray:
    """The instruction stream with every data-moving LOAD/STORE moved by `physical_base`
    bytes, as (insn_count, 16) bytes."""
    config, stream = image.config, image.instruction_bytes.copy()
    for index, decoded in enumerate(image.program):
        if decoded.opcode not in (Opcode.LOAD, Opcode.STORE) or decoded.x_size == 0:
            continue
        insn = decoded.instruction()
        elem_bytes = config.elem_bytes(insn.memory_type)
        if physical_base % elem_bytes:
            raise VtaError(f"buffer at {physical_base:#x} is not aligned to the "
                           f"{elem_bytes}-byte elements of instruction {index}")
        moved = insn.replace(dram_base=insn.dram_base + physical_base // elem_bytes)
        try:
            stream[index] = np.frombuffer(encode(moved, config), dtype=np.uint8)
        except FieldRangeError as error:
            raise VtaError(f"instruction {index}: cannot relocate to {physical_base:#x}: "
                           f"{error}") from None
    return stream


class BoardDriver:
    """Runs program images on one core: `bus` reaches its registers, `memory` allocates DRAM
    it can reach (within `address_map`'s DRAM window, when given)."""

    def __init__(self, bus: MmioBus, memory: BufferAllocator, *,
                 address_map: AddressMap | None = None):
        self.core, self.memory, self.address_map = CoreDriver(bus), memory, address_map

    def run(self, image: ProgramImage, *, watchdog_us: float) -> RunResult:
        """Run `image` in place on ``image.dram``; DeadlockError when the core is not done
        after `watchdog_us` microseconds of waiting."""
        buffer = self.memory.allocate(image.dram.size)
        try:
            self._check_window(buffer, image.dram.size)
            stream = self._stage(image, buffer)
            result = self.core.run(buffer.physical_address + image.insn_addr, image.insn_count,
                                   watchdog_us=watchdog_us)
            buffer.sync_from_device()
            self._unstage(image, buffer, stream)
            return result
        finally:
            buffer.free()

    def _check_window(self, buffer: DeviceBuffer, nbytes: int) -> None:
        window = self.address_map
        if window and not (window.dram_base <= buffer.physical_address
                           and buffer.physical_address + nbytes <= window.dram_base + window.dram_range):
            raise VtaError(f"buffer [{buffer.physical_address:#x}, +{nbytes:#x}) lies outside "
                           f"the DRAM window the core reaches")

    @staticmethod
    def _stage(image: ProgramImage, buffer: DeviceBuffer) -> np.ndarray:
        """Copy the image into the buffer with the relocated stream; the relocated stream."""
        stream = relocated_stream(image, buffer.physical_address)
        buffer.array[:image.dram.size] = image.dram
        start = image.insn_addr
        buffer.array[start:start + stream.size] = stream.reshape(-1)
        buffer.sync_to_device()
        return stream

    @staticmethod
    def _unstage(image: ProgramImage, buffer: DeviceBuffer, stream: np.ndarray) -> None:
        """Copy the buffer back into the image, restoring the original instruction words
        wherever the buffer still holds the relocated ones."""
        original = image.instruction_bytes.copy()
        image.dram[:] = buffer.array[:image.dram.size]
        final = image.instruction_bytes
        untouched = (final == stream).all(axis=1)
        final[untouched] = original[untouched]
