"""A seeded generator of random valid VTA programs for any config.

A program is one to three *rounds*; a round is a pipeline of iterations over ``threads``
virtual threads (1–3), thread ``i mod threads`` owning one window of INP, WGT, ACC/OUT tiles.
Iteration i has a load phase (LOAD INP/WGT into its windows, with padding, strides below,
equal to or above the row size, rows repeated), a compute phase (LOAD UOP of fresh micro-op
tables, LOAD ACC, GEMM with or without reset, every ALU op with vector or immediate operands,
loops from empty to the field limit) and a store phase. Tokens order exactly what conflicts:
l2g (data loaded), g2l (window free again, after ``threads`` iterations), g2s (results ready),
s2g (OUT window free); a round ends with a compute NOP taking every outstanding s2g token and
handing a g2l token to the next round, whose loads may then read what the previous round
stored (a DRAM round trip). Flags ride on the phase's first or last instruction or on NOPs of
every kind (some with junk fields); FINISH comes last.

Everything is derived from the `Config`: tile geometry, buffer depths, element sizes and field
widths (`vta.isa.layouts`), whether MUL exists, the lane widths of the data. Every program is
race-free and free of the GEMM/ALU pipeline hazard (no ACC tile written by one execution and
touched by one of the next two, docs/hardware.md), which `vta.fuzz.races` checks.
"""

from __future__ import annotations

import numpy as np

from vta.isa import (Alu, AluOp, Config, Finish, Gemm, Instruction, Load, MemoryType, Store, Uop,
                     encode_uops, layouts)
from vta.fuzz.program import FuzzProgram
from vta.fuzz.races import hazard_free

TENSORS = (MemoryType.INP, MemoryType.WGT, MemoryType.ACC)
#: DRAM tiles of each input region (INP, WGT, ACC) and of the output region.
REGION_TILES = 48
#: How often a GEMM or ALU loop runs to its field limit (16383 iterations). An ALU at the limit
#: is inherently serial (each execution sees the last), so it is rarer.
LOOP_LIMIT_CHANCE = {"gemm": 0.04, "alu": 0.005}


