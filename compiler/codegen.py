"""Code generation: one VTA layer (`layers`) under its SRAM plan (`tiling.SramPlan`) →
instructions and micro-kernels through the runtime's `CommandStream`.

Each tile runs: (compute) wait for its ACC slot to be stored, load the per-channel constants,
zero the accumulators; per reduction chunk (load) wait for the INP/WGT slot, DMA the input
window and weights, (compute) GEMM; then (compute) the ALU epilogue and (store) the DMA of the
results. Dependency tokens follow the original runtime's virtual-thread protocol (isa-reference §5,
`examples/blocked_gemm.py`): slots alternate between threads, so with two threads loads of one
tile overlap the compute of the other. Every SRAM address comes from the plan's regions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import NamedTuple

from vta.compiler import uop_kernels as uk
from vta.compiler.layers import AddLayer, ConvLayer, Imm, MaxPoolLayer, Reg, Step, WeightMode
from vta.compiler.packing import ActLayout
from vta.compiler.tiling import (Part, Region, SramPlan, Tile, Window, input_window,
                                 operand_window, output_tile, partial_accumulators, pooled_tile,
                                 reduction_chunks, same_shape_window, tiles)
from vta.compiler.uop_kernels import Dim
from vta.isa import AluOp, MemoryType, Module
from vta.isa.layout import ALU_IMM_BITS
from vta.runtime.memory import Buffer
from vta.runtime.stream import CommandStream

LOAD, COMPUTE, STORE = Module.LOAD, Module.COMPUTE, Module.STORE


@dataclass
class Buffers:
    """DRAM buffers a layer reads and writes."""

    inputs: list[Buffer]
    output: Buffer
    weights: Buffer | None
    constants: Buffer | None
    identity: Buffer
    bias_weights: Buffer | None = None
    bias_input: Buffer | None = None


@dataclass(frozen=True)
class Placed:
    """A tile, its regions, and the first entries of the slots it uses: its ACC slot's and
    those of the current reduction chunk's INP and WGT slots."""

    tile: Tile
    regions: dict[Part, Region]
    acc: int
    inp: int = 0
    wgt: int = 0

    def at(self, part: Part) -> int:
        """The SRAM entry where region `part` of this tile starts."""
        region = self.regions[part]
        if region.memory == MemoryType.ACC:
            return self.acc + region.offset
        return (self.inp if region.memory == MemoryType.INP else self.wgt) + region.offset


class _Carry:
    """The previous tile's epilogue while it is spread over the next tile's GEMMs: its kernels
    not yet emitted, the executions emitted so far and in all, the tile (None when nothing is
    carried)."""

    def __init__(self):
        self.kernels: list = []
        self.spent = self.total = 0
        self.placed: Placed | None = None
        self.index = 0


def _executions(dims: list[Dim]) -> int:
    count = 1
    for dim in dims:
        count *= dim.extent
    return count


