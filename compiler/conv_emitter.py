"""The emitter of `ConvLayer`s (`ConvEmitter`): GEMMs over taps and input blocks, then the ALU
epilogue, with a fused residual Add or max pooling."""

from __future__ import annotations

from typing import NamedTuple

from vta.compiler import uop_kernels as uk
from vta.compiler.conv_replay import ConvReplay
from vta.compiler.fused_pool import FusedPool
from vta.compiler.layer_emitter import LayerEmitter, Placed
from vta.compiler.layers import WeightMode, gemm_copied_epilogue, reset_on_alu, work_per_output
from vta.compiler.tiling import (Part, Tile, chunks, computed_tile, halved, operand_window,
                                 output_tile, partial_accumulators, pooled_tile, shortcut_chunks)
from vta.compiler.uop_kernels import Dim
from vta.isa import AluOp, MemoryType


#: Parts a tile's GEMM is split into when the previous tile's epilogue runs beside it (its ALU
#: kernels go after each part, `LayerEmitter.over_last`).
OVERLAP_PARTS = 4
#: Parts at most a reduction step is loaded and computed in where its GEMM would wait for its
#: loads (`ConvEmitter.parts`).
STEP_PARTS = 8
#: Cycles a part costs beyond its GEMM and loads (its instructions, tokens and micro-ops).
PART_OVERHEAD = 40
#: Cycles a DMA costs beyond its data and the read latency (estimated, `ConvEmitter.parts`).
DMA_OVERHEAD = 3


class StepPart(NamedTuple):
    """A part of one reduction step, loaded and computed on its own: `count` input blocks of
    the chunk from its `first` (`inputs`), or output blocks of the tile."""

    inputs: bool
    first: int
    count: int
    last: bool


class _Pace:
    """Estimated times (cycles from the layer's start) of the load module, the GEMM unit and
    each thread's INP/WGT slot being free, step after step (`ConvEmitter.parts`)."""

    def __init__(self, threads: int):
        self.load = self.gemm = 0.0
        self.slots = [0.0] * threads
        self.step = 0

    def run(self, loads: float, gemm: float, parts: int) -> tuple[float, float, float]:
        """(GEMM end, load end, slot) of the next step loaded and computed in `parts`: its GEMM
        waits for the first part's operands, then each part for its own."""
        slot = self.step % len(self.slots)
        load = max(self.load, self.slots[slot])
        end = self.gemm
        for part in range(parts):
            end = max(end, load + loads * (part + 1) / parts) + gemm / parts
        return end + PART_OVERHEAD * (parts - 1), load + loads, slot

    def commit(self, gemm_end: float, load_end: float, slot: int) -> None:
        self.gemm, self.load = gemm_end, load_end
        self.slots[slot] = gemm_end
        self.step += 1


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


