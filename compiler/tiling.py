"""Per-layer tiling: the tiles a layer runs in, their windows and chunks (the plan of the
on-chip buffers a tiling implies is `sram_plan`).

A tile is (batch block, output channel blocks, output rows, output columns); a ConvLayer in
`WeightMode.DENSE` may also split its input channel blocks into reduction chunks accumulated in
place. With two virtual threads every buffer holds two slots and consecutive tiles alternate
between them, so that the loads of one tile overlap the GEMM of the other and its store the next
compute. Weights that fit WGT whole are loaded once per layer ("resident") and shared by both
threads.

"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from vta.compiler.layers import (AddLayer, ConvLayer, MaxPoolLayer, VtaLayer, WeightMode,
                                 pooled_conv_span, tile_conv_extent, window_extent)
from vta.isa import MemoryType
from vta.runtime.kernels import HAZARD_WINDOW

#: Partial accumulators a reduction onto fewer output tiles is spread over, so that no
#: micro-op writes a tile one of the HAZARD_WINDOW before it wrote (an ALU ADD sums them).
PARTIAL_ACCUMULATORS = HAZARD_WINDOW + 1
#: Share of the micro-op buffer one GEMM/ALU instruction's kernel may take (longer kernels are
#: split into several instructions), so the runtime's micro-op cache holds several at once.
KERNEL_UOP_SHARE = 4


def chunks(total: int, size: int) -> list[tuple[int, int]]:
    """(start, count) pieces of `size` covering range(total)."""
    return [(start, min(size, total - start)) for start in range(0, total, size)]


def last_chunk(total: int, size: int) -> int:
    """The size of the last of the chunks of `size` covering `total`."""
    return total - (-(-total // size) - 1) * size


def sizes(total: int) -> list[int]:
    """The distinct chunk sizes worth trying: ceil(total / k) for every k."""
    return sorted({-(-total // k) for k in range(1, total + 1)}, reverse=True)


@dataclass(frozen=True)
class Tiling:
    """Chunk sizes — output channel blocks, output rows and columns (pooled ones where a pool is
    fused), input channel blocks of a reduction chunk —, virtual threads, and whether the whole
    weight tensor stays in WGT."""

    out_blocks: int
    rows: int
    cols: int
    in_blocks: int
    threads: int
    weights_resident: bool


class Tile(NamedTuple):
    """One tile: a batch block, output channel blocks from `first_block`, output rows and
    columns; with a fused pool also the pooled rows and columns that they serve, and how many
    of its first rows the thread's previous tile computed (`carried_rows`, `carries`)."""

    batch_block: int
    first_block: int
    blocks: int
    first_row: int
    rows: int
    first_col: int
    cols: int
    first_pooled_row: int = 0
    pooled_rows: int = 0
    first_pooled_col: int = 0
    pooled_cols: int = 0
    carried_rows: int = 0

    @property
    def positions(self) -> int:
        return self.rows * self.cols


class Window(NamedTuple):
    """The input a tile reads: `rows` rows of `pitch` columns from DRAM row `first_row`, column
    `first_col` (counted from the halo's top left), and the SRAM column `origin` at which the
    first output position's window starts. A tile spanning the whole width loads whole halo'd
    rows; a narrower one only the columns under it."""

    rows: int
    pitch: int
    first_row: int
    first_col: int
    origin: int

    @property
    def tiles(self) -> int:
        return self.rows * self.pitch


