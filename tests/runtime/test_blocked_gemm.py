"""tvm-vta ``test_lib.cc``: ``blocked_gemm_test`` (bias + blocked GEMM, one or two virtual
threads, with and without micro-op loop compression, tokens on all four queues) and
``alu_test`` (with and without loop compression), written against our runtime."""

import numpy as np
import pytest
from runtime_helpers import (BACKENDS, CONFIGS, WIDER_CONFIGS, check_token_balance, rng,
                             wrap32)

from vta.isa import UOP_BYTES, AluOp, MemoryType, Module
from vta.isa.alu import sign_extend
from vta.isa.elements import value_range
from vta.runtime import Device
from vta.runtime.tiles import pack, unpack

ACC, INP, WGT, OUT = MemoryType.ACC, MemoryType.INP, MemoryType.WGT, MemoryType.OUT
LOAD, COMPUTE, STORE = Module.LOAD, Module.COMPUTE, Module.STORE


def record_gemm(k, bb, bi, bo, inp_base, wgt_base, compressed):
    """``getGEMMUops``/``getGEMMInsn``: a bb x bi x bo tile block product into ACC 0."""
    if compressed:
        k.loop(bi, dst_factor=0, src_factor=1, wgt_factor=1)
        k.loop(bo, dst_factor=1, src_factor=0, wgt_factor=bi)
        for a in range(bb):
            k.gemm(dst=a * bo, src=inp_base + a * bi, wgt=wgt_base)
    else:
        for a in range(bb):
            for b in range(bi):
                for c in range(bo):
                    k.gemm(dst=a * bo + c, src=inp_base + a * bi + b, wgt=wgt_base + c * bi + b)