class ConvEmitter(ConvReplay, FusedPool, LayerEmitter):
    """GEMM over taps and input blocks (after a bias GEMM reading the bias input tile, the last
    of INP, where the layer has bias tiles); requantization on the ALU. With a fused residual
    Add, the other operand is copied into the OPERAND region by an identity GEMM (with the
    tile's first reduction chunk), both are scaled, added and requantized. With a fused pool,
    tiles span the convolution rows and columns under their pooled ones (the first row carried
    from the thread's previous tile where `tiling.carries`), the maximum goes into the POOLED
    region, and only that is requantized and stored. Where it pays
    (`layers.gemm_copied_epilogue`), the reset also zeroes scratch register 1 and the GEMMs may
    accumulate into it too, which the requantization would otherwise do on the ALU."""

    copy_offset = 0         # ACC entries from the accumulators to the GEMM's copy (0: none)

    def __init__(self, *args):
        super().__init__(*args)
        self.pace = _Pace(self.tiling.threads)
        config = self.stream.config
        #: bytes of an INP and a WGT tile of the activation block (`step_work`)
        self.tile_bytes = {memory: config.elem_bytes(memory) * self.sub.factor(memory)
                           for memory in (MemoryType.INP, MemoryType.WGT)}

    @property
    def epilogue_beside_last_chunk(self) -> bool:
        """With a fused pool: the epilogue (the pool's MAXes and the requantization of the
        pooled tile) is longer than a tile's first reduction chunk, so it is spread over all."""
        return self.layer.pool is not None

    def epilogue_cost(self, kernel: tuple) -> float:
        """With a fused pool, a vector ALU kernel counts 1.5 cycles per execution: the MAXes
        read the pooled positions at stride 1 and the accumulators at stride 2, and the
        per-channel constants stay put, so half of their executions meet an ACC bank conflict
        (a cycle more each)."""
        cost = super().epilogue_cost(kernel)
        op = kernel[2]
        if self.layer.pool is not None and op.unit == uk.Unit.ALU and op.imm is None:
            return 1.5 * cost
        return cost

    def copied_epilogue(self, tile: Tile):
        """The epilogue of `tile` with the GEMM's copy in register 1, or None (tiles that
        spread their reduction over partial accumulators copy on the ALU)."""
        if not hasattr(self, "_copied"):
            self._copied = gemm_copied_epilogue(self.layer)
        return self._copied if partial_accumulators(tile) == 1 else None

    def result_region(self, placed: Placed) -> int:
        if self.layer.pool is not None:
            return placed.at(Part.POOLED)
        return placed.at(Part.ACCUMULATORS)

    def store(self, placed: Placed) -> None:
        if self.layer.pool is None:
            self.store_tile(self.layer.output, output_tile(self.layer, placed.tile),
                            self.result_region(placed))
        else:
            self.store_tile(self.layer.pool.output, pooled_tile(placed.tile),
                            self.result_region(placed))

    def opens(self, tile: Tile, chunk: tuple[int, int]) -> bool:
        """True for the first reduction chunk of `tile` (which loads and copies its extras)."""
        return chunk == self.chunks(tile)[0]

    def prologue(self, placed: Placed) -> None:
        self.load_constants(placed)
        regions = placed.regions
        first = regions[Part.ACCUMULATORS]
        last = regions.get(Part.OPERAND) or first
        start, end = placed.at(Part.ACCUMULATORS), last.end
        self.copy_offset = 0
        copied = self.copied_epilogue(placed.tile)
        if copied is not None:
            if copied.duplicate:
                self.copy_offset = regions[Part.SCRATCH].offset - first.offset
            end = regions[Part.SCRATCH].offset + first.size      # register 1
        size = end - first.offset
        carried = placed.tile.carried_rows * placed.tile.cols
        if carried and placed.tile.first_pooled_row:    # zeroed by the tile above, which
            return                                          # carries its last row in
        if self.alu_resets():
            self.kernel([Dim(size, 1, 1)], (start, start, 0), uk.alu(AluOp.MUL, 0))
        else:
            self.kernel([Dim(size, 1)], (start, 0, 0), uk.RESET)

    def alu_resets(self) -> bool:
        """True where the tile's accumulators are zeroed by the ALU (``MUL 0``) rather than
        by a GEMM reset: on a core whose GEMM and ALU units overlap, for a layer with two
        threads whose GEMM work per output exceeds its ALU work by more than the reset."""
        if not hasattr(self, "_alu_resets"):
            layer, config = self.layer, self.stream.config
            self._alu_resets = (self.tiling.threads == 2 and config.ALU_MUL
                                and config.machine.overlap_kernels > 0
                                and reset_on_alu(layer))
        return self._alu_resets

    def gemm(self, dims: list[Dim], base: tuple[int, int, int]) -> None:
        """A GEMM into the accumulators, and into register 1 where the tile copies them."""
        self.kernel(dims, base, uk.GEMM)
        if self.copy_offset:
            self.kernel(dims, (base[0] + self.copy_offset, base[1], base[2]), uk.GEMM)

    def parts(self, placed: Placed, chunk: tuple[int, int]) -> list:
        """The parts of a dense convolution's reduction step with streamed weights (no fused
        pool): its input blocks (or else its output blocks) in 2, 4 … up to `STEP_PARTS` parts
        where the step's GEMM would otherwise wait for its loads — the layer's first step, and
        the next ones until the loads run a step ahead (`_Pace`: from the bytes and DMAs each
        step loads and its GEMM executions) —, else the whole step."""
        layer, tile = self.layer, placed.tile
        whole = [None]
        if layer.mode != WeightMode.DENSE or self.tiling.weights_resident or layer.phases \
                or layer.pool is not None or partial_accumulators(tile) > 1:
            return whole
        first_block, count = chunk
        weights = self.slot_weights.get(placed.wgt) != (tile.first_block, tile.blocks,
                                                        first_block, count)
        residual = layer.residual
        extras = residual is not None and (self.opens(tile, chunk) if residual.shortcut is None
                                           else self.shortcut_part(tile, chunk)[1] > 0)
        data, gemm = self.step_work(tile, chunk, weights, extras)
        latency = self.stream.config.MEM_READ_LATENCY + DMA_OVERHEAD
        axis = count if count > 1 else tile.blocks
        best, chosen = self.pace.run(data + latency * (1 + weights + extras), gemm, 1), 1
        split = 2
        while split <= min(axis, STEP_PARTS):
            # per part an input DMA and the weights' (one per output block for input parts)
            dmas = split * (weights * (tile.blocks if count > 1 else 1) + (count > 1)) \
                + (count == 1) + extras
            timed = self.pace.run(data + latency * dmas, gemm, split)
            if timed[0] < best[0]:
                best, chosen = timed, split
            split *= 2
        self.pace.commit(*best)
        if chosen == 1:
            return whole
        return [StepPart(count > 1, first, size, first + size == axis)
                for first, size in chunks(axis, -(-axis // chosen))]

    def step_work(self, tile: Tile, chunk: tuple[int, int], weights: bool,
                  other: bool) -> tuple[float, float]:
        """(bus cycles of the data, GEMM cycles) of one reduction step: its input blocks, its
        weights (`weights`) and the residual operand's window (`other`) against its GEMM
        executions."""
        layer, config = self.layer, self.stream.config
        count = chunk[1]
        window = self.window(tile)
        reduction = layer.taps * (count if layer.mode == WeightMode.DENSE else 1)
        inputs = count * window.tiles \
            + (tile.blocks * operand_window(layer, tile).tiles if other else 0)
        weight_tiles = tile.blocks * reduction \
            if weights and layer.mode != WeightMode.IDENTITY else 0
        data = (self.tile_bytes[MemoryType.INP] * inputs
                + self.tile_bytes[MemoryType.WGT] * weight_tiles) / config.bus_bytes
        gemm = (tile.blocks * output_tile(layer, tile).positions * reduction
                * config.machine.loop_interval(gemm=True) * self.sub.wgt)
        return data, gemm

    def run_tiles(self) -> list[Tile]:
        """The tiles in the order they run; on two threads, where the GEMM work per output
        exceeds the ALU work, the last one halved (`tiling.halved`) so that the requantization
        left after the last GEMM is half a tile's (the first half's runs beside the second
        half's GEMM, in the other ACC slot) — unless the second half's steps would wait for
        their loads (its input and weights, loaded again)."""
        found = super().run_tiles()
        layer = self.layer
        if self.tiling.threads != 2 or layer.phases or layer.pool is not None:
            return found
        gemm, alu = work_per_output(layer)
        pieces = halved(found[-1])
        if alu >= gemm or len(pieces) == 1:
            return found
        last = pieces[-1]
        for chunk in self.chunks(last):
            data, gemm_cycles = self.step_work(last, chunk, True, False)
            if data > gemm_cycles:
                return found
        return found[:-1] + pieces

    def loads(self, placed: Placed, chunk: tuple[int, int], first: bool,
              part: StepPart | None = None) -> None:
        layer, tile, shared = self.layer, placed.tile, self.plan.shared
        first_block, count = chunk
        opening = part is None or part.first == 0       # the step's extras, with its first part
        if opening and first and layer.bias_tiles is not None:
            self.dma_load(self.buffers.bias_input, MemoryType.INP,
                             sram=shared[Part.BIAS_INPUT].offset, x_size=1)
            self.dma_load(self.buffers.bias_weights, MemoryType.WGT,
                             sram=shared[Part.BIAS_WEIGHTS].offset, x_size=len(layer.bias_tiles))
        shortcut = layer.residual.shortcut if layer.residual is not None else None
        if opening and layer.residual is not None:
            if first and shortcut is None:
                self.load_identity()
            if self.opens(tile, chunk) and shortcut is None:
                self.load_blocks(layer.residual.other, self.buffers.inputs[1], tile,
                                 (tile.first_block, tile.blocks), operand_window(layer, tile),
                                 placed.at(Part.OTHER))
            elif shortcut is not None and self.shortcut_part(tile, chunk)[1]:
                self.load_shortcut(placed, self.shortcut_part(tile, chunk))
        if part is not None:
            self.load_part(placed, chunk, part)
            return
        if layer.mode == WeightMode.IDENTITY:
            if first:
                self.load_identity()
        elif self.tiling.weights_resident:
            self.load_resident(tile, chunk)
        elif self.slot_weights.get(placed.wgt) != (tile.first_block, tile.blocks, first_block,
                                                   count):
            # A slot keeps its weights while consecutive tiles use the same chunk.
            self.slot_weights[placed.wgt] = (tile.first_block, tile.blocks, first_block, count)
            taps = layer.taps
            sram = placed.at(Part.WEIGHTS)
            if layer.mode == WeightMode.DENSE:
                self.load_weights(tile, chunk, sram, (0, count), (0, tile.blocks))
            else:
                self.dma_load(self.buffers.weights, MemoryType.WGT, sram=sram,
                                 offset=tile.first_block * taps, x_size=tile.blocks * taps)
        self.load_blocks(layer.input, self.buffers.inputs[0], tile, chunk,
                         self.window(tile), placed.at(Part.INPUT))

    def shortcut_part(self, tile: Tile, chunk: tuple[int, int]) -> tuple[int, int]:
        """The fused shortcut's input blocks (first, count) that `chunk` of `tile` takes."""
        index = self.chunks(tile).index(chunk)
        return shortcut_chunks(self.layer, self.tiling, tile)[index]

    def load_shortcut(self, placed: Placed, part: tuple[int, int]) -> None:
        """Load input blocks `part` of a fused shortcut's input window (every stride-th row)
        and, unless the WGT slot holds them already, their weights for the tile's output
        blocks ([output block][input block])."""
        shortcut, tile = self.layer.residual.shortcut, placed.tile
        first, count = part
        self.load_blocks(shortcut.input, self.buffers.inputs[1], tile, part,
                         operand_window(self.layer, tile), placed.at(Part.OTHER),
                         row_step=shortcut.strides[0])
        sram = placed.at(Part.SHORTCUT_WEIGHTS)
        if self.slot_shortcut.get(sram) != (tile.first_block, tile.blocks, part):
            self.slot_shortcut[sram] = (tile.first_block, tile.blocks, part)
            self.dma_load(self.buffers.shortcut_weights, MemoryType.WGT, sram=sram,
                          offset=tile.first_block * shortcut.in_blocks + first, x_size=count,
                          y_size=tile.blocks, x_stride=shortcut.in_blocks)

    def load_weights(self, tile: Tile, chunk: tuple[int, int], sram: int,
                     inputs: tuple[int, int], outputs: tuple[int, int]) -> None:
        """DMA the weights of a dense convolution's reduction `chunk` of `tile` into its slot
        from `sram` ([output block][input block of the chunk][tap]): input blocks (first, count)
        of the chunk and output blocks (first, count) of the tile; one DMA where they are the
        chunk's whole rows, else one per output block."""
        layer, taps = self.layer, self.layer.taps
        in_blocks, row = layer.input.channel_blocks, chunk[1] * taps
        (first_in, ins), (first_out, outs) = inputs, outputs
        offset = ((tile.first_block + first_out) * in_blocks + chunk[0] + first_in) * taps
        sram += first_out * row + first_in * taps
        rows = [(0, outs)] if ins == chunk[1] else [(block, 1) for block in range(outs)]
        for block, count in rows:
            self.dma_load(self.buffers.weights, MemoryType.WGT, sram=sram + block * row,
                          offset=offset + block * in_blocks * taps, x_size=ins * taps,
                          y_size=count, x_stride=in_blocks * taps)

    def load_part(self, placed: Placed, chunk: tuple[int, int], part: StepPart) -> None:
        """The weights and input blocks of a part of a reduction step: where the step loads
        weights, its part of them (recorded as the slot's with the last part); its input
        blocks, or where the parts are output blocks the whole input with the first."""
        layer, tile = self.layer, placed.tile
        key = (tile.first_block, tile.blocks, *chunk)
        window = self.window(tile)
        if self.slot_weights.get(placed.wgt) != key:
            if part.last:
                self.slot_weights[placed.wgt] = key
            span = (part.first, part.count)
            self.load_weights(tile, chunk, placed.at(Part.WEIGHTS),
                              span if part.inputs else (0, chunk[1]),
                              (0, tile.blocks) if part.inputs else span)
        if part.inputs:
            self.load_blocks(layer.input, self.buffers.inputs[0], tile,
                             (chunk[0] + part.first, part.count), window,
                             placed.at(Part.INPUT) + part.first * window.tiles)
        elif not part.first:
            self.load_blocks(layer.input, self.buffers.inputs[0], tile, chunk, window,
                             placed.at(Part.INPUT))

    def resident_part(self, tile: Tile, chunk: tuple[int, int]) -> int:
        """The WGT entry of the resident weights that `chunk` of `tile` reads. A dense layer's
        resident weights lie by reduction chunk (chunk after chunk, each [output block][its
        input blocks][tap]), so that the part one tile's chunk reads is one DMA; with a single
        chunk that is the tensor's own layout. Other layers': [output block][tap]."""
        layer, shared = self.layer, self.plan.shared[Part.WEIGHTS].offset
        if layer.mode != WeightMode.DENSE:
            return shared + tile.first_block * layer.taps
        first, count = chunk
        out_blocks = layer.weight_tiles // (layer.input.channel_blocks * layer.taps)
        return shared + (first * out_blocks + tile.first_block * count) * layer.taps

    def resident_key(self, tile: Tile, chunk: tuple[int, int]) -> tuple[int, int]:
        """The part of the resident weights that `chunk` of `tile` reads (`load_resident`)."""
        return tile.first_block, chunk[0] if self.layer.mode == WeightMode.DENSE else 0

    def load_resident(self, tile: Tile, chunk: tuple[int, int]) -> None:
        """Load the part of the resident weights that `chunk` of `tile` reads, the first time
        a tile needs it: the weights come in with the first tiles' chunks (each part once per
        layer), so their load overlaps the GEMMs of the chunks before instead of holding back
        the layer's first GEMM (a layer of one or a few tiles, e.g. a 7×7 1×1 convolution,
        would otherwise wait for its whole weight tensor)."""
        layer = self.layer
        key = self.resident_key(tile, chunk)
        if key in self.resident_parts:
            return
        self.resident_parts.add(key)
        taps, sram = layer.taps, self.resident_part(tile, chunk)
        if layer.mode == WeightMode.DENSE:
            in_blocks = layer.input.channel_blocks
            self.dma_load(self.buffers.weights, MemoryType.WGT, sram=sram,
                          offset=(tile.first_block * in_blocks + chunk[0]) * taps,
                          x_size=chunk[1] * taps, y_size=tile.blocks, x_stride=in_blocks * taps)
        else:
            self.dma_load(self.buffers.weights, MemoryType.WGT, sram=sram,
                          offset=tile.first_block * taps, x_size=tile.blocks * taps)

    def compute(self, placed: Placed, chunk: tuple[int, int], middle=None,
                part: StepPart | None = None) -> None:
        layer, tile, tiling = self.layer, placed.tile, self.tiling
        window = self.window(tile)
        taps = layer.taps
        computed = computed_tile(tile)      # the rows after the carried ones
        accumulators = placed.at(Part.ACCUMULATORS) + (tile.rows - computed.rows) * tile.cols
        opening = part is None or part.first == 0       # the step's extras, with its first part
        opens = self.opens(tile, chunk) and opening
        if layer.bias_tiles is not None and opens:
            positions = output_tile(layer, tile).positions
            self.gemm([Dim(tile.blocks, positions, 0, 1),
                       Dim(output_tile(layer, computed).positions, 1, 0, 0)],
                      (accumulators, self.plan.shared[Part.BIAS_INPUT].offset,
                       self.plan.shared[Part.BIAS_WEIGHTS].offset + tile.first_block))
        identity = layer.mode == WeightMode.IDENTITY
        source_shift = 0
        if layer.mode == WeightMode.DENSE:
            if tiling.weights_resident:
                row, weights = chunk[1] * taps, self.resident_part(tile, chunk)
            else:
                row, weights = chunk[1] * taps, placed.at(Part.WEIGHTS)
            blocks = [Dim(chunk[1], 0, window.tiles, taps)]
            positions = output_tile(layer, tile).positions
            out_blocks = Dim(tile.blocks, positions, 0, row)
            if part is not None and part.inputs:
                blocks = [Dim(part.count, 0, window.tiles, taps)]
                source_shift, weights = part.first * window.tiles, weights + part.first * taps
            elif part is not None:
                out_blocks = Dim(part.count, positions, 0, row)
                accumulators += part.first * positions
                weights += part.first * row
        else:
            if identity:
                weights = self.plan.shared[Part.IDENTITY].offset
            elif tiling.weights_resident:
                weights = self.resident_part(tile, chunk)
            else:
                weights = placed.at(Part.WEIGHTS)
            blocks = []
            out_blocks = Dim(tile.blocks, tile.positions, window.tiles, 0 if identity else taps)
        source = placed.at(Part.INPUT) + window.origin + source_shift
        count = tile.blocks * output_tile(layer, tile).positions
        groups = self.tap_groups(tile, window.pitch)
        copies = partial_accumulators(tile)
        if layer.residual is not None and layer.residual.shortcut is not None and opening:
            # before the convolution's GEMMs: the carried epilogue then spreads over both
            self.operand_gemm(placed, chunk, copies, count)
        for group in groups:
            (kh, kw), (sh, sw), (dh, dw) = group.kernel, group.strides, group.dilations
            reduction = blocks + [Dim(layer.parts, 0, 0, taps // layer.parts),
                                  Dim(kh, 0, dh * window.pitch, 0 if identity else kw),
                                  Dim(kw, 0, dw, 0 if identity else 1)]
            outputs = [out_blocks, Dim(computed.rows, group.row_step, sh * window.pitch, 0),
                       Dim(tile.cols, group.col_step, sw, 0)]
            base = (accumulators + group.first_output, source + group.first_input,
                    weights + group.first_tap)
            if middle is not None and len(groups) == 1 and copies == 1:
                self.over_last(split_outputs(outputs, base, OVERLAP_PARTS), middle,
                               lambda dims, shifted: self.accumulate(reduction, dims, shifted,
                                                                     copies, count))
                middle = None
            else:
                self.accumulate(reduction, outputs, base, copies, count)
        if middle is not None:
            middle(last=True)
        if layer.residual is not None and layer.residual.shortcut is None and opening:
            self.operand_gemm(placed, chunk, copies, count)

    def operand_gemm(self, placed: Placed, chunk: tuple[int, int], copies: int,
                     count: int) -> None:
        """Form the residual operand in the OPERAND region: with the tile's first reduction
        chunk, copy it by an identity GEMM; or, with each chunk, GEMM the chunk's share of a
        fused shortcut's input blocks into it (`shortcut_chunks`; the reduction spread over
        `copies` partial operands of `count` tiles, as the accumulators')."""
        layer, tile = self.layer, placed.tile
        other, shortcut = operand_window(layer, tile), layer.residual.shortcut
        source = placed.at(Part.OTHER) + other.origin
        if shortcut is None:
            if not self.opens(tile, chunk):
                return
            dims = [Dim(tile.blocks, tile.positions, tile.rows * other.pitch),
                    Dim(tile.rows, tile.cols, other.pitch), Dim(tile.cols, 1, 1)]
            self.kernel(dims, (placed.at(Part.OPERAND), source,
                               self.plan.shared[Part.IDENTITY].offset), uk.GEMM)
            return
        blocks, sw = self.shortcut_part(tile, chunk)[1], shortcut.strides[1]
        if not blocks:
            return
        reduction = [Dim(blocks, 0, other.tiles, 1)]
        outputs = [Dim(tile.blocks, tile.positions, 0, blocks),
                   Dim(tile.rows, tile.cols, other.pitch, 0), Dim(tile.cols, 1, sw, 0)]
        base = (placed.at(Part.OPERAND), source, placed.at(Part.SHORTCUT_WEIGHTS))
        if copies == 1:         # (not `gemm`: never into the epilogue's register 1)
            self.kernel(reduction + outputs, base, uk.GEMM)
        else:
            self.accumulate(reduction, outputs, base, copies, count)

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
            self.gemm(reduction + outputs, base)
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
            self.alu_steps(layer.epilogue, self.result_region(placed), pooled_tile(tile),
                           placed)
            self.carry(placed)
            return
        self.phase_biases(placed)
        copied = self.copied_epilogue(tile)
        self.alu_steps(layer.epilogue if copied is None else copied.steps, region, outputs,
                       placed)
        residual = self.layer.residual
        if residual is not None:
            other = placed.at(Part.OPERAND)
            if residual.shortcut is not None:
                for copy in range(1, partial_accumulators(tile)):
                    self.kernel([Dim(size, 1, 1)], (other, other + copy * size, 0),
                                uk.alu(AluOp.ADD))
            self.alu_steps(residual.steps_conv, region, tile, placed)
            self.alu_steps(residual.operand_steps, other, tile, placed,
                           Part.SCRATCH if residual.shortcut is None else Part.OPERAND_SCRATCH)
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

