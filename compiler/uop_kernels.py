"""Affine loop nests → GEMM/ALU micro-kernels, free of the pipeline's write hazard.

A VTA GEMM or ALU instruction runs ``iter_out × iter_in × uops``: two loop levels with index
factors around a list of micro-ops (isa-reference §4.3). Code generation describes what it wants as
a loop nest of `Dim`s (extent and the dst/src/wgt index step of each level) over a base index;
`emit` chooses which two levels become the instruction's loops and which are unrolled into
micro-ops, so that the micro-op list is as short as possible and no micro-op writes an ACC tile
one of the two before it wrote (the original runtime's ``VerifyDep`` rule, checked here across
loop boundaries too). Every order of the levels computes the same result: accumulation and the
element-wise ALU operations we emit write each tile independently of the order.
"""

from __future__ import annotations

import enum
import functools
import itertools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from vta.isa import AluOp, Uop, VtaError, encode_uop, layouts
from vta.runtime.kernels import HAZARD_WINDOW, KernelRecorder, UopKernel


class Dim(NamedTuple):
    """One loop level: `extent` iterations, each moving the dst/src/wgt indices by a step (a
    named tuple: loop nests are hashed for every kernel emitted)."""

    extent: int
    dst: int = 0
    src: int = 0
    wgt: int = 0

    @property
    def steps(self) -> tuple[int, int, int]:
        return self.dst, self.src, self.wgt


class Unit(enum.Enum):
    """The compute module's unit an instruction runs on."""

    GEMM = "gemm"
    ALU = "alu"


@dataclass(frozen=True)
class Op:
    """What a kernel does: a GEMM (that resets its outputs with `reset`) or an ALU operation
    (with an immediate, or None for an ACC source)."""

    unit: Unit
    reset: bool = False
    alu: AluOp | None = None
    imm: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "_hash", hash((self.unit, self.reset, self.alu, self.imm)))

    def __hash__(self) -> int:          # kept: every kernel emitted hashes its operation
        return self._hash


GEMM = Op(Unit.GEMM)
RESET = Op(Unit.GEMM, reset=True)


@functools.lru_cache(maxsize=1 << 12)
def _alu(op: AluOp, imm: int | None) -> Op:
    return Op(Unit.ALU, alu=AluOp(op), imm=imm)


def alu(op: AluOp, imm: int | None = None) -> Op:
    return _alu(op, None if imm is None else int(imm))


def simplify(dims: list[Dim]) -> list[Dim]:
    """Drop extent-1 levels and merge a level into its outer neighbour when they walk one
    contiguous range (outer step = inner step × inner extent for dst, src and wgt)."""
    merged: list[Dim] = []
    for dim in dims:
        if dim.extent == 1:
            continue
        if merged:
            outer = merged[-1]
            if all(o == i * dim.extent for o, i in zip(outer.steps, dim.steps)):
                merged[-1] = Dim(outer.extent * dim.extent, *dim.steps)
                continue
        merged.append(dim)
    return merged


def _uop_table(dims: list[Dim], base: tuple[int, int, int]) -> np.ndarray:
    """(U, 3) dst/src/wgt indices of the unrolled levels `dims` (outermost first)."""
    table = np.array([base], dtype=np.int64)
    for dim in dims:
        offsets = np.arange(dim.extent, dtype=np.int64)[:, None] * np.array(dim.steps)
        table = (table[:, None, :] + offsets[None, :, :]).reshape(-1, 3)
    return table