class Part(enum.StrEnum):
    """The named regions of the on-chip buffers."""

    #: INP: the input window (an Add's first operand)
    INPUT = "input window"
    #: INP: the window of a second operand (an Add's, or a fused residual Add's other operand)
    OTHER = "other operand window"
    #: INP (last entry): the constant input tile of the bias GEMM
    BIAS_INPUT = "bias input tile"
    #: WGT: weight tiles (a slot's chunk, or the whole tensor when resident)
    WEIGHTS = "weights"
    #: WGT: a fused shortcut's weight tiles (the tile's output blocks × its input blocks)
    SHORTCUT_WEIGHTS = "shortcut weights"
    #: WGT: the identity tile of the copies into ACC
    IDENTITY = "identity tile"
    #: WGT: one tile per output block that adds the bias by one GEMM
    BIAS_WEIGHTS = "bias weight tiles"
    #: ACC: per-channel ALU operands, one tile per output block and constant
    CONSTANTS = "constants"
    #: ACC: the accumulators the result is formed in (a MaxPool's maxima)
    ACCUMULATORS = "accumulators"
    #: ACC: the copy of a second operand (an Add's, a fused residual Add's other operand)
    OPERAND = "second operand"
    #: ACC: a fused max pool's pooled results
    POOLED = "pooled results"
    #: ACC: a MaxPool's copy of its input window
    WINDOW = "window copy"
    #: ACC: the scratch registers of a fused shortcut's epilogue, an odd number of entries from
    #: the operand (`SCRATCH` lies so from the accumulators)
    OPERAND_SCRATCH = "operand scratch registers"
    #: ACC: the scratch registers of the ALU steps (`layers.scratch_registers`), each the size
    #: of the accumulators of one output of the tile
    SCRATCH = "scratch registers"


class Region(NamedTuple):
    """A range of one on-chip buffer, in entries (tiles)."""

    memory: MemoryType
    offset: int
    size: int

    @property
    def end(self) -> int:
        return self.offset + self.size


def input_window(layer: ConvLayer | MaxPoolLayer, tile: Tile) -> Window:
    """The input window of a tile of a convolution or max pooling."""
    (kh, kw), (sh, sw), (dh, dw) = layer.kernel, layer.strides, layer.dilations
    top, left = layer.pads[0], layer.pads[1]
    x = layer.input
    rows = window_extent(tile.rows - tile.carried_rows, kh, sh, dh)
    first_row = (tile.first_row + tile.carried_rows) * sh + x.halo[0] - top
    if tile.cols == layer.grid_size[1]:
        return Window(rows, x.width_with_halo, first_row, 0, x.halo[1] - left)
    return Window(rows, window_extent(tile.cols, kw, sw, dw), first_row,
                  tile.first_col * sw + x.halo[1] - left, 0)


def operand_window(layer: ConvLayer | AddLayer, tile: Tile) -> Window:
    """The window under a tile of a fused residual Add's other operand (of its shortcut's
    input: `shortcut_window`), or of an Add's second operand."""
    if isinstance(layer, AddLayer) and layer.broadcast:
        b = layer.b                     # one position per channel: its only (halo'd) row
        return Window(1, b.width_with_halo, b.halo[0], 0, b.halo[1])
    if isinstance(layer, ConvLayer) and layer.residual.shortcut is not None:
        return shortcut_window(layer, tile)
    return same_shape_window(layer.residual.other if isinstance(layer, ConvLayer) else layer.b,
                             layer.output_size[1], tile)


def shortcut_window(layer: ConvLayer, tile: Tile) -> Window:
    """The window of a fused shortcut's input under a tile, as it lies in INP: the tile's rows,
    every stride-th row of the input (the load skips the others), each whole (halo'd) when the
    tile spans the output's width, else the columns under the tile (the GEMM skips the
    stride's others)."""
    shortcut = layer.residual.shortcut
    x, (sh, sw) = shortcut.input, shortcut.strides
    first_row = tile.first_row * sh + x.halo[0]
    if tile.cols == layer.output_size[1]:
        return Window(tile.rows, x.width_with_halo, first_row, 0, x.halo[1])
    return Window(tile.rows, window_extent(tile.cols, 1, sw, 1), first_row,
                  tile.first_col * sw + x.halo[1], 0)


def same_shape_window(layout, width: int, tile: Tile) -> Window:
    """The window of a tensor of the output's shape under a tile: whole halo'd rows when the
    tile spans the output's `width`, else just its columns."""
    first_row = tile.first_row + layout.halo[0]
    if tile.cols == width:
        return Window(tile.rows, layout.width_with_halo, first_row, 0, layout.halo[1])
    return Window(tile.rows, tile.cols, first_row, tile.first_col + layout.halo[1], 0)