class LayerEmitter(ABC):
    """Emits one layer into a stream (see the module docstring for the schedule)."""

    def __init__(self, stream: CommandStream, plan: SramPlan, buffers: Buffers):
        self.stream, self.plan, self.buffers = stream, plan, buffers
        self.layer, self.tiling = plan.layer, plan.tiling
        self.instructions = 0
        self.slot_weights: dict[int, tuple] = {}   # WGT slot -> the weight chunk it holds
        self.recording: list | None = None         # kernels kept instead of emitted
        self.gemm_executions = 0                   # of the current tile so far

    def emit(self) -> None:
        threads = self.tiling.threads
        work = [(tile, reduction_chunks(self.layer, self.tiling, tile))
                for tile in tiles(self.layer, self.tiling)]
        total_steps = sum(len(steps) for _, steps in work)
        step = 0
        stream = self.stream
        # With two threads on a core whose GEMM and ALU units overlap (docs/hardware.md), a
        # tile's epilogue (its ALU kernels, recorded) is spread over the next tile's GEMMs, so
        # that it runs beside them: after each part of those GEMMs come the kernels whose
        # executions, added up, do not exceed the GEMM executions so far; the rest before the
        # last part, then its store. The two tiles' ACC slots lie in different halves
        # (`SramPlan.slot`).
        overlap = threads == 2 and stream.config.machine.overlap_kernels > 0
        carry = _Carry()

        def finish(placed: Placed, index: int) -> None:
            stream.dep_push(COMPUTE, STORE)
            stream.dep_pop(COMPUTE, STORE)
            self.store(placed)
            if index + threads < len(work):
                stream.dep_push(STORE, COMPUTE)

        def middle(last: bool, share: float = 0.0) -> None:
            """Emit the carried epilogue's kernels due after the GEMMs so far (all if `last`):
            as many executions as those GEMMs, or `share` of the epilogue if that is more
            (an epilogue longer than the GEMM is spread evenly over its parts)."""
            budget = max(self.gemm_executions, share * carry.total)
            while carry.kernels and (last or carry.spent + _executions(carry.kernels[0][0])
                                     <= budget):
                dims, base, op = carry.kernels.pop(0)
                carry.spent += _executions(dims)
                self.kernel(dims, base, op)
            if carry.placed is not None and not carry.kernels:
                finish(carry.placed, carry.index)
                carry.placed = None

        for index, (tile, steps) in enumerate(work):
            placed = Placed(tile, self.plan.regions(tile), self.plan.slot(MemoryType.ACC, index))
            if index >= threads:
                stream.dep_pop(STORE, COMPUTE)
            self.gemm_executions = 0
            self.prologue(placed)
            for number, chunk in enumerate(steps):
                at_step = Placed(tile, placed.regions, placed.acc,
                                 self.plan.slot(MemoryType.INP, step),
                                 self.plan.slot(MemoryType.WGT, step))
                if step >= threads:
                    stream.dep_pop(COMPUTE, LOAD)
                self.loads(at_step, chunk, first=step == 0)
                stream.dep_push(LOAD, COMPUTE)
                stream.dep_pop(LOAD, COMPUTE)
                inside = len(steps) == 1 and carry.placed is not None
                self.compute(at_step, chunk, middle if inside else None)
                if step + threads < total_steps:
                    stream.dep_push(COMPUTE, LOAD)
                if carry.placed is not None:
                    middle(last=number >= len(steps) - 2,
                           share=(number + 1) / max(len(steps) - 1, 1))
                step += 1
            # Deferring pays when the epilogue is no longer than the GEMM, or when the GEMM is
            # long enough (≥ 4 executions per output: the reset's one and ≥ 3 more) to hide the
            # store the next tile but one then waits for; else the tile finishes at once.
            outputs = tile.blocks * tile.positions
            if overlap:
                carry.kernels = self.recording = []
                self.epilogue(placed)
                self.recording = None
                total = sum(_executions(dims) for dims, _, _ in carry.kernels)
                if total <= self.gemm_executions or self.gemm_executions >= 4 * outputs:
                    carry.placed, carry.index, carry.spent, carry.total = placed, index, 0, total
                else:
                    for dims, base, op in carry.kernels:
                        self.kernel(dims, base, op)
                    carry.kernels = []
                    finish(placed, index)
            else:
                self.epilogue(placed)
                finish(placed, index)
        middle(last=True)

    # -- helpers -----------------------------------------------------------------------------
    def kernel(self, dims: list[Dim], base: tuple[int, int, int], op: uk.Op) -> None:
        """Emit a GEMM/ALU kernel (or, while an epilogue is recorded, keep it for later)."""
        if self.recording is not None:
            self.recording.append((dims, base, op))
            return
        if op.unit == uk.Unit.GEMM:
            self.gemm_executions += _executions(dims)
        self.instructions += uk.emit(self.stream, dims, base, op, self.plan.kernel_uops)

    def load_blocks(self, layout: ActLayout, buffer: Buffer, tile: Tile, blocks: tuple[int, int],
                    window: Window, sram: int) -> None:
        """DMA channel blocks (first, count) of `window` (of batch block `tile.batch_block`)
        into INP from `sram`, block after block."""
        first_block, count = blocks
        offset = layout.tile_offset(tile.batch_block, first_block, window.first_row,
                                    window.first_col)
        if window.pitch == layout.width_with_halo:
            self.stream.load(buffer, MemoryType.INP, sram=sram, offset=offset,
                             x_size=window.tiles, y_size=count,
                             x_stride=layout.channel_block_tiles)
            return
        for block in range(count):
            self.stream.load(buffer, MemoryType.INP, sram=sram + block * window.tiles,
                             offset=offset + block * layout.channel_block_tiles,
                             x_size=window.pitch, y_size=window.rows,
                             x_stride=layout.width_with_halo)

    def load_constants(self, placed: Placed) -> None:
        count = len(self.layer.constants)
        if count:
            tile = placed.tile
            self.stream.load(self.buffers.constants, MemoryType.ACC,
                             sram=placed.at(Part.CONSTANTS), offset=tile.first_block,
                             x_size=tile.blocks, y_size=count,
                             x_stride=self.layer.output.channel_blocks)

    def load_identity(self) -> None:
        self.stream.load(self.buffers.identity, MemoryType.WGT,
                         sram=self.plan.shared[Part.IDENTITY].offset, x_size=1)

    def alu_steps(self, steps: list[Step], region: int, tile: Tile, placed: Placed) -> None:
        """Apply ALU steps to the region [block][position] of `tile` (register 0; scratch
        registers in `Part.SCRATCH`, per-channel operands from the constants of `placed`)."""
        positions, blocks = tile.positions, tile.blocks
        size = blocks * positions

        def register(index: int) -> int:
            return region if index == 0 else placed.at(Part.SCRATCH) + (index - 1) * size

        for step in steps:
            target, operand = register(step.register), step.operand
            if isinstance(operand, Imm):
                self.kernel([Dim(size, 1, 1)], (target, target, 0), uk.alu(step.op, operand.value))
            elif isinstance(operand, Reg):
                self.kernel([Dim(size, 1, 1)], (target, register(operand.index), 0),
                            uk.alu(step.op))
            else:
                constant = placed.at(Part.CONSTANTS) + operand.index * blocks
                self.kernel([Dim(blocks, positions, 1), Dim(positions, 1, 0)],
                            (target, constant, 0), uk.alu(step.op))

    def store(self, placed: Placed) -> None:
        self.store_tile(self.layer.output, placed.tile, self.result_region(placed))

    def store_tile(self, output: ActLayout, tile: Tile, region: int) -> None:
        offset = output.tile_offset(tile.batch_block, tile.first_block,
                                    tile.first_row + output.halo[0],
                                    tile.first_col + output.halo[1])
        if tile.cols == output.width_with_halo:
            self.stream.store(self.buffers.output, sram=region, offset=offset,
                              x_size=tile.positions, y_size=tile.blocks,
                              x_stride=output.channel_block_tiles)
            return
        for block in range(tile.blocks):
            self.stream.store(self.buffers.output, sram=region + block * tile.positions,
                              offset=offset + block * output.channel_block_tiles,
                              x_size=tile.cols, y_size=tile.rows, x_stride=output.width_with_halo)

    def result_region(self, placed: Placed) -> int:
        """The OUT entry where the int8 result of the tile lies, for the store."""
        return placed.at(Part.ACCUMULATORS)

    # -- per kind ----------------------------------------------------------------------------
    @abstractmethod
    def prologue(self, placed: Placed) -> None:
        """Set up the accumulators of the tile (constants, reset)."""

    @abstractmethod
    def loads(self, placed: Placed, chunk: tuple[int, int], first: bool) -> None:
        """Load the inputs and weights of one reduction chunk; `first`: the layer's first."""

    @abstractmethod
    def compute(self, placed: Placed, chunk: tuple[int, int], middle=None) -> None:
        """The GEMM/ALU work of one chunk; `middle(last)` (if given) is called between its
        GEMMs, where the previous tile's epilogue may run beside them (``last=True`` the last
        time: the rest of it)."""

    @abstractmethod
    def epilogue(self, placed: Placed) -> None:
        """The ALU steps after the last chunk (requantization)."""