def _hazard_free(dst: np.ndarray, outer: Dim, inner: Dim) -> bool:
    """No write within HAZARD_WINDOW micro-ops of a write to the same tile, over the whole
    execution ``outer × inner × uops``: inside the micro-op list, and across every kind of loop
    boundary (all of one kind are alike, since indices are affine)."""
    units = len(dst)
    for distance in range(1, HAZARD_WINDOW + 1):
        if units > distance and np.any(dst[distance:] == dst[:-distance]):
            return False
    iterations = outer.extent * inner.extent
    edge = min(units, HAZARD_WINDOW)
    span = -(-(HAZARD_WINDOW + 1) // units)            # iterations a hazard window can cover
    starts = set(range(min(iterations, span + 1)))
    boundary = inner.extent
    starts |= set(range(max(boundary - span, 0), min(boundary + 1, iterations)))
    head, tail = dst[:edge].tolist(), dst[-edge:].tolist()
    for start in sorted(starts):
        window = range(start, min(start + span + 1, iterations))
        sequence = []
        for index, t in enumerate(window):
            i, j = divmod(t, inner.extent)
            shift = i * outer.dst + j * inner.dst
            if units <= 2 * edge:
                sequence += [d + shift for d in dst.tolist()]
                continue
            if index > 0:
                sequence += [d + shift for d in head]
            if index < len(window) - 1:
                sequence += [d + shift for d in tail]
        for position, value in enumerate(sequence):
            if value in sequence[position + 1:position + 1 + HAZARD_WINDOW]:
                return False
    return True


@dataclass
class LoopChoice:
    """Loops (outer, inner) and the micro-op table of one instruction."""

    outer: Dim
    inner: Dim
    uops: np.ndarray


@functools.lru_cache(maxsize=4096)
def _choose(dims: tuple[Dim, ...], check_hazard: bool) -> tuple[int, int] | None:
    """Indices (into dims + two unit levels) of the outer and inner loop: hazard-free, fewest
    micro-ops. Independent of the base index (hazards are translation invariant)."""
    none = Dim(1)
    padded = list(dims) + [none, none]
    options = []
    for a, b in itertools.permutations(range(len(padded)), 2):
        if a >= len(dims) and b >= len(dims) and (a, b) != (len(dims), len(dims) + 1):
            continue
        size = math.prod(d.extent for index, d in enumerate(dims) if index not in (a, b))
        options.append((size, a, b))
    for size, a, b in sorted(options):
        rest = [d for index, d in enumerate(dims) if index not in (a, b)]
        if not check_hazard or _hazard_free(_uop_table(rest, (0, 0, 0))[:, 0], padded[a],
                                            padded[b]):
            return a, b
    return None


def choose_loops(dims: list[Dim], base: tuple[int, int, int], check_hazard: bool = True
                 ) -> LoopChoice | None:
    """The hazard-free choice of two loop levels with the fewest micro-ops (None if none)."""
    dims = tuple(simplify(dims))
    chosen = _choose(dims, check_hazard)
    if chosen is None:
        return None
    padded = list(dims) + [Dim(1), Dim(1)]
    rest = [d for index, d in enumerate(dims) if index not in chosen]
    return LoopChoice(padded[chosen[0]], padded[chosen[1]], _uop_table(rest, base))


def emit(stream, dims: list[Dim], base: tuple[int, int, int], op: Op, max_uops: int) -> int:
    """Emit the loop nest `dims` over `base` as few GEMM/ALU instructions as possible (more
    than one when the micro-ops would pass `max_uops`); returns the instruction count."""
    config = stream.config
    if _recorded.config is not config or len(_recorded.nests) >= RECORDED_NESTS:
        _recorded.__init__(config)
    nest = (tuple(dims), tuple(base), op, max_uops)
    kernels = _recorded.nests.get(nest)
    if kernels is None:
        kernels = _recorded.nests[nest] = _recorded.kernels(*nest)
    for kernel in kernels:
        stream.push_kernel(kernel)
    return len(kernels)


class _Recorded:
    """The micro-kernels recorded for one config, shared by every stream (layers emit the same
    nests tile after tile, and the schedule search emits each layer many times): by kernel
    key (one `UopKernel` per key, so that the uop cache finds it resident), the kernels
    of each loop nest `emit` was given, and those of each nest at base index 0, which the
    nest at any other base moves there (`kernels`)."""

    def __init__(self, config=None):
        self.config = config
        self.keys: dict[tuple, UopKernel] = {}
        self.nests: dict[tuple, tuple[UopKernel, ...]] = {}
        #: (dims, op, max_uops) -> each kernel at base 0 with its largest dst/src/wgt index,
        #: or None where the nest cannot be moved (an index below 0, no hazard-free kernel)
        self.at_zero: dict[tuple, list[tuple[UopKernel, tuple]] | None] = {}
        if config is not None:
            self.limits = tuple(field.maximum for field in layouts(config).uop.fields)

    def kernels(self, dims: tuple[Dim, ...], base: tuple[int, int, int], op: Op,
                max_uops: int) -> tuple[UopKernel, ...]:
        """The kernels of a nest: those of the nest at base 0 moved by `base` (a micro-op's
        indices are affine in the base, and so is its word while every index fits its field:
        recorded once per nest, not once per base), else recorded here (with the errors that
        name what does not fit)."""
        nest = (dims, op, max_uops)
        if nest not in self.at_zero:
            self.at_zero[nest] = self._at_zero(dims, op, max_uops)
        pieces = self.at_zero[nest]
        if op.unit == Unit.ALU:
            base = (base[0], base[1], 0)        # an ALU micro-op has no weight index
        if pieces is not None and min(base) >= 0 and all(
                top + at <= limit for _, tops in pieces
                for top, at, limit in zip(tops, base, self.limits)):
            word = encode_uop(Uop(*base), self.config)
            return tuple(self._moved(kernel, base, word) for kernel, _ in pieces)
        return tuple(self.kernel(key, chosen, op)
                     for key, chosen in _kernels(dims, base, op, max_uops))

    def _at_zero(self, dims: tuple[Dim, ...], op: Op, max_uops: int
                 ) -> list[tuple[UopKernel, tuple]] | None:
        try:
            chosen = _kernels(dims, (0, 0, 0), op, max_uops)
        except VtaError:
            return None
        if any(choice.uops.min() < 0 for _, choice in chosen):
            return None
        return [(self.kernel(key, choice, op), tuple(choice.uops.max(axis=0).tolist()))
                for key, choice in chosen]

    def _moved(self, kernel: UopKernel, base: tuple[int, int, int], word: int) -> UopKernel:
        key = (kernel.key, base)
        known = self.keys.get(key)
        if known is None:
            known = self.keys[key] = kernel.moved(key, word)
        return known

    def kernel(self, key: tuple, chosen: LoopChoice, op: Op) -> UopKernel:
        known = self.keys.get(key)
        if known is None:
            known = self.keys[key] = _record(self.config, key, chosen, op)
        return known


#: the kernels of the last config emitted for (at most `RECORDED_NESTS` nests, then
#: forgotten)
_recorded = _Recorded()
RECORDED_NESTS = 1 << 16


@functools.lru_cache(maxsize=1 << 16)
def _kernels(dims: tuple[Dim, ...], base: tuple[int, int, int], op: Op, max_uops: int
             ) -> tuple[tuple[tuple, LoopChoice], ...]:
    """(kernel key, loop choice) of each instruction `emit` pushes (layers repeat the same nests
    tile after tile, so the choice is remembered)."""
    dims = simplify(list(dims))
    chosen = choose_loops(dims, base, check_hazard=True)
    if chosen is not None and len(chosen.uops) <= max_uops:
        uops = tuple(map(tuple, chosen.uops.tolist()))
        return ((("kernel", op, chosen.outer, chosen.inner, uops), chosen),)
    if not dims:
        raise VtaError(f"no hazard-free micro-kernel for {op} at {base}")
    # Split the outermost level into separate instructions (each shorter), then retry.
    head, rest = dims[0], tuple(dims[1:])
    return tuple(kernel for index in range(head.extent) for kernel in _kernels(
        rest, tuple(b + index * s for b, s in zip(base, head.steps)), op, max_uops))


def _record(config, key: tuple, chosen: LoopChoice, op: Op) -> UopKernel:
    k = KernelRecorder(config, key)
    for loop in [d for d in (chosen.outer, chosen.inner) if d.extent > 1]:
        k.loop(loop.extent, dst_factor=loop.dst, src_factor=loop.src, wgt_factor=loop.wgt)
    for dst, src, wgt in key[-1]:
        if op.unit == Unit.GEMM:
            k.gemm(dst=dst, src=src, wgt=wgt, reset=op.reset)
        else:
            k.alu(op.alu, dst=dst, src=src, imm=op.imm)
    return k.finish()
