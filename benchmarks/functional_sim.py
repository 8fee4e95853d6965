"""Speed of the functional simulator on two program images built from vta.isa instructions.

(a) a blocked GEMM: ROUNDS rounds of (64 × 256) · (256 × 256)ᵀ through 16 × 16 tiles, fresh
    random data each round, double-buffered, with a >> 8 epilogue;
(b) a 3 × 3 convolution, 56 × 56 × 64 → 64 channels, padding 1, with padded INP loads and two
    virtual threads (INP double-buffered per GEMM stage, ACC/OUT per block of 4 output rows),
    epilogue >> 8 and clip to [0, 127].

Each image is first prepared (`FunctionalSimulator.prepare`: decoded, every LOAD/STORE's
addressing and every GEMM/ALU plan worked out once; its time is printed, and run 1's figure with
it). Each run's final DRAM image is checked against numpy. Prints simulated GOPS (2 ops per MAC)
from wall time, and from the process's CPU time (the better figure on a loaded machine), and
the run's CPU time against bare float32 BLAS products of the same shape and MAC count measured
just before in the same process (the simulator's ceiling; the ratio moves least with load).
Usage: python benchmarks/functional_sim.py [--rounds N] [--repeat R]
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from vta.isa import (INSN_BYTES, Alu, AluOp, Config, Finish, Gemm, Load, MemoryType,  # noqa: E402
                     Store, Uop, encode_stream, encode_uops)
from vta.simulator.functional import FunctionalSimulator  # noqa: E402


class ImageBuilder:
    """Lays out regions in a DRAM image, each aligned to its element size."""

    def __init__(self, config: Config):
        self.config, self.size, self.regions = config, 0, []

    def append(self, data: bytes, alignment: int) -> int:
        """Append `data` at the next multiple of `alignment`; returns its byte address."""
        self.size = -(-self.size // alignment) * alignment
        offset = self.size
        self.regions.append((offset, np.frombuffer(data, np.uint8)))
        self.size += len(data)
        return offset

    def place(self, data: np.ndarray, memory_type: MemoryType) -> int:
        """Append an array's bytes aligned to `memory_type`; returns its dram_base."""
        elem = self.config.elem_bytes(memory_type)
        return self.append(data.tobytes(), elem) // elem

    def instructions(self, program: list) -> int:
        """Append the encoded stream; returns insn_addr."""
        return self.append(encode_stream(program, self.config), INSN_BYTES)

    def image(self) -> np.ndarray:
        dram = np.zeros(self.size, np.uint8)
        for offset, data in self.regions:
            dram[offset:offset + data.size] = data
        return dram


def nop(module_type: MemoryType, **flags) -> Load:
    """A synchronisation NOP (x_size = 0 LOAD) on the load (INP) or compute (UOP) module."""
    return Load(memory_type=module_type, **flags)


def finish(builder, program: list, out_base: int, config: Config):
    """End `program` (in place) with the token drain and FINISH, place it; (insn_addr, DRAM
    image, byte offset of the output)."""
    program += [nop(MemoryType.INP, pop_next_dep=True),
                nop(MemoryType.INP, pop_next_dep=True, push_next_dep=True),
                nop(MemoryType.UOP, pop_next_dep=True),
                nop(MemoryType.UOP, pop_next_dep=True, pop_prev_dep=True), Finish()]
    return (builder.instructions(program), builder.image(),
            out_base * config.elem_bytes(MemoryType.OUT))


