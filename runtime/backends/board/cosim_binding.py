"""The board interface bound to a simulation of ``vta_core`` (`vta.runtime.backends.rtl.session`):
the session's `SessionBus` stands for the board's MMIO, and `CosimMemory` allocates page-aligned
buffers from the simulated DRAM with the runtime's page allocator (page 0 is never handed out,
so programs really are relocated). The simulator is either harness of the rtl backend, built
through its cache."""

from __future__ import annotations

from vta.runtime.backends.rtl.session import Session
from vta.runtime.memory import PageAllocator


class CosimBuffer:
    """A buffer of the simulated DRAM. The simulator maps the same file, so the synchronisation
    calls have nothing to do but flush (as on a cache-coherent port)."""

    def __init__(self, memory: CosimMemory, address: int, nbytes: int):
        self.memory, self.physical_address = memory, address
        self.array = memory.session.dram[address:address + nbytes]

    def sync_to_device(self) -> None:
        self.memory.session.dram.flush()

    def sync_from_device(self) -> None:
        pass

    def free(self) -> None:
        self.memory.allocator.free(self.physical_address)


class CosimMemory:
    """`BufferAllocator` over a simulation's DRAM."""

    def __init__(self, session: Session):
        self.session = session
        self.allocator = PageAllocator(session.dram_bytes)

    def allocate(self, nbytes: int) -> CosimBuffer:
        return CosimBuffer(self, self.allocator.alloc(nbytes), nbytes)