#: Parts a tile's GEMM is split into when the previous tile's epilogue runs beside it (its ALU
#: kernels go between the parts, `LayerEmitter.emit`).
OVERLAP_PARTS = 4


def split_outputs(outputs: list[Dim], base: tuple[int, int, int], parts: int):
    """`outputs` (a loop nest over `base`) as up to `parts` nests, splitting into near-equal
    pieces its outermost level of at least `parts` iterations, else its longest level (one
    nest when every level has one iteration)."""
    levels = [level for level, dim in enumerate(outputs) if dim.extent >= parts] or \
        sorted(range(len(outputs)), key=lambda level: -outputs[level].extent)[:1]
    for level in levels[:1]:
        dim = outputs[level]
        if dim.extent >= 2:
            count = min(parts, dim.extent)
            nests, first = [], 0
            for part in range(count):
                size = (dim.extent * (part + 1)) // count - first
                shifted = tuple(b + first * step for b, step in zip(base, dim.steps))
                nests.append((outputs[:level] + [Dim(size, *dim.steps)] + outputs[level + 1:],
                              shifted))
                first += size
            return nests
    return [(outputs, base)]


class _TapGroup(NamedTuple):
    """One GEMM of a convolution tile over the input window: its kernel, strides and dilations;
    the window entry its first tap reads, its first weight tap, and where in the accumulators
    its first output lies and how far apart its outputs' rows and columns are."""

    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]
    first_input: int
    first_tap: int
    first_output: int
    row_step: int
    col_step: int


