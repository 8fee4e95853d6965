"""Per-layer tiling, and the plan of the on-chip buffers it implies.

A tile is (batch block, output channel blocks, output rows, output columns); a ConvLayer in
`WeightMode.DENSE` may also split its input channel blocks into reduction chunks accumulated in
place. With two virtual threads every buffer holds two slots and consecutive tiles alternate
between them, so that the loads of one tile overlap the GEMM of the other and its store the next
compute. Weights that fit WGT whole are loaded once per layer ("resident") and shared by both
threads.

`SramPlan` is the one statement of what lies where in INP, WGT, ACC and UOP: named regions
(`Part`) with their offsets and sizes, per slot (a tile's operands) or shared by the threads
(resident weights, identity and bias tiles). `fits` checks it against the config's buffers, the
cost model reads its sizes and code generation its offsets. The schedule (`schedule`) chooses
among the tilings that fit.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from vta.compiler.layers import (AddLayer, ConvLayer, MaxPoolLayer, VtaLayer, WeightMode,
                                 pooled_conv_span, scratch_registers, tile_conv_extent,
                                 window_extent)
from vta.compiler.subtiles import SubTiles
from vta.isa import Config, MemoryType
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
    fewest = _last_chunk(layer.output.channel_blocks, tiling.out_blocks) \
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


#: The buffers the compiler divides into slots and regions (UOP is the runtime's cache).
PLANNED = (MemoryType.INP, MemoryType.WGT, MemoryType.ACC)


@dataclass(frozen=True)
class Capacity:
    """What a config's buffers hold: entries of INP, WGT and ACC (tiles of the activation
    block), the micro-ops one instruction's kernel may take."""

    depths: dict[MemoryType, int]
    kernel_uops: int

    @classmethod
    def of(cls, config: Config) -> Capacity:
        """Entries counted in tiles of the activation block (`subtiles`)."""
        sub = SubTiles.of(config)
        return cls({memory: config.depth(memory) // sub.factor(memory) for memory in PLANNED},
                   max(config.uop_depth // KERNEL_UOP_SHARE, 1))


@dataclass(frozen=True)
class SramPlan:
    """What lies where in the on-chip buffers while one layer runs under one tiling.

    Each of INP, WGT and ACC holds `tiling.threads` slots of `slots[memory]` entries from its
    start (thread t's slot at t × size), then the `shared` regions; INP's shared bias input tile
    is its last entry. `regions(tile)` places one tile's operands inside its slots; the slots
    are sized for `full_tile`, a tile of the tiling's full extents, whose regions are
    `full_regions`. UOP is the runtime's micro-op cache: each instruction's kernel takes at
    most `capacity.kernel_uops` micro-ops.
    """

    layer: VtaLayer
    tiling: Tiling
    slots: dict[MemoryType, int]
    shared: dict[Part, Region]
    full_tile: Tile
    full_regions: dict[Part, Region]
    capacity: Capacity

    @property
    def kernel_uops(self) -> int:
        return self.capacity.kernel_uops

    @property
    def acc_slots(self) -> int:
        """ACC slots the tiles rotate through (`acc_slots`)."""
        return acc_slots(self.tiling.threads, self.slots, self.capacity)

    def slot(self, memory: MemoryType, index: int) -> int:
        """First entry of the slot of `memory` that tile (or reduction step) `index` uses. With
        two threads ACC's odd tiles lie in the buffer's second half (no ACC region is shared),
        so that two consecutive tiles' ALU and GEMM work can overlap (docs/hardware.md); with
        four ACC slots (`acc_slots`) each half holds two, used in turn."""
        thread = index % self.tiling.threads
        if memory == MemoryType.ACC and self.tiling.threads == 2:
            depth = self.capacity.depths[MemoryType.ACC]
            slot = index % self.acc_slots
            return (slot % 2) * (depth // 2) + (slot // 2) * (depth // 4)
        return thread * self.slots[memory]

    def regions(self, tile: Tile) -> dict[Part, Region]:
        """The regions of one tile's operands, as offsets inside its slots."""
        return _REGIONS[type(self.layer)](self.layer, self.tiling, tile, self._scratch)

    @cached_property
    def _scratch(self) -> int:
        return scratch_registers(self.layer)

    @property
    def fits(self) -> bool:
        """True when the slots of every thread and the shared regions fit the buffers."""
        return _fits(self.tiling.threads, self.slots, self.shared, self.capacity)


def acc_slots(threads: int, slots: dict[MemoryType, int], capacity: Capacity) -> int:
    """ACC slots the tiles rotate through: with two threads, two in each half of ACC where a
    tile's ACC regions (`slots`) fit a quarter of it (so that a tile's store overlaps the work
    of the next two tiles instead of holding back the tile after next), else one per thread."""
    if threads == 2 and slots[MemoryType.ACC] <= capacity.depths[MemoryType.ACC] // 4:
        return 4
    return threads


def _fits(threads: int, slots: dict[MemoryType, int], shared: dict[Part, Region],
          capacity: Capacity) -> bool:
    """`SramPlan.fits` (shared regions lie after every thread's slot)."""
    ends = {memory: threads * size for memory, size in slots.items()}
    for region in shared.values():
        end = ends[region.memory]
        if region.offset < end:
            return False
        if region.end > end:
            ends[region.memory] = region.end
    depths = capacity.depths
    return all(ends[memory] <= depths[memory] for memory in PLANNED)


def plan_sram(layer: VtaLayer, tiling: Tiling, config: Config) -> SramPlan:
    """The SRAM plan of `layer` under `tiling`."""
    capacity = Capacity.of(config)
    full_tile, full_regions, slots = _slots(layer, tiling)
    return SramPlan(layer, tiling, slots, _shared(layer, tiling, slots, capacity), full_tile,
                    full_regions, capacity)


def _slots(layer: VtaLayer, tiling: Tiling, scratch: int | None = None):
    """(full tile, its regions, slot sizes) of `layer` under `tiling`: the slots hold the full
    tile's regions and those of smaller edge tiles whose few outputs take partial accumulators
    (`partial_accumulators`) where the full tile's do not. `scratch`: the layer's
    `scratch_registers`, where the caller knows them."""
    full_tile = largest_tile(layer, tiling)
    full_regions = _REGIONS[type(layer)](layer, tiling, full_tile, scratch)
    slots = dict.fromkeys(PLANNED, 0)
    regions = list(full_regions.values())
    if isinstance(layer, ConvLayer) and partial_accumulators(full_tile) == 1 \
            and _last_chunk(layer.output.channel_blocks, tiling.out_blocks) \
            * (_last_chunk(layer.grid_size[1], tiling.cols)
               * _last_chunk(layer.tiled_size[0], tiling.rows) if layer.pool is None else 1) \
            < PARTIAL_ACCUMULATORS:
        for tile in _edge_tiles(layer, tiling):
            if partial_accumulators(tile) > 1:
                regions += _REGIONS[type(layer)](layer, tiling, tile, scratch).values()
    for region in regions:
        slots[region.memory] = max(slots[region.memory], region.end)
    return full_tile, full_regions, slots


def _last_chunk(total: int, size: int) -> int:
    """The size of the last of the chunks of `size` covering `total`."""
    return total - (-(-total // size) - 1) * size


def _edge_tiles(layer: ConvLayer, tiling: Tiling) -> list[Tile]:
    """Tiles of every combination of the chunk sizes along the output blocks, rows and columns
    (the full ones and the last, smaller ones; with a fused pool, the convolution rows and
    columns under the first, a full and the last chunk of pooled ones)."""
    def last_chunk(total: int, size: int) -> set[int]:
        return {min(size, total), _last_chunk(total, size)}

    def extents(axis: int, size: int) -> set[tuple[int, int]]:
        """(convolution rows or columns, pooled ones) of the tiles' chunks along `axis`."""
        total = layer.tiled_size[axis]
        if layer.pool is None:
            return {(count, 0) for count in last_chunk(total, size)}
        parts = chunks(total, size)
        return {(pooled_conv_span(layer, axis, first, count)[1], count)
                for first, count in (parts[0], parts[-1])} \
            | {(tile_conv_extent(layer, axis, size), size)}

    return [Tile(0, 0, blocks, 0, conv_rows, 0, conv_cols, 0, pooled_rows, 0, pooled_cols)
            for blocks in last_chunk(layer.output.channel_blocks, tiling.out_blocks)
            for conv_rows, pooled_rows in extents(0, tiling.rows)
            for conv_cols, pooled_cols in extents(1, tiling.cols)]


def _shared(layer: VtaLayer, tiling: Tiling, slots: dict[MemoryType, int],
            capacity: Capacity) -> dict[Part, Region]:
    """The regions both threads share: WGT's resident weights, identity and bias tiles after the
    slots, INP's bias input tile in its last entry."""
    wgt = MemoryType.WGT
    if not isinstance(layer, ConvLayer) or layer.mode == WeightMode.IDENTITY:
        return {Part.IDENTITY: Region(wgt, 0, 1)}
    shared = {}
    if tiling.weights_resident:
        after = shared[Part.WEIGHTS] = Region(wgt, tiling.threads * slots[wgt],
                                              layer.weight_tiles)
    else:
        after = Region(wgt, tiling.threads * slots[wgt], 0)
    if layer.residual is not None and layer.residual.shortcut is None:
        after = shared[Part.IDENTITY] = Region(wgt, after.end, 1)
    if layer.bias_tiles is not None:
        shared[Part.BIAS_WEIGHTS] = Region(wgt, after.end, len(layer.bias_tiles))
        shared[Part.BIAS_INPUT] = Region(MemoryType.INP, capacity.depths[MemoryType.INP] - 1, 1)
    return shared


def _conv_regions(layer: ConvLayer, tiling: Tiling, tile: Tile, scratch: int | None = None
                  ) -> dict[Part, Region]:
    """INP: the input window of a reduction chunk, then (at a fixed offset: after the full
    tile's window) a fused residual operand's window (its shortcut's input window, the input
    blocks of the chunk's share). WGT: a fused shortcut's weights (of that share), then (at a
    fixed offset) the weight chunk, when weights are streamed. ACC: the constants (for the tiling's output blocks), the accumulators
    (times `partial_accumulators`), then the residual operand (a shortcut's: times
    `partial_accumulators` too) or the pooled results."""
    inp, wgt, acc = MemoryType.INP, MemoryType.WGT, MemoryType.ACC
    taps = layer.taps
    dense = layer.mode == WeightMode.DENSE
    window = input_window(layer, tile).tiles
    regions = {Part.INPUT: Region(inp, 0, (tiling.in_blocks if dense else tile.blocks) * window)}
    shortcut = layer.residual.shortcut if layer.residual is not None else None
    if shortcut is not None:
        regions[Part.SHORTCUT_WEIGHTS] = Region(wgt, 0,
                                                tile.blocks * shortcut_blocks(layer, tiling))
    if not tiling.weights_resident and layer.mode != WeightMode.IDENTITY:
        regions[Part.WEIGHTS] = _streamed_weights(layer, tiling, tile)
    if layer.residual is not None:
        full_window = input_window(layer, largest_tile(layer, tiling)).tiles
        start = (tiling.in_blocks if dense else tiling.out_blocks) * full_window
        blocks = tile.blocks if shortcut is None else shortcut_blocks(layer, tiling)
        regions[Part.OTHER] = Region(inp, start, blocks * operand_window(layer, tile).tiles)
    outputs = tile.blocks * tile.positions
    constants = len(layer.constants) * tiling.out_blocks
    regions[Part.CONSTANTS] = Region(acc, 0, constants)
    accumulators = regions[Part.ACCUMULATORS] = Region(
        acc, constants, partial_accumulators(tile) * outputs * layer.upsample[0]
        * layer.upsample[1])
    if layer.residual is not None:
        copies = 1 if shortcut is None else partial_accumulators(tile)
        regions[Part.OPERAND] = Region(acc, odd_distance(accumulators.offset, accumulators.end),
                                       copies * outputs)
    if layer.pool is not None:
        regions[Part.POOLED] = Region(acc, accumulators.end,
                                      tile.blocks * pooled_tile(tile).positions)
    if scratch is None:
        scratch = scratch_registers(layer)
    if scratch:
        # one register per tile the steps run on: the pooled results, or the outputs
        register = regions[Part.POOLED].size if layer.pool is not None \
            else outputs * layer.upsample[0] * layer.upsample[1]
        end = max(region.end for region in regions.values() if region.memory == acc)
        anchor = regions[Part.POOLED if layer.pool is not None else Part.ACCUMULATORS]
        regions[Part.SCRATCH] = Region(acc, odd_distance(anchor.offset, end), scratch * register)
    if shortcut is not None and scratch:
        operand = regions[Part.OPERAND]
        end = max(region.end for region in regions.values() if region.memory == acc)
        regions[Part.OPERAND_SCRATCH] = Region(acc, odd_distance(operand.offset, end),
                                               scratch * outputs)
    return regions


def _streamed_weights(layer: ConvLayer, tiling: Tiling, tile: Tile) -> Region:
    """WGT: a tile's chunk of streamed weights (its output blocks' taps, for the input blocks of
    a reduction chunk), after a fused shortcut's weights for the tiling's output blocks."""
    dense = layer.mode == WeightMode.DENSE
    shortcut = layer.residual.shortcut if layer.residual is not None else None
    start = 0 if shortcut is None else tiling.out_blocks * shortcut_blocks(layer, tiling)
    return Region(MemoryType.WGT, start,
                  tile.blocks * layer.taps * (tiling.in_blocks if dense else 1))


def _streamed_slots(layer: ConvLayer, tiling: Tiling, resident: tuple) -> tuple:
    """`_slots(layer, tiling)` of a tiling that streams its weights, from `resident`: the
    `_slots` of the same tiling with resident weights (the weight chunk is the only region
    that differs; an edge tile's chunk is no larger than the full tile's)."""
    full_tile, full_regions, slots = resident
    weights = _streamed_weights(layer, tiling, full_tile)
    regions = {}
    for part, region in full_regions.items():
        regions[part] = region
        if part is Part.INPUT:
            regions[Part.WEIGHTS] = weights
    return full_tile, regions, slots | {MemoryType.WGT: max(slots[MemoryType.WGT], weights.end)}


def odd_distance(start: int, free: int) -> int:
    """Where to start an ACC region at or after `free` so that it lies an odd number of tiles
    from `start`: a vector ALU op between the two then reads its operands from the two ACC
    banks in one cycle (docs/hardware.md)."""
    return free + 1 - (free - start) % 2


class SplitRows(NamedTuple):
    """How a MaxPool of column stride 2 lays out its window copy in ACC: each window row as its
    even columns from entry 0 of the row, its odd ones from `odd` (odd), rows `stride` (even)
    entries apart; a tap then reads consecutive entries for consecutive outputs, as the
    outputs lie, so that most of its MAX executions read their two operands from different
    ACC banks (with the window copied as is, every other one conflicts)."""

    stride: int
    odd: int

    def column(self, column: int) -> int:
        """The entry of window column `column` in its row."""
        return column // 2 if column % 2 == 0 else self.odd + column // 2


def split_rows(layer: MaxPoolLayer, window: Window) -> SplitRows | None:
    """The split layout of the window copy of a MaxPool of column stride 2 (and dilation 1),
    else None (the copy is the window as it lies)."""
    if layer.strides[1] != 2 or layer.dilations[1] != 1:
        return None
    odd = -(-window.pitch // 2) | 1
    stride = odd + window.pitch // 2
    return SplitRows(stride + stride % 2, odd)


def _max_pool_regions(layer: MaxPoolLayer, tiling: Tiling, tile: Tile,
                      scratch: int | None = None) -> dict[Part, Region]:
    """INP: the input window. ACC: its copy (`split_rows`), then the maxima, an odd number of
    entries from the odd columns of the copy's first row (their taps then never conflict)."""
    window = input_window(layer, tile)
    split = split_rows(layer, window)
    copy = tile.blocks * window.rows * (window.pitch if split is None else split.stride)
    maxima = copy if split is None else odd_distance(split.odd, copy)
    return {Part.INPUT: Region(MemoryType.INP, 0, tile.blocks * window.tiles),
            Part.WINDOW: Region(MemoryType.ACC, 0, copy),
            Part.ACCUMULATORS: Region(MemoryType.ACC, maxima, tile.blocks * tile.positions)}


def _add_regions(layer: AddLayer, tiling: Tiling, tile: Tile, scratch: int | None = None
                 ) -> dict[Part, Region]:
    """INP: the two operands' windows (whole halo'd rows). ACC: the constants (for the tiling's
    output blocks), the first operand's copy (where the sum is formed), the second's."""
    inp, acc = MemoryType.INP, MemoryType.ACC
    width = layer.output_size[1]
    first = tile.blocks * same_shape_window(layer.a, width, tile).tiles
    second = tile.blocks * operand_window(layer, tile).tiles
    outputs = tile.blocks * tile.positions
    constants = len(layer.constants) * tiling.out_blocks
    operand = Region(acc, odd_distance(constants, constants + outputs), outputs)
    if scratch is None:
        scratch = scratch_registers(layer)
    return {Part.INPUT: Region(inp, 0, first), Part.OTHER: Region(inp, first, second),
            Part.CONSTANTS: Region(acc, 0, constants),
            Part.ACCUMULATORS: Region(acc, constants, outputs),
            Part.OPERAND: operand,
            Part.SCRATCH: Region(acc, odd_distance(constants, operand.end) if scratch
                                 else operand.end, scratch * outputs)}


_REGIONS = {ConvLayer: _conv_regions, MaxPoolLayer: _max_pool_regions, AddLayer: _add_regions}


def candidates(layer: VtaLayer):
    """Every tiling worth considering: chunk sizes of output channel blocks, rows, columns
    (a few divisions) and reduction (dense convolutions), one or two threads, resident or
    streamed weights."""
    height, width = layer.tiled_size
    dense = isinstance(layer, ConvLayer) and layer.mode == WeightMode.DENSE
    col_options = [width] if isinstance(layer, AddLayer) else \
        sorted({-(-width // k) for k in (1, 2, 4, 8, 16)}, reverse=True)
    in_block_options = sizes(layer.input.channel_blocks) if dense else [1]
    resident_options = [True, False] if isinstance(layer, ConvLayer) \
        and layer.mode != WeightMode.IDENTITY else [True]
    for out_blocks, rows, cols, in_blocks, threads, resident in itertools.product(
            sizes(layer.output.channel_blocks), sizes(height), col_options, in_block_options,
            (2, 1), resident_options):
        yield Tiling(out_blocks, rows, cols, in_blocks, threads, resident)


def fitting_plans(layer: VtaLayer, config: Config) -> list[SramPlan]:
    """The SRAM plans of every tiling of `layer` that fits the buffers."""
    capacity = Capacity.of(config)
    scratch = scratch_registers(layer)
    plans = []
    known: dict[tuple, tuple] = {}      # the slots of tilings that differ only in threads
    #: the shared regions of each (resident, threads, slot sizes), None where they do not fit
    checked: dict[tuple, dict | None] = {}
    streams = isinstance(layer, ConvLayer) and layer.mode != WeightMode.IDENTITY
    for tiling in candidates(layer):
        resident = tiling.weights_resident
        extents = (tiling.out_blocks, tiling.rows, tiling.cols, tiling.in_blocks, resident)
        slotted = known.get(extents)
        if slotted is None:
            along = extents[:4] + (True,)
            if not resident and streams and along in known:
                slotted = _streamed_slots(layer, tiling, known[along])
            else:
                slotted = _slots(layer, tiling, scratch)
            known[extents] = slotted
        full_tile, full_regions, slots = slotted
        key = (resident, tiling.threads, *slots.values())
        if key in checked:
            shared = checked[key]
        else:
            shared = _shared(layer, tiling, slots, capacity)
            if not _fits(tiling.threads, slots, shared, capacity):
                shared = None
            checked[key] = shared
        if shared is not None:
            plans.append(SramPlan(layer, tiling, slots, shared, full_tile, full_regions,
                                  capacity))
    return plans


def feasible(layer: VtaLayer, config: Config) -> bool:
    """True when some tiling of `layer` fits the SRAMs."""
    return any(plan_sram(layer, tiling, config).fits for tiling in candidates(layer))
