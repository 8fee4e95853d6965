#!/usr/bin/env python
"""Blocked int8 GEMM with a shift/clip epilogue, end to end through the pyvta runtime.

Computes ``clip((A · Wᵀ) >> shift, 0, 127)`` for int8 A (M×K) and W (N×K): the matrices are
packed into tiles, blocked to fit the on-chip buffers, and run as one instruction stream in which
`--threads` virtual threads alternate between SRAM halves so that loads of one block overlap the
GEMM of the previous one and stores overlap the next block's compute (dependency tokens on all
four queues). The result is checked against numpy; the simulator's counters are printed.

    python examples/blocked_gemm.py [--backend functional] [--preset pynq] [--m 256 ...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time

import numpy as np

from vta.isa import AluOp, Config, MemoryType, Module, VtaError
from vta.runtime import Device, backend_names
from vta.runtime.tiles import pack, unpack

LOAD, COMPUTE, STORE = Module.LOAD, Module.COMPUTE, Module.STORE


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def choose_blocks(config: Config, m_tiles: int, k_tiles: int, n_tiles: int,
                  threads: int) -> tuple[int, int, int]:
    """The (rows, reduction, columns) block in tiles doing the most work per GEMM while
    `threads` copies of each operand fit INP, WGT and ACC."""
    best = None
    for bm, bk, bn in itertools.product(divisors(m_tiles), divisors(k_tiles), divisors(n_tiles)):
        fits = (threads * bm * bk <= config.inp_depth and threads * bn * bk <= config.wgt_depth
                and threads * bm * bn <= config.acc_depth)
        if fits and (best is None or (bm * bk * bn, bk) > (best[0] * best[1] * best[2], best[1])):
            best = (bm, bk, bn)
    if best is None:
        raise VtaError("no block of the problem fits the on-chip buffers")
    return best


def build_stream(device: Device, a, w, out, tiles, blocks, shift: int, threads: int) -> None:
    """Emit the blocked GEMM into the device's command stream."""
    m_tiles, k_tiles, n_tiles = tiles
    bm, bk, bn = blocks
    s = device.stream
    out_blocks = [(mi, ni) for mi in range(m_tiles // bm) for ni in range(n_tiles // bn)]
    k_steps = k_tiles // bk
    total_steps = len(out_blocks) * k_steps
    step = 0
    for index, (mi, ni) in enumerate(out_blocks):
        acc = (index % threads) * bm * bn                    # this block's ACC/OUT half
        if index >= threads:
            s.dep_pop(STORE, COMPUTE)                        # the half was stored: reuse it
        with s.kernel(("reset", acc)) as k:
            k.loop(bm, dst_factor=bn)
            k.loop(bn, dst_factor=1)
            k.gemm(dst=acc, src=0, wgt=0, reset=True)
        for ki in range(k_steps):
            slot = step % threads                            # this step's INP/WGT half
            inp, wgt = slot * bm * bk, slot * bn * bk
            if step >= threads:
                s.dep_pop(COMPUTE, LOAD)                     # compute is done with the half
            s.load(w, MemoryType.WGT, sram=wgt, offset=ni * bn * k_tiles + ki * bk,
                   x_size=bk, y_size=bn, x_stride=k_tiles)
            s.load(a, MemoryType.INP, sram=inp, offset=mi * bm * k_tiles + ki * bk,
                   x_size=bk, y_size=bm, x_stride=k_tiles)
            s.dep_push(LOAD, COMPUTE)
            s.dep_pop(LOAD, COMPUTE)
            with s.kernel(("gemm", inp, wgt, acc)) as k:
                if not k.cached:
                    k.loop(bm, dst_factor=bn, src_factor=bk)
                    k.loop(bk, src_factor=1, wgt_factor=1)
                    for o in range(bn):
                        k.gemm(dst=acc + o, src=inp, wgt=wgt + o * bk)
            if step + threads < total_steps:
                s.dep_push(COMPUTE, LOAD)                    # release the half
            step += 1
        for op, imm in ((AluOp.SHR, shift), (AluOp.MAX, 0), (AluOp.MIN, 127)):
            with s.kernel(("epilogue", op, imm, acc)) as k:
                k.loop(bm, dst_factor=bn, src_factor=bn)
                k.loop(bn, dst_factor=1, src_factor=1)
                k.alu(op, dst=acc, src=acc, imm=imm)
        s.dep_push(COMPUTE, STORE)
        s.dep_pop(COMPUTE, STORE)
        s.store(out, sram=acc, offset=mi * bm * n_tiles + ni * bn, x_size=bn, y_size=bm,
                x_stride=n_tiles)
        if index + threads < len(out_blocks):
            s.dep_push(STORE, COMPUTE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="functional", choices=backend_names())
    parser.add_argument("--preset", default="pynq", help="config preset (default pynq)")
    parser.add_argument("--m", type=int, default=256, help="rows of A (default 256)")
    parser.add_argument("--k", type=int, default=1024, help="reduction length (default 1024)")
    parser.add_argument("--n", type=int, default=512, help="rows of W = output columns (512)")
    parser.add_argument("--shift", type=int, default=12, help="right shift, 0..15 (default 12)")
    parser.add_argument("--threads", type=int, default=2, choices=(1, 2),
                        help="virtual threads (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except VtaError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_status


def run(args) -> int:
    config = Config.preset(args.preset)
    if not 0 <= args.shift <= 15:
        raise VtaError(f"--shift {args.shift} is outside 0..15")
    for name, value, unit in (("m", args.m, config.batch), ("k", args.k, config.block_in),
                              ("n", args.n, config.block_out)):
        if value <= 0 or value % unit:
            raise VtaError(f"--{name} {value} is not a positive multiple of {unit}")
    generator = np.random.default_rng(args.seed)
    a = generator.integers(-128, 128, size=(args.m, args.k), dtype=np.int8)
    w = generator.integers(-128, 128, size=(args.n, args.k), dtype=np.int8)

    device = Device(config, args.backend)
    tiles = (args.m // config.batch, args.k // config.block_in, args.n // config.block_out)
    blocks = choose_blocks(config, *tiles, args.threads)
    a_buf = device.array(pack(a, config.batch, config.block_in))
    w_buf = device.array(pack(w, config.block_out, config.block_in))
    out_buf = device.alloc(args.m * args.n)
    build_stream(device, a_buf, w_buf, out_buf, tiles, blocks, args.shift, args.threads)
    image = device.stream.build()
    started = time.perf_counter()
    report = device.run(image)
    elapsed = time.perf_counter() - started
    result = unpack(out_buf.copy_out(np.int8, (tiles[0], tiles[2], config.batch, config.block_out)))

    expected = np.clip((a.astype(np.int32) @ w.T.astype(np.int32)) >> args.shift, 0, 127)
    mismatches = int(np.count_nonzero(result != expected.astype(np.int8)))
    macs = args.m * args.k * args.n
    print(f"config   {config.model_string} ({args.preset}), backend {report.backend}")
    print(f"problem  clip((A[{args.m}x{args.k}] . W[{args.n}x{args.k}]^T) >> {args.shift}, 0, 127)"
          f", int8, {macs / 1e6:.1f} M MACs")
    print(f"blocks   {blocks[0] * config.batch} x {blocks[1] * config.block_in} x "
          f"{blocks[2] * config.block_out} elements, {args.threads} virtual thread(s)")
    print(f"stream   {image.insn_count} instructions, run in {elapsed:.3f} s "
          f"({2 * macs / elapsed / 1e9:.2f} simulated GOPS)")
    print("report   " + json.dumps(report.to_json()))
    for name, value in report.counters.items():
        print(f"  {name:18} {value}")
    if mismatches:
        print(f"FAIL: {mismatches} of {result.size} outputs differ from numpy")
        return 1
    print(f"PASS: all {result.size} outputs match numpy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