def tiles(layer: VtaLayer, tiling: Tiling) -> list[Tile]:
    """The tiles of a layer in the order they run: output channel chunks outermost, then batch
    blocks, rows and columns (with a fused pool: pooled rows and columns, each tile computing
    the convolution rows and columns under them)."""
    output = layer.output
    block_chunks = chunks(output.channel_blocks, tiling.out_blocks)
    if isinstance(layer, ConvLayer) and layer.pool is not None:
        height, width = layer.tiled_size
        row_chunks, col_chunks = chunks(height, tiling.rows), chunks(width, tiling.cols)
        carried = carries(layer, tiling)
        # with carried rows, each thread walks down its own columns
        strips = tiling.threads if carried else len(col_chunks)
        return [Tile(batch_block, first_block, blocks,
                     *(carried_span(layer, first_row, rows) if carried else
                       pooled_conv_span(layer, 0, first_row, rows)),
                     *pooled_conv_span(layer, 1, first_col, cols),
                     first_row, rows, first_col, cols,
                     int(carried and (first_row > 0 or layer.pool.pads[0] > 0)))
                for first_block, blocks in block_chunks
                for batch_block in range(output.batch_blocks)
                for group in range(0, len(col_chunks), strips)
                for first_row, rows in row_chunks
                for first_col, cols in col_chunks[group:group + strips]]
    height, width = layer.grid_size
    return [Tile(batch_block, first_block, blocks, first_row, rows, first_col, cols)
            for first_block, blocks in block_chunks for batch_block in range(output.batch_blocks)
            for first_row, rows in chunks(height, tiling.rows)
            for first_col, cols in chunks(width, tiling.cols)]


