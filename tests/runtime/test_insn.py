"""The original VTA instruction tests (TVM ``test_vta_insn.py``), written against our runtime
and checked with numpy: save/load/out, padded loads, GEMM with a shift/relu/clip epilogue in one
and two virtual threads, every ALU op with immediate and vector operands, relu, shift-and-scale.
"""

import numpy as np
import pytest
from runtime_helpers import BACKENDS, CONFIGS, rng, wrap32

from vta.isa import AluOp, MemoryType, Module
from vta.runtime import Device

ACC, INP, WGT = MemoryType.ACC, MemoryType.INP, MemoryType.WGT
LOAD, COMPUTE, STORE = Module.LOAD, Module.COMPUTE, Module.STORE


def make_device(backend: str, config_name: str) -> Device:
    return Device(CONFIGS[config_name], backend, memory_bytes=16 << 20)


def acc_grid(device, rows, cols, low, high, seed):
    """A (rows, cols, BATCH, BLOCK_OUT) int32 tile grid of random values in [low, high)."""
    c = device.config
    return rng(seed).integers(low, high, size=(rows, cols, c.batch, c.block_out), dtype=np.int32)


def elementwise_kernel(stream, key, rows, cols, op, *, base=0, src=0, imm=None):
    """One ALU op over a rows x cols tile grid at ACC `base`, second operand at ACC `src`."""
    with stream.kernel(key) as k:
        k.loop(rows, dst_factor=cols, src_factor=cols)
        k.loop(cols, dst_factor=1, src_factor=1)
        k.alu(op, dst=base, src=src, imm=imm)


def store_grid(device, rows, cols, sram=0):
    """Hand the grid to the store module and store it into a fresh int8 buffer."""
    s = device.stream
    s.dep_push(COMPUTE, STORE)
    s.dep_pop(COMPUTE, STORE)
    out = device.alloc(rows * cols * device.config.elem_bytes(MemoryType.OUT))
    s.store(out, sram=sram, x_size=cols, y_size=rows)
    return out


def run_alu_program(device, a, ops, b=None):
    """Load `a` (and `b` after it) into ACC, apply `ops` [(op, imm)] in turn, store."""
    rows, cols = a.shape[:2]
    s = device.stream
    s.load(device.array(a), ACC, sram=0, x_size=cols, y_size=rows)
    if b is not None:
        s.load(device.array(b), ACC, sram=rows * cols, x_size=cols, y_size=rows)
    for index, (op, imm) in enumerate(ops):
        elementwise_kernel(s, ("alu", index, op, imm), rows, cols, op,
                           src=0 if b is None else rows * cols, imm=imm)
    out = store_grid(device, rows, cols)
    report = device.synchronize()
    return out.copy_out(np.int8, a.shape), report


@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_save_load_out(backend, config_name):
    device = make_device(backend, config_name)
    n = 6
    x = acc_grid(device, n, n, 1, 10, seed=1)
    y, report = run_alu_program(device, x, [(AluOp.SHR, 0)])   # "x >> 0": a no-op ALU stage
    assert (y == x.astype(np.int8)).all()
    c = device.config
    assert report.counters["acc_load_nbytes"] == n * n * c.elem_bytes(ACC)
    assert report.counters["out_store_nbytes"] == n * n * c.elem_bytes(MemoryType.OUT)
    assert report.counters["alu_counter"] == n * n and report.counters["gemm_counter"] == 0
    assert device.counters == report.counters