class ConvEmitter(LayerEmitter):
    """GEMM over taps and input blocks (after a bias GEMM reading the bias input tile, the last
    of INP, where the layer has bias tiles); requantization on the ALU. With a fused residual
    Add, the other operand is copied into the OPERAND region by an identity GEMM (with the
    tile's first reduction chunk), both are scaled, added and requantized. With a fused pool,
    tiles span the convolution rows under whole pooled rows, the maximum goes into the POOLED
    region, and only that is requantized and stored."""

    def result_region(self, placed: Placed) -> int:
        if self.layer.pool is not None:
            return placed.at(Part.POOLED)
        return placed.at(Part.ACCUMULATORS)

    def store(self, placed: Placed) -> None:
        if self.layer.pool is None:
            self.store_tile(self.layer.output, output_tile(self.layer, placed.tile),
                            self.result_region(placed))
        else:
            self.store_tile(self.layer.pool.output, pooled_tile(self.layer, placed.tile),
                            self.result_region(placed))

    def opens(self, tile: Tile, chunk: tuple[int, int]) -> bool:
        """True for the first reduction chunk of `tile` (which loads and copies its extras)."""
        return chunk == reduction_chunks(self.layer, self.tiling, tile)[0]

    def prologue(self, placed: Placed) -> None:
        self.load_constants(placed)
        regions = placed.regions
        first = regions[Part.ACCUMULATORS]
        last = regions.get(Part.OPERAND) or regions.get(Part.POOLED) or first
        self.kernel([Dim(last.end - first.offset, 1)], (placed.at(Part.ACCUMULATORS), 0, 0),
                    uk.RESET)

    def loads(self, placed: Placed, chunk: tuple[int, int], first: bool) -> None:
        layer, tile, shared = self.layer, placed.tile, self.plan.shared
        first_block, count = chunk
        if first and layer.bias_tiles is not None:
            self.stream.load(self.buffers.bias_input, MemoryType.INP,
                             sram=shared[Part.BIAS_INPUT].offset, x_size=1)
            self.stream.load(self.buffers.bias_weights, MemoryType.WGT,
                             sram=shared[Part.BIAS_WEIGHTS].offset, x_size=len(layer.bias_tiles))
        if layer.residual is not None:
            if first:
                self.load_identity()
            if self.opens(tile, chunk):
                self.load_blocks(layer.residual.other, self.buffers.inputs[1], tile,
                                 (tile.first_block, tile.blocks), operand_window(layer, tile),
                                 placed.at(Part.OTHER))
        if layer.mode == WeightMode.IDENTITY:
            if first:
                self.load_identity()
        elif self.tiling.weights_resident:
            if first:
                self.stream.load(self.buffers.weights, MemoryType.WGT,
                                 sram=shared[Part.WEIGHTS].offset, x_size=layer.weight_tiles)
        elif self.slot_weights.get(placed.wgt) != (tile.first_block, tile.blocks, first_block,
                                                   count):
            # A slot keeps its weights while consecutive tiles use the same chunk.
            self.slot_weights[placed.wgt] = (tile.first_block, tile.blocks, first_block, count)
            taps = layer.taps
            sram = placed.at(Part.WEIGHTS)
            if layer.mode == WeightMode.DENSE:
                in_blocks = layer.input.channel_blocks
                self.stream.load(self.buffers.weights, MemoryType.WGT, sram=sram,
                                 offset=(tile.first_block * in_blocks + first_block) * taps,
                                 x_size=count * taps, y_size=tile.blocks,
                                 x_stride=in_blocks * taps)
            else:
                self.stream.load(self.buffers.weights, MemoryType.WGT, sram=sram,
                                 offset=tile.first_block * taps, x_size=tile.blocks * taps)
        self.load_blocks(layer.input, self.buffers.inputs[0], tile, chunk,
                         input_window(layer, tile), placed.at(Part.INPUT))

    def compute(self, placed: Placed, chunk: tuple[int, int], middle=None) -> None:
        layer, tile, tiling = self.layer, placed.tile, self.tiling
        window = input_window(layer, tile)
        taps = layer.taps
        accumulators = placed.at(Part.ACCUMULATORS)
        if layer.bias_tiles is not None and self.opens(tile, chunk):
            positions = output_tile(layer, tile).positions
            self.kernel([Dim(tile.blocks, positions, 0, 1), Dim(positions, 1, 0, 0)],
                        (accumulators, self.plan.shared[Part.BIAS_INPUT].offset,
                         self.plan.shared[Part.BIAS_WEIGHTS].offset + tile.first_block), uk.GEMM)
        identity = layer.mode == WeightMode.IDENTITY
        if layer.mode == WeightMode.DENSE:
            in_blocks = layer.input.channel_blocks
            if tiling.weights_resident:
                row = in_blocks * taps
                weights = self.plan.shared[Part.WEIGHTS].offset \
                    + (tile.first_block * in_blocks + chunk[0]) * taps
            else:
                row, weights = chunk[1] * taps, placed.at(Part.WEIGHTS)
            blocks = [Dim(chunk[1], 0, window.tiles, taps)]
            out_blocks = Dim(tile.blocks, output_tile(layer, tile).positions, 0, row)
        else:
            if identity:
                weights = self.plan.shared[Part.IDENTITY].offset
            elif tiling.weights_resident:
                weights = self.plan.shared[Part.WEIGHTS].offset + tile.first_block * taps
            else:
                weights = placed.at(Part.WEIGHTS)
            blocks = []
            out_blocks = Dim(tile.blocks, tile.positions, window.tiles, 0 if identity else taps)
        source = placed.at(Part.INPUT) + window.origin
        count = tile.blocks * output_tile(layer, tile).positions
        groups = self.tap_groups(tile, window.pitch)
        copies = partial_accumulators(tile)
        for group in groups:
            (kh, kw), (sh, sw), (dh, dw) = group.kernel, group.strides, group.dilations
            reduction = blocks + [Dim(kh, 0, dh * window.pitch, 0 if identity else kw),
                                  Dim(kw, 0, dw, 0 if identity else 1)]
            outputs = [out_blocks, Dim(tile.rows, group.row_step, sh * window.pitch, 0),
                       Dim(tile.cols, group.col_step, sw, 0)]
            base = (accumulators + group.first_output, source + group.first_input,
                    weights + group.first_tap)
            if middle is not None and len(groups) == 1 and copies == 1:
                parts = split_outputs(outputs, base, OVERLAP_PARTS)
                for number, (dims, shifted) in enumerate(parts):
                    self.accumulate(reduction, dims, shifted, copies, count)
                    if number < len(parts) - 1:
                        middle(last=number == len(parts) - 2,
                               share=(number + 1) / (len(parts) - 1))
                if len(parts) > 1:
                    middle = None
            else:
                self.accumulate(reduction, outputs, base, copies, count)
        if middle is not None:
            middle(last=True)
        if layer.residual is not None and self.opens(tile, chunk):
            other = operand_window(layer, tile)
            positions = tile.positions
            dims = [Dim(tile.blocks, positions, tile.rows * other.pitch),
                    Dim(tile.rows, tile.cols, other.pitch), Dim(tile.cols, 1, 1)]
            self.kernel(dims, (placed.at(Part.OPERAND), placed.at(Part.OTHER) + other.origin,
                               self.plan.shared[Part.IDENTITY].offset), uk.GEMM)

    def tap_groups(self, tile: Tile, pitch: int) -> list[_TapGroup]:
        """The GEMMs of a tile over the input window (row pitch `pitch`): one over the layer's
        kernel, or one per phase of a transposed convolution, each writing every upsample-th
        output row and column from its phase's position."""
        layer = self.layer
        if not layer.phases:
            return [_TapGroup(layer.kernel, layer.strides, layer.dilations, 0, 0, 0, tile.cols,
                              1)]
        up_rows, up_cols = layer.upsample
        width = up_cols * tile.cols
        return [_TapGroup(phase.kernel, (1, 1), (1, 1), phase.window[0] * pitch + phase.window[1],
                          phase.first_tap, phase.row * width + phase.col, up_rows * width,
                          up_cols)
                for phase in layer.phases if phase.kernel[0] * phase.kernel[1]]

    def accumulate(self, reduction: list[Dim], outputs: list[Dim], base, copies: int,
                   count: int) -> None:
        """GEMM of `reduction` × `outputs`; with `copies` > 1 the reduction is spread over that
        many partial accumulators (dst + copy × count) so that fewer outputs than that still
        never write one tile twice within the hazard window."""
        merged = uk.simplify(reduction)
        if copies == 1 or not merged:
            self.kernel(reduction + outputs, base, uk.GEMM)
            return
        if len(merged) > 1:               # one instruction per index of the outer levels
            head = merged[0]
            for index in range(head.extent):
                shifted = tuple(b + index * step for b, step in zip(base, head.steps))
                self.accumulate(merged[1:], outputs, shifted, copies, count)
            return
        dim = merged[0]
        rounds, rest = divmod(dim.extent, copies)
        if rounds:
            self.kernel([Dim(rounds, 0, dim.src * copies, dim.wgt * copies),
                         Dim(copies, count, dim.src, dim.wgt)] + outputs, base, uk.GEMM)
        if rest:
            done = rounds * copies
            shifted = (base[0], base[1] + done * dim.src, base[2] + done * dim.wgt)
            self.kernel([Dim(rest, count, dim.src, dim.wgt)] + outputs, shifted, uk.GEMM)

    def epilogue(self, placed: Placed) -> None:
        layer, tile = self.layer, placed.tile
        region = placed.at(Part.ACCUMULATORS)
        outputs = output_tile(layer, tile)
        size = tile.blocks * outputs.positions
        for copy in range(1, partial_accumulators(tile)):
            self.kernel([Dim(size, 1, 1)], (region, region + copy * size, 0), uk.alu(AluOp.ADD))
        if layer.pool is not None:
            self.pool(placed)
            self.alu_steps(layer.epilogue, self.result_region(placed), pooled_tile(layer, tile),
                           placed)
            return
        self.phase_biases(placed)
        self.alu_steps(layer.epilogue, region, outputs, placed)
        residual = self.layer.residual
        if residual is not None:
            other = placed.at(Part.OPERAND)
            self.alu_steps(residual.steps_conv, region, tile, placed)
            self.alu_steps(residual.steps_other, other, tile, placed)
            self.kernel([Dim(size, 1, 1)], (region, other, 0), uk.alu(AluOp.ADD))
            self.alu_steps(residual.epilogue, region, tile, placed)

    def phase_biases(self, placed: Placed) -> None:
        """Add each phase's bias (per channel) to its outputs (every upsample-th row and column
        of the tile's output)."""
        tile, (up_rows, up_cols) = placed.tile, self.layer.upsample
        width = up_cols * tile.cols
        constants = placed.at(Part.CONSTANTS)
        for phase in self.layer.phases:
            if phase.bias is None:
                continue
            dims = [Dim(tile.blocks, up_rows * width * tile.rows, 1),
                    Dim(tile.rows, up_rows * width, 0), Dim(tile.cols, up_cols, 0)]
            self.kernel(dims, (placed.at(Part.ACCUMULATORS) + phase.row * width + phase.col,
                               constants + phase.bias.index * tile.blocks, 0), uk.alu(AluOp.ADD))

    def pool(self, placed: Placed) -> None:
        """Max over the pooling windows of the accumulators into the (zeroed) pooled region:
        start every lane at the int32 minimum, then one ALU MAX per tap over the pooled
        positions whose tap lies inside the convolution output (padding never wins)."""
        layer, pool, tile = self.layer, self.layer.pool, placed.tile
        (kh, kw), (sh, sw), (top, left) = pool.kernel, pool.strides, pool.pads[:2]
        height, width = layer.output_size
        pooled = pooled_tile(layer, tile)
        target, source = placed.at(Part.POOLED), placed.at(Part.ACCUMULATORS)
        lowest_imm = -(1 << (ALU_IMM_BITS - 1))       # × 2^(ACC − IMM bits): the int32 minimum
        self.alu_steps([Step(AluOp.ADD, Imm(lowest_imm)),
                        Step(AluOp.SHR, Imm(ALU_IMM_BITS - self.stream.config.acc_width))], target,
                       pooled, placed)
        for ky in range(kh):
            rows = [r for r in range(tile.first_pooled_row, tile.first_pooled_row
                                     + tile.pooled_rows) if 0 <= r * sh - top + ky < height]
            for kx in range(kw):
                cols = [c for c in range(pooled.cols) if 0 <= c * sw - left + kx < width]
                if not rows or not cols:
                    continue
                y, x = rows[0] * sh - top + ky, cols[0] * sw - left + kx
                dims = [Dim(tile.blocks, pooled.positions, tile.positions),
                        Dim(len(rows), pooled.cols, sh * width), Dim(len(cols), 1, sw)]
                self.kernel(dims, (target + (rows[0] - tile.first_pooled_row) * pooled.cols
                                   + cols[0], source + (y - tile.first_row) * width + x, 0),
                            uk.alu(AluOp.MAX))


