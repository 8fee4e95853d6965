"""The plan of the on-chip buffers a layer's tiling implies.

`SramPlan` is the one statement of what lies where in INP, WGT, ACC and UOP: named regions
(`tiling.Part`) with their offsets and sizes, per slot (a tile's operands) or shared by the
threads (resident weights, identity and bias tiles). `fits` checks it against the config's
buffers, the cost model reads its sizes and code generation its offsets. The schedule
(`schedule`) chooses among the tilings that fit (`fitting_plans`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from vta.compiler.layers import (AddLayer, ConvLayer, MaxPoolLayer, VtaLayer, WeightMode,
                                 pooled_conv_span, scratch_registers, tile_conv_extent)
from vta.compiler.subtiles import SubTiles
from vta.compiler.tiling import (KERNEL_UOP_SHARE, PARTIAL_ACCUMULATORS, Part, Region, Tile,
                                 Tiling, Window, chunks, input_window, largest_tile, last_chunk,
                                 operand_window, partial_accumulators, pooled_tile,
                                 same_shape_window, shortcut_blocks, sizes)
from vta.isa import Config, MemoryType
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
    return _within(threads, slots, _limits(shared, capacity))


def _within(threads: int, slots: dict[MemoryType, int], limits: dict[MemoryType, int]) -> bool:
    """True when every thread's slot of INP, WGT and ACC fits its buffer's `_limits`."""
    inp, wgt, acc = MemoryType.INP, MemoryType.WGT, MemoryType.ACC
    return threads * slots[inp] <= limits[inp] and threads * slots[wgt] <= limits[wgt] \
        and threads * slots[acc] <= limits[acc]


def _limits(shared: dict[Part, Region], capacity: Capacity) -> dict[MemoryType, int]:
    """The most entries of each buffer the threads' slots may take before the `shared` regions
    (all -1 where those overlap each other or pass the buffer's end): `fitting_plans` checks
    each tiling against the limits of its shared layout, kept per layout."""
    limits = dict(capacity.depths)
    ends = dict.fromkeys(limits, 0)
    for region in shared.values():
        memory = region.memory
        if region.offset < ends[memory] or region.end > capacity.depths[memory]:
            return dict.fromkeys(limits, -1)
        limits[memory] = min(limits[memory], region.offset)
        ends[memory] = max(ends[memory], region.end)
    return limits


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
            and last_chunk(layer.output.channel_blocks, tiling.out_blocks) \
            * (last_chunk(layer.grid_size[1], tiling.cols)
               * last_chunk(layer.tiled_size[0], tiling.rows) if layer.pool is None else 1) \
            < PARTIAL_ACCUMULATORS:
        for tile in _edge_tiles(layer, tiling):
            if partial_accumulators(tile) > 1:
                regions += _REGIONS[type(layer)](layer, tiling, tile, scratch).values()
    for region in regions:
        if region.end > slots[region.memory]:
            slots[region.memory] = region.end
    return full_tile, full_regions, slots


def _edge_tiles(layer: ConvLayer, tiling: Tiling) -> list[Tile]:
    """Tiles of every combination of the chunk sizes along the output blocks, rows and columns
    (the full ones and the last, smaller ones; with a fused pool, the convolution rows and
    columns under the first, a full and the last chunk of pooled ones)."""
    def chunk_sizes(total: int, size: int) -> set[int]:
        return {min(size, total), last_chunk(total, size)}

    def extents(axis: int, size: int) -> set[tuple[int, int]]:
        """(convolution rows or columns, pooled ones) of the tiles' chunks along `axis`."""
        total = layer.tiled_size[axis]
        if layer.pool is None:
            return {(count, 0) for count in chunk_sizes(total, size)}
        parts = chunks(total, size)
        return {(pooled_conv_span(layer, axis, first, count)[1], count)
                for first, count in (parts[0], parts[-1])} \
            | {(tile_conv_extent(layer, axis, size), size)}

    return [Tile(0, 0, blocks, 0, conv_rows, 0, conv_cols, 0, pooled_rows, 0, pooled_cols)
            for blocks in chunk_sizes(layer.output.channel_blocks, tiling.out_blocks)
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
        full = largest_tile(layer, tiling)
        full_window = window if tile == full else input_window(layer, full).tiles
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
    options = _options(layer)
    for extents in _extents(layer):
        for threads, resident in options:
            yield Tiling(*extents, threads, resident)


def _extents(layer: VtaLayer):
    """(output channel blocks, rows, columns, input blocks) of every candidate tiling, in
    `candidates`' order."""
    return itertools.product(*_axes(layer))


def _axes(layer: VtaLayer) -> tuple[list[int], ...]:
    """The chunk sizes tried along the output channel blocks, rows, columns and input blocks,
    largest first."""
    height, width = layer.tiled_size
    dense = isinstance(layer, ConvLayer) and layer.mode == WeightMode.DENSE
    col_options = [width] if isinstance(layer, AddLayer) else \
        sorted({-(-width // k) for k in (1, 2, 4, 8, 16)}, reverse=True)
    in_block_options = sizes(layer.input.channel_blocks) if dense else [1]
    return sizes(layer.output.channel_blocks), sizes(height), col_options, in_block_options


def _options(layer: VtaLayer) -> list[tuple[int, bool]]:
    """(threads, weights resident) of the candidate tilings of each extents, in
    `candidates`' order."""
    resident_options = [True, False] if _streams(layer) else [True]
    return [(threads, resident) for threads in (2, 1) for resident in resident_options]


def _streams(layer: VtaLayer) -> bool:
    """True for a layer whose weights may be streamed (a convolution with a weight tensor)."""
    return isinstance(layer, ConvLayer) and layer.mode != WeightMode.IDENTITY


def fitting_plans(layer: VtaLayer, config: Config) -> list[SramPlan]:
    """The SRAM plans of every tiling of `layer` that fits the buffers."""
    capacity = Capacity.of(config)
    scratch = scratch_registers(layer)
    options = _options(layer)
    plans = []
    #: the shared regions of each (resident, end of the threads' WGT slots), all they depend on,
    #: and their `_limits`
    shared_after: dict[tuple[bool, int], tuple[dict, dict]] = {}
    for extents in _extents(layer):
        # the slots of the extents' tilings, resident and streamed (threads do not change them)
        slotted = {}
        for threads, resident in options:
            tiling = Tiling(*extents, threads, resident)
            if resident not in slotted:
                slotted[resident] = _slots(layer, tiling, scratch) if resident else \
                    _streamed_slots(layer, tiling, slotted[True])
            full_tile, full_regions, slots = slotted[resident]
            after = (resident, threads * slots[MemoryType.WGT])
            if after not in shared_after:
                shared = _shared(layer, tiling, slots, capacity)
                shared_after[after] = shared, _limits(shared, capacity)
            shared, limits = shared_after[after]
            if _within(threads, slots, limits):
                plans.append(SramPlan(layer, tiling, slots, shared, full_tile, full_regions,
                                      capacity))
    return plans


def feasible(layer: VtaLayer, config: Config) -> bool:
    """True when some tiling of `layer` fits the SRAMs: `candidates` tried in reverse order,
    smallest first (the largest, which `candidates` gives first, mostly do not fit: a
    partition checking every layer tried thousands before one that did)."""
    smallest_first = itertools.product(*(axis[::-1] for axis in _axes(layer)))
    options = _options(layer)[::-1]
    return any(plan_sram(layer, Tiling(*extents, threads, resident), config).fits
               for extents in smallest_first for threads, resident in options)