def blocked_gemm(device, batch, channels, block, compressed, threads):
    """The stream of ``blocked_gemm_test`` with its token choreography, through dep_push/pop."""
    c = device.config
    generator = rng(batch + channels + block + threads)
    low, high = value_range(c.inp_width)
    inputs = generator.integers(low, high + 1, size=(batch, channels), dtype=np.int8)
    low, high = value_range(c.wgt_width)
    weights = generator.integers(low, high + 1, size=(channels, channels), dtype=np.int8)
    biases = generator.integers(-(1 << 20), 1 << 20, size=(batch, channels), dtype=np.int32)
    inp = device.array(pack(inputs, c.batch, c.block_in, c.inp_width))
    wgt = device.array(pack(weights, c.block_out, c.block_in, c.wgt_width))
    bias = device.array(pack(biases, c.batch, c.block_out))
    out = device.alloc(batch * channels * c.out_width // 8)
    bb, bi, bo = block // c.batch, block // c.block_in, block // c.block_out
    in_tiles, out_tiles = channels // c.block_in, channels // c.block_out
    steps = channels // block                   # k-blocks per output block
    s = device.stream
    blocks = [(i, j) for i in range(0, batch, block) for j in range(0, channels, block)]
    for index, (i, j) in enumerate(blocks):
        first, last = index == 0, index == len(blocks) - 1
        if not first:
            s.dep_pop(STORE, COMPUTE)               # WAR: the previous block was stored
        s.load(bias, ACC, sram=0, offset=(i // c.batch) * out_tiles + j // c.block_out,
               x_size=bo, y_size=bb, x_stride=out_tiles)
        if threads == 1:
            s.dep_push(COMPUTE, LOAD)
        for p in range(steps):
            h = p % threads                         # the SRAM half of this k-block
            pop = threads == 1 or (not (first and p == 0) and p != threads - 1)
            if pop:
                s.dep_pop(COMPUTE, LOAD)            # WAR: compute is done with this half
            k_tile = p * block // c.block_in
            s.load(wgt, WGT, sram=h * bi * bo, offset=(j // c.block_out) * in_tiles + k_tile,
                   x_size=bi, y_size=bo, x_stride=in_tiles)
            s.load(inp, INP, sram=h * bi * bb, offset=(i // c.batch) * in_tiles + k_tile,
                   x_size=bi, y_size=bb, x_stride=in_tiles)
            s.dep_push(LOAD, COMPUTE)               # RAW: the tiles are in
            s.dep_pop(LOAD, COMPUTE)
            with s.kernel(("gemm", h)) as k:
                if not k.cached:
                    record_gemm(k, bb, bi, bo, h * bi * bb, h * bi * bo, compressed)
            if threads == 1:
                push_prev = p != steps - 1
            else:
                push_prev = p != steps - threads and not (last and p == steps - 1)
            if push_prev:
                s.dep_push(COMPUTE, LOAD)
            if p == steps - 1:
                s.dep_push(COMPUTE, STORE)          # RAW: the results are in OUT
        s.dep_pop(COMPUTE, STORE)
        s.store(out, sram=0, offset=(i // c.batch) * out_tiles + j // c.block_out,
                x_size=bo, y_size=bb, x_stride=out_tiles)
        if not last:
            s.dep_push(STORE, COMPUTE)
    expected = sign_extend(biases.astype(np.int64) + inputs.astype(np.int64)
                           @ weights.T.astype(np.int64), c.out_width)
    return out, expected


CASES = [  # (config, batch, channels, block, compressed, threads)
    ("1x16", 64, 256, 64, True, 1), ("1x16", 64, 256, 64, True, 2),
    ("1x16", 64, 256, 64, False, 1), ("1x16", 64, 256, 64, False, 2),
    ("1x16", 128, 128, 64, True, 2), ("1x16", 128, 128, 64, False, 1),
    ("1x32", 64, 256, 64, True, 2), ("1x32", 128, 256, 128, False, 2),
    ("2x16", 64, 256, 64, True, 2), ("2x16", 64, 128, 64, False, 1),
    ("1x16x8-int4", 64, 256, 64, True, 2), ("1x16x8-int4", 64, 128, 64, False, 1),
    ("1x8x16", 64, 256, 64, True, 2), ("2x8-int2", 64, 128, 64, True, 1),
]


@pytest.mark.parametrize("config_name, batch, channels, block, compressed, threads", CASES,
                         ids=[f"{cfg}-{b}x{ch}-block{bl}-{'comp' if comp else 'full'}-vt{vt}"
                              for cfg, b, ch, bl, comp, vt in CASES])
@pytest.mark.parametrize("backend", BACKENDS)
def test_blocked_gemm(backend, config_name, batch, channels, block, compressed, threads):
    config = (CONFIGS | WIDER_CONFIGS)[config_name]
    device = Device(config, backend, memory_bytes=16 << 20)
    out, expected = blocked_gemm(device, batch, channels, block, compressed, threads)
    image = device.stream.build()
    insns = image.instructions()
    check_token_balance(insns)
    used = {(int(i.pop_prev_dep), int(i.pop_next_dep), int(i.push_prev_dep), int(i.push_next_dep),
             i.module) for i in insns}
    for module, flag in ((LOAD, 3), (COMPUTE, 0), (COMPUTE, 2), (STORE, 0)):  # all four queues
        assert any(f[4] == module and f[flag] for f in used)
    report = device.run(image)
    tiles = (batch // config.batch, channels // config.block_out)
    tile_bytes = config.elem_bytes(OUT)
    result = unpack(out.copy_out(np.uint8, tiles + (tile_bytes,)), config.batch,
                    config.block_out, config.out_width)
    assert (result == expected).all()
    assert report.counters["gemm_counter"] == \
        batch * channels * channels // (config.batch * config.block_in * config.block_out)
    assert report.counters["out_store_nbytes"] == batch * channels * config.out_width // 8
    assert report.counters["acc_load_nbytes"] == batch * channels * np.dtype(np.int32).itemsize


@pytest.mark.parametrize("compressed", [True, False])
@pytest.mark.parametrize("op", [AluOp.MIN, AluOp.MAX, AluOp.ADD, AluOp.SHR])
@pytest.mark.parametrize("backend", BACKENDS)
def test_alu_lib(backend, op, compressed):
    """``alu_test(op, use_imm, batch=16, vector=128)``: per batch row, LOAD ACC of both
    operands, one ALU op, STORE; vector SHR is left out as upstream (not portable)."""
    device = Device(CONFIGS["1x16"], backend, memory_bytes=16 << 20)
    c = device.config
    batch, vector = 16, 128
    tx = vector // c.block_out
    generator = rng(int(op) + 10 * compressed)
    for use_imm in ((True,) if op == AluOp.SHR else (True, False)):
        sets = 1 if use_imm else 2
        inputs = generator.integers(-64, 64, size=(batch, vector * sets), dtype=np.int32)
        if op == AluOp.SHR:
            immediates = generator.integers(-16, 16, size=batch // c.batch)
        else:
            immediates = generator.integers(-8, 8, size=batch // c.batch)
        bias = device.array(pack(inputs, c.batch, c.block_out))
        out = device.alloc(batch * vector)
        s = device.stream
        for row in range(batch // c.batch):
            if row:
                s.dep_pop(STORE, COMPUTE)
            s.load(bias, ACC, sram=0, offset=row * tx * sets, x_size=tx * sets)
            imm = int(immediates[row]) if use_imm else None
            with s.kernel(("alu", op, use_imm, imm, compressed)) as k:
                if compressed:
                    k.loop(tx, dst_factor=1, src_factor=1)
                    k.alu(op, dst=0, src=tx, imm=imm)
                else:
                    for t in range(tx):
                        k.alu(op, dst=t, src=tx + t, imm=imm)
            s.dep_push(COMPUTE, STORE)
            s.dep_pop(COMPUTE, STORE)
            s.store(out, sram=0, offset=row * tx, x_size=tx)
            if row < batch // c.batch - 1:
                s.dep_push(STORE, COMPUTE)
        report = device.synchronize()
        a = inputs[:, :vector].astype(np.int64)
        b = (np.repeat(immediates, c.batch)[:, None] if use_imm else inputs[:, vector:])
        b = b.astype(np.int64)
        expected = {AluOp.MIN: np.minimum(a, b), AluOp.MAX: np.maximum(a, b), AluOp.ADD: a + b,
                    AluOp.SHR: np.where(b >= 0, a >> np.abs(b), a << np.abs(b))}[op]
        result = unpack(out.copy_out(np.int8, (batch // c.batch, tx, c.batch, c.block_out)))
        assert (result == wrap32(expected).astype(np.int8)).all(), f"use_imm={use_imm}"
        assert report.counters["alu_counter"] == batch // c.batch * tx


@pytest.mark.parametrize("batch, in_channels, out_channels, compressed",
                         [(4, 64, 64, True), (4, 64, 64, False), (8, 32, 48, False)])
@pytest.mark.parametrize("backend", BACKENDS)
def test_gemm_lib(backend, batch, in_channels, out_channels, compressed):
    """``gemm_test``: one bias load, one weight and one input load, one GEMM, one store."""
    device = Device(CONFIGS["1x16"], backend, memory_bytes=16 << 20)
    c = device.config
    generator = rng(batch + in_channels + out_channels)
    inputs = generator.integers(-128, 128, size=(batch, in_channels), dtype=np.int8)
    weights = generator.integers(-128, 128, size=(out_channels, in_channels), dtype=np.int8)
    biases = generator.integers(-1000, 1000, size=(batch, out_channels), dtype=np.int32)
    bb, bi, bo = batch // c.batch, in_channels // c.block_in, out_channels // c.block_out
    s = device.stream
    s.load(device.array(pack(biases, c.batch, c.block_out)), ACC, sram=0, x_size=bb * bo)
    s.dep_push(COMPUTE, LOAD)
    s.dep_pop(COMPUTE, LOAD)
    s.load(device.array(pack(weights, c.block_out, c.block_in)), WGT, sram=0, x_size=bo * bi)
    s.load(device.array(pack(inputs, c.batch, c.block_in)), INP, sram=0, x_size=bb * bi)
    s.dep_push(LOAD, COMPUTE)
    s.dep_pop(LOAD, COMPUTE)
    with s.kernel("gemm") as k:
        record_gemm(k, bb, bi, bo, 0, 0, compressed)
    s.dep_push(COMPUTE, STORE)
    s.dep_pop(COMPUTE, STORE)
    out = device.alloc(batch * out_channels)
    s.store(out, sram=0, x_size=bb * bo)
    report = device.synchronize()
    expected = wrap32(biases.astype(np.int64)
                      + inputs.astype(np.int64) @ weights.T.astype(np.int64)).astype(np.int8)
    result = unpack(out.copy_out(np.int8, (bb, bo, c.batch, c.block_out)))
    assert (result == expected).all()
    assert report.counters["gemm_counter"] == bb * bi * bo
    assert report.counters["uop_load_nbytes"] == (bb if compressed else bb * bi * bo) * UOP_BYTES