class MaxPoolEmitter(LayerEmitter):
    """Identity GEMM of the input window into ACC, then ALU MAX over the taps."""

    def prologue(self, placed: Placed) -> None:
        regions = placed.regions
        size = regions[Part.ACCUMULATORS].end - regions[Part.WINDOW].offset
        self.kernel([Dim(size, 1)], (placed.at(Part.WINDOW), 0, 0), uk.RESET)

    def loads(self, placed: Placed, chunk: tuple[int, int], first: bool) -> None:
        if first:
            self.load_identity()
        tile = placed.tile
        self.load_blocks(self.layer.input, self.buffers.inputs[0], tile,
                         (tile.first_block, tile.blocks), input_window(self.layer, tile),
                         placed.at(Part.INPUT))

    def compute(self, placed: Placed, chunk: tuple[int, int], middle=None) -> None:
        tile = placed.tile
        window = input_window(self.layer, tile)
        self.kernel([Dim(tile.blocks * window.tiles, 1, 1)],
                    (placed.at(Part.WINDOW), placed.at(Part.INPUT),
                     self.plan.shared[Part.IDENTITY].offset), uk.GEMM)
        if middle is not None:
            middle(last=True)

    def epilogue(self, placed: Placed) -> None:
        layer, tile = self.layer, placed.tile
        (kh, kw), (sh, sw), (dh, dw) = layer.kernel, layer.strides, layer.dilations
        window = input_window(layer, tile)
        pitch = window.pitch
        source = placed.at(Part.WINDOW) + window.origin
        outputs = [Dim(tile.blocks, tile.positions, window.tiles),
                   Dim(tile.rows, tile.cols, sh * pitch), Dim(tile.cols, 1, sw)]
        result = placed.at(Part.ACCUMULATORS)
        self.kernel(outputs, (result, source, 0), uk.alu(AluOp.ADD))
        taps = [Dim(kh, 0, dh * pitch), Dim(kw, 0, dw)]
        self.kernel(taps + outputs, (result, source, 0), uk.alu(AluOp.MAX))


