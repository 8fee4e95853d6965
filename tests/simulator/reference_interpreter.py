"""An obviously-correct, slow VTA interpreter for tiny programs, written from the reference.

It executes instructions one by one in program order (valid for programs whose modules are
fully ordered by tokens, as the generated test programs are), one micro-op execution at a
time, with Python-int arithmetic wrapped to 32 bits; an ALU lane is `vta.isa.alu` (itself
checked against the reference table in tests/isa/test_alu.py). Decoding uses vta.isa.decode only.
"""

import numpy as np
from padded_block import padded_block

from vta.isa import Alu, Config, Gemm, Load, MemoryType, Store, decode, decode_uop
from vta.isa.alu import alu, sign_extend
from vta.isa.image import ProgramImage


def wrap32(value: int) -> int:
    return (int(value) + (1 << 31)) % (1 << 32) - (1 << 31)


class ReferenceMachine:
    def __init__(self, config: Config):
        c = self.config = config
        self.uop = [0] * c.uop_depth
        self.inp = np.zeros((c.inp_depth, c.batch, c.block_in), np.int64)
        self.wgt = np.zeros((c.wgt_depth, c.block_out, c.block_in), np.int64)
        self.acc = np.zeros((c.acc_depth, c.batch, c.block_out), np.int64)
        self.out = np.zeros((c.acc_depth, c.batch, c.block_out), np.int64)
        self.counters = dict.fromkeys(
            ["inp_load_nbytes", "wgt_load_nbytes", "acc_load_nbytes", "uop_load_nbytes",
             "out_store_nbytes", "gemm_counter", "alu_counter"], 0)

    def run(self, image: ProgramImage) -> np.ndarray:
        dram = image.dram.copy()
        for row in image.instruction_bytes:
            insn = decode(row.tobytes(), self.config)
            if isinstance(insn, Load):
                self.load(insn, dram)
            elif isinstance(insn, Store):
                self.store(insn, dram)
            elif isinstance(insn, Gemm):
                self.gemm(insn)
            elif isinstance(insn, Alu):
                self.alu(insn)
            else:
                return dram
        raise AssertionError("no FINISH")

    def elem(self, memory_type) -> int:
        return self.config.elem_bytes(memory_type)

    def load(self, insn: Load, dram: np.ndarray) -> None:
        if insn.x_size == 0:
            return
        kind, elem = insn.memory_type, self.elem(insn.memory_type)
        name = {MemoryType.UOP: "uop", MemoryType.INP: "inp", MemoryType.WGT: "wgt",
                MemoryType.ACC: "acc"}[kind]
        self.counters[f"{name}_load_nbytes"] += insn.x_size * insn.y_size * elem
        if kind == MemoryType.UOP:
            for k in range(insn.x_size):
                at = (insn.dram_base + k) * elem
                self.uop[insn.sram_base + k] = int.from_bytes(dram[at:at + elem].tobytes(), "little")
            return
        buffer = getattr(self, name)
        for sram, element in padded_block(insn):
            if element is None:
                buffer[sram] = 0
                continue
            raw = dram[element * elem:(element + 1) * elem]
            if kind == MemoryType.ACC:
                buffer[sram] = raw.view("<i4").reshape(buffer.shape[1:])
            else:   # value k in bits [k·w, (k+1)·w) of the little-endian tile, two's complement
                width = self.config.element_width(kind)
                number = int.from_bytes(raw.tobytes(), "little")
                values = [(number >> (k * width)) & ((1 << width) - 1)
                          for k in range(buffer[sram].size)]
                signed = [v - (1 << width) if v >> (width - 1) else v for v in values]
                buffer[sram] = np.array(signed).reshape(buffer.shape[1:])

    def store(self, insn: Store, dram: np.ndarray) -> None:
        if insn.x_size == 0:
            return
        elem = self.elem(MemoryType.OUT)
        self.counters["out_store_nbytes"] += insn.x_size * insn.y_size * elem
        for y in range(insn.y_size):
            for x in range(insn.x_size):
                tile = self.out[insn.sram_base + y * insn.x_size + x].reshape(-1)
                width = self.config.out_width
                number = sum((int(v) % (1 << width)) << (k * width) for k, v in enumerate(tile))
                at = (insn.dram_base + y * insn.x_stride + x) * elem
                dram[at:at + elem] = np.frombuffer(number.to_bytes(elem, "little"), np.uint8)

    def executions(self, insn):
        for i in range(insn.iter_out):
            for j in range(insn.iter_in):
                for k in range(insn.uop_bgn, insn.uop_end):
                    yield i, j, decode_uop(self.uop[k], self.config)

    def gemm(self, insn: Gemm) -> None:
        if not insn.reset_reg:
            self.counters["gemm_counter"] += insn.executions
        for i, j, u in self.executions(insn):
            a = u.dst_idx + i * insn.dst_factor_out + j * insn.dst_factor_in
            x = u.src_idx + i * insn.src_factor_out + j * insn.src_factor_in
            w = u.wgt_idx + i * insn.wgt_factor_out + j * insn.wgt_factor_in
            if insn.reset_reg:
                self.acc[a] = 0
            else:
                total = self.acc[a] + self.inp[x] @ self.wgt[w].T
                self.acc[a] = [[wrap32(v) for v in row] for row in total]
            self.out[a] = sign_extend(self.acc[a], 8)

    def alu(self, insn: Alu) -> None:
        self.counters["alu_counter"] += insn.executions
        for i, j, u in self.executions(insn):
            dst = u.dst_idx + i * insn.dst_factor_out + j * insn.dst_factor_in
            src = u.src_idx + i * insn.src_factor_out + j * insn.src_factor_in
            a_tile = self.acc[dst].copy()
            b_tile = np.full_like(a_tile, insn.imm) if insn.use_imm else self.acc[src].copy()
            result = [[int(alu(insn.alu_opcode, np.int32(a), np.int32(b))) for a, b in zip(ra, rb)]
                      for ra, rb in zip(a_tile, b_tile)]
            self.acc[dst] = result
            self.out[dst] = sign_extend(result, 8)


def reference_run(image: ProgramImage) -> tuple[np.ndarray, dict[str, int]]:
    """The final DRAM image and counters of `image`, by the reference interpreter."""
    machine = ReferenceMachine(image.config)
    dram = machine.run(image)
    return dram, machine.counters
