"""The schedule every layer's emitter shares (`LayerEmitter`): one VTA layer (`layers`) under
its SRAM plan (`sram_plan.SramPlan`) → instructions and micro-kernels through the runtime's
`CommandStream`.

Each tile runs: (compute) wait for its ACC slot to be stored, load the per-channel constants,
zero the accumulators; per reduction chunk (load) wait for the INP/WGT slot, DMA the input
window and weights, (compute) GEMM; then (compute) the ALU epilogue and (store) the DMA of the
results. Dependency tokens follow the original runtime's virtual-thread protocol (isa-reference §5,
`examples/blocked_gemm.py`): slots alternate between threads, so with two threads loads of one
tile overlap the compute of the other. Every SRAM address comes from the plan's regions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass

from vta.compiler import uop_kernels as uk
from vta.compiler.layers import Imm, Reg, Step
from vta.compiler.packing import ActLayout
from vta.compiler.subtiles import SubTiles
from vta.compiler.sram_plan import SramPlan
from vta.compiler.tile_replay import FINISHED, TileJournal
from vta.compiler.tiling import (Part, Region, Tile, Window, input_window, output_tile,
                                 reduction_chunks, tiles)
from vta.compiler.uop_kernels import Dim
from vta.isa import MemoryType, Module
from vta.runtime.memory import Buffer
from vta.runtime.stream import CommandStream

LOAD, COMPUTE, STORE = Module.LOAD, Module.COMPUTE, Module.STORE
#: GEMM executions per output from which a tile's epilogue is carried beside the next tile's
#: GEMMs however long it is (`LayerEmitter.emit`)
CARRY_GEMMS_PER_OUTPUT = 4


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
    #: a fused shortcut's weight tiles
    shortcut_weights: Buffer | None = None


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
    not yet emitted (each with its `epilogue_cost`), the executions emitted so far and in all,
    the tile (None when nothing is carried)."""

    def __init__(self):
        self.kernels: deque[tuple[float, tuple]] = deque()
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
        self.slot_shortcut: dict[int, tuple] = {}  # WGT entry -> its shortcut weights' blocks
        self.resident_parts: set[tuple] = set()    # parts of resident weights loaded so far
        self.slot_constants: dict[int, tuple] = {}  # ACC slot -> the blocks of its constants
        self.recording: list | None = None         # kernels kept instead of emitted
        self.gemm_executions = 0                   # of the current tile so far
        self.last_gemm = -1                        # queue index of the last GEMM instruction
        #: the config's tiles in one tile of the activation block (`subtiles`)
        self.sub = SubTiles.of(stream.config)
        self.carried = None                        # emits the carried kernels due so far
        self.spread = 1.0                          # carried executions per GEMM execution
        self.journal: TileJournal | None = None    # while emitting with tile replay
        self._chunks: dict[tuple[int, int], list[tuple[int, int]]] = {}
        self._windows: dict[Tile, Window] = {}

    def emit(self, replay: bool = False) -> None:
        """Emit the layer; with `replay` (for timing), each distinct tile's commands once
        (`tile_replay`), where the kind supports it (`replay_anchors`)."""
        anchors = self.replay_anchors() if replay else None
        journal = None if anchors is None else TileJournal(self.stream, anchors)
        if journal is None:
            self._emit(None)
            return
        stream, self.stream, self.journal = self.stream, journal, journal
        try:
            self._emit(journal)
        finally:
            self.stream, self.journal = stream, None

    def _emit(self, journal: TileJournal | None) -> None:
        threads = self.tiling.threads
        work = [(tile, self.chunks(tile)) for tile in self.run_tiles()]
        total_steps = sum(len(steps) for _, steps in work)
        step = 0
        stream = self.stream
        # With two threads on a core whose GEMM and ALU units overlap (docs/hardware.md), a
        # tile's epilogue (its ALU kernels, recorded) is spread over the next tile's GEMMs, so
        # that it runs beside them: after each part of those GEMMs come the kernels whose
        # executions, added up, do not exceed the GEMM executions so far; the rest after the
        # last part of a tile of one reduction chunk (`over_last`), before the last chunk of a
        # tile of several, then its store. The two tiles' ACC slots lie in different halves
        # (`SramPlan.slot`).
        overlap = threads == 2 and stream.config.machine.overlap_kernels > 0
        carry = _Carry()
        acc_slots = self.plan.acc_slots
        config = stream.config
        store_beats = -(-config.elem_bytes(MemoryType.OUT) * self.sub.acc // config.bus_bytes)

        def push_if(condition: bool, tag, src: Module, dst: Module, after=None) -> None:
            """`stream.dep_push` where `condition` holds (a tile's replay asks `condition`
            again, by `tag`: `replay_conditions`)."""
            if journal is not None:
                journal.dep_push_if(condition, tag, src, dst, after)
            elif condition:
                stream.dep_push(src, dst, after)

        def finish(placed: Placed, index: int) -> None:
            if journal is not None:
                journal.stored = placed.tile
            stream.dep_push(COMPUTE, STORE)
            stream.dep_pop(COMPUTE, STORE)
            self.store(placed)
            # the ACC slot's next tile waits for it
            push_if(index + acc_slots < len(work), (FINISHED, placed.tile is tile), STORE,
                    COMPUTE)

        def emit_carried(budget: float | None) -> None:
            """Emit the carried kernels, in order, while the executions emitted stay within
            `budget` (all of them if None)."""
            kernels = carry.kernels
            while kernels and (budget is None or carry.spent + kernels[0][0] <= budget):
                cost, kernel = kernels.popleft()
                carry.spent += cost
                self.kernel(*kernel)

        def middle(last: bool, share: float = 0.0) -> None:
            """Emit the carried epilogue's kernels due after the GEMMs so far (all if `last`):
            as many executions as those GEMMs (times `spread`, below), or `share` of the
            epilogue if that is more (an epilogue longer than the GEMM is spread evenly over
            its parts)."""
            emit_carried(None if last else
                         max(self.gemm_executions * self.spread, share * carry.total))
            if carry.placed is not None and not carry.kernels:
                finish(carry.placed, carry.index)
                carry.placed = None

        # After every GEMM kernel of a tile (its reset and bias GEMM too, not only the parts
        # of its convolution) come the carried kernels due so far; where the epilogue is longer
        # than the tile's GEMMs (as long as the previous tile's), `spread` stretches the
        # budget so that the epilogue spreads over all of them: the in-order compute queue
        # then never holds the GEMM unit behind a run of ALU kernels, nor the ALU unit behind
        # GEMMs it could run beside.
        self.carried = lambda: middle(last=False) if carry.placed is not None else None
        tile_gemm = 0

        def replay_key(index: int, tile: Tile, steps: list) -> tuple:
            """What the commands of the tile at `index` depend on (`TileJournal`), but where
            it lies: the emitter's (`replay_key`) and the loop's state."""
            acc = self.plan.slot(MemoryType.ACC, index)
            carried = carry.placed
            return (self.replay_key(tile, steps, acc), acc, index >= acc_slots,
                    step % threads, min(step, threads),
                    None if carried is None else (self.replay_shape(carried.tile), carried.acc,
                                                  len(carry.kernels), carry.spent, carry.total),
                    tile_gemm, self.gemm_executions)

        def replayed(recording, index: int, tile: Tile, steps: list, before) -> None:
            """Send the stream the recorded commands for the tile at `index` and take on the
            state they leave."""
            nonlocal tile_gemm
            carried = carry.placed
            first_step = step

            def condition(tag) -> bool:
                """`push_if`'s condition for this tile (`tag`: a step's number, or whether
                the stored tile is this one)."""
                if type(tag) is int:
                    return first_step + tag + threads < total_steps
                return (index if tag[1] else carry.index) + acc_slots < len(work)

            recorded_tile = recording.tile

            def moved(dims, base, op) -> bool:
                """Push a recorded GEMM nest whose weights lie by the tile (`replay_weights`)
                at this tile's; whether it did."""
                wgt = self.replay_weights(base[2], recorded_tile, tile)
                if wgt == base[2]:
                    return False
                self.push_nest(dims, (base[0], base[1], wgt), op)
                return True

            factor = self.sub.factor(MemoryType.WGT)

            def weights(sram: int) -> int:
                """A recorded WGT load's SRAM entry for this tile (`replay_weights`)."""
                return self.replay_weights(sram // factor, recorded_tile, tile) * factor

            same = tile.first_block == recorded_tile.first_block
            produced = journal.replay(recording, tile, None if carried is None else carried.tile,
                                      condition, None if same else moved,
                                      None if same else weights)
            (count, self.gemm_executions, tile_gemm, self.spread, last_gemm, after,
             changes) = recording.state
            self.instructions += count
            if last_gemm is not None:
                self.last_gemm = produced[last_gemm]
            if after is None:
                carry.placed, carry.kernels = None, deque()
            else:
                kernels, carry.spent, carry.total, regions, acc = after
                carry.kernels = deque(kernels)
                carry.placed, carry.index = Placed(tile, regions, acc), index
            self.replayed(tile, changes, before)

        def keep(key: tuple, tile: Tile, before, counted: int) -> None:
            """Keep the commands of `tile` for `key`, and the state they leave."""
            last_gemm = journal.position(self.last_gemm)
            after = None if carry.placed is None else (
                tuple(carry.kernels), carry.spent, carry.total, carry.placed.regions,
                carry.placed.acc)
            journal.end(key, (self.instructions - counted, self.gemm_executions, tile_gemm,
                              self.spread, last_gemm, after,
                              self.replay_changes(tile, before)))

        for index, (tile, steps) in enumerate(work):
            if journal is not None:
                key, before = replay_key(index, tile, steps), self.replay_base()
                recording = journal.recordings.get(key)
                if recording is not None:
                    replayed(recording, index, tile, steps, before)
                    step += len(steps)
                    continue
                journal.begin(tile, None if carry.placed is None else carry.placed.tile)
                counted = self.instructions
            placed = Placed(tile, self.plan.regions(tile), self.plan.slot(MemoryType.ACC, index))
            if index >= acc_slots:
                if carry.placed is not None and 4 * carry.total >= 5 * self.gemm_executions:
                    # Where the carried epilogue is clearly longer than the GEMMs it runs
                    # beside (by a quarter: the GEMM unit has slack), the ALU unit need not
                    # wait with the GEMM unit for the store that frees this tile's ACC slot:
                    # the epilogue starts before, as many executions as that store has bus
                    # cycles. (Where the two are about even, the epilogue spread over the
                    # GEMMs after the wait keeps both busier.)
                    outputs = tile.blocks * output_tile(self.layer, tile).positions
                    emit_carried(carry.spent + outputs * store_beats)
                stream.dep_pop(STORE, COMPUTE)
            self.spread = max(1.0, carry.total / tile_gemm) \
                if carry.placed is not None and tile_gemm else 1.0
            self.gemm_executions = 0
            self.prologue(placed)
            for number, chunk in enumerate(steps):
                at_step = Placed(tile, placed.regions, placed.acc,
                                 self.plan.slot(MemoryType.INP, step),
                                 self.plan.slot(MemoryType.WGT, step))
                if step >= threads:
                    stream.dep_pop(COMPUTE, LOAD)
                step_start = len(stream.queue)
                inside = len(steps) == 1 and carry.placed is not None
                # A step may come in parts (`parts`), each loaded and then computed, so that
                # its GEMMs start when the first part's operands are in.
                parts = self.parts(at_step, chunk)
                for part in parts:
                    self.loads(at_step, chunk, first=step == 0, part=part)
                    stream.dep_push(LOAD, COMPUTE)
                    stream.dep_pop(LOAD, COMPUTE)
                    self.compute(at_step, chunk, middle if inside and part is parts[-1]
                                 else None, part=part)
                # The slot is free once the step's last GEMM is done: the token goes with that
                # GEMM, not with carried ALU kernels after it (they would wait for it); for
                # the step that reuses the slot, if any.
                push_if(step + threads < total_steps, number, COMPUTE, LOAD,
                        self.last_gemm if self.last_gemm >= step_start else None)
                if carry.placed is not None:
                    # the rest before the last chunk, or with `epilogue_beside_last_chunk`
                    # after it
                    chunks = len(steps) - (not self.epilogue_beside_last_chunk)
                    middle(last=number >= chunks - 1, share=(number + 1) / max(chunks, 1))
                step += 1
            tile_gemm = self.gemm_executions
            # Deferring pays when the epilogue is no longer than the GEMM, or when the GEMM is
            # long enough (≥ 4 executions per output: the reset's one and ≥ 3 more) to hide the
            # store the next tile but one then waits for; else the tile finishes at once.
            outputs = tile.blocks * tile.positions
            if overlap:
                recorded = self.recording = []
                self.epilogue(placed)
                self.recording = None
                carry.kernels = deque((self.epilogue_cost(kernel), kernel) for kernel in recorded)
                total = sum(cost for cost, _ in carry.kernels)
                if total <= self.gemm_executions \
                        or self.gemm_executions >= CARRY_GEMMS_PER_OUTPUT * outputs:
                    carry.placed, carry.index, carry.spent, carry.total = placed, index, 0, total
                else:
                    for dims, base, op in recorded:
                        self.kernel(dims, base, op)
                    carry.kernels.clear()
                    finish(placed, index)
            else:
                self.epilogue(placed)
                finish(placed, index)
            if journal is not None:
                keep(key, tile, before, counted)
        middle(last=True)
        self.carried = None

    # -- tile replay (`tile_replay`) --------------------------------------------------------
    def replay_anchors(self) -> dict | None:
        """For each DRAM buffer a tile's commands address: the function of a tile that gives
        the anchor its offsets are recorded against (in this emitter's units), and the stream's
        units per one of them; None where the kind's tiles are not replayed. A kind that
        replays also states what a tile's commands depend on (`replay_shape`, `replay_key`),
        and what they change of its state (`replay_base`, `replay_changes`, `replayed`):
        `conv_replay.ConvReplay`."""
        return None

    def replay_weights(self, wgt: int, recorded: Tile, tile: Tile) -> int:
        """Where WGT entry `wgt` that `recorded` read lies for `tile` (its shape and state
        `recorded`'s): the same, but where weights lie by the tile's output blocks."""
        return wgt

    #: Whether a carried epilogue's rest comes after the last reduction chunk of a tile of
    #: several (so that it runs beside every chunk) rather than before it.
    epilogue_beside_last_chunk = False

    def epilogue_cost(self, kernel: tuple) -> float:
        """What a carried epilogue's kernel (dims, base, op) counts against the GEMM
        executions it is spread over: its executions."""
        return _executions(kernel[0])

    # -- helpers -----------------------------------------------------------------------------
    def chunks(self, tile: Tile) -> list[tuple[int, int]]:
        """`tiling.reduction_chunks` of `tile` (asked for several times a step: kept per output
        blocks, all they depend on)."""
        key = tile.first_block, tile.blocks
        found = self._chunks.get(key)
        if found is None:
            found = self._chunks[key] = reduction_chunks(self.layer, self.tiling, tile)
        return found

    def window(self, tile: Tile) -> Window:
        """`tiling.input_window` of `tile` (asked for several times a step: kept)."""
        found = self._windows.get(tile)
        if found is None:
            found = self._windows[tile] = input_window(self.layer, tile)
        return found

    @staticmethod
    def over_last(parts: list[tuple], middle, emit_part) -> None:
        """Emit the GEMM `parts` (`emit_part(*part)`) with the carried epilogue spread over all
        of them (`middle`), the last one included: after each part the kernels due, at least
        an even share, and the rest after the last part, where it runs beside that part
        (before it, the GEMM unit would wait in the in-order queue until the rest is
        issued)."""
        for number, part in enumerate(parts):
            emit_part(*part)
            middle(last=number == len(parts) - 1, share=(number + 1) / len(parts))

    def kernel(self, dims: list[Dim], base: tuple[int, int, int], op: uk.Op) -> None:
        """Emit a GEMM/ALU kernel (or, while an epilogue is recorded, keep it for later)."""
        if self.recording is not None:
            self.recording.append((dims, base, op))
            return
        if op.unit == uk.Unit.GEMM:
            self.gemm_executions += _executions(dims)
        if self.journal is not None:
            self.journal.nest(dims, base, op)
        self.instructions += self.push_nest(dims, base, op)
        if op.unit == uk.Unit.GEMM:
            self.last_gemm = len(self.stream.queue) - 1
            if self.carried is not None:
                self.carried()

    def push_nest(self, dims: list[Dim], base: tuple[int, int, int], op: uk.Op) -> int:
        """Push the kernels of a loop nest over tiles of the activation block; their count."""
        dims, base = self.sub.kernel_dims(dims, base, op)
        return uk.emit(self.stream, dims, base, op, self.plan.kernel_uops)

    def dma_load(self, buffer: Buffer, memory: MemoryType, *, sram: int, offset: int = 0,
                 x_size: int, y_size: int = 1, x_stride: int | None = None) -> None:
        """A 2-D load counted in tiles of the activation block (`subtiles`)."""
        f = self.sub.factor(memory)
        self.stream.load(buffer, memory, sram=sram * f, offset=offset * f, x_size=x_size * f,
                         y_size=y_size, x_stride=(x_size if x_stride is None else x_stride) * f)

    def dma_store(self, buffer: Buffer, *, sram: int, offset: int = 0, x_size: int,
                  y_size: int = 1, x_stride: int | None = None) -> None:
        """A 2-D store counted in tiles of the activation block (`subtiles`)."""
        f = self.sub.acc
        self.stream.store(buffer, sram=sram * f, offset=offset * f, x_size=x_size * f,
                          y_size=y_size, x_stride=(x_size if x_stride is None else x_stride) * f)

    def load_blocks(self, layout: ActLayout, buffer: Buffer, tile: Tile, blocks: tuple[int, int],
                    window: Window, sram: int, row_step: int = 1) -> None:
        """DMA channel blocks (first, count) of `window` (of batch block `tile.batch_block`)
        into INP from `sram`, block after block; `row_step` > 1: every row_step-th row of the
        input from the window's first (a strided 1×1 convolution's)."""
        first_block, count = blocks
        offset = layout.tile_offset(tile.batch_block, first_block, window.first_row,
                                    window.first_col)
        if window.pitch == layout.width_with_halo and row_step == 1:
            self.dma_load(buffer, MemoryType.INP, sram=sram, offset=offset,
                             x_size=window.tiles, y_size=count,
                             x_stride=layout.channel_block_tiles)
            return
        for block in range(count):
            self.dma_load(buffer, MemoryType.INP, sram=sram + block * window.tiles,
                             offset=offset + block * layout.channel_block_tiles,
                             x_size=window.pitch, y_size=window.rows,
                             x_stride=row_step * layout.width_with_halo)

    def load_constants(self, placed: Placed) -> None:
        """Load the per-channel constants of the tile's output blocks into its ACC slot, unless
        the slot holds them already (the tile before in that slot had the same blocks)."""
        count = len(self.layer.constants)
        if count:
            tile = placed.tile
            blocks = (tile.first_block, tile.blocks)
            if self.slot_constants.get(placed.acc) == blocks:
                return
            self.slot_constants[placed.acc] = blocks
            self.dma_load(self.buffers.constants, MemoryType.ACC,
                             sram=placed.at(Part.CONSTANTS), offset=tile.first_block,
                             x_size=tile.blocks, y_size=count,
                             x_stride=self.layer.output.channel_blocks)

    def load_identity(self) -> None:
        self.dma_load(self.buffers.identity, MemoryType.WGT,
                         sram=self.plan.shared[Part.IDENTITY].offset, x_size=1)

    def alu_steps(self, steps: list[Step], region: int, tile: Tile, placed: Placed,
                  scratch: Part = Part.SCRATCH) -> None:
        """Apply ALU steps to the region [block][position] of `tile` (register 0; scratch
        registers in `Part.SCRATCH`, per-channel operands from the constants of `placed`)."""
        positions, blocks = tile.positions, tile.blocks
        size = blocks * positions

        def register(index: int) -> int:
            return region if index == 0 else placed.at(scratch) + (index - 1) * size

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
            self.dma_store(self.buffers.output, sram=region, offset=offset,
                              x_size=tile.positions, y_size=tile.blocks,
                              x_stride=output.channel_block_tiles)
            return
        for block in range(tile.blocks):
            self.dma_store(self.buffers.output, sram=region + block * tile.positions,
                              offset=offset + block * output.channel_block_tiles,
                              x_size=tile.cols, y_size=tile.rows, x_stride=output.width_with_halo)

    def result_region(self, placed: Placed) -> int:
        """The OUT entry where the int8 result of the tile lies, for the store."""
        return placed.at(Part.ACCUMULATORS)

    def run_tiles(self) -> list[Tile]:
        """The tiles in the order they run (`tiling.tiles`)."""
        return tiles(self.layer, self.tiling)

    def parts(self, placed: Placed, chunk: tuple[int, int]) -> list:
        """The parts one reduction step of `placed` is loaded and computed in: the whole
        step (None), unless the kind splits it."""
        return [None]

    # -- per kind ----------------------------------------------------------------------------
    @abstractmethod
    def prologue(self, placed: Placed) -> None:
        """Set up the accumulators of the tile (constants, reset)."""

    @abstractmethod
    def loads(self, placed: Placed, chunk: tuple[int, int], first: bool, part=None) -> None:
        """Load the inputs and weights of one reduction chunk (of its `part`, from `parts`);
        `first`: the layer's first."""

    @abstractmethod
    def compute(self, placed: Placed, chunk: tuple[int, int], middle=None, part=None) -> None:
        """The GEMM/ALU work of one chunk (of its `part`); `middle(last)` (if given) is called
        between its GEMMs, where the previous tile's epilogue may run beside them
        (``last=True`` the last time: the rest of it)."""

    @abstractmethod
    def epilogue(self, placed: Placed) -> None:
        """The ALU steps after the last chunk (requantization)."""