def carries(layer: VtaLayer, tiling: Tiling) -> bool:
    """True where the tiles of a convolution with a fused pool take the first of their
    convolution rows from the thread's previous tile (the one above, in the same columns),
    which computed it as its last: the pooling windows of consecutive row chunks share exactly
    that row (a 3×3/2 pool), and the column chunks split evenly between the threads, so that
    each thread walks down its own. The row is then computed once; the tile's epilogue copies
    it into the first row of the next tile's accumulators. (`carried_span`: every tile counts
    that row, the first one a padding row above the image where the pool has one, so that no
    tile's accumulators are larger than those of the tile before it in the same ACC slot.)"""
    if not isinstance(layer, ConvLayer) or layer.pool is None \
            or -(-layer.tiled_size[1] // tiling.cols) % tiling.threads \
            or layer.pool.pads[0] > 1:
        return False
    spans = [pooled_conv_span(layer, 0, first, count)
             for first, count in chunks(layer.tiled_size[0], tiling.rows)]
    first_rows = [carried_span(layer, first, count)[1]
                  for first, count in chunks(layer.tiled_size[0], tiling.rows)]
    fewest = last_chunk(layer.output.channel_blocks, tiling.out_blocks) \
        * min(count for _, count in spans) * min(
            pooled_conv_span(layer, 1, first, count)[1]
            for first, count in chunks(layer.tiled_size[1], tiling.cols))
    return len(spans) > 1 and fewest >= PARTIAL_ACCUMULATORS and all(
        first + count - 1 == next_first and next_count >= 2
        for (first, count), (next_first, next_count) in zip(spans, spans[1:])) \
        and first_rows == sorted(first_rows, reverse=True)


def carried_span(layer: ConvLayer, first_pooled: int, pooled: int) -> tuple[int, int]:
    """(first, count) of the convolution rows of a tile that carries its first row
    (`carries`): those under its pooled rows, from the padding row above the image for the
    first tile of a pool padded at the top (a row no window reads)."""
    first, count = pooled_conv_span(layer, 0, first_pooled, pooled)
    if first_pooled == 0 and layer.pool.pads[0]:
        return first - 1, count + 1
    return first, count


def computed_tile(tile: Tile) -> Tile:
    """The rows of a tile that its own GEMMs compute (without the carried ones)."""
    if not tile.carried_rows:
        return tile
    return tile._replace(first_row=tile.first_row + tile.carried_rows,
                         rows=tile.rows - tile.carried_rows, carried_rows=0)


def halved(tile: Tile) -> list[Tile]:
    """`tile` in two: by output channel blocks, else rows, the larger half first; or `tile`
    alone where neither halves, or where the smaller half would need partial accumulators and
    the tile does not."""
    if tile.blocks >= 2:
        half = tile.blocks // 2
        first = tile._replace(blocks=tile.blocks - half)
        second = tile._replace(first_block=tile.first_block + first.blocks, blocks=half)
    elif tile.rows >= 2:
        half = tile.rows // 2
        first = tile._replace(rows=tile.rows - half)
        second = tile._replace(first_row=tile.first_row + first.rows, rows=half)
    else:
        return [tile]
    if partial_accumulators(second) > partial_accumulators(tile):
        return [tile]
    return [first, second]


def output_tile(layer: VtaLayer, tile: Tile) -> Tile:
    """The outputs of a tile: itself, or a transposed convolution's tile of the output (its grid
    positions times `upsample`)."""
    if not isinstance(layer, ConvLayer) or layer.upsample == (1, 1):
        return tile
    rows, cols = layer.upsample
    return tile._replace(first_row=tile.first_row * rows, rows=tile.rows * rows,
                         first_col=tile.first_col * cols, cols=tile.cols * cols)


def pooled_tile(tile: Tile) -> Tile:
    """The pooled rows and columns of a tile of a convolution with a fused pool, as a tile of
    the pool's output."""
    return Tile(tile.batch_block, tile.first_block, tile.blocks, tile.first_pooled_row,
                tile.pooled_rows, tile.first_pooled_col, tile.pooled_cols)


def reduction_chunks(layer: VtaLayer, tiling: Tiling, tile: Tile) -> list[tuple[int, int]]:
    """(first input block, blocks) of each reduction chunk of a tile: a dense convolution's
    input blocks in chunks of `tiling.in_blocks`; otherwise the tile's own blocks, once."""
    if isinstance(layer, ConvLayer) and layer.mode == WeightMode.DENSE:
        return chunks(layer.input.channel_blocks, tiling.in_blocks)
    return [(tile.first_block, tile.blocks)]


def shortcut_chunks(layer: ConvLayer, tiling: Tiling, tile: Tile) -> list[tuple[int, int]]:
    """(first input block, blocks) of a fused shortcut's input that each reduction chunk of a
    tile (`reduction_chunks`, in order) loads and GEMMs: its input blocks spread evenly over
    the chunks (with fewer blocks than chunks, every so many chunks take one), so that each
    chunk's window is a share of them."""
    reduction = len(reduction_chunks(layer, tiling, tile))
    total = layer.residual.shortcut.in_blocks
    starts = [index * total // reduction for index in range(reduction + 1)]
    return [(start, end - start) for start, end in zip(starts, starts[1:])]


def shortcut_blocks(layer: ConvLayer, tiling: Tiling) -> int:
    """The most input blocks of a fused shortcut one reduction chunk takes
    (`shortcut_chunks`)."""
    reduction = -(-layer.input.channel_blocks // tiling.in_blocks) \
        if layer.mode == WeightMode.DENSE else 1
    return -(-layer.residual.shortcut.in_blocks // reduction)


def largest_tile(layer: VtaLayer, tiling: Tiling) -> Tile:
    """A tile of the tiling's full extents (the one its slots are sized for)."""
    return Tile(0, 0, tiling.out_blocks, 0, tile_conv_extent(layer, 0, tiling.rows), 0,
                tile_conv_extent(layer, 1, tiling.cols), 0, tiling.rows, 0, tiling.cols)


def partial_accumulators(tile: Tile) -> int:
    """Copies of the accumulators a tile's GEMM spreads its reduction over: PARTIAL_ACCUMULATORS
    when it has fewer output tiles than that, else 1."""
    outputs = tile.blocks * tile.positions
    return PARTIAL_ACCUMULATORS if outputs < PARTIAL_ACCUMULATORS else 1
