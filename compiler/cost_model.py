"""The analytic cost model that ranks tilings, so that the cycle model (`schedule`) times only
the most promising few.

Per tile it counts what each module does: the load module's DRAM bytes (at the config's bus
width, plus the read latency per DMA row), the compute module's GEMM and ALU micro-op
executions (one per cycle) and its ACC constant loads, the store module's bytes. With one
virtual thread the modules run one after the other; with two they overlap, so a layer costs
about its busiest module plus one tile of the others (filling the pipeline).
"""

from __future__ import annotations

from vta.compiler.layers import (AddLayer, ConvLayer, MaxPoolLayer, residual_window_tiles,
                                 tile_conv_rows, window_extent)
from vta.isa import Config, MemoryType

#: Cycles the fetch and issue of one instruction costs its module (rough).
INSTRUCTION_OVERHEAD = 8


def _dma(config: Config, nbytes: int, rows: int, latency: int) -> float:
    return nbytes / config.bus_bytes + rows * latency


def estimate(layer, t, config: Config) -> float:
    """Estimated cycles of `layer` under tiling `t`."""
    oh, ow = layer.out_hw
    ob, nb = layer.out.cb, layer.out.nb
    inp_bytes = config.elem_bytes(MemoryType.INP)
    wgt_bytes = config.elem_bytes(MemoryType.WGT)
    acc_bytes = config.elem_bytes(MemoryType.ACC)
    out_bytes = config.elem_bytes(MemoryType.OUT)
    read, write = config.MEM_READ_LATENCY, config.MEM_WRITE_LATENCY
    rows = tile_conv_rows(layer, t.rows)
    if isinstance(layer, ConvLayer):
        oh = layer.tiled_hw[0]
    tiles = nb * -(-ob // t.ocb) * -(-oh // t.rows) * -(-ow // t.cols)
    positions = t.ocb * rows * t.cols
    stored = positions
    load = compute = 0.0
    if isinstance(layer, AddLayer):
        inp_tiles = t.ocb * t.rows * (layer.a.wh + layer.b.wh)
        load = _dma(config, inp_tiles * inp_bytes, 2 * t.ocb, read)
        compute = 4 * positions + positions * (len(layer.steps_a) + len(layer.steps_b)
                                               + len(layer.epilogue) + 1)
    else:
        kh, kw = layer.kernel
        ih = window_extent(rows, kh, layer.strides[0], layer.dilations[0])
        iw = layer.inp.wh if t.cols == ow else window_extent(t.cols, kw, layer.strides[1],
                                                             layer.dilations[1])
        if isinstance(layer, MaxPoolLayer):
            load = _dma(config, t.ocb * ih * iw * inp_bytes, t.ocb * ih, read)
            compute = 2 * t.ocb * ih * iw + positions * (1 + kh * kw)
        else:
            taps = kh * kw
            chunks = -(-layer.inp.cb // t.icb) if layer.mode == "dense" else 1
            in_blocks = t.icb * chunks if layer.mode == "dense" else t.ocb
            load = _dma(config, in_blocks * ih * iw * inp_bytes, in_blocks * ih, read)
            if not t.resident:
                per_tile = t.ocb * (layer.inp.cb if layer.mode == "dense" else 1) * taps
                weights = _dma(config, per_tile * wgt_bytes, t.ocb * chunks, read)
                if chunks == 1:   # each slot reloads only when the output channel chunk changes
                    weight_loads = min(tiles, t.threads * -(-ob // t.ocb))
                    weights *= weight_loads / tiles
                load += weights
            compute = positions * (in_blocks * taps if layer.mode == "dense" else taps)
            compute += positions * (1 + (layer.bias_tiles is not None))
            if layer.pool is not None:
                stored = t.ocb * t.rows * layer.tiled_hw[1]
                compute += stored * (3 + 2 * layer.pool.kernel[0] * layer.pool.kernel[1])
            compute += stored * len(layer.epilogue)
            compute += _dma(config, len(layer.consts) * t.ocb * acc_bytes, len(layer.consts), read)
            load += chunks * INSTRUCTION_OVERHEAD
            if layer.residual is not None:
                r = layer.residual
                load += _dma(config, residual_window_tiles(layer, t.ocb, t.rows, t.cols)
                             * inp_bytes, t.ocb * t.rows, read)
                compute += positions * (4 + len(r.steps_conv) + len(r.steps_other)
                                        + len(r.epilogue))
    store = _dma(config, stored * out_bytes, t.ocb * t.rows, write)
    compute += 6 * INSTRUCTION_OVERHEAD
    total = tiles * (load + compute + store)
    if t.threads > 1 and tiles > 1:
        busiest = max(load, compute, store)
        total = tiles * busiest + (load + compute + store - busiest)
    if t.resident and isinstance(layer, ConvLayer):
        total += _dma(config, int(layer.weights.size) // config.block_out ** 2 * wgt_bytes, 1, read)
    return total