@pytest.mark.parametrize("y_pad, x_pad", [((2, 0), (0, 0)), ((0, 2), (0, 0)), ((0, 0), (2, 0)),
                                          ((0, 0), (0, 2)), ((1, 1), (1, 1))],
                         ids=["y_before", "y_after", "x_before", "x_after", "all"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_padded_load(backend, y_pad, x_pad):
    device = make_device(backend, "1x16")
    n, m = 3, 5
    x = acc_grid(device, n, m, -128, 128, seed=2)
    rows, cols = n + sum(y_pad), m + sum(x_pad)
    s = device.stream
    s.load(device.array(x), ACC, sram=0, x_size=m, y_size=n, x_pad=x_pad, y_pad=y_pad)
    elementwise_kernel(s, "copy", rows, cols, AluOp.SHR, imm=0)
    out = store_grid(device, rows, cols)
    report = device.synchronize()
    expected = np.pad(x, (y_pad, x_pad, (0, 0), (0, 0))).astype(np.int8)
    assert (out.copy_out(np.int8, expected.shape) == expected).all()
    assert report.counters["acc_load_nbytes"] == n * m * device.config.elem_bytes(ACC)


def numpy_alu(op, a, b):
    a, b = a.astype(np.int64), np.asarray(b, dtype=np.int64)
    return {AluOp.MIN: np.minimum, AluOp.MAX: np.maximum, AluOp.ADD: np.add,
            AluOp.MUL: np.multiply,
            AluOp.SHR: lambda x, s: np.where(s >= 0, x >> np.abs(s), x << np.abs(s))}[op](a, b)


ALU_CASES = [(op, use_imm) for op in (AluOp.MIN, AluOp.MAX, AluOp.ADD, AluOp.MUL)
             for use_imm in (True, False)] + [(AluOp.SHR, True), ("SHL", True)]


@pytest.mark.parametrize("op, use_imm", ALU_CASES,
                         ids=[f"{getattr(op, 'name', op)}-{'imm' if imm else 'vec'}"
                              for op, imm in ALU_CASES])
@pytest.mark.parametrize("backend", BACKENDS)
def test_alu(backend, op, use_imm):
    device = make_device(backend, "1x16")
    m = n = 8
    a = acc_grid(device, m, n, -16, 16, seed=3)
    imm = int(rng(4).integers(1, 5))
    if op == "SHL":                   # TVM writes x << k as SHR by -k
        op, imm = AluOp.SHR, -imm
    if use_imm:
        result, report = run_alu_program(device, a, [(op, imm)])
        expected = numpy_alu(op, a, imm)
    else:
        b = acc_grid(device, m, n, -16, 16, seed=5)
        result, report = run_alu_program(device, a, [(op, None)], b)
        expected = numpy_alu(op, a, b)
    assert (result == wrap32(expected).astype(np.int8)).all()
    assert report.counters["alu_counter"] == m * n


@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_relu(backend, config_name):
    device = make_device(backend, config_name)
    a = acc_grid(device, 8, 10, -256, 256, seed=6)
    result, report = run_alu_program(device, a, [(AluOp.MAX, 0), (AluOp.MIN, 127)])
    assert (result == np.clip(a, 0, 127).astype(np.int8)).all()
    assert report.counters["alu_counter"] == 2 * 8 * 10


@pytest.mark.parametrize("backend", BACKENDS)
def test_shift_and_scale(backend):
    device = make_device(backend, "1x16")
    a = acc_grid(device, 2, 8, -10, 10, seed=7)
    shift, scale = int(rng(8).integers(0, 8)), int(rng(9).integers(1, 5))
    result, _ = run_alu_program(device, a, [(AluOp.ADD, shift), (AluOp.SHR, scale)])
    assert (result == ((a + shift) >> scale).astype(np.int8)).all()


def gemm_epilogue_program(device, data, weight, threads, chunks):
    """``test_gemm``: res = clip((data · weightᵀ) >> 8, 0, 127), output channels split over
    `threads` virtual threads (each with its own INP/WGT/ACC regions, interleaved), the
    reduction split into `chunks` loads that reuse the regions (WAR tokens compute -> load)."""
    c = device.config
    rows_t, k_t, out_t = data.shape[0], data.shape[1], weight.shape[0]
    part, kc = out_t // threads, k_t // chunks      # output tiles per thread, k tiles per chunk
    s = device.stream
    data_buf, weight_buf = device.array(data), device.array(weight)
    out = device.alloc(rows_t * out_t * c.elem_bytes(MemoryType.OUT))
    inp_base = [v * rows_t * kc for v in range(threads)]
    wgt_base = [v * part * kc for v in range(threads)]
    acc_base = [v * rows_t * part for v in range(threads)]
    for v in range(threads):
        with s.kernel(("reset", v)) as k:
            k.loop(rows_t, dst_factor=part)
            k.loop(part, dst_factor=1)
            k.gemm(dst=acc_base[v], src=0, wgt=0, reset=True)
    for r in range(chunks):
        for v in range(threads):
            if r:
                s.dep_pop(COMPUTE, LOAD)              # compute is done with the region
            s.load(data_buf, INP, sram=inp_base[v], offset=r * kc, x_size=kc, y_size=rows_t,
                   x_stride=k_t)
            s.load(weight_buf, WGT, sram=wgt_base[v], offset=v * part * k_t + r * kc,
                   x_size=kc, y_size=part, x_stride=k_t)
            s.dep_push(LOAD, COMPUTE)
        for v in range(threads):
            s.dep_pop(LOAD, COMPUTE)
            with s.kernel(("gemm", v)) as k:
                k.loop(rows_t, dst_factor=part, src_factor=kc)
                k.loop(kc, src_factor=1, wgt_factor=1)
                for o in range(part):
                    k.gemm(dst=acc_base[v] + o, src=inp_base[v], wgt=wgt_base[v] + o * kc)
            if r < chunks - 1:
                s.dep_push(COMPUTE, LOAD)
    for v in range(threads):
        for op, imm in ((AluOp.SHR, 8), (AluOp.MAX, 0), (AluOp.MIN, 127)):
            with s.kernel(("epilogue", v, op)) as k:
                k.loop(rows_t, dst_factor=part, src_factor=part)
                k.loop(part, dst_factor=1, src_factor=1)
                k.alu(op, dst=acc_base[v], src=acc_base[v], imm=imm)
        s.dep_push(COMPUTE, STORE)
    for v in range(threads):
        s.dep_pop(COMPUTE, STORE)
        s.store(out, sram=acc_base[v], offset=v * part, x_size=part, y_size=rows_t, x_stride=out_t)
    report = device.synchronize()
    result = out.copy_out(np.int8, (rows_t, out_t, c.batch, c.block_out))
    return result.transpose(0, 2, 1, 3).reshape(rows_t * c.batch, out_t * c.block_out), report


@pytest.mark.parametrize("threads, chunks", [(1, 1), (2, 1), (1, 2), (2, 3)],
                         ids=["default", "smt", "reduce2", "smt-reduce3"])
@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_gemm(backend, config_name, threads, chunks):
    device = make_device(backend, config_name)
    c = device.config
    block = c.block_in                      # CONFIGS have square tiles
    rows, channels = 4 * c.batch, 6 * block
    generator = rng(10)
    a = generator.integers(-128, 128, size=(rows, channels), dtype=np.int8)
    w = generator.integers(-128, 128, size=(channels, channels), dtype=np.int8)
    data = a.reshape(rows // c.batch, c.batch, channels // block, block).transpose(0, 2, 1, 3)
    weight = w.reshape(channels // block, block, channels // block, block).transpose(0, 2, 1, 3)
    result, report = gemm_epilogue_program(device, np.ascontiguousarray(data),
                                           np.ascontiguousarray(weight), threads, chunks)
    expected = np.clip((a.astype(np.int32) @ w.T.astype(np.int32)) >> 8, 0, 127).astype(np.int8)
    assert (result == expected).all()
    tiles = (rows // c.batch) * (channels // block)
    assert report.counters["gemm_counter"] == tiles * (channels // block)
    assert report.counters["alu_counter"] == 3 * tiles
    assert report.counters["inp_load_nbytes"] == threads * rows * channels
    assert report.counters["wgt_load_nbytes"] == channels * channels
