"""The device: one API (allocate, copy in/out, build a command stream, run, synchronize, read
counters) over every backend (docs/contracts.md §5)."""

from __future__ import annotations

import numpy as np

from vta.isa import Config, VtaError
from vta.isa.image import ProgramImage
from vta.runtime.backends import COUNTER_NAMES, Backend, RunReport, get_backend
from vta.runtime.memory import Buffer, DeviceMemory
from vta.runtime.stream import CommandStream

DEFAULT_MEMORY_BYTES = 64 << 20


class Device:
    """A VTA device: DRAM, its allocator, a command stream and a backend that runs programs.

    Parameters
    ----------
    config:
        The configuration (default: the ``pynq`` preset).
    backend:
        A backend name from `vta.runtime.backends.backend_names()` or a `Backend` instance.
    memory_bytes:
        Size of the device DRAM (allocated lazily by the OS; runs only see the part up to
        the highest allocated buffer).
    **backend_options:
        Passed to the backend's constructor.
    """

    def __init__(self, config: Config | None = None, backend: str | Backend = "functional", *,
                 memory_bytes: int = DEFAULT_MEMORY_BYTES, **backend_options):
        if config is not None and not isinstance(config, Config):
            raise VtaError(f"Device: config {config!r} is not a Config (a preset is "
                           f"Config.preset(name))")
        self.config = config or Config.preset()
        if isinstance(backend, Backend):
            self.backend = backend
        else:
            self.backend = get_backend(backend, self.config, **backend_options)
        self.memory = DeviceMemory(memory_bytes)
        self.stream = CommandStream(self)
        self.reports: list[RunReport] = []
        self.counters = dict.fromkeys(COUNTER_NAMES, 0)

    def __repr__(self) -> str:
        return f"Device({self.config.config_string}, backend={self.backend.name!r})"

    # -- memory ------------------------------------------------------------------------------
    @property
    def dram(self) -> np.ndarray:
        """The whole device DRAM, indexed by physical address."""
        return self.memory.dram

    def dram_view(self) -> np.ndarray:
        """DRAM up to the end of the highest allocated buffer (a view: runs write into it)."""
        return self.memory.dram[:self.memory.allocator.high_water]

    def alloc(self, nbytes: int) -> Buffer:
        """A page-aligned buffer of `nbytes` bytes (never at physical address 0)."""
        return self.memory.alloc(nbytes)

    def array(self, array: np.ndarray) -> Buffer:
        """A buffer holding a copy of `array`'s bytes."""
        array = np.ascontiguousarray(array)
        buffer = self.alloc(array.nbytes)
        buffer.copy_in(array)
        return buffer

    def free(self, buffer: Buffer) -> None:
        self.memory.free(buffer)

    @staticmethod
    def copy_in(buffer: Buffer, array: np.ndarray, offset: int = 0) -> None:
        """Copy `array`'s bytes into `buffer` at byte `offset`."""
        buffer.copy_in(array, offset)

    @staticmethod
    def copy_out(buffer: Buffer, dtype=np.uint8, shape=None, offset: int = 0) -> np.ndarray:
        """A fresh array of `dtype` and `shape` read from `buffer` at byte `offset`."""
        return buffer.copy_out(dtype, shape, offset)

    # -- running -----------------------------------------------------------------------------
    def run(self, image: ProgramImage) -> RunReport:
        """Run a program image on the backend; its counters add to the device's."""
        report = self.backend.run(image)
        self.reports.append(report)
        for name in COUNTER_NAMES:
            self.counters[name] += report.counters[name]
        return report

    def synchronize(self) -> RunReport:
        """Run what the command stream holds and wait for it (``VTASynchronize``)."""
        return self.stream.synchronize()

    @property
    def last_report(self) -> RunReport | None:
        return self.reports[-1] if self.reports else None

    def reset_counters(self) -> None:
        self.counters = dict.fromkeys(COUNTER_NAMES, 0)
        self.reports.clear()
