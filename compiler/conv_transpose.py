"""A transposed convolution (ONNX ConvTranspose) as stride-1 convolutions on VTA, one per output
phase, with no zeros inserted between the inputs.

Along one axis (stride s, kernel k, leading pad p), output y = s·m + φ receives the taps
ky ≡ (φ + p) mod s, ky = r + s·t, each from input row m + c − t with c = (φ + p) div s. So the
outputs of phase φ form a stride-1 convolution over the input rows m + c − (T − 1) … m + c with
the sub-kernel of those T taps in reverse order. All phases of a grid position m read inside one
window of rows m + lo … m + hi, which the layer loads as a stride-1 convolution of kernel
hi − lo + 1 would (`ConvLayer.kernel`, padding −lo and the rest in the halo); each phase's GEMM
reads its taps at its own offset in that window and writes every s-th output row and column of
the tile's accumulators (`layers.Phase`), so that the tile stores as the output's rows.

Every input position outside the image reads the halo, filled with the input zero point, and
each phase's bias absorbs the zero point over its own taps: its outputs add
bias − zero_point · Σ(its weights) (the phases' sums differ).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vta.compiler import ir
from vta.compiler.alu_program import wrap32


class NotLowerable(ValueError):
    """The transposed convolution has no phase decomposition on VTA."""


@dataclass(frozen=True)
class AxisPhase:
    """One phase along one axis: its output offset, its kernel indices in the order the window
    reads them, and the window row its first tap reads (relative to the grid position)."""

    phase: int
    kernel_indices: tuple[int, ...]
    first_row: int


@dataclass(frozen=True)
class Lowering:
    """What the VTA layer of a transposed convolution needs: the window kernel and its pads,
    the phases along rows and columns (window offsets relative to the window's first row and
    column), the weights (O, C, 1, taps) in phase order (of the node's weight type: int16 where
    they do not fit int8), and the bias of each phase."""

    kernel: tuple[int, int]
    pads: tuple[int, int, int, int]
    rows: tuple[AxisPhase, ...]
    cols: tuple[AxisPhase, ...]
    weights: np.ndarray
    biases: list[np.ndarray]


def axis_phases(kernel: int, stride: int, pad_begin: int) -> list[AxisPhase]:
    """The phases along one axis (first rows relative to the grid position)."""
    phases = []
    for phase in range(stride):
        first, carry = (phase + pad_begin) % stride, (phase + pad_begin) // stride
        indices = tuple(range(first, kernel, stride))[::-1]
        phases.append(AxisPhase(phase, indices, carry - len(indices) + 1))
    return phases


def lower(node: ir.ConvTranspose2d, input_shape: tuple[int, ...],
          output_shape: tuple[int, ...]) -> Lowering:
    """The phase decomposition of `node` (NotLowerable where it has none: groups, dilations, or
    an output whose size is no multiple of the strides)."""
    if node.groups != 1:
        raise NotLowerable("grouped transposed convolution")
    if tuple(node.dilations) != (1, 1):
        raise NotLowerable("dilated transposed convolution")
    _, _, height, width = input_shape
    _, _, out_height, out_width = output_shape
    kh, kw = node.weight.shape[2:]
    (sh, sw), (top, left) = node.strides, node.pads[:2]
    if out_height % sh or out_width % sw:
        raise NotLowerable(f"output {out_height}×{out_width} is no multiple of the strides")
    axes, pads, extents = [], [], []
    for kernel, stride, pad, grid, size in ((kh, sh, top, out_height // sh, height),
                                            (kw, sw, left, out_width // sw, width)):
        phases = axis_phases(kernel, stride, pad)
        used = [p for p in phases if p.kernel_indices]
        low = min(p.first_row for p in used)
        high = max(p.first_row + len(p.kernel_indices) - 1 for p in used)
        axes.append(tuple(AxisPhase(p.phase, p.kernel_indices, p.first_row - low)
                          for p in phases))
        pads.append((-low, grid - 1 + high - (size - 1)))
        extents.append(high - low + 1)
    rows, cols = axes
    weight = node.weight.astype(np.int64)                       # (C, O, KH, KW)
    taps, biases = [], []
    zero_point_sums = []
    for row in rows:
        for col in cols:
            phase_taps = [weight[:, :, ky, kx].T for ky in row.kernel_indices
                          for kx in col.kernel_indices]         # each (O, C)
            taps += phase_taps
            zero_point_sums.append(sum((tap.sum(axis=1) for tap in phase_taps),
                                       np.zeros(weight.shape[1], np.int64)))
    for sums in zero_point_sums:
        biases.append(wrap32(node.bias.astype(np.int64) - node.input_zero_point * sums))
    weights = np.stack(taps, axis=-1)[:, :, None, :].astype(node.weight.dtype)  # (O, C, 1, taps)
    return Lowering(tuple(extents), (pads[0][0], pads[1][0], pads[0][1], pads[1][1]), rows,
                    cols, weights, biases)
