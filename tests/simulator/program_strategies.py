"""Hypothesis strategy for random, valid, race-free programs on small windows of the buffers.

A program is 1–2 rounds of: a load phase (INP/WGT 2-D loads with padding, overlapping or
repeated rows), a compute phase (LOAD UOP, LOAD ACC, GEMM with or without reset, ALU ops, with
random loop nests and micro-op tables that are affine, shuffled, irregular or have repeated
destinations) and a store phase (2-D stores, rows may overlap). Rounds are ordered by tokens
on all four queues, so executing the instructions in program order gives the right result.
"""

import numpy as np
from hypothesis import strategies as st

from vta.isa import Alu, AluOp, Config, Finish, Gemm, Load, MemoryType, Store, Uop
from vta.isa.image import ProgramImage

from image_builder import ImageBuilder

WINDOW = {MemoryType.INP: 24, MemoryType.WGT: 16, MemoryType.ACC: 24}
DRAM_TILES = 40


class ProgramDrawer:
    def __init__(self, draw, config: Config):
        self.draw, self.config = draw, config
        self.rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        self.builder = ImageBuilder(config)
        self.window = {kind: self.window_start(kind) for kind in WINDOW}
        self.data = {kind: self.builder.place(self.tiles(kind, DRAM_TILES), kind) for kind in WINDOW}
        self.out_base = self.builder.reserve(DRAM_TILES * config.elem_bytes(MemoryType.OUT),
                                             MemoryType.OUT)

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def window_start(self, kind: MemoryType) -> int:
        """Indices used in a buffer: its start or its very end (depth − 1 is reached)."""
        return self.draw(st.sampled_from([0, self.config.depth(kind) - WINDOW[kind]]))

    def tiles(self, kind: MemoryType, count: int) -> np.ndarray:
        if kind == MemoryType.ACC:
            limit = self.draw(st.sampled_from([1 << 8, 1 << 20, 1 << 31]))
            shape = (count, self.config.batch, self.config.block_out)
            return self.rng.integers(-limit, limit, shape, dtype=np.int64).astype("<i4")
        return self.rng.integers(-128, 128, count * self.config.elem_bytes(kind), dtype=np.int64
                                 ).astype(np.int8)

    # -- memory instructions --------------------------------------------------------------
    def rows(self, room: int, pads: bool):
        """(y_size, x_size, x_stride, pads) of a 2-D transfer whose DRAM rows fit `room` elements."""
        y_size, x_size = self.integer(1, 3), self.integer(1, 4)
        x_stride = self.integer(0, (room - x_size) // max(y_size - 1, 1))
        pad = {name: self.integer(0, 2) if pads else 0
               for name in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")}
        return y_size, x_size, x_stride, pad

    def load(self, kind: MemoryType, **flags) -> Load:
        y_size, x_size, x_stride, pad = self.rows(DRAM_TILES // 2, self.draw(st.booleans()))
        block = (pad["y_pad_0"] + y_size + pad["y_pad_1"]) * (pad["x_pad_0"] + x_size + pad["x_pad_1"])
        if block > WINDOW[kind]:
            pad = dict.fromkeys(pad, 0)
            block = y_size * x_size
        sram = self.window[kind] + self.integer(0, WINDOW[kind] - block)
        dram = self.data[kind] + self.integer(0, DRAM_TILES // 2)
        return Load(memory_type=kind, sram_base=sram, dram_base=dram, y_size=y_size, x_size=x_size,
                    x_stride=x_stride, **pad, **flags)

    def store(self, **flags) -> Store:
        y_size, x_size, x_stride, _ = self.rows(DRAM_TILES // 2, False)
        sram = self.window[MemoryType.ACC] + self.integer(0, WINDOW[MemoryType.ACC] - y_size * x_size)
        dram = self.out_base + self.integer(0, DRAM_TILES // 2)
        return Store(sram_base=sram, dram_base=dram, y_size=y_size, x_size=x_size,
                     x_stride=x_stride, **flags)

    # -- loop instructions ----------------------------------------------------------------
    def loops(self, operands: tuple[str, ...]) -> tuple[dict, dict]:
        """Loop fields and, per operand, the index span the loops add."""
        fields = {"iter_out": self.integer(0, 3), "iter_in": self.integer(0, 3)}
        span = {}
        for operand in operands:
            for level in ("out", "in"):
                fields[f"{operand}_factor_{level}"] = self.draw(st.sampled_from([0, 0, 1, 2, 3]))
            span[operand] = sum(max(fields[f"iter_{level}"] - 1, 0) * fields[f"{operand}_factor_{level}"]
                                for level in ("out", "in"))
        return fields, span

    def uop_table(self, ranges: dict[str, tuple[int, int]]) -> list[Uop]:
        """1–8 micro-ops with every index in [low, high): irregular, an affine grid (maybe
        shuffled), or with repeated entries."""
        shape = self.draw(st.sampled_from(["random", "grid", "shuffled", "repeats"]))
        count = self.integer(1, 8)
        if shape == "random":
            columns = {name: self.rng.integers(low, high, count) for name, (low, high) in ranges.items()}
        else:
            extents = [self.integer(1, 3), self.integer(1, 3)]
            columns = {}
            for name, (low, high) in ranges.items():
                steps = [self.integer(-2, 2) for _ in extents]
                grid = np.add.outer(np.arange(extents[0]) * steps[0], np.arange(extents[1]) * steps[1])
                grid = grid.reshape(-1) - grid.min()
                columns[name] = low + (grid + self.integer(0, 3)) % (high - low)
            if shape == "shuffled":
                order = self.rng.permutation(len(columns["dst_idx"]))
                columns = {name: values[order] for name, values in columns.items()}
            elif shape == "repeats":
                picks = self.rng.integers(0, len(columns["dst_idx"]), count)
                columns = {name: values[picks] for name, values in columns.items()}
        count = len(columns["dst_idx"])
        return [Uop(**{name: int(values[k]) for name, values in columns.items()}) for k in range(count)]

    def kernel(self, operands: dict[str, MemoryType]) -> tuple[list, dict]:
        """A LOAD UOP of a fresh table and the loop fields of the instruction that runs it. Its
        ACC tiles lie in the program's ACC window or, sometimes, in the window at the other end
        of ACC (so that GEMM and ALU instructions can run side by side on a core whose units
        overlap, docs/hardware.md)."""
        fields, span = self.loops(tuple(operands))
        window = dict(self.window)
        if self.draw(st.booleans()):
            window[MemoryType.ACC] = self.config.depth(MemoryType.ACC) - WINDOW[MemoryType.ACC] \
                - self.window[MemoryType.ACC]
        ranges = {f"{operand}_idx": (window[kind], window[kind] + WINDOW[kind] - span[operand])
                  for operand, kind in operands.items()}
        uops = self.uop_table(ranges)
        uop_depth = self.config.uop_depth
        sram = self.draw(st.sampled_from([0, self.integer(0, 64), uop_depth - len(uops)]))
        dram = self.builder.uops(uops)
        load = Load(memory_type=MemoryType.UOP, sram_base=sram, dram_base=dram, y_size=1,
                    x_size=len(uops), x_stride=len(uops))
        return [load], dict(fields, uop_bgn=sram, uop_end=sram + len(uops))

    def gemm(self) -> list:
        loads, fields = self.kernel({"dst": MemoryType.ACC, "src": MemoryType.INP, "wgt": MemoryType.WGT})
        return loads + [Gemm(reset_reg=self.draw(st.booleans()), **fields)]

    def alu(self) -> list:
        loads, fields = self.kernel({"dst": MemoryType.ACC, "src": MemoryType.ACC})
        opcodes = [op for op in AluOp if op != AluOp.MUL or self.config.ALU_MUL]
        opcode = self.draw(st.sampled_from(opcodes))
        return loads + [Alu(alu_opcode=opcode, use_imm=self.draw(st.booleans()),
                            imm=self.integer(-(1 << 15), (1 << 15) - 1), **fields)]

    def compute(self) -> list:
        kinds = self.draw(st.lists(st.sampled_from(["acc", "gemm", "gemm", "alu", "alu"]),
                                   min_size=1, max_size=5))
        program = []
        for kind in kinds:
            program += [self.load(MemoryType.ACC)] if kind == "acc" else getattr(self, kind)()
        return program

    # -- the program ----------------------------------------------------------------------
    def program(self) -> ProgramImage:
        rounds = self.integer(1, 2)
        program = []
        for r in range(rounds):
            load = [self.load(self.draw(st.sampled_from([MemoryType.INP, MemoryType.WGT])))
                    for _ in range(self.integer(0, 3))] or [Load(memory_type=MemoryType.INP)]
            load[0] = load[0].replace(pop_next_dep=r > 0)
            load[-1] = load[-1].replace(push_next_dep=True)
            compute = [Load(memory_type=MemoryType.UOP, pop_prev_dep=True, pop_next_dep=r > 0)]
            compute += self.compute()
            compute[-1] = compute[-1].replace(push_next_dep=True, push_prev_dep=r < rounds - 1)
            store = [self.store() for _ in range(self.integer(1, 2))]
            store[0] = store[0].replace(pop_prev_dep=True)
            store[-1] = store[-1].replace(push_prev_dep=True)
            program += load + compute + store
        program += [Load(memory_type=MemoryType.UOP, pop_next_dep=True), Finish()]
        return self.builder.image(program)


@st.composite
def programs(draw, config: Config) -> ProgramImage:
    return ProgramDrawer(draw, config).program()
