"""ACC footprints of GEMM/ALU instructions for the compute module's two units: the model of
`vta.hardware.footprint.KernelFootprints` (docs/hardware.md, compute overlap).

The table holds the last `Machine.overlap_kernels` micro-kernels LOAD UOP wrote: each its slot
range and the smallest and largest ``dst_idx`` and ``src_idx`` of its micro-ops; a new one
replaces the oldest entry and drops those whose range it overlaps (all, when it wraps around
the buffer). An instruction's footprint is the set of ACC halves (a 2-bit mask) its tiles may
lie in.
"""

from __future__ import annotations

import numpy as np

from vta.isa import Config, Opcode

from vta.simulator.cycle.geometry import geometry

BOTH_HALVES = 0b11


class KernelFootprints:
    def __init__(self, config: Config, entries: int):
        self.entries = [None] * entries          # (base, end, lo_dst, hi_dst, lo_src, hi_src)
        self.oldest = 0
        sizes = geometry(config)
        self.uop_depth = sizes.uop_depth
        self.half = sizes.acc_depth // 2
        self.acc_depth = sizes.acc_depth
        self._masks: dict = {}      # masks by instruction bytes, until the next LOAD UOP

    def load(self, insn, dst: np.ndarray, src: np.ndarray) -> None:
        """A LOAD UOP (x_size > 0) that wrote micro-ops with these indices (in write order)."""
        self._masks.clear()
        base, end = insn.sram_base, insn.sram_base + insn.x_size
        for n, entry in enumerate(self.entries):
            if entry is not None and n != self.oldest and (
                    (entry[0] < end and base < entry[1]) or end > self.uop_depth):
                self.entries[n] = None
        self.entries[self.oldest] = (base, end, int(dst.min()), int(dst.max()), int(src.min()),
                                     int(src.max()))
        self.oldest = (self.oldest + 1) % len(self.entries)

    def _halves(self, low: int, high: int, factor_out: int, factor_in: int, f: dict) -> int:
        top = high + (f["iter_out"] - 1) * factor_out + (f["iter_in"] - 1) * factor_in
        beyond = top >= self.acc_depth
        return int(low < self.half or beyond) | (int(top >= self.half or beyond) << 1)

    def mask(self, insn) -> int:
        """The ACC halves a GEMM or ALU instruction may touch."""
        raw = getattr(insn, "raw", None)
        if raw is None:
            return self._mask(insn)
        mask = self._masks.get(raw)
        if mask is None:
            mask = self._masks[raw] = self._mask(insn)
        return mask

    def _mask(self, insn) -> int:
        f = insn.fields
        first, end = f["uop_bgn"], f["uop_end"]
        if f["iter_out"] == 0 or f["iter_in"] == 0 or first >= end:
            return 0
        for entry in self.entries:
            if entry is not None and entry[0] <= first and end <= entry[1]:
                break
        else:
            return BOTH_HALVES
        _, _, lo_dst, hi_dst, lo_src, hi_src = entry
        mask = self._halves(lo_dst, hi_dst, f["dst_factor_out"], f["dst_factor_in"], f)
        if insn.opcode is Opcode.ALU and not f["use_imm"]:
            mask |= self._halves(lo_src, hi_src, f["src_factor_out"], f["src_factor_in"], f)
        return mask

    def load_halves(self, insn) -> int:
        """The ACC halves a LOAD ACC writes (both when it would reach past the end of ACC)."""
        rows = insn.y_pad_0 + insn.y_size + insn.y_pad_1
        cols = insn.x_pad_0 + insn.x_size + insn.x_pad_1
        end = insn.sram_base + rows * cols
        beyond = end > self.acc_depth
        return int(insn.sram_base < self.half or beyond) | (int(end > self.half or beyond) << 1)
