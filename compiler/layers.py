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

Epilogue steps are `(AluOp, operand)` with an operand ``Imm(value)`` (one immediate for every
lane) or ``Const(index)`` (per-channel ACC tiles: `consts[index]`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vta.compiler.packing import ActLayout
from vta.isa import AluOp


@dataclass(frozen=True)
class Imm:
    value: int


@dataclass(frozen=True)
class Const:
    index: int


Step = tuple[AluOp, Imm | Const]


@dataclass
class Residual:
    """A residual Add fused into the convolution that produces one of its operands: the other
    operand `other` is copied into ACC by an identity GEMM; both are brought to the Add's scale
    (`steps_conv` on the convolution's requantized result, `steps_other`), added, and
    requantized by `epilogue`."""

    other: ActLayout
    steps_conv: list[Step]
    steps_other: list[Step]
    epilogue: list[Step]


@dataclass
class Pool:
    """A max pooling fused into the convolution that feeds it: taken over the raw accumulators,
    before the requantization (which is monotone, so the two commute; `partition` checks it),
    so that only the pooled tiles are requantized and stored (into `out`). `pads` include the
    ceil-mode extension; padding positions never win a maximum."""

    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    out: ActLayout


@dataclass
class ConvLayer:
    name: str
    inp: ActLayout
    out: ActLayout
    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]
    pads: tuple[int, int, int, int]
    #: "dense" (O/c, C/c, KH, KW, c, c) tiles, "diag" (O/c, KH, KW, c, c), "identity" (1, c, c)
    mode: str
    weights: np.ndarray = field(repr=False)
    epilogue: list[Step] = field(default_factory=list)
    consts: list[np.ndarray] = field(default_factory=list, repr=False)
    macs: int = 0
    residual: Residual | None = None
    pool: Pool | None = None
    #: per-output-block WGT tiles that add the bias by one GEMM (`packing.bias_weight_tiles`),
    #: instead of a per-channel ALU ADD in the epilogue
    bias_tiles: np.ndarray | None = field(default=None, repr=False)

    @property
    def out_hw(self) -> tuple[int, int]:
        return self.out.shape[2], self.out.shape[3]

    @property
    def tiled_hw(self) -> tuple[int, int]:
        """The output a tile's rows and columns count: the pooled one where a pool is fused."""
        return self.out_hw if self.pool is None else self.pool.out.shape[2:]


@dataclass
class MaxPoolLayer:
    name: str
    inp: ActLayout
    out: ActLayout
    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]
    pads: tuple[int, int, int, int]
    consts: list[np.ndarray] = field(default_factory=list, repr=False)
    macs: int = 0

    @property
    def out_hw(self) -> tuple[int, int]:
        return self.out.shape[2], self.out.shape[3]


@dataclass
class AddLayer:
    name: str
    a: ActLayout
    b: ActLayout
    out: ActLayout
    steps_a: list[Step]
    steps_b: list[Step]
    epilogue: list[Step]
    consts: list[np.ndarray] = field(default_factory=list, repr=False)
    macs: int = 0

    @property
    def out_hw(self) -> tuple[int, int]:
        return self.out.shape[2], self.out.shape[3]


VtaLayer = ConvLayer | MaxPoolLayer | AddLayer


def window_extent(count: int, kernel: int, stride: int, dilation: int) -> int:
    """Input rows (or columns) under `count` output positions of a sliding window."""
    return (count - 1) * stride + (kernel - 1) * dilation + 1


def residual_window_tiles(layer: ConvLayer, ocb: int, rows: int, cols: int) -> int:
    """INP tiles of a fused residual operand's window for a tile: whole halo'd rows when the
    tile spans the width, else just its columns."""
    pitch = layer.residual.other.wh if cols == layer.out_hw[1] else cols
    return ocb * rows * pitch


def pooled_conv_rows(layer: ConvLayer, ph0: int, phc: int) -> tuple[int, int]:
    """(first row, rows) of the convolution output under pooled rows [ph0, ph0 + phc)."""
    (kh, _), (sh, _), top = layer.pool.kernel, layer.pool.strides, layer.pool.pads[0]
    first = max(0, ph0 * sh - top)
    end = min(layer.out_hw[0], (ph0 + phc - 1) * sh - top + kh)
    return first, end - first


def tile_conv_rows(layer, rows: int) -> int:
    """Most convolution output rows a tile of `rows` output rows computes (with a fused pool:
    the rows under `rows` pooled rows)."""
    if not isinstance(layer, ConvLayer) or layer.pool is None:
        return rows
    (kh, _), (sh, _) = layer.pool.kernel, layer.pool.strides
    return min(layer.out_hw[0], window_extent(rows, kh, sh, 1))
