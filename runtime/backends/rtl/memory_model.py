"""The memory model of docs/memory-model.md, bound from its one implementation
(``memory_model.h``, C++): the fast harness links it; the cocotb testbench and the Amaranth
simulation step it through this module once per rising edge.

`AxiMemoryModel.step(edge, sample)` applies the handshakes the core made at `edge` (`sample`:
what it drove just before) and leaves in ``outputs`` what the model drives for ``edge + 1``.
Edges are numbered from 1. A broken AXI rule raises `MemoryProtocolError`, an access outside
the DRAM image `MemoryBoundsError` (a `BoundsError`).
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from functools import cache
from pathlib import Path

import numpy as np

from vta.isa import BoundsError, Config, VtaError
from vta.runtime.backends.rtl.cache import build_key, cached_build
from vta.runtime.backends.rtl.processes import run_group

HERE = Path(__file__).resolve().parent
SOURCES = ("memory_model.h", "memory_model.cpp")
#: The core is held in reset for edges 1..RESET_EDGES; models act from the next edge on.
RESET_EDGES = 4
MAX_BUS_BYTES = 128


class MemoryProtocolError(VtaError):
    """The core broke the AXI contract of the memory model."""


class MemoryBoundsError(BoundsError):
    """The core addressed bytes outside the DRAM image."""


class AxiSample(ctypes.Structure):
    """The core's master outputs as sampled just before one rising edge."""

    _fields_ = [(name, ctypes.c_int32) for name in (
        "arvalid", "arlen", "arsize", "arburst", "rready", "awvalid", "awlen", "awsize",
        "awburst", "wvalid", "wlast", "bready")] + [
        ("araddr", ctypes.c_uint64), ("awaddr", ctypes.c_uint64), ("wstrb", ctypes.c_uint64),
        ("wdata_bytes", ctypes.c_uint8 * MAX_BUS_BYTES)]

    def set_wdata(self, value: int, bus_bytes: int) -> None:
        ctypes.memmove(self.wdata_bytes, int(value).to_bytes(bus_bytes, "little"), bus_bytes)


class AxiOutputs(ctypes.Structure):
    """What the model drives for the next edge."""

    _fields_ = [(name, ctypes.c_int32) for name in (
        "arready", "awready", "wready", "rvalid", "rlast", "bvalid")] + [
        ("rdata_bytes", ctypes.c_uint8 * MAX_BUS_BYTES)]


class _Parameters(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int32) for name in (
        "bus_bytes", "read_latency", "write_latency", "max_burst_beats", "burst_boundary_bytes",
        "stall_period")]


def compiler() -> str:
    found = shutil.which("c++") or shutil.which("g++")
    if found is None:
        raise VtaError("no C++ compiler found for the memory model: apt-get install g++")
    return found


@cache
def _library() -> ctypes.CDLL:
    sources = [(HERE / name).read_text() for name in SOURCES]
    command = [compiler(), "-O2", "-std=c++17", "-shared", "-fPIC", "-o", "libvta_memory.so",
               "memory_model.cpp"]
    key = build_key("memory model", *sources, *command)

    def build(folder: Path) -> None:
        for name, text in zip(SOURCES, sources):
            (folder / name).write_text(text)
        log = folder / "build.log"
        with open(log, "w") as out:
            status = run_group(command, record=folder.parent / f"{folder.name}.pgid", cwd=folder,
                               stdout=out, stderr=subprocess.STDOUT)
        if status:
            raise VtaError(f"building the memory model failed:\n{log.read_text()[-2000:]}")

    library = ctypes.CDLL(str(cached_build(key, build) / "libvta_memory.so"))
    library.vta_memory_new.restype = ctypes.c_void_p
    library.vta_memory_new.argtypes = [ctypes.c_void_p, ctypes.c_uint64,
                                       ctypes.POINTER(_Parameters)]
    library.vta_memory_free.argtypes = [ctypes.c_void_p]
    library.vta_memory_step.restype = ctypes.c_int
    library.vta_memory_step.argtypes = [ctypes.c_void_p, ctypes.c_uint64,
                                        ctypes.POINTER(AxiSample), ctypes.POINTER(AxiOutputs),
                                        ctypes.c_char_p, ctypes.c_uint64]
    library.vta_memory_idle.argtypes = [ctypes.c_void_p]
    return library


def memory_parameters(config: Config) -> dict[str, int]:
    """The model's parameters for a config: its bus, its memory latencies and the bursts its
    machine description allows."""
    return {"bus_bytes": config.bus_bytes, "read_latency": config.MEM_READ_LATENCY,
            "write_latency": config.MEM_WRITE_LATENCY,
            "max_burst_beats": config.machine.max_burst_beats,
            "burst_boundary_bytes": config.machine.burst_boundary_bytes}


class AxiMemoryModel:
    """One AXI4 slave over `dram` (a writable buffer: numpy uint8 array, bytearray or mmap,
    changed in place) with the parameters of `memory_parameters`; `stall_period` > 0 withholds
    ready and RVALID on every edge e with e % stall_period == 1 (back-pressure for unit tests)."""

    def __init__(self, dram, *, bus_bytes: int, read_latency: int, write_latency: int,
                 max_burst_beats: int, burst_boundary_bytes: int, stall_period: int = 0):
        if read_latency < 1 or write_latency < 1:
            raise VtaError("memory latencies must be at least 1 cycle")
        self.library = _library()
        self.dram, self.array = dram, np.frombuffer(dram, dtype=np.uint8)
        self.bus_bytes = bus_bytes
        parameters = _Parameters(bus_bytes, read_latency, write_latency, max_burst_beats,
                                 burst_boundary_bytes, stall_period)
        self.handle = self.library.vta_memory_new(self.array.ctypes.data, self.array.size,
                                                  ctypes.byref(parameters))
        self.outputs = AxiOutputs(arready=1, awready=1, wready=1)
        self._error = ctypes.create_string_buffer(512)

    def step(self, edge: int, sample: AxiSample) -> None:
        status = self.library.vta_memory_step(self.handle, edge, ctypes.byref(sample),
                                              ctypes.byref(self.outputs), self._error, 512)
        if status:
            message = self._error.value.decode()
            raise MemoryBoundsError(message) if status == 2 else MemoryProtocolError(message)

    @property
    def rvalid(self) -> int:
        return self.outputs.rvalid

    @property
    def rlast(self) -> int:
        return self.outputs.rlast

    @property
    def bvalid(self) -> int:
        return self.outputs.bvalid

    @property
    def rdata(self) -> int:
        return int.from_bytes(bytes(self.outputs.rdata_bytes[:self.bus_bytes]), "little")

    @property
    def idle(self) -> bool:
        return bool(self.library.vta_memory_idle(self.handle))

    def __del__(self):
        handle = getattr(self, "handle", None)
        if handle:
            self.library.vta_memory_free(handle)
