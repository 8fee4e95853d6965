"""The command-stream builder (the original runtime's ``CommandQueue``): 2-D loads and stores,
micro-kernel pushes through the uop cache, dependency tokens and the synchronisation tail."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import numpy as np

from vta.isa import INSN_BYTES, BoundsError, Finish, Load, MemoryType, Module, Store, VtaError
from vta.isa.image import ProgramImage
from vta.isa.program import program_of
from vta.runtime.insn_queue import InstructionQueue
from vta.runtime.kernels import KernelRecorder, UopCache, UopKernel
from vta.runtime.memory import Buffer

if TYPE_CHECKING:
    from vta.runtime.backends import RunReport
    from vta.runtime.device import Device

LOADABLE = (MemoryType.INP, MemoryType.WGT, MemoryType.ACC)


class CommandStream:
    """Builds one instruction stream for a device, then runs it at `synchronize`.

    Method names and argument orders follow the original C API (``VTALoadBuffer2D``,
    ``VTAStoreBuffer2D``, ``VTADepPush``/``VTADepPop``, ``VTASynchronize``)."""

    def __init__(self, device: Device):
        self.device = device
        self.config = device.config
        self.kernels: dict[object, UopKernel] = {}
        self._elem_bytes = {memory: self.config.elem_bytes(memory) for memory in LOADABLE
                            + (MemoryType.OUT,)}
        self._cache = UopCache(self.config.uop_depth, self.config.machine.overlap_kernels)
        self._insn_buffer: Buffer | None = None
        self._uop_buffer: Buffer | None = None
        self.reset()

    def reset(self) -> None:
        """Drop the instructions built so far and forget what is resident in uop SRAM."""
        self.queue = InstructionQueue(self.config)
        self._cache.clear()
        self._uop_offsets: dict[bytes, int] = {}  # micro-ops -> uop index in the staging area
        self._uop_words: list[np.ndarray] = []
        self._uop_count = 0
        self._uop_fixups: list[tuple[int, int]] = []  # (LOAD UOP index, uop index in staging)

    @property
    def instructions(self) -> list:
        """The instructions built so far (without the synchronisation tail)."""
        return list(self.queue.instructions)

    # -- DRAM <-> SRAM transfers -------------------------------------------------------------
    def _dram_base(self, buffer: Buffer, memory_type: MemoryType, elem_offset: int, x_size: int,
                   y_size: int, x_stride: int, action: str) -> int:
        """The transfer's first DRAM element; errors start with `action` and the memory type."""
        elem_bytes = self._elem_bytes[memory_type]
        if buffer.freed:
            raise VtaError(f"{action} {memory_type.name}: buffer at {buffer.phys_addr:#x} was "
                           f"freed")
        if buffer.memory is not self.device.memory:
            raise VtaError(f"{action} {memory_type.name}: buffer at {buffer.phys_addr:#x} "
                           f"belongs to another device")
        if buffer.phys_addr % elem_bytes:
            raise VtaError(f"{action} {memory_type.name}: buffer at {buffer.phys_addr:#x} is not "
                           f"aligned to {memory_type.name} elements of {elem_bytes} bytes")
        if x_size > 0 and y_size > 0:
            last = elem_offset + (y_size - 1) * x_stride + x_size
            elements = buffer.nbytes // elem_bytes
            if elem_offset < 0 or last > elements:
                raise BoundsError(f"{action} {memory_type.name}: {memory_type.name} elements "
                                  f"[{elem_offset}, {last}) "
                                  f"lie outside the buffer of {elements} elements at "
                                  f"{buffer.phys_addr:#x}")
        return buffer.phys_addr // elem_bytes + elem_offset

    def load_2d(self, buffer: Buffer, elem_offset: int, x_size: int, y_size: int, x_stride: int,
                x_pad_before: int, y_pad_before: int, x_pad_after: int, y_pad_after: int,
                sram_index: int, memory_type: MemoryType) -> None:
        """``VTALoadBuffer2D``: `y_size` rows of `x_size` elements, `x_stride` apart, from
        element `elem_offset` of `buffer` into SRAM tiles from `sram_index`, with zero
        padding. INP/WGT loads run on the load module, ACC loads on compute."""
        if type(memory_type) is not MemoryType:
            memory_type = MemoryType(memory_type)
        if memory_type not in LOADABLE:
            raise VtaError(f"load_2d: cannot load memory type {memory_type.name} "
                           f"(INP, WGT or ACC; micro-ops are loaded by the kernel cache)")
        dram_base = self._dram_base(buffer, memory_type, elem_offset, x_size, y_size, x_stride,
                                    "load_2d")
        self.queue.append_new(Load, memory_type=memory_type, sram_base=sram_index,
                              dram_base=dram_base, y_size=y_size, x_size=x_size,
                              x_stride=x_stride, y_pad_0=y_pad_before, y_pad_1=y_pad_after,
                              x_pad_0=x_pad_before, x_pad_1=x_pad_after)

    def load(self, buffer: Buffer, memory_type: MemoryType, *, sram: int, offset: int = 0,
             x_size: int, y_size: int = 1, x_stride: int | None = None,
             x_pad: tuple[int, int] = (0, 0), y_pad: tuple[int, int] = (0, 0)) -> None:
        """`load_2d` with keywords; `x_stride` defaults to `x_size`, pads are (before, after)."""
        self.load_2d(buffer, offset, x_size, y_size, x_size if x_stride is None else x_stride,
                     x_pad[0], y_pad[0], x_pad[1], y_pad[1], sram, memory_type)

    def store_2d(self, sram_index: int, memory_type: MemoryType, buffer: Buffer, elem_offset: int,
                 x_size: int, y_size: int, x_stride: int) -> None:
        """``VTAStoreBuffer2D``: `y_size` rows of `x_size` OUT tiles from SRAM `sram_index` to
        element `elem_offset` of `buffer`, rows `x_stride` elements apart."""
        if type(memory_type) is not MemoryType:
            memory_type = MemoryType(memory_type)
        if memory_type != MemoryType.OUT:
            raise VtaError(f"store_2d: can only store memory type OUT, not {memory_type.name}")
        dram_base = self._dram_base(buffer, memory_type, elem_offset, x_size, y_size, x_stride,
                                    "store_2d")
        self.queue.append_new(Store, memory_type=memory_type, sram_base=sram_index,
                              dram_base=dram_base, y_size=y_size, x_size=x_size,
                              x_stride=x_stride)

    def store(self, buffer: Buffer, *, sram: int, offset: int = 0, x_size: int, y_size: int = 1,
              x_stride: int | None = None) -> None:
        """`store_2d` with keywords; `x_stride` defaults to `x_size`."""
        self.store_2d(sram, MemoryType.OUT, buffer, offset, x_size, y_size,
                      x_size if x_stride is None else x_stride)

    # -- micro-kernels -----------------------------------------------------------------------
    @contextmanager
    def kernel(self, key) -> Iterator[KernelRecorder]:
        """Record (first use of `key`) or reuse a micro-kernel, then push its GEMM or ALU.

        ::

            with stream.kernel(("gemm", m, n)) as k:
                if not k.cached:
                    k.loop(m, dst_factor=n, src_factor=1)
                    k.gemm(dst=0, src=0, wgt=0)
        """
        known = self.kernels.get(key)
        recorder = KernelRecorder(self.config, key, cached=known is not None)
        yield recorder
        if known is None:
            self.kernels[key] = known = recorder.finish()
        elif not recorder.empty and recorder.finish().signature() != known.signature():
            raise VtaError(f"kernel {key!r}: recorded again with different micro-ops, loops or "
                           f"operation than its first recording (use another key)")
        self.push_kernel(known)

    def push_kernel(self, kernel: UopKernel) -> None:
        """``VTAPushGEMMOp``/``VTAPushALUOp``: load the kernel's micro-ops into uop SRAM if they
        are not resident (a LOAD UOP on the compute module), then its GEMM or ALU."""
        uop_bgn = self._cache.lookup(kernel)
        if uop_bgn is None:
            uop_bgn = self._cache.place(kernel)
            index = self.queue.append_new(Load, memory_type=MemoryType.UOP, sram_base=uop_bgn,
                                          y_size=1, x_size=len(kernel), x_stride=len(kernel))
            self._uop_fixups.append((index, self._stage_uops(kernel)))
        self.queue.append_kernel(kernel, uop_bgn)

    def _stage_uops(self, kernel: UopKernel) -> int:
        """Where the kernel's micro-ops sit in this run's uop staging area (once per run)."""
        content = kernel.content
        if content not in self._uop_offsets:
            self._uop_offsets[content] = self._uop_count
            self._uop_words.append(kernel.words)
            self._uop_count += len(kernel)
        return self._uop_offsets[content]

    # -- dependency tokens -------------------------------------------------------------------
    def dep_push(self, src: Module | int, dst: Module | int, after: int | None = None) -> None:
        """``VTADepPush``: module `src` sends a token to neighbouring module `dst` after its
        last instruction (folded into that instruction when possible, else a NOP); with
        `after`, after its instruction of that index in the queue (`InstructionQueue.dep_push`)
        where it may."""
        self.queue.dep_push(src, dst, after)

    def dep_pop(self, src: Module | int, dst: Module | int) -> None:
        """``VTADepPop``: the next instruction of `dst` waits for a token from `src`."""
        self.queue.dep_pop(src, dst)

    # -- finishing ---------------------------------------------------------------------------
    def _append_tail(self) -> None:
        """The ``VTASynchronize`` tail: FINISH runs after the last store and the last load."""
        self.queue.dep_push(Module.STORE, Module.COMPUTE)
        self.queue.dep_push(Module.LOAD, Module.COMPUTE)
        self.queue.dep_pop(Module.STORE, Module.COMPUTE)
        self.queue.dep_pop(Module.LOAD, Module.COMPUTE)
        self.queue.commit_pending_pops(Module.COMPUTE)
        self.queue.append(Finish())

    def _staging(self, current: Buffer | None, nbytes: int) -> Buffer:
        if current is not None and current.nbytes >= nbytes:
            return current
        if current is not None:
            current.free()
        return self.device.alloc(max(nbytes, 1))

    def build(self, decoded: bool = False) -> ProgramImage:
        """End the stream with the synchronisation tail, write instructions and micro-ops into
        device DRAM and return the program image over it; the stream starts afresh. With
        `decoded`, the image's `program` is the instructions as built (`program_of`), not
        decoded back from DRAM and validated (for a caller that only times many streams)."""
        self._append_tail()
        uop_bytes = self.config.elem_bytes(MemoryType.UOP)
        self._uop_buffer = self._staging(self._uop_buffer, self._uop_count * uop_bytes)
        if self._uop_count:
            self._uop_buffer.copy_in(np.concatenate(self._uop_words))
        uop_base = self._uop_buffer.phys_addr // uop_bytes
        for index, offset in self._uop_fixups:
            self.queue.set_field(index, "dram_base", uop_base + offset)
        stream = self.queue.stream_bytes()
        self._insn_buffer = self._staging(self._insn_buffer, len(stream))
        self._insn_buffer.copy_in(np.frombuffer(stream, np.uint8))
        image = ProgramImage(self.config, self.device.dram_view(), self._insn_buffer.phys_addr,
                             len(stream) // INSN_BYTES)
        if decoded:
            image.__dict__["program"] = program_of(self.queue.instructions, self.queue.encoded)
        self.reset()
        return image

    def synchronize(self) -> RunReport:
        """``VTASynchronize``: build the stream, run it on the device's backend, and return the
        run's report (the device accumulates its counters)."""
        return self.device.run(self.build())
