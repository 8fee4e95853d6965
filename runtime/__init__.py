"""vta.runtime: device buffers, the command-stream builder, micro-kernels and backends.

Typical use::

    device = Device(Config.preset("pynq"), backend="functional")
    inp = device.array(packed_input)
    s = device.stream
    s.load(inp, MemoryType.INP, sram=0, x_size=4)
    ...
    report = device.synchronize()
"""

from vta.runtime.backends import (COUNTER_NAMES, Backend, RunReport, backend_names, get_backend,
                                  register_backend)
from vta.runtime.device import Device
from vta.runtime.kernels import KernelRecorder, Loop, UopCache, UopHazardError, UopKernel
from vta.runtime.memory import PAGE_BYTES, Buffer, DeviceMemory, PageAllocator
from vta.runtime.stream import CommandStream

__all__ = [
    "COUNTER_NAMES", "Backend", "RunReport", "backend_names", "get_backend", "register_backend",
    "Device", "KernelRecorder", "Loop", "UopCache", "UopHazardError", "UopKernel", "PAGE_BYTES",
    "Buffer", "DeviceMemory", "PageAllocator", "CommandStream",
]