class AddEmitter(LayerEmitter):
    """Both inputs into ACC by identity GEMMs, each scaled by its steps, added, requantized."""

    def prologue(self, placed: Placed) -> None:
        self.load_constants(placed)
        regions = placed.regions
        size = regions[Part.OPERAND].end - regions[Part.ACCUMULATORS].offset
        self.kernel([Dim(size, 1)], (placed.at(Part.ACCUMULATORS), 0, 0), uk.RESET)

    def operands(self, placed: Placed):
        """(layout, DRAM buffer, window, INP entry, ACC entry) of both operands."""
        layer, tile = self.layer, placed.tile
        width = layer.output_size[1]
        return [(layer.a, self.buffers.inputs[0], same_shape_window(layer.a, width, tile),
                 placed.at(Part.INPUT), placed.at(Part.ACCUMULATORS)),
                (layer.b, self.buffers.inputs[1], operand_window(layer, tile),
                 placed.at(Part.OTHER), placed.at(Part.OPERAND))]

    def loads(self, placed: Placed, chunk: tuple[int, int], first: bool) -> None:
        if first:
            self.load_identity()
        tile = placed.tile
        for layout, buffer, window, sram, _ in self.operands(placed):
            self.load_blocks(layout, buffer, tile, (tile.first_block, tile.blocks), window, sram)

    def compute(self, placed: Placed, chunk: tuple[int, int], middle=None) -> None:
        tile = placed.tile
        for index, (_, _, window, sram, region) in enumerate(self.operands(placed)):
            gate = index == 1 and self.layer.broadcast       # the one position, at every one
            if index == 1 and middle is not None:
                middle(last=True)
            dims = [Dim(tile.blocks, tile.positions, window.tiles),
                    Dim(tile.rows, tile.cols, 0 if gate else window.pitch),
                    Dim(tile.cols, 1, 0 if gate else 1)]
            self.kernel(dims, (region, sram + window.origin,
                               self.plan.shared[Part.IDENTITY].offset), uk.GEMM)

    def epilogue(self, placed: Placed) -> None:
        layer, tile = self.layer, placed.tile
        first, second = placed.at(Part.ACCUMULATORS), placed.at(Part.OPERAND)
        self.alu_steps(layer.steps_a, first, tile, placed)
        self.alu_steps(layer.steps_b, second, tile, placed)
        size = tile.blocks * tile.positions
        self.kernel([Dim(size, 1, 1)], (first, second, 0), uk.alu(layer.combine))
        self.alu_steps(layer.epilogue, first, tile, placed)


EMITTERS = {ConvLayer: ConvEmitter, MaxPoolLayer: MaxPoolEmitter, AddLayer: AddEmitter}


def emit_layer(stream: CommandStream, plan: SramPlan, buffers: Buffers) -> int:
    """Emit the plan's layer into `stream`; returns the number of GEMM/ALU instructions."""
    emitter = EMITTERS[type(plan.layer)](stream, plan, buffers)
    emitter.emit()
    return emitter.instructions