def blocked_gemm(config: Config, rounds: int, rng: np.random.Generator):
    """(a): returns (dram, insn_addr, insn_count, macs, check(dram))."""
    rows, ic, oc, block = 64, 256, 256, config.block_in      # square tiles
    ict, oct_ = ic // block, oc // block
    inp_tiles, wgt_tiles, acc_tiles = rows * ict, oct_ * ict, rows * oct_
    inputs = rng.integers(-128, 128, (rounds, rows, ic), dtype=np.int8)
    weights = rng.integers(-128, 128, (rounds, oct_, ict, block, block), dtype=np.int8)
    builder = ImageBuilder(config)
    inp_base = builder.place(inputs, MemoryType.INP)
    wgt_base = builder.place(weights, MemoryType.WGT)
    out_base = builder.place(np.zeros((rounds, rows, oc), np.int8), MemoryType.OUT)
    kernels = []
    for buffer in range(2):  # GEMM kernel (one micro-op per output tile column), reset, ALU
        kernels += [Uop(buffer * acc_tiles + o, buffer * inp_tiles, buffer * wgt_tiles + o * ict)
                    for o in range(oct_)]
    kernels += [Uop(buffer * acc_tiles, buffer * acc_tiles, 0) for buffer in range(2)]
    uop_base = builder.place(encode_uops(kernels, config), MemoryType.UOP)
    gemm_uops = lambda b: (b * oct_, (b + 1) * oct_)  # noqa: E731
    single_uop = lambda b: (2 * oct_ + b, 2 * oct_ + b + 1)  # noqa: E731
    program = [Load(memory_type=MemoryType.UOP, sram_base=0, dram_base=uop_base, y_size=1,
                    x_size=len(kernels), x_stride=len(kernels))]
    for r in range(rounds):
        b = r % 2
        load = [Load(memory_type=MemoryType.INP, sram_base=b * inp_tiles,
                     dram_base=inp_base + r * inp_tiles, y_size=rows, x_size=ict, x_stride=ict,
                     pop_next_dep=r >= 2),
                Load(memory_type=MemoryType.WGT, sram_base=b * wgt_tiles,
                     dram_base=wgt_base + r * wgt_tiles, y_size=1, x_size=wgt_tiles,
                     x_stride=wgt_tiles, push_next_dep=True)]
        bgn, end = single_uop(b)
        compute = [
            Gemm(reset_reg=True, uop_bgn=bgn, uop_end=end, iter_out=rows, iter_in=oct_,
                 dst_factor_out=oct_, dst_factor_in=1, pop_next_dep=r >= 2),
            Gemm(uop_bgn=gemm_uops(b)[0], uop_end=gemm_uops(b)[1], iter_out=rows, iter_in=ict,
                 dst_factor_out=oct_, src_factor_out=ict, src_factor_in=1, wgt_factor_in=1,
                 pop_prev_dep=True, push_prev_dep=True),
            Alu(alu_opcode=AluOp.SHR, use_imm=True, imm=8, uop_bgn=bgn, uop_end=end,
                iter_out=rows, iter_in=oct_, dst_factor_out=oct_, dst_factor_in=1,
                src_factor_out=oct_, src_factor_in=1, push_next_dep=True)]
        store = [Store(sram_base=b * acc_tiles, dram_base=out_base + r * acc_tiles, y_size=1,
                       x_size=acc_tiles, x_stride=acc_tiles, pop_prev_dep=True, push_prev_dep=True)]
        program += load + compute + store
    insn_addr, dram, out_offset = finish(builder, program, out_base, config)

    def check(final: np.ndarray) -> None:
        matrix = weights.transpose(0, 1, 3, 2, 4).reshape(rounds, oc, ic).astype(np.float64)
        acc = np.matmul(inputs.astype(np.float64), matrix.transpose(0, 2, 1)).astype(np.int64)
        expected = ((acc >> 8) & 0xFF).astype(np.uint8).reshape(-1)
        actual = final[out_offset:out_offset + expected.size]
        assert np.array_equal(actual, expected), "blocked GEMM: output differs from numpy"

    return dram, insn_addr, len(program), rounds * rows * ic * oc, check


