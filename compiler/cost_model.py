"""The analytic cost model that ranks tilings, so that the cycle model (`schedule`) times only
the most promising few.

Per tile it counts what each module does with the regions of the layer's `sram_plan.SramPlan`: the
load module's DRAM bytes (at the config's bus width, or the lower rate its outstanding reads
sustain, plus the read latency per DMA row), the
compute module's GEMM and ALU micro-op executions (at the machine description's initiation
intervals; their sum, or with two threads on a core whose units overlap the larger of the two)
and its ACC constant loads,
the store module's bytes. With one virtual thread the modules run one after the other; with two
they overlap, so a layer costs about its busiest module plus one tile of the others (filling the
pipeline).
"""

from __future__ import annotations

from typing import NamedTuple

from vta.compiler.layers import (AddLayer, ConvLayer, MaxPoolLayer, WeightMode,
                                 gemm_copied_epilogue, reset_on_alu)
from vta.compiler.subtiles import SubTiles
from vta.compiler.sram_plan import SramPlan, split_rows
from vta.compiler.tiling import (Part, Tiling, carries, input_window, partial_accumulators,
                                 shortcut_blocks)
from vta.isa import Config, MemoryType

#: Cycles the fetch and issue of one instruction costs its module (rough).
INSTRUCTION_OVERHEAD = 8


class _Dma:
    """DRAM transfer times under one config: bytes at the bus width plus a latency per row
    (one per config: `_dma`); and its machine's cycles per GEMM and per immediate ALU
    execution."""

    def __init__(self, config: Config):
        # Counted per tile of the activation block (`subtiles`): a GEMM on one is `wgt`
        # executions of the config's, an ALU operation `acc`.
        sub = SubTiles.of(config)
        self.gemm_interval = config.machine.loop_interval(gemm=True) * sub.wgt
        self.overlap = config.machine.overlap_kernels > 0
        self.alu_interval = config.machine.loop_interval(gemm=False) * sub.acc
        self.alu_mul = bool(config.ALU_MUL)
        self.bus_bytes = config.bus_bytes
        self.read_latency, self.write_latency = config.MEM_READ_LATENCY, config.MEM_WRITE_LATENCY
        # Bus words per cycle the reads can keep up: a burst's AR waits while the machine's
        # `max_outstanding_reads` bursts are in flight, each for the latency and its beats
        # (all of them at once on the presets; a long latency with few outstanding reads is
        # slower).
        machine = config.machine
        burst = machine.max_burst_beats
        self.read_rate = min(1.0, machine.max_outstanding_reads * burst
                             / (config.MEM_READ_LATENCY + burst))
        self.tile_bytes = {memory: config.elem_bytes(memory) * sub.factor(memory)
                           for memory in MemoryType}

    def read(self, memory: MemoryType, tiles: int, rows: int) -> float:
        return (tiles * self.tile_bytes[memory] / self.bus_bytes / self.read_rate
                + rows * self.read_latency)

    def write(self, tiles: int, rows: int) -> float:
        return tiles * self.tile_bytes[MemoryType.OUT] / self.bus_bytes + rows * self.write_latency


def _dma(config: Config) -> _Dma:
    """The `_Dma` of `config` (the last one made is kept: configs hash slowly)."""
    global _last_dma
    if _last_dma is None or _last_dma[0] is not config:
        _last_dma = (config, _Dma(config))
    return _last_dma[1]


_last_dma: tuple[Config, _Dma] | None = None


class _LayerFacts:
    """What the estimates of one layer's plans share under one config (`_layer_facts`): its
    sizes, what resident weights add per (output blocks, input blocks) of a tiling
    (`_resident`), per extents of a convolution's full tile the part of its cost that
    neither the threads nor where the weights lie change (`_conv_work`), and per extents and
    threads what a full tile costs (`_tile_cost`)."""

    def __init__(self, layer, dma: _Dma):
        self.layer, self.dma = layer, dma
        output = layer.output
        self.output_tiles = output.batch_blocks, output.channel_blocks
        self.tiled_size = layer.tiled_size
        self.store_rows = _upsample(layer)[0]
        self.has_weight_tensor = isinstance(layer, ConvLayer) \
            and layer.mode != WeightMode.IDENTITY
        self.resident_weights: dict[tuple[int, int], tuple[int, int, float]] = {}
        self.tile_costs: dict[tuple, _TileCost] = {}
        if isinstance(layer, ConvLayer):
            self.copied = gemm_copied_epilogue(layer)
            self.reset_on_alu = reset_on_alu(layer)
            self.conv_work: dict[tuple, _ConvWork] = {}


