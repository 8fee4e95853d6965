"""Runs through the device: counters per run and accumulated, static-check and deadlock errors
from the backend, uop-cache reuse and eviction executing correctly, program images replayed."""

import json

import numpy as np
import pytest
from runtime_helpers import BACKENDS, PYNQ, uop_loads

from vta.isa import UOP_BYTES, BoundsError, DeadlockError, MemoryType, Module
from vta.isa.image import ProgramImage
from vta.runtime import COUNTER_NAMES, Device

ACC = MemoryType.ACC
LOAD, COMPUTE, STORE = Module.LOAD, Module.COMPUTE, Module.STORE
TILE = (PYNQ.batch, PYNQ.block_out)


def add_program(device, values, additions):
    """LOAD ACC `values` tiles, add each (tile, immediate) through its own one-uop kernel,
    store; returns the output buffer."""
    s = device.stream
    s.load(device.array(values), ACC, sram=0, x_size=len(values))
    for key, (tile, imm) in additions:
        with s.kernel(key) as k:
            k.add(dst=tile, imm=imm)
    with s.kernel("copy") as k:        # every stored tile written by the ALU last
        k.loop(len(values), dst_factor=1, src_factor=1)
        k.shr(dst=0, imm=0)
    s.dep_push(COMPUTE, STORE)
    s.dep_pop(COMPUTE, STORE)
    out = device.alloc(len(values) * PYNQ.elem_bytes(MemoryType.OUT))
    s.store(out, sram=0, x_size=len(values))
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_evicted_and_resident_kernels_compute_the_right_values(backend):
    device = Device(PYNQ, backend, memory_bytes=4 << 20)
    third = PYNQ.uop_depth // 3 + 1
    values = np.zeros((3, *TILE), np.int32)
    sequence = ["a", "b", "c", "b", "a", "c", "b"]
    s = device.stream
    s.load(device.array(values), ACC, sram=0, x_size=3)
    imm = {"a": 1, "b": 2, "c": 3}
    shift = {"a": 0, "b": 1, "c": 2}               # other micro-ops (same ones are shared)
    for name in sequence:
        with s.kernel(name) as k:
            for tile in range(third):              # cycling over 3 tiles avoids the hazard
                k.add(dst=(tile + shift[name]) % 3, imm=imm[name])
    with s.kernel("copy") as k:
        k.loop(3, dst_factor=1, src_factor=1)
        k.shr(dst=0, imm=0)
    s.dep_push(COMPUTE, STORE)
    s.dep_pop(COMPUTE, STORE)
    out = device.alloc(3 * PYNQ.elem_bytes(MemoryType.OUT))
    s.store(out, sram=0, x_size=3)
    image = s.build()
    # 5 loads of the big kernels (see test_fifo_ring_eviction) and one of "copy"
    assert len(uop_loads(image.instructions())) == 6
    report = device.run(image)
    per_tile = [sum(imm[name] * sum((index + shift[name]) % 3 == tile for index in range(third))
                    for name in sequence) for tile in range(3)]
    expected = np.array(per_tile, np.int64)[:, None, None] * np.ones((1, *TILE), np.int64)
    assert (out.copy_out(np.int8, (3, *TILE)) == expected.astype(np.int8)).all()
    assert report.counters["uop_load_nbytes"] == (5 * third + 1) * UOP_BYTES
    assert report.counters["alu_counter"] == len(sequence) * third + 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_counters_per_run_and_accumulated(backend):
    device = Device(PYNQ, backend, memory_bytes=4 << 20)
    values = np.arange(4 * PYNQ.batch * PYNQ.block_out, dtype=np.int32).reshape(4, *TILE) % 50
    reports = []
    for run in range(3):
        # (tile 0 would make the add's micro-op the copy's, which would share it)
        out = add_program(device, values, [(("add", run), (run + 1, run + 1))])
        reports.append(device.synchronize())
        expected = values.copy()
        expected[run + 1] += run + 1
        assert (out.copy_out(np.int8, values.shape) == expected.astype(np.int8)).all()
    for report in reports:
        assert report.backend == backend
        assert report.counters["acc_load_nbytes"] == 4 * PYNQ.elem_bytes(ACC)
        assert report.counters["alu_counter"] == 1 + 4
        # two kernels of one uop each are loaded again in every run (cache cleared at sync)
        assert report.counters["uop_load_nbytes"] == 2 * UOP_BYTES
    assert device.counters == {name: 3 * reports[0].counters[name] for name in COUNTER_NAMES}
    assert device.last_report is reports[-1] and len(device.reports) == 3
    device.reset_counters()
    assert set(device.counters.values()) == {0}


@pytest.mark.parametrize("backend", BACKENDS)
def test_sram_overflow_is_a_bounds_error_naming_the_instruction(backend):
    device = Device(PYNQ, backend, memory_bytes=4 << 20)
    inp = device.alloc(8 * PYNQ.elem_bytes(MemoryType.INP))
    device.stream.load(inp, MemoryType.INP, sram=PYNQ.inp_depth - 4, x_size=8)
    with pytest.raises(BoundsError, match="instruction 0"):
        device.synchronize()


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_push_is_a_deadlock(backend):
    device = Device(PYNQ, backend, memory_bytes=4 << 20)
    acc = device.array(np.zeros((1, *TILE), np.int32))
    device.stream.dep_pop(STORE, COMPUTE)     # nobody pushes store -> compute before this
    device.stream.load(acc, ACC, sram=0, x_size=1)
    with pytest.raises(DeadlockError):
        device.synchronize()


@pytest.mark.parametrize("case", ["p_gemm_smt", "p_alu_add_imm", "p_blocked_gemm_64_256_64_nocomp_vt2"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_device_replays_corpus_images(backend, case, corpus):
    folder = corpus / "vta-1x16" / case
    if not folder.is_dir():
        pytest.fail(f"corpus case {folder} is missing")
    image = ProgramImage.load(folder)
    device = Device(image.config, backend)
    report = device.run(image)
    assert (image.dram == np.fromfile(folder / "expected.bin", np.uint8)).all()
    assert report.counters == json.loads((folder / "case.json").read_text())["counters"]
