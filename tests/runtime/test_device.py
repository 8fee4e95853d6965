"""The allocator (page-aligned, never address 0, first fit, merging), buffers, copies, the
backend registry and the run report."""

import json

import numpy as np
import pytest
from runtime_helpers import BACKENDS, PYNQ

from vta.isa import BoundsError, FieldRangeError, MemoryType, VtaError
from vta.runtime import (COUNTER_NAMES, PAGE_BYTES, Device, PageAllocator, RunReport,
                         backend_names, get_backend)


def test_allocations_are_page_aligned_disjoint_and_never_at_zero():
    allocator = PageAllocator(64 * PAGE_BYTES)
    sizes = [1, PAGE_BYTES, PAGE_BYTES + 1, 3 * PAGE_BYTES - 7, 16]
    blocks = [(allocator.alloc(size), size) for size in sizes]
    for address, size in blocks:
        assert address > 0 and address % PAGE_BYTES == 0
    spans = sorted((address, address + -(-size // PAGE_BYTES) * PAGE_BYTES)
                   for address, size in blocks)
    assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:]))
    assert spans[0][0] == PAGE_BYTES


def test_freed_blocks_are_reused_and_merged():
    allocator = PageAllocator(8 * PAGE_BYTES)
    a, b, c = (allocator.alloc(PAGE_BYTES) for _ in range(3))
    allocator.free(a)
    allocator.free(b)
    assert allocator.alloc(2 * PAGE_BYTES) == a          # merged [a, c)
    assert allocator.high_water == c + PAGE_BYTES


def test_allocator_errors():
    allocator = PageAllocator(4 * PAGE_BYTES)
    with pytest.raises(VtaError, match="out of device memory"):
        allocator.alloc(4 * PAGE_BYTES)                  # page 0 is never handed out
    address = allocator.alloc(3 * PAGE_BYTES)
    with pytest.raises(VtaError, match="cannot allocate"):
        allocator.alloc(0)
    allocator.free(address)
    with pytest.raises(VtaError, match="not the start"):
        allocator.free(address)


def test_a_size_that_is_not_a_whole_number_of_bytes_is_refused():
    with pytest.raises(VtaError, match="cannot allocate 3.5 bytes"):
        Device(PYNQ, memory_bytes=1 << 20).alloc(3.5)
    assert Device(PYNQ, memory_bytes=1 << 20).alloc(np.int64(64)).nbytes == 64


def test_a_buffer_of_another_device_is_refused_and_frees_nothing():
    device, other = Device(PYNQ, memory_bytes=1 << 20), Device(PYNQ, memory_bytes=1 << 20)
    mine, theirs = device.alloc(64), other.alloc(64)
    assert mine.phys_addr == theirs.phys_addr
    with pytest.raises(VtaError, match="belongs to another device"):
        device.free(theirs)
    with pytest.raises(VtaError, match="load_2d INP: buffer at 0x1000 belongs to another device"):
        device.stream.load(theirs, MemoryType.INP, sram=0, x_size=1)
    assert device.alloc(64).phys_addr != mine.phys_addr       # still allocated


def test_copy_in_and_out_round_trip():
    device = Device(PYNQ, memory_bytes=1 << 20)
    data = np.arange(-50, 50, dtype=np.int32).reshape(10, 10)
    buffer = device.array(data)
    assert buffer.phys_addr % PAGE_BYTES == 0 and buffer.nbytes == data.nbytes
    assert (device.dram[buffer.phys_addr:buffer.phys_addr + 400].view(np.int32) == data.ravel()).all()
    assert (device.copy_out(buffer, np.int32, (10, 10)) == data).all()
    device.copy_in(buffer, np.full(3, 7, np.int32), offset=8)
    assert list(buffer.copy_out(np.int32, (5,))) == [-50, -49, 7, 7, 7]
    with pytest.raises(BoundsError, match="outside the buffer"):
        buffer.copy_in(np.zeros(101, np.int32))
    with pytest.raises(BoundsError, match=r"bytes \[0, -8\) lie outside the buffer"):
        buffer.copy_out(np.int32, (-2,))
    device.free(buffer)
    with pytest.raises(VtaError, match="freed"):
        buffer.copy_out()


def test_transfers_outside_a_buffer_are_rejected():
    device = Device(PYNQ, memory_bytes=1 << 20)
    inp = device.alloc(4 * PYNQ.elem_bytes(MemoryType.INP))
    with pytest.raises(BoundsError, match=r"INP elements \[2, 6\)"):
        device.stream.load(inp, MemoryType.INP, sram=0, offset=2, x_size=4)
    with pytest.raises(BoundsError, match="OUT elements"):
        device.stream.store(inp, sram=0, x_size=2, y_size=3, x_stride=2)
    with pytest.raises(VtaError, match="micro-ops are loaded by the kernel cache"):
        device.stream.load(inp, MemoryType.UOP, sram=0, x_size=1)
    with pytest.raises(FieldRangeError, match="LOAD INP.*field x_size = 2.5 is not a whole number"):
        device.stream.load(inp, MemoryType.INP, sram=0, x_size=2.5)


def test_dram_base_is_physical_address_over_element_size_plus_offset():
    device = Device(PYNQ, memory_bytes=1 << 20)
    device.alloc(3 * PAGE_BYTES)
    wgt = device.alloc(16 * PYNQ.elem_bytes(MemoryType.WGT))
    device.stream.load_2d(wgt, 3, 2, 2, 4, 0, 0, 0, 0, 5, MemoryType.WGT)
    (load,) = device.stream.instructions
    assert load.dram_base == wgt.phys_addr // PYNQ.elem_bytes(MemoryType.WGT) + 3
    assert (load.sram_base, load.x_size, load.y_size, load.x_stride) == (5, 2, 2, 4)


def test_field_out_of_range_names_the_field():
    from vta.isa import FieldRangeError
    device = Device(PYNQ, memory_bytes=1 << 20)
    acc = device.alloc(1 << 16)
    with pytest.raises(FieldRangeError, match="x_pad_0"):
        device.stream.load(acc, MemoryType.ACC, sram=0, x_size=1, x_pad=(16, 0))
    with pytest.raises(FieldRangeError, match="sram_base"):
        device.stream.load(acc, MemoryType.ACC, sram=1 << 16, x_size=1)


def test_a_config_that_is_not_a_config_is_refused():
    with pytest.raises(VtaError, match="config 'pynq' is not a Config"):
        Device("pynq")


def test_registry_lists_functional_and_rejects_unknown_names():
    assert "functional" in backend_names()
    with pytest.raises(VtaError, match="unknown backend 'nope'"):
        get_backend("nope", PYNQ)
    with pytest.raises(VtaError, match="no option"):
        get_backend("functional", PYNQ, colour="blue")


def test_run_report_json_shape():
    counters = dict.fromkeys(COUNTER_NAMES, 3)
    report = RunReport("functional", None, counters, {})
    text = json.dumps(report.to_json())
    assert json.loads(text) == {"backend": "functional", "cycles": None,
                                "counters": counters, "modules": {}}
    assert list(report.to_json()["counters"]) == list(COUNTER_NAMES)
    with pytest.raises(VtaError, match="no counter alu_counter"):
        RunReport("x", 1, {name: 0 for name in COUNTER_NAMES[:-1]})


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_rejects_an_image_of_another_config(backend):
    other = Device(PYNQ.replace(LOG_BLOCK=5), backend)
    image = other.stream.build()
    with pytest.raises(VtaError, match="image is for 1x32"):
        get_backend(backend, PYNQ).run(image)