def _layer_facts(layer, dma: _Dma) -> _LayerFacts:
    """The `_LayerFacts` of `layer` under `dma`'s config, kept for the last layer asked (a
    ranking estimates thousands of plans of one layer in a row)."""
    global _last_facts
    if _last_facts is None or _last_facts.layer is not layer or _last_facts.dma is not dma:
        _last_facts = _LayerFacts(layer, dma)
    return _last_facts


_last_facts: _LayerFacts | None = None


def estimate(plan: SramPlan, config: Config) -> float:
    """Estimated cycles of the plan's layer under its tiling."""
    return estimates(plan, config)[0]


def estimates(plan: SramPlan, config: Config) -> tuple[float, float]:
    """`estimate`, and the same with each tile's store counted on top of its compute where the
    layer has two threads: what a tile costs when the tile after next waits for its store (two
    ACC slots, `SramPlan.acc_slots`; the second ranking of `schedule.shortlisted`). Neither
    reads the buffer depths."""
    t = plan.tiling
    facts = _layer_facts(plan.layer, _dma(config))
    key = (t.out_blocks, t.rows, t.cols, t.in_blocks, t.threads)
    cost = facts.tile_costs.get(key)
    if cost is None:
        cost = facts.tile_costs[key] = _tile_cost(plan, facts)
    tiles, compute, store = cost.tiles, cost.compute, cost.store
    load = cost.loads[t.weights_resident]
    usual = _total(facts, t, tiles, load, compute, store)
    if t.threads == 2:
        return usual, _total(facts, t, tiles, load, compute + store, store)
    return usual, usual


class _TileCost(NamedTuple):
    """What one full tile of a plan costs (`_tile_cost`): the same for the plans that differ
    only in where the weights lie, but for the load."""

    tiles: int
    #: the load with streamed, then with resident weights (indexed by `weights_resident`)
    loads: tuple[float, float]
    compute: float
    store: float