def conv3x3(config: Config, rng: np.random.Generator):
    """(b): returns (dram, insn_addr, insn_count, macs, check(dram)).

    Output blocks of 4 rows; input channels in two halves, each one GEMM stage whose INP tiles
    are double-buffered (virtual thread = stage parity); ACC/OUT double-buffered per block."""
    block = config.block_in      # square tiles
    height = width = 56
    ict = oct_ = 64 // block
    half = ict // 2
    rows_per_block, padded_w = 4, width + 2
    in_rows = rows_per_block + 2
    plane, thread_tiles = in_rows * padded_w, 1024
    data = rng.integers(-128, 128, (ict, height, width, block), dtype=np.int8)
    weights = rng.integers(-128, 128, (oct_, ict, 3, 3, block, block), dtype=np.int8)
    builder = ImageBuilder(config)
    inp_base = builder.place(data, MemoryType.INP)
    wgt_base = builder.place(weights, MemoryType.WGT)
    out_base = builder.place(np.zeros((oct_, height, width, block), np.int8), MemoryType.OUT)
    kernels = []
    for t in range(2):  # ACC buffer t; stage h reads INP buffer h and input channels of half h
        for h in range(2):
            kernels += [Uop(t * thread_tiles + w, h * thread_tiles + c * plane + kh * padded_w + kw + w,
                            ((h * half + c) * 3 + kh) * 3 + kw)
                        for kh in range(3) for kw in range(3) for c in range(half) for w in range(width)]
    conv_uops = len(kernels) // 4
    kernels += [Uop(t * thread_tiles, t * thread_tiles, 0) for t in range(2)]
    uop_base = builder.place(encode_uops(kernels, config), MemoryType.UOP)
    program = [Load(memory_type=MemoryType.UOP, dram_base=uop_base, y_size=1, x_size=len(kernels),
                    x_stride=len(kernels)),
               Load(memory_type=MemoryType.WGT, dram_base=wgt_base, y_size=1, x_size=oct_ * ict * 9,
                    x_stride=oct_ * ict * 9)]
    out_tiles = rows_per_block * width
    for blk in range(height // rows_per_block):
        t, h0 = blk % 2, blk * rows_per_block
        top, bottom = int(h0 == 0), int(h0 + rows_per_block == height)
        for h in range(2):
            program += [Load(memory_type=MemoryType.INP, sram_base=h * thread_tiles + c * plane,
                             dram_base=inp_base + ((h * half + c) * height + h0 - 1 + top) * width,
                             y_size=in_rows - top - bottom, x_size=width, x_stride=width,
                             y_pad_0=top, y_pad_1=bottom, x_pad_0=1, x_pad_1=1,
                             pop_next_dep=blk >= 1 and c == 0, push_next_dep=c == half - 1)
                        for c in range(half)]
        single = (4 * conv_uops + t, 4 * conv_uops + t + 1)
        loops = dict(iter_out=oct_ * rows_per_block, iter_in=width, dst_factor_out=width,
                     dst_factor_in=1)
        alu_loops = loops | dict(src_factor_out=width, src_factor_in=1)
        program.append(Gemm(reset_reg=True, uop_bgn=single[0], uop_end=single[1],
                            pop_next_dep=blk >= 2, **loops))
        program += [Gemm(uop_bgn=(2 * t + h) * conv_uops, uop_end=(2 * t + h + 1) * conv_uops,
                         iter_out=oct_, iter_in=rows_per_block, dst_factor_out=out_tiles,
                         dst_factor_in=width, src_factor_in=padded_w, wgt_factor_out=ict * 9,
                         pop_prev_dep=True, push_prev_dep=True)
                    for h in range(2)]
        program += [
            Alu(alu_opcode=AluOp.SHR, use_imm=True, imm=8, uop_bgn=single[0], uop_end=single[1],
                **alu_loops),
            Alu(alu_opcode=AluOp.MIN, use_imm=True, imm=127, uop_bgn=single[0],
                uop_end=single[1], **alu_loops),
            Alu(alu_opcode=AluOp.MAX, use_imm=True, imm=0, uop_bgn=single[0], uop_end=single[1],
                push_next_dep=True, **alu_loops)]
        program += [Store(sram_base=t * thread_tiles + o * out_tiles,
                          dram_base=out_base + (o * height + h0) * width, y_size=rows_per_block,
                          x_size=width, x_stride=width, pop_prev_dep=o == 0,
                          push_prev_dep=o == oct_ - 1)
                    for o in range(oct_)]
    insn_addr, dram, out_offset = finish(builder, program, out_base, config)

    def check(final: np.ndarray) -> None:
        padded = np.pad(data, ((0, 0), (1, 1), (1, 1), (0, 0))).astype(np.float64)
        windows = np.stack([padded[:, kh:kh + height, kw:kw + width]
                            for kh in range(3) for kw in range(3)], axis=1)  # (ic, 9, H, W, i)
        columns = windows.transpose(2, 3, 0, 1, 4).reshape(height * width, -1)
        matrix = weights.transpose(0, 4, 1, 2, 3, 5).reshape(64, -1).astype(np.float64)
        acc = (columns @ matrix.T).astype(np.int64)                           # (H·W, 64)
        result = np.clip(acc >> 8, 0, 127).astype(np.int8)
        expected = result.reshape(height, width, oct_, block).transpose(2, 0, 1, 3)
        actual = final[out_offset:out_offset + expected.size].view(np.int8)
        assert np.array_equal(actual, expected.reshape(-1)), "conv: output differs from numpy"

    macs = height * width * 64 * 64 * 9
    return dram, insn_addr, len(program), macs, check


def blas_reference(shape: tuple[int, int, int], macs: int) -> float:
    """CPU seconds of bare float32 products of `shape` (M, K, N) doing `macs` MACs, measured
    now: the ceiling for a simulator whose work is such products (its ratio to it is what the
    machine's load changes least)."""
    m, k, n = shape
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (m, k)).astype(np.float32)
    b = rng.integers(-128, 128, (n, k)).astype(np.float32)
    out = np.empty((m, n), np.float32)
    count = max(1, round(macs / (m * k * n)))
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(count):
            np.matmul(a, b.T, out=out)
        best = min(best, time.process_time() - start)
    return best * macs / (count * m * k * n)


