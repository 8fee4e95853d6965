"""What one VTA layer computes, in the terms code generation needs (packed layouts, weight tiles,
ALU epilogues), independent of tiling.

Three kinds cover every operator VTA takes:

- `ConvLayer`: a GEMM over kernel taps and input channel blocks into the accumulator (plus
  one GEMM adding a per-channel bias), then an ALU epilogue (requantization), optionally
  preceded by a fused max pooling (`Pool`) or followed by a fused residual Add (`Residual`).
  Convolutions (dense, depthwise and block-diagonal grouped), Dense (a 1×1 convolution on a
  1×1 image), average pooling and requantization (an identity weight tile per tap) are all
  `ConvLayer`s.
- `MaxPoolLayer`: the input window copied into the accumulator by an identity GEMM, then ALU MAX
  over the taps.
- `AddLayer`: both inputs copied into the accumulator by identity GEMMs, each brought to the
  common scale by its ALU steps, added (ALU ADD between accumulator tiles), requantized.

Epilogue steps are `Step(op, operand, register)`: ``register = op(register, operand)`` with an
operand ``Imm(value)`` (one immediate for every lane), ``Const(index)`` (per-channel ACC tiles:
`constants[index]`) or ``Reg(index)`` (another register, lane by lane). Register 0 is the region
the steps apply to (the accumulators); registers 1, 2, … are scratch ACC regions of its size
(`Part.SCRATCH`, `scratch_registers`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from vta.compiler.packing import ActLayout
from vta.isa import AluOp


@dataclass(frozen=True)
class Imm:
    value: int


@dataclass(frozen=True)
class Const:
    index: int


@dataclass(frozen=True)
class Reg:
    index: int


class Step(NamedTuple):
    op: AluOp
    operand: Imm | Const | Reg
    register: int = 0


class WeightMode(enum.StrEnum):
    """How a `ConvLayer`'s weights are laid out in WGT and which input block each output block
    reads."""

    #: (O/c, C/c, KH, KW, c, c) tiles: every output block reads every input block
    DENSE = "dense"
    #: (O/c, KH, KW, c, c): output block o reads input block o (depthwise, block-diagonal groups)
    DIAGONAL = "diag"
    #: one (1, c, c) identity tile for every tap: a copy of the input (pooling, requantization)
    IDENTITY = "identity"


@dataclass
class Shortcut:
    """A 1×1 convolution (a residual block's strided downsample) that computes a fused
    residual Add's other operand in place: a GEMM over every input block of `input`, read at
    `strides`, into the operand's ACC region, then `epilogue` (its bias and requantization,
    ending in an int8 clamp), which leaves there the int8 value the convolution would have
    stored. `weights`: dense tiles (O/c, C/c, 1, 1, c, c); `name`: its node."""

    name: str
    input: ActLayout
    strides: tuple[int, int]
    weights: np.ndarray = field(repr=False)
    epilogue: list[Step] = field(default_factory=list)

    @property
    def in_blocks(self) -> int:
        return self.input.channel_blocks


@dataclass
class Residual:
    """A residual Add fused into the convolution that produces one of its operands: the other
    operand `other` is copied into ACC by an identity GEMM (or, with a `shortcut`, computed
    there from `other`, the shortcut's input); both are brought to the Add's scale
    (`steps_conv` on the convolution's requantized result, `steps_other`), added, and
    requantized by `epilogue`."""

    other: ActLayout
    steps_conv: list[Step]
    steps_other: list[Step]
    epilogue: list[Step]
    shortcut: Shortcut | None = None

    @property
    def operand_gemms(self) -> int:
        """GEMM executions per output that form the operand: the copy, or the shortcut's
        input blocks."""
        return 1 if self.shortcut is None else self.shortcut.in_blocks

    @property
    def operand_steps(self) -> list[Step]:
        """The ALU steps on the operand before the Add: the shortcut's epilogue, then
        `steps_other`."""
        return ([] if self.shortcut is None else self.shortcut.epilogue) + self.steps_other


@dataclass
class Pool:
    """A max pooling fused into the convolution that feeds it: taken over the raw accumulators,
    before the requantization (which is monotone, so the two commute; `partition` checks it),
    so that only the pooled tiles are requantized and stored (into `output`). `pads` include the
    ceil-mode extension; padding positions never win a maximum."""

    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    output: ActLayout


@dataclass(frozen=True)
class Phase:
    """One output phase of a transposed convolution (`ConvLayer.upsample` > 1): the outputs at
    rows upsample·m + `row` and columns upsample·m' + `col` form a stride-1 convolution of the
    input with a sub-kernel of `kernel` taps, whose tap (0, 0) reads the layer's input window at
    `window` (row, column) and whose weights are the layer's taps from `first_tap` on (row-major);
    `bias` is the per-channel constant its outputs add (the input zero point folded over its
    taps), or None."""

    row: int
    col: int
    kernel: tuple[int, int]
    window: tuple[int, int]
    first_tap: int
    bias: Const | None = None


@dataclass(kw_only=True)
class ConvLayer:
    name: str
    input: ActLayout
    output: ActLayout
    kernel: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    dilations: tuple[int, int] = (1, 1)
    #: (top, left, bottom, right)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    mode: WeightMode
    #: weight tiles in the layout `mode` names
    weights: np.ndarray = field(repr=False)
    epilogue: list[Step] = field(default_factory=list)
    constants: list[np.ndarray] = field(default_factory=list, repr=False)
    macs: int = 0
    residual: Residual | None = None
    pool: Pool | None = None
    #: the value whose device buffer holds the weight tiles, written at run time (a product of
    #: two activations); `weights` then only gives their shape
    weights_from: str | None = None
    #: per-output-block WGT tiles that add the bias by one GEMM (`packing.bias_weight_tiles`),
    #: instead of a per-channel ALU ADD in the epilogue
    bias_tiles: np.ndarray | None = field(default=None, repr=False)
    #: a transposed convolution's output rows and columns per input position (its strides):
    #: `kernel` is then the input window under one position, and `phases` compute the outputs
    upsample: tuple[int, int] = (1, 1)
    phases: tuple[Phase, ...] = ()
    #: the GEMMs over the taps (the kernel's, or every phase's) run this many times over the
    #: same input window, each time with the next `taps / parts` taps of the weights: weights
    #: that do not fit int8 (minus their zero point) as a sum of int8 parts
    #: (`packing.weight_parts`)
    parts: int = 1

    @property
    def output_size(self) -> tuple[int, int]:
        """(rows, columns) of the output image."""
        return self.output.shape[2], self.output.shape[3]

    @property
    def grid_size(self) -> tuple[int, int]:
        """(rows, columns) of the positions each GEMM computes: the output's, or a transposed
        convolution's output divided by `upsample`."""
        (height, width), (up_rows, up_cols) = self.output_size, self.upsample
        return height // up_rows, width // up_cols

    @property
    def tiled_size(self) -> tuple[int, int]:
        """The output a tile's rows and columns count: the pooled one where a pool is fused."""
        return self.grid_size if self.pool is None else self.pool.output.shape[2:]

    @property
    def taps(self) -> int:
        """Weight taps per pair of channel blocks (a transposed convolution's phases' together,
        every part's)."""
        if self.phases:
            return sum(phase.kernel[0] * phase.kernel[1] for phase in self.phases) * self.parts
        return self.kernel[0] * self.kernel[1] * self.parts

    @property
    def weight_tiles(self) -> int:
        """WGT tiles of the whole weight tensor."""
        return int(self.weights.size) // (self.weights.shape[-1] * self.weights.shape[-2])


@dataclass(kw_only=True)
class MaxPoolLayer:
    name: str
    input: ActLayout
    output: ActLayout
    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]
    pads: tuple[int, int, int, int]
    constants: list[np.ndarray] = field(default_factory=list, repr=False)
    macs: int = 0

    @property
    def output_size(self) -> tuple[int, int]:
        return self.output.shape[2], self.output.shape[3]

    grid_size = tiled_size = output_size


@dataclass(kw_only=True)
class AddLayer:
    name: str
    a: ActLayout
    b: ActLayout
    output: ActLayout
    steps_a: list[Step]
    steps_b: list[Step]
    epilogue: list[Step]
    constants: list[np.ndarray] = field(default_factory=list, repr=False)
    macs: int = 0
    #: how the two operands meet: ADD (an Add), MUL (a product of two activations)
    combine: AluOp = AluOp.ADD
    #: b is one position per channel (N×C×1×1), read at every position of a
    broadcast: bool = False

    @property
    def output_size(self) -> tuple[int, int]:
        return self.output.shape[2], self.output.shape[3]

    grid_size = tiled_size = output_size


VtaLayer = ConvLayer | MaxPoolLayer | AddLayer


def scratch_registers(layer: VtaLayer) -> int:
    """How many scratch registers (ACC regions besides the one the steps apply to) the ALU
    steps of `layer` use."""
    if isinstance(layer, AddLayer):
        programs = [layer.steps_a, layer.steps_b, layer.epilogue]
    elif isinstance(layer, ConvLayer):
        residual = layer.residual
        programs = [layer.epilogue] + ([] if residual is None else
                                       [residual.steps_conv, residual.operand_steps,
                                        residual.epilogue])
    else:
        return 0
    used = [index for steps in programs for step in steps
            for index in (step.register,
                          step.operand.index if isinstance(step.operand, Reg) else 0)]
    return max(used, default=0)


def work_per_output(layer: ConvLayer) -> tuple[int, int]:
    """(GEMM, ALU) executions per output tile of a convolution without a fused pool: its
    taps over the input blocks it reads, the bias GEMM and the reset; its ALU steps (those of
    a fused residual Add too)."""
    gemm = layer.taps * (layer.input.channel_blocks if layer.mode == WeightMode.DENSE else 1) \
        + (layer.bias_tiles is not None) + 1
    alu = len(layer.epilogue)
    if layer.residual is not None:
        residual = layer.residual
        gemm += residual.operand_gemms + 1      # the operand's GEMMs and its reset
        alu += len(residual.steps_conv) + len(residual.operand_steps) + 1 \
            + len(residual.epilogue)
    return gemm, alu


def reset_on_alu(layer: ConvLayer) -> bool:
    """True where zeroing the accumulators (1 execution per output, 2 with a residual
    operand) is cheaper on the ALU than on the GEMM unit: the GEMM work per output exceeds
    the ALU work with the reset moved to it (the GEMM unit is the busier one either way)."""
    if layer.pool is not None or layer.phases:
        return False
    gemm, alu = work_per_output(layer)
    reset = 2 if layer.residual is not None else 1
    return gemm - reset >= alu + reset


class CopiedEpilogue(NamedTuple):
    """A convolution's epilogue when the GEMM unit prepares scratch register 1: `steps`, and
    whether the GEMMs also accumulate into it (`duplicate`) or the reset only zeroes it."""

    steps: list[Step]
    duplicate: bool


def gemm_copied_epilogue(layer: ConvLayer) -> CopiedEpilogue | None:
    """The epilogue of `layer` with the copy into scratch register 1 moved to the GEMM unit,
    or None where that does not pay (or does not apply).

    A requantization with a correction register copies register 0 into register 1 (``r1 MUL
    0``, ``r1 ADD r0``: two ALU cycles per output) after any constant steps on register 0 (the
    bias, the clamps). Where the layer's ALU work per output exceeds its GEMM work, the GEMM
    unit can take over part of it: running the GEMMs (and the bias GEMM) a second time into
    register 1, reset with the accumulators, replaces both steps (the constant steps before them
    are then repeated on register 1: `duplicate`); or the reset alone zeroes register 1 and only
    ``r1 MUL 0`` goes. The registers hold the same values either way. Chosen where the busier of
    the two units gets less work per output.
    """
    steps = list(layer.epilogue)
    copy = [Step(AluOp.MUL, Imm(0), 1), Step(AluOp.ADD, Reg(0), 1)]
    if layer.pool is not None or layer.phases or layer.upsample != (1, 1):
        return None
    for index, step in enumerate(steps):
        if steps[index:index + 2] == copy:
            break
        if step.register != 0 or isinstance(step.operand, Reg):
            return None
    else:
        return None
    prefix = steps[:index]
    duplicated = prefix + [Step(step.op, step.operand, 1) for step in prefix] + steps[index + 2:]
    zeroed = steps[:index] + steps[index + 1:]
    gemm, alu = work_per_output(layer)
    # the operand's GEMMs and its reset: once
    residual = layer.residual.operand_gemms + 1 if layer.residual is not None else 0
    options = [((gemm, alu), None),
               ((gemm + 1, alu - 1), CopiedEpilogue(zeroed, False)),
               ((2 * gemm - residual, alu - len(steps) + len(duplicated)),
                CopiedEpilogue(duplicated, True))]
    # the least work on the busier unit, then on the other one
    return min(options, key=lambda option: (max(option[0]), min(option[0])))[1]


def window_extent(count: int, kernel: int, stride: int, dilation: int) -> int:
    """Input rows (or columns) under `count` output positions of a sliding window."""
    return (count - 1) * stride + (kernel - 1) * dilation + 1


def pooled_conv_span(layer: ConvLayer, axis: int, first_pooled: int, pooled: int
                     ) -> tuple[int, int]:
    """(first, count) of the convolution output rows (`axis` 0) or columns (1) under the pooled
    ones [first_pooled, first_pooled + pooled)."""
    kernel, stride = layer.pool.kernel[axis], layer.pool.strides[axis]
    first = max(0, first_pooled * stride - layer.pool.pads[axis])
    end = min(layer.output_size[axis],
              (first_pooled + pooled - 1) * stride - layer.pool.pads[axis] + kernel)
    return first, end - first


def tile_conv_extent(layer: VtaLayer, axis: int, count: int) -> int:
    """Most convolution output rows (`axis` 0) or columns (1) a tile of `count` output rows or
    columns computes (with a fused pool: those under `count` pooled ones)."""
    if not isinstance(layer, ConvLayer) or layer.pool is None:
        return count
    kernel, stride = layer.pool.kernel[axis], layer.pool.strides[axis]
    return min(layer.output_size[axis], window_extent(count, kernel, stride, 1))