def _tile_cost(plan: SramPlan, facts: _LayerFacts) -> _TileCost:
    """The `_TileCost` of the plan's tiling: its tiles, and each module's cycles per tile."""
    layer, t, dma = plan.layer, plan.tiling, facts.dma
    tile, regions = plan.full_tile, plan.full_regions
    batch_blocks, channel_blocks = facts.output_tiles
    height, width = facts.tiled_size
    tiles = batch_blocks * -(-channel_blocks // t.out_blocks) * -(-height // t.rows) \
        * -(-width // t.cols)
    positions = tile.blocks * tile.positions
    stored = positions
    if isinstance(layer, AddLayer):
        load = dma.read(MemoryType.INP, regions[Part.INPUT].size + regions[Part.OTHER].size,
                        2 * t.out_blocks)
        loads = load, load
        gemm = dma.alu_interval * positions * 4
        alu = dma.alu_interval * positions * (
            len(layer.steps_a) + len(layer.steps_b) + len(layer.epilogue) + 1)
    elif isinstance(layer, MaxPoolLayer):
        window_rows = input_window(layer, tile).rows
        load = dma.read(MemoryType.INP, regions[Part.INPUT].size, t.out_blocks * window_rows)
        loads = load, load
        gemm = dma.alu_interval * 2 * regions[Part.WINDOW].size
        taps = layer.kernel[0] * layer.kernel[1]
        if split_rows(layer, input_window(layer, tile)) is None:
            alu = dma.alu_interval * positions * (1 + taps)
        else:           # one tap copied by the GEMM, one MAX for each other
            gemm += dma.gemm_interval * positions
            alu = dma.alu_interval * positions * (taps - 1)
    else:
        loads, gemm, alu, stored = _conv(plan, facts, tiles)
    store = dma.write(stored, t.out_blocks * t.rows * facts.store_rows)
    # The GEMM and ALU units overlap a tile's requantization with the next tile's GEMMs when
    # the layer runs two threads (docs/hardware.md, compute overlap).
    if dma.overlap and t.threads > 1:
        compute = max(gemm, alu) + 6 * INSTRUCTION_OVERHEAD
    else:
        compute = gemm + alu + 6 * INSTRUCTION_OVERHEAD
    return _TileCost(tiles, loads, compute, store)


def _total(facts: _LayerFacts, t: Tiling, tiles: int, load: float, compute: float,
           store: float) -> float:
    """A layer's cycles from one tile's load, compute and store."""
    total = tiles * (load + compute + store)
    if t.threads > 1 and tiles > 1:
        busiest = max(load, compute, store)
        total = tiles * busiest + (load + compute + store - busiest)
    if t.weights_resident and facts.has_weight_tensor:
        total += _resident(facts, t, load, compute, store)
    return total


def _resident(facts: _LayerFacts, t: Tiling, load: float, compute: float, store: float
              ) -> float:
    """What resident weights add: each output channel chunk's part comes in with the first tile
    of that chunk, reduction chunk by reduction chunk (`ConvEmitter.load_resident`), so that
    tile's load grows by it; beyond the busiest module of a tile that costs time (two threads),
    and the first reduction chunk's part is waited for before the first GEMM."""
    key = (t.out_blocks, t.in_blocks)
    if key not in facts.resident_weights:
        layer = facts.layer
        out_chunks = -(-layer.output.channel_blocks // t.out_blocks)
        reduction = -(-layer.input.channel_blocks // t.in_blocks) \
            if layer.mode == WeightMode.DENSE else 1
        weights = facts.dma.read(MemoryType.WGT, layer.weight_tiles, layer.output.channel_blocks
                                 * reduction) / out_chunks      # one output channel chunk's
        facts.resident_weights[key] = out_chunks, reduction, weights
    out_chunks, reduction, weights = facts.resident_weights[key]
    if t.threads == 1 or out_chunks > 1:
        # (each output channel chunk's GEMMs then read their own part of WGT: other
        # micro-kernels, loaded again tile after tile; counted as the whole load, serial)
        return out_chunks * weights
    busiest = max(load, compute, store)
    return weights / reduction + out_chunks * max(0.0, load + weights - busiest)


def _upsample(layer) -> tuple[int, int]:
    return layer.upsample if isinstance(layer, ConvLayer) else (1, 1)


class _ConvWork(NamedTuple):
    """The cost of a convolution's full tile that depends only on its extents (`_conv_work`),
    in `_conv`'s order of operations: the loads of its input window and of a streamed weight
    chunk, the GEMM and ALU cycles before the reset may move to the ALU, then what is added
    after it."""

    stored: int
    reduction_chunks: int
    input_load: float
    weight_chunk_load: float
    gemm: float
    alu: float
    constants_gemm: float
    #: added to the load after the streamed weights, in turn
    later_loads: tuple[float, ...]
    later_gemm: float
    later_alu: float


def _conv(plan: SramPlan, facts: _LayerFacts, tiles: int
          ) -> tuple[tuple[float, float], float, float, int]:
    """(loads with streamed and with resident weights, GEMM, ALU, stored tiles) of the full
    tile of a convolution."""
    layer, t, dma = plan.layer, plan.tiling, facts.dma
    carried = carries(layer, t)
    key = (t.out_blocks, t.rows, t.cols, t.in_blocks, carried)
    work = facts.conv_work.get(key)
    if work is None:
        work = facts.conv_work[key] = _conv_work(plan, facts, carried)
    gemm, alu, stored = work.gemm, work.alu, work.stored
    weights = work.weight_chunk_load
    if work.reduction_chunks == 1:  # a slot reloads only when the output channel chunk changes
        weight_loads = min(tiles, t.threads * -(-facts.output_tiles[1] // t.out_blocks))
        weights *= weight_loads / tiles
    if dma.overlap and t.threads > 1 and dma.alu_mul and facts.reset_on_alu:
        gemm -= dma.gemm_interval * stored          # the reset runs on the ALU
        alu += dma.alu_interval * stored
    gemm += work.constants_gemm
    loads = []
    for load in (work.input_load + weights, work.input_load):    # streamed, resident
        for later in work.later_loads:
            load += later
        loads.append(load)
    if layer.residual is not None:
        gemm += work.later_gemm
        alu += work.later_alu
    return tuple(loads), gemm, alu, stored


def _conv_work(plan: SramPlan, facts: _LayerFacts, carried: bool) -> _ConvWork:
    """The `_ConvWork` of the plan's full tile (`carried`: whether it takes its first row from
    the tile before, `carries`)."""
    layer, t, regions, dma = plan.layer, plan.tiling, plan.full_regions, facts.dma
    tile = plan.full_tile
    if carried:     # most tiles take their first row from the tile before
        tile = tile._replace(carried_rows=1)
    positions = tile.blocks * (tile.rows - tile.carried_rows) * tile.cols
    taps = layer.taps
    dense = layer.mode == WeightMode.DENSE
    reduction_chunks = -(-layer.input.channel_blocks // t.in_blocks) if dense else 1
    in_blocks = t.in_blocks * reduction_chunks if dense else t.out_blocks
    # the read latency per DMA row: a window of whole halo'd rows is one contiguous row per
    # channel block, a narrower one a row per window row and block
    window = input_window(layer, tile)
    whole_rows = window.pitch == layer.input.width_with_halo
    input_load = dma.read(MemoryType.INP, in_blocks * window.tiles,
                          in_blocks * (1 if whole_rows else window.rows))
    per_tile = t.out_blocks * (layer.input.channel_blocks if dense else 1) * taps
    weight_chunk_load = dma.read(MemoryType.WGT, per_tile, t.out_blocks * reduction_chunks)
    gemm = dma.gemm_interval * positions * (in_blocks * taps if dense else taps)
    stored = positions * layer.upsample[0] * layer.upsample[1]
    gemm += dma.gemm_interval * stored * (1 + (layer.bias_tiles is not None))
    alu = 0.0
    if layer.phases:      # a per-channel (vector) ALU ADD over each biased phase's outputs
        alu += dma.alu_interval * positions * sum(phase.bias is not None
                                                  for phase in layer.phases)
    if layer.pool is not None:
        stored = regions[Part.POOLED].size
        alu += dma.alu_interval * stored * (4 + 2 * layer.pool.kernel[0] * layer.pool.kernel[1])
        if carried:     # the last row copied into the next tile's first (zeroed, ADD)
            alu += dma.alu_interval * (2 if dma.alu_mul else 3) * tile.blocks * tile.cols
    copied = facts.copied if partial_accumulators(tile) == 1 else None
    if copied is not None and copied.duplicate:    # the GEMMs and the reset again, for r1
        gemm *= 2
    elif copied is not None:                        # the reset of register 1
        gemm += dma.gemm_interval * stored
    alu += dma.alu_interval * stored * len(layer.epilogue if copied is None else copied.steps)
    later_loads = [reduction_chunks * INSTRUCTION_OVERHEAD]
    later_gemm = later_alu = 0.0
    if layer.residual is not None:
        residual, shortcut = layer.residual, layer.residual.shortcut
        if shortcut is None:
            later_loads.append(dma.read(MemoryType.INP, regions[Part.OTHER].size,
                                        t.out_blocks * t.rows))
        else:       # over the chunks: a row per input block and tile row; its weights
            window = regions[Part.OTHER].size // shortcut_blocks(layer, t)
            later_loads.append(dma.read(MemoryType.INP, shortcut.in_blocks * window,
                                        shortcut.in_blocks * t.rows))
            later_loads.append(dma.read(MemoryType.WGT, t.out_blocks * shortcut.in_blocks,
                                        t.out_blocks * reduction_chunks))
        later_gemm = dma.gemm_interval * positions * residual.operand_gemms
        later_alu = dma.alu_interval * positions * (3 + len(residual.steps_conv)
                                                    + len(residual.operand_steps)
                                                    + len(residual.epilogue))
    return _ConvWork(stored, reduction_chunks, input_load, weight_chunk_load, gemm, alu,
                     dma.read(MemoryType.ACC, regions[Part.CONSTANTS].size,
                              len(layer.constants)),
                     tuple(later_loads), later_gemm, later_alu)