class _Drawer:
    """Draws one program; `rng` is its only source of randomness."""

    def __init__(self, config: Config, rng: np.random.Generator, loop_limits: bool):
        self.config, self.rng, self.loop_limits = config, rng, loop_limits
        self.layouts = layouts(config)
        self.dram = bytearray()
        # Every thread owns at least one tile of each buffer, and a queue holds the tokens of
        # every thread (at most `threads` are outstanding on any queue).
        most = min(3, config.machine.token_queue_depth, *(config.depth(kind) for kind in TENSORS))
        self.threads = int(rng.choice([t for t in (1, 1, 2, 2, 3) if t <= most]))
        self.window = {}
        for kind in TENSORS:
            depth = config.depth(kind)
            size = int(min(depth // self.threads, rng.choice([2, 4, 8, 16, 24, 32])))
            at_end = rng.random() < 0.5
            start = depth - size * self.threads if at_end else int(rng.integers(0, depth - size * self.threads + 1))
            self.window[kind] = (start, size)
        self.region = {kind: self._place(self._tiles(kind, REGION_TILES), kind) for kind in TENSORS}
        self.rounds = self._int(1, 3)
        out_bytes = REGION_TILES * config.elem_bytes(MemoryType.OUT)
        #: One output region per round; later rounds may load what earlier ones stored.
        self.outputs = [self._place(np.full(out_bytes, 0xA5, np.uint8), MemoryType.OUT)
                        for _ in range(self.rounds)]
        self.round_trip = (config.elem_bytes(MemoryType.OUT) == config.elem_bytes(MemoryType.INP))

    # -- data -----------------------------------------------------------------------------
    def _place(self, data: np.ndarray, kind: MemoryType) -> int:
        elem = self.config.elem_bytes(kind)
        self.dram += bytes(-len(self.dram) % max(elem, 16))
        base = len(self.dram) // elem
        self.dram += np.ascontiguousarray(data).tobytes()
        return base

    def _tiles(self, kind: MemoryType, count: int) -> np.ndarray:
        c = self.config
        if kind != MemoryType.ACC:
            return self.rng.integers(0, 256, count * c.elem_bytes(kind), dtype=np.int64).astype(np.uint8)
        bits = c.acc_width
        limit = 1 << int(self.rng.choice([7, 15, bits - 1]))
        values = self.rng.integers(-limit, limit, (count, c.batch, c.block_out), dtype=np.int64)
        extremes = self.rng.random(values.shape) < 0.05
        values[extremes] = self.rng.choice([-(1 << (bits - 1)), (1 << (bits - 1)) - 1, 0, -1],
                                           int(extremes.sum()))
        return values.astype(f"<i{bits // 8}")

    def _uops(self, uops: list[Uop]) -> int:
        return self._place(encode_uops(uops, self.config), MemoryType.UOP)

    # -- helpers ----------------------------------------------------------------------------
    def _int(self, low: int, high: int) -> int:
        """A uniform integer in [low, high]."""
        return int(self.rng.integers(low, high + 1))

    def _limit(self, name: str, layout="gemm") -> int:
        """The largest value field `name` of `layout` (memory, gemm, alu, uop) holds."""
        return getattr(self.layouts, layout)[name].maximum

    def _fit(self, value: int, name: str, layout="gemm") -> int:
        """`value`, or the field's maximum if it is larger."""
        return min(int(value), self._limit(name, layout))

    def _slot(self, kind: MemoryType, thread: int) -> tuple[int, int]:
        start, size = self.window[kind]
        return start + thread * size, size

    # -- memory instructions ----------------------------------------------------------------
    def load(self, kind: MemoryType, thread: int, round_index: int) -> Load:
        sram, size = self._slot(kind, thread)
        pads = {name: 0 for name in ("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1")}
        if self.rng.random() < 0.5:
            pad_max = self._limit("y_pad_0", "memory")
            for name in pads:
                pads[name] = self._int(0, min(2, pad_max)) if self.rng.random() < 0.8 else pad_max
        y_size, x_size = self._int(1, 3), self._int(1, 4)
        while (pads["y_pad_0"] + y_size + pads["y_pad_1"]) * (pads["x_pad_0"] + x_size + pads["x_pad_1"]) > size:
            if any(pads.values()):
                pads = dict.fromkeys(pads, 0)
            elif y_size > 1:
                y_size -= 1
            else:
                x_size = max(1, x_size - 1)
                if x_size == 1:
                    break
        block = (pads["y_pad_0"] + y_size + pads["y_pad_1"]) * (pads["x_pad_0"] + x_size + pads["x_pad_1"])
        room = REGION_TILES // 2
        x_stride = self._int(0, (room - x_size) // max(y_size - 1, 1))
        region = self.region[kind]
        if kind == MemoryType.INP and round_index > 0 and self.round_trip and self.rng.random() < 0.4:
            region = self.outputs[self._int(0, round_index - 1)]
        return Load(memory_type=kind, sram_base=sram + self._int(0, size - block),
                    dram_base=region + self._int(0, room), y_size=y_size, x_size=x_size,
                    x_stride=x_stride, **pads)

    def store(self, thread: int, round_index: int) -> Store:
        sram, size = self._slot(MemoryType.ACC, thread)
        y_size = self._int(1, min(3, size))
        x_size = self._int(1, max(1, min(4, size // y_size)))
        room = REGION_TILES // 2
        return Store(sram_base=sram + self._int(0, size - y_size * x_size),
                     dram_base=self.outputs[round_index] + self._int(0, room), y_size=y_size,
                     x_size=x_size, x_stride=self._int(0, (room - x_size) // max(y_size - 1, 1)))

    # -- loop instructions ------------------------------------------------------------------
    def _loop(self, operands: dict[str, MemoryType], thread: int) -> tuple[list[Uop], dict] | None:
        """A micro-op table and loop fields whose every index stays in the thread's windows."""
        layout = "gemm" if "wgt" in operands else "alu"
        windows = {name: self._slot(kind, thread) for name, kind in operands.items()}
        at_limit = self.rng.random() < LOOP_LIMIT_CHANCE[layout]
        if at_limit and self.loop_limits:
            # A loop at its field limit: factors 0, a table of 3+ distinct destinations.
            level = self.rng.choice(["iter_out", "iter_in"])
            fields = {"iter_out": 1, "iter_in": 1, level: self._limit(level, layout)}
            fields |= {f"{n}_factor_{l}": 0 for n in operands for l in ("out", "in")}
            count = 3
            if windows["dst"][1] < count or self.config.uop_depth < count:
                return None
            dst = self.rng.permutation(windows["dst"][1])[:count] + windows["dst"][0]
            columns = {"dst": dst}
            for name in operands:
                if name != "dst":
                    start, size = windows[name]
                    columns[name] = self.rng.integers(start, start + size, count)
        else:
            fields = {level: self._int(0, self._fit(4, level, layout))
                      for level in ("iter_out", "iter_in")}
            span = {}
            for name in operands:
                for level in ("out", "in"):
                    key = f"{name}_factor_{level}"
                    iters = fields[f"iter_{level}"]
                    if iters <= 1 and self.rng.random() < 0.3:
                        fields[key] = self._limit(key, layout)  # never moves an index: any value
                    else:
                        fields[key] = self._fit(self.rng.choice([0, 1, 1, 2, 3]), key, layout)
                span[name] = sum(max(fields[f"iter_{l}"] - 1, 0) * fields[f"{name}_factor_{l}"]
                                 for l in ("out", "in"))
                if span[name] >= windows[name][1]:
                    return None
            count = self._int(1, min(8, self.config.uop_depth))
            shape = self.rng.choice(["random", "affine", "repeats"])
            columns = {}
            for name in operands:
                start, size = windows[name]
                high = size - span[name]
                if shape == "affine":
                    step = self._int(0, 2)
                    columns[name] = start + (self._int(0, high - 1) + step * np.arange(count)) % high
                else:
                    columns[name] = self.rng.integers(start, start + high, count)
            if shape == "repeats":
                picks = self.rng.integers(0, count, count)
                columns = {name: values[picks] for name, values in columns.items()}
        uops = [Uop(dst_idx=int(columns["dst"][k]), src_idx=int(columns.get("src", [0] * count)[k]),
                    wgt_idx=int(columns.get("wgt", [0] * count)[k])) for k in range(count)]
        return uops, fields

    def loop_instruction(self, thread: int, gemm: bool) -> list[Instruction]:
        """LOAD UOP + GEMM or ALU, redrawn until free of the pipeline hazard."""
        operands = {"dst": MemoryType.ACC, "src": MemoryType.INP if gemm else MemoryType.ACC}
        if gemm:
            operands["wgt"] = MemoryType.WGT
        for _ in range(20):
            drawn = self._loop(operands, thread)
            if drawn is None:
                continue
            uops, fields = drawn
            if gemm:
                insn = Gemm(reset_reg=bool(self.rng.random() < 0.25), **fields)
            else:
                insn = Alu(alu_opcode=self._alu_op(), use_imm=bool(self.rng.random() < 0.5),
                           **{k: v for k, v in fields.items() if not k.startswith("wgt")})
                insn = insn.replace(imm=self._immediate(insn.alu_opcode))
            uop_depth = self.config.uop_depth
            start = int(self.rng.choice([0, self._int(0, uop_depth - len(uops)), uop_depth - len(uops)]))
            insn = insn.replace(uop_bgn=start, uop_end=start + len(uops))
            if self.rng.random() < 0.05:
                insn = insn.replace(uop_bgn=self._fit(start + len(uops), "uop_bgn"),
                                    uop_end=start)                  # an empty range
            if hazard_free(insn, uops):
                load = Load(memory_type=MemoryType.UOP, sram_base=start, dram_base=self._uops(uops),
                            y_size=1, x_size=len(uops), x_stride=len(uops))
                return [load, insn]
        return []

    def _alu_op(self) -> AluOp:
        ops = [op for op in AluOp if op != AluOp.MUL or self.config.ALU_MUL]
        return AluOp(self.rng.choice(ops))

    def _immediate(self, op: AluOp) -> int:
        low, high = self._limit("imm", "alu") * -1 - 1, self._limit("imm", "alu")
        special = [low, high, 0, -1, 1]
        if op == AluOp.SHR:
            special += [15, 16, -16, -17, 31, 32, -32, 7, -8]
        if self.rng.random() < 0.5:
            return int(self.rng.choice(special))
        return self._int(low, high)

    # -- NOPs and tokens ----------------------------------------------------------------------
    def nop(self, module: str) -> Instruction:
        junk = self.rng.random() < 0.3
        fields = {}
        if junk:
            fields = {"sram_base": self._int(0, self._limit("sram_base", "memory")),
                      "dram_base": self._int(0, self._limit("dram_base", "memory")),
                      "y_size": self._int(0, self._fit(7, "y_size", "memory")),
                      "x_stride": self._int(0, self._fit(99, "x_stride", "memory")),
                      "y_pad_0": self._int(0, self._fit(3, "y_pad_0", "memory")),
                      "x_pad_1": self._int(0, self._fit(3, "x_pad_1", "memory"))}
        if module == "load":
            return Load(memory_type=MemoryType(self.rng.choice([MemoryType.INP, MemoryType.WGT])),
                        x_size=0, **fields)
        if module == "store":
            return Store(memory_type=MemoryType(self.rng.choice(list(MemoryType))), x_size=0,
                         **fields)
        kind = self.rng.choice(["uop", "acc", "gemm", "alu"])
        if kind in ("uop", "acc"):
            return Load(memory_type=MemoryType.UOP if kind == "uop" else MemoryType.ACC,
                        x_size=0, **fields)
        first = self._fit(3, "uop_bgn")                      # a range ending before it starts
        empty = {"iter_out": 0} if self.rng.random() < 0.5 else {"uop_bgn": first,
                                                                 "uop_end": first - 1,
                                                                 "iter_out": 2, "iter_in": 2}
        if kind == "gemm":
            return Gemm(**empty)
        return Alu(alu_opcode=self._alu_op(), **empty)

    def with_flags(self, phase: list[Instruction], module: str, pops: dict, pushes: dict) -> list:
        """The phase with its pops before its first execution and pushes after its last:
        on its first/last instruction, or on NOPs."""
        phase = list(phase)
        pops = {k: v for k, v in pops.items() if v}
        pushes = {k: v for k, v in pushes.items() if v}
        if pops:
            if phase and self.rng.random() < 0.6 and not _flagged(phase[0], pops):
                phase[0] = phase[0].replace(**pops)
            else:
                phase.insert(0, self.nop(module).replace(**pops))
        if pushes:
            if phase and self.rng.random() < 0.6 and not _flagged(phase[-1], pushes):
                phase[-1] = phase[-1].replace(**pushes)
            else:
                phase.append(self.nop(module).replace(**pushes))
        return phase

    # -- the program --------------------------------------------------------------------------
    def program(self) -> list[Instruction]:
        rounds = self.rounds
        program = []
        for r in range(rounds):
            count = self._int(1, 4) * self.threads if self.threads > 1 else self._int(1, 3)
            for i in range(count):
                t = i % self.threads
                loads = [self.load(MemoryType(self.rng.choice([MemoryType.INP, MemoryType.WGT])), t, r)
                         for _ in range(self._int(0, 3))]
                program += self.with_flags(loads, "load",
                                           {"pop_next_dep": i >= self.threads or (r > 0 and i == 0)},
                                           {"push_next_dep": True})
                compute = []
                for _ in range(self._int(1, 4)):
                    kind = self.rng.choice(["acc", "gemm", "gemm", "alu", "alu"])
                    compute += [self.load(MemoryType.ACC, t, r)] if kind == "acc" else \
                        self.loop_instruction(t, kind == "gemm")
                program += self.with_flags(compute, "compute",
                                           {"pop_prev_dep": True, "pop_next_dep": i >= self.threads},
                                           {"push_prev_dep": i + self.threads < count,
                                            "push_next_dep": True})
                stores = [self.store(t, r) for _ in range(self._int(0, 2))]
                program += self.with_flags(stores, "store", {"pop_prev_dep": True},
                                           {"push_prev_dep": True})
            outstanding = min(self.threads, count)
            last = r == rounds - 1
            for k in range(outstanding):
                flags = {"pop_next_dep": True}
                if k == outstanding - 1 and not last:
                    flags["push_prev_dep"] = True
                program.append(self.nop("compute").replace(**flags))
        if self.rng.random() < 0.5:      # FINISH takes the last token itself
            program[-1] = Finish(pop_next_dep=True)
        else:
            program.append(Finish())
        return program


def _flagged(insn: Instruction, flags: dict) -> bool:
    return any(getattr(insn, name) for name in flags)


def generate(config: Config, seed: int | tuple, *, loop_limits: bool = True) -> FuzzProgram:
    """The random valid program of `seed` (an integer or a tuple of integers) for `config`;
    without `loop_limits`, no loop runs to its field limit (programs of a few thousand
    micro-op executions at most)."""
    rng = np.random.default_rng(seed)
    drawer = _Drawer(config, rng, loop_limits)
    instructions = drawer.program()
    return FuzzProgram(config, bytes(drawer.dram), instructions,
                       {"generator": "vta.fuzz", "seed": list(np.atleast_1d(seed).tolist())})
