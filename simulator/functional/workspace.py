"""Scratch arrays reused across instructions.

glibc hands large freed blocks back to the kernel, and the page faults of re-allocating them
cost more than the arithmetic on this machine, so hot temporaries live here instead."""

from __future__ import annotations

import numpy as np

#: Drop every scratch array when together they grow beyond this many bytes.
WORKSPACE_LIMIT = 512 << 20


class Workspace:
    """Arrays by (role, shape, dtype), allocated once and reused; contents are not kept."""

    def __init__(self, limit: int = WORKSPACE_LIMIT):
        self.arrays: dict[tuple, np.ndarray] = {}
        self.nbytes, self.limit = 0, limit

    def get(self, role: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        key = (role, shape, np.dtype(dtype))
        array = self.arrays.get(key)
        if array is None:
            array = np.zeros(shape, dtype)
            array.fill(0)  # its pages mapped now (allocation), not at its first use in a run
            if self.nbytes + array.nbytes > self.limit:
                self.arrays.clear()
                self.nbytes = 0
            self.arrays[key] = array
            self.nbytes += array.nbytes
        return array
