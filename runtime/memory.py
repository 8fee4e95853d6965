"""Device memory: one numpy uint8 array indexed by physical address, carved into page-aligned
buffers by a first-fit page allocator that never hands out physical address 0 (as the original
simulator's paged memory manager)."""

from __future__ import annotations

import numbers

import numpy as np

from vta.isa import BoundsError, VtaError

PAGE_BYTES = 4096  # the original runtime's VTA_PAGE_BITS = 12


class PageAllocator:
    """First-fit allocation of whole pages in ``[PAGE_BYTES, size)``; page 0 is reserved."""

    def __init__(self, size: int):
        if size < 2 * PAGE_BYTES or size % PAGE_BYTES:
            raise VtaError(f"device memory of {size} bytes is not a multiple of {PAGE_BYTES} "
                           f"bytes holding at least one usable page")
        self.size = size
        self._free: list[tuple[int, int]] = [(PAGE_BYTES, size)]  # sorted [start, end) ranges
        self._allocated: dict[int, int] = {}  # start -> end

    def alloc(self, nbytes: int) -> int:
        """The physical address of a fresh page-aligned block of at least `nbytes` bytes."""
        if not isinstance(nbytes, numbers.Integral) or nbytes <= 0:
            raise VtaError(f"cannot allocate {nbytes} bytes of device memory")
        length = -(-nbytes // PAGE_BYTES) * PAGE_BYTES
        for index, (start, end) in enumerate(self._free):
            if end - start >= length:
                if end - start == length:
                    del self._free[index]
                else:
                    self._free[index] = (start + length, end)
                self._allocated[start] = start + length
                return start
        raise VtaError(f"out of device memory: no free block of {length} bytes "
                       f"({self.free_bytes} of {self.size} bytes free)")

    def free(self, address: int) -> None:
        """Return the block starting at `address`; neighbouring free blocks merge."""
        try:
            end = self._allocated.pop(address)
        except KeyError:
            raise VtaError(f"device address {address:#x} is not the start of an allocated buffer") from None
        ranges = sorted(self._free + [(address, end)])
        merged = [ranges[0]]
        for start, stop in ranges[1:]:
            if start == merged[-1][1]:
                merged[-1] = (merged[-1][0], stop)
            else:
                merged.append((start, stop))
        self._free = merged

    @property
    def free_bytes(self) -> int:
        return sum(end - start for start, end in self._free)

    @property
    def high_water(self) -> int:
        """One past the last byte of the highest allocated block (at least one page)."""
        return max(self._allocated.values(), default=PAGE_BYTES)


class Buffer:
    """A block of device memory: its physical address, its size, copies in and out."""

    def __init__(self, memory: DeviceMemory, phys_addr: int, nbytes: int):
        self.memory, self.phys_addr, self.nbytes = memory, phys_addr, nbytes
        self.freed = False

    def __repr__(self) -> str:
        return f"Buffer(phys_addr={self.phys_addr:#x}, nbytes={self.nbytes})"

    def _span(self, offset: int, length: int, action: str) -> slice:
        if self.freed:
            raise VtaError(f"{action}: buffer at {self.phys_addr:#x} was freed")
        if offset < 0 or length < 0 or offset + length > self.nbytes:
            raise BoundsError(f"{action}: bytes [{offset}, {offset + length}) lie outside the "
                              f"buffer of {self.nbytes} bytes at {self.phys_addr:#x}")
        return slice(self.phys_addr + offset, self.phys_addr + offset + length)

    def copy_in(self, array: np.ndarray, offset: int = 0) -> None:
        """Copy the bytes of `array` (C order, its own dtype) into the buffer at byte `offset`."""
        data = np.ascontiguousarray(array).view(np.uint8).reshape(-1)
        self.memory.dram[self._span(offset, data.size, "copy_in")] = data

    def copy_out(self, dtype=np.uint8, shape=None, offset: int = 0) -> np.ndarray:
        """A fresh array of `dtype` read from byte `offset` (the whole rest if `shape` is None)."""
        dtype = np.dtype(dtype)
        count = (self.nbytes - offset) // dtype.itemsize if shape is None else int(np.prod(shape))
        data = self.memory.dram[self._span(offset, count * dtype.itemsize, "copy_out")]
        result = data.copy().view(dtype)
        return result if shape is None else result.reshape(shape)

    def free(self) -> None:
        self.memory.free(self)


class DeviceMemory:
    """The device's DRAM (a uint8 array, byte offset = physical address) and its allocator."""

    def __init__(self, size: int):
        self.allocator = PageAllocator(size)
        self.dram = np.zeros(size, dtype=np.uint8)

    def alloc(self, nbytes: int) -> Buffer:
        return Buffer(self, self.allocator.alloc(nbytes), nbytes)

    def free(self, buffer: Buffer) -> None:
        if buffer.memory is not self:
            raise VtaError(f"buffer at {buffer.phys_addr:#x} belongs to another device")
        if buffer.freed:
            raise VtaError(f"buffer at {buffer.phys_addr:#x} was already freed")
        self.allocator.free(buffer.phys_addr)
        buffer.freed = True
