"""Per-layer tiling: split a layer's output into tiles whose operands fit the SRAM buffers, with
one or two virtual threads; `schedule` chooses among them.

A tile is (batch block, output channel blocks, output rows, output columns); a ConvLayer in
"dense" mode may also split its input channel blocks into reduction chunks accumulated in place.
With two virtual threads every buffer holds two slots and consecutive tiles alternate between
them, so that the loads of one tile overlap the GEMM of the other and its store the next compute.
Weights that fit WGT whole are loaded once per layer ("resident") and shared by both threads.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from vta.compiler.cost_model import estimate
from vta.compiler.layers import (AddLayer, ConvLayer, MaxPoolLayer, residual_window_tiles,
                                 tile_conv_rows, window_extent)
from vta.isa import Config


def chunks(total: int, size: int) -> list[tuple[int, int]]:
    """(start, count) pieces of `size` covering range(total)."""
    return [(start, min(size, total - start)) for start in range(0, total, size)]


def sizes(total: int) -> list[int]:
    """The distinct chunk sizes worth trying: ceil(total / k) for every k."""
    return sorted({-(-total // k) for k in range(1, total + 1)}, reverse=True)


@dataclass(frozen=True)
class Tiling:
    """Chunk sizes (output channel blocks, rows, columns, input channel blocks), threads, and
    whether the whole weight tensor stays in WGT."""

    ocb: int
    rows: int
    cols: int
    icb: int
    threads: int
    resident: bool


def weight_tiles_total(layer) -> int:
    if isinstance(layer, ConvLayer):
        return int(layer.weights.shape[0] * (layer.weights[0].size // layer.weights.shape[-1] ** 2))
    return 1


def bias_tiles_total(layer: ConvLayer) -> int:
    return 0 if layer.bias_tiles is None else len(layer.bias_tiles)


def slot_usage(layer, t: Tiling) -> tuple[int, int, int]:
    """(INP, WGT per slot or resident total, ACC) tiles one thread's slot needs."""
    oh, ow = layer.out_hw
    if isinstance(layer, AddLayer):
        inp = t.ocb * t.rows * (layer.a.wh + layer.b.wh)
        return inp, 1, len(layer.consts) * t.ocb + 2 * t.ocb * t.rows * ow
    kh, kw = layer.kernel
    rows = tile_conv_rows(layer, t.rows)
    ih = window_extent(rows, kh, layer.strides[0], layer.dilations[0])
    iw = layer.inp.wh if t.cols == ow else window_extent(t.cols, kw, layer.strides[1],
                                                         layer.dilations[1])
    positions = rows * t.cols
    if isinstance(layer, MaxPoolLayer):
        return t.ocb * ih * iw, 1, t.ocb * (ih * iw + positions)
    taps = kh * kw
    if layer.mode == "dense":
        inp, wgt = t.icb * ih * iw, t.ocb * t.icb * taps
    elif layer.mode == "diag":
        inp, wgt = t.ocb * ih * iw, t.ocb * taps
    else:
        inp, wgt = t.ocb * ih * iw, 1
    copies = 3 if t.ocb * positions < 3 else 1
    acc = len(layer.consts) * t.ocb + copies * t.ocb * positions
    if layer.residual is not None:
        inp += residual_window_tiles(layer, t.ocb, t.rows, t.cols)
        acc += t.ocb * positions
    if layer.pool is not None:
        acc += t.ocb * t.rows * layer.tiled_hw[1]
    return inp, wgt, acc


def fits(layer, t: Tiling, config: Config) -> bool:
    inp, wgt, acc = slot_usage(layer, t)
    wgt_need = weight_tiles_total(layer) if t.resident else t.threads * wgt
    extra_inp = 0
    if isinstance(layer, ConvLayer):     # identity and bias tiles after the weights
        wgt_need += (layer.residual is not None) + bias_tiles_total(layer)
        extra_inp = int(layer.bias_tiles is not None)     # the bias GEMM's input tile, last
    return (t.threads * inp + extra_inp <= config.inp_depth and wgt_need <= config.wgt_depth
            and t.threads * acc <= config.acc_depth)


def candidates(layer):
    """Every tiling worth considering: chunk sizes of output channel blocks, rows, columns
    (a few divisions) and reduction (dense convolutions), one or two threads, resident or
    streamed weights."""
    oh, ow = layer.out_hw
    dense = isinstance(layer, ConvLayer) and layer.mode == "dense"
    whole_rows = isinstance(layer, AddLayer) or (isinstance(layer, ConvLayer)
                                                  and layer.pool is not None)
    col_options = [ow] if whole_rows else \
        sorted({-(-ow // k) for k in (1, 2, 4, 8, 16)}, reverse=True)
    if isinstance(layer, ConvLayer):
        oh = layer.tiled_hw[0]
    icb_options = sizes(layer.inp.cb) if dense else [1]
    resident_options = [True, False] if isinstance(layer, ConvLayer) and layer.mode != "identity" \
        else [True]
    for ocb, rows, cols, icb, threads, resident in itertools.product(
            sizes(layer.out.cb), sizes(oh), col_options, icb_options, (2, 1), resident_options):
        yield Tiling(ocb, rows, cols, icb, threads, resident)


def feasible(layer, config: Config) -> bool:
    """True when some tiling of `layer` fits the SRAMs."""
    return any(fits(layer, tiling, config) for tiling in candidates(layer))


def fitting(layer, config: Config) -> list[tuple[Tiling, float]]:
    """The tilings that fit the SRAMs with their analytic estimates, best first."""
    result = [(tiling, estimate(layer, tiling, config)) for tiling in candidates(layer)
              if fits(layer, tiling, config)]
    return sorted(result, key=lambda item: item[1])