def measure(name: str, build, repeat: int, shape: tuple[int, int, int]) -> None:
    config = Config.preset("pynq")
    dram, insn_addr, insn_count, macs, check = build(config)
    simulator = FunctionalSimulator(config)
    start, start_cpu = time.perf_counter(), time.process_time()
    simulator.prepare(dram, insn_addr, insn_count)
    prepared, prepared_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    print(f"{name}: prepared in {prepared * 1e3:.1f} ms (CPU time {prepared_cpu * 1e3:.1f} ms): "
          f"decoding, LOAD/STORE addressing, GEMM/ALU plans")
    for attempt in range(repeat):
        image = dram.copy()
        reference = blas_reference(shape, macs)
        start, start_cpu = time.perf_counter(), time.process_time()
        simulator.run(image, insn_addr, insn_count)
        seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        check(image)
        print(f"{name}: run {attempt + 1}: {insn_count} instructions, {macs / 1e9:.3f}·10⁹ MAC "
              f"in {seconds:.3f} s = {2 * macs / seconds / 1e9:.1f} GOPS "
              f"(CPU time {cpu:.3f} s = {2 * macs / cpu / 1e9:.1f} GOPS; output checked); "
              f"{reference / cpu:.0%} of bare float32 BLAS products of its shape measured "
              f"just before ({2 * macs / reference / 1e9:.1f} GOPS)")
        if attempt == 0:
            print(f"{name}: run 1 with its preparation: "
                  f"{2 * macs / (seconds + prepared) / 1e9:.1f} GOPS "
                  f"(CPU time {2 * macs / (cpu + prepared_cpu) / 1e9:.1f} GOPS)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1024, help="rounds of the blocked GEMM")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each image")
    args = parser.parse_args()
    rng = np.random.default_rng(2024)
    measure("(a) blocked GEMM", lambda c: blocked_gemm(c, args.rounds, rng), args.repeat,
            (64, 256, 256))
    measure("(b) 3x3 conv 56x56x64->64", lambda c: conv3x3(c, rng), args.repeat, (224, 288, 64))


if __name__ == "__main__":
    main()
