"""Code generation: one VTA layer (`layers`) under a `tiling.Tiling` → instructions and
micro-kernels through the runtime's `CommandStream`.

Each tile runs: (compute) wait for its ACC slot to be stored, load the per-channel constants,
zero the accumulators; per reduction chunk (load) wait for the INP/WGT slot, DMA the input
window and weights, (compute) GEMM; then (compute) the ALU epilogue and (store) the DMA of the
results. Dependency tokens follow the original runtime's virtual-thread protocol (reference §5,
`examples/blocked_gemm.py`): slots alternate between threads, so with two threads loads of one
tile overlap the compute of the other.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from vta.compiler import uop_kernels as uk
from vta.compiler.layers import (AddLayer, ConvLayer, Imm, MaxPoolLayer, pooled_conv_rows,
                                 residual_window_tiles, window_extent)
from vta.compiler.packing import ActLayout
from vta.compiler.tiling import Tiling, chunks, slot_usage, weight_tiles_total
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
    out: Buffer
    weights: Buffer | None
    consts: Buffer | None
    identity: Buffer
    bias_weights: Buffer | None = None
    bias_input: Buffer | None = None


@dataclass(frozen=True)
class Tile:
    """Batch block, output channel blocks, output rows and columns (and, with a fused pool, the
    pooled rows the output rows serve)."""

    nb: int
    ob0: int
    ocb: int
    oh0: int
    ohc: int
    ow0: int
    owc: int
    ph0: int = 0
    phc: int = 0

    @property
    def positions(self) -> int:
        return self.ohc * self.owc


class LayerEmitter(ABC):
    """Emits one layer into a stream (see the module docstring for the schedule)."""

    def __init__(self, stream: CommandStream, layer, tiling: Tiling, buffers: Buffers):
        self.s, self.layer, self.t, self.buf = stream, layer, tiling, buffers
        self.config = stream.config
        self.max_uops = max(self.config.uop_depth // 4, 1)
        self.inp_slot, self.wgt_slot, self.acc_slot = slot_usage(layer, tiling)
        self.instructions = 0
        self.slot_weights: dict[int, tuple] = {}   # WGT slot -> the weight chunk it holds

    # -- tiles -------------------------------------------------------------------------------
    def tiles(self) -> list[Tile]:
        oh, ow = self.layer.out_hw
        out = self.layer.out
        return [Tile(nb, ob0, ocb, oh0, ohc, ow0, owc)
                for ob0, ocb in chunks(out.cb, self.t.ocb) for nb in range(out.nb)
                for oh0, ohc in chunks(oh, self.t.rows) for ow0, owc in chunks(ow, self.t.cols)]

    def reduction_chunks(self, tile: Tile) -> list[tuple[int, int]]:
        layer = self.layer
        if isinstance(layer, ConvLayer) and layer.mode == "dense":
            return chunks(layer.inp.cb, self.t.icb)
        return [(tile.ob0, tile.ocb)]

    def emit(self) -> None:
        threads = self.t.threads
        tiles = self.tiles()
        plan = [(tile, self.reduction_chunks(tile)) for tile in tiles]
        total_steps = sum(len(steps) for _, steps in plan)
        step = 0
        s = self.s
        for index, (tile, steps) in enumerate(plan):
            acc = (index % threads) * self.acc_slot
            if index >= threads:
                s.dep_pop(STORE, COMPUTE)
            self.prologue(tile, acc)
            for chunk in steps:
                inp = (step % threads) * self.inp_slot
                wgt = (step % threads) * self.wgt_slot
                if step >= threads:
                    s.dep_pop(COMPUTE, LOAD)
                self.loads(tile, chunk, inp, wgt, first=step == 0)
                s.dep_push(LOAD, COMPUTE)
                s.dep_pop(LOAD, COMPUTE)
                self.compute(tile, chunk, inp, wgt, acc)
                if step + threads < total_steps:
                    s.dep_push(COMPUTE, LOAD)
                step += 1
            self.epilogue(tile, acc)
            s.dep_push(COMPUTE, STORE)
            s.dep_pop(COMPUTE, STORE)
            self.store(tile, self.result_region(tile, acc))
            if index + threads < len(plan):
                s.dep_push(STORE, COMPUTE)

    # -- helpers -----------------------------------------------------------------------------
    def kernel(self, dims: list[Dim], base: tuple[int, int, int], op: uk.Op) -> None:
        self.instructions += uk.emit(self.s, dims, base, op, self.max_uops)

    def window(self, tile: Tile) -> tuple[int, int, int, int, int]:
        """(rows, row pitch, first DRAM row, first DRAM column, column origin in SRAM)."""
        layer = self.layer
        (kh, kw), (sh, sw), (dh, dw) = layer.kernel, layer.strides, layer.dilations
        top, left = layer.pads[0], layer.pads[1]
        x = layer.inp
        ih = window_extent(tile.ohc, kh, sh, dh)
        row0 = tile.oh0 * sh + x.halo[0] - top
        if tile.owc == layer.out_hw[1]:
            return ih, x.wh, row0, 0, x.halo[1] - left
        iw = window_extent(tile.owc, kw, sw, dw)
        return ih, iw, row0, tile.ow0 * sw + x.halo[1] - left, 0

    def load_blocks(self, layout: ActLayout, buffer: Buffer, nb: int, cb0: int, count: int,
                    rows: int, row0: int, pitch: int, col0: int, sram: int) -> None:
        """DMA `count` channel blocks × `rows` rows × `pitch` columns into INP from `sram`."""
        offset = layout_offset(layout, nb, cb0, row0, col0)
        if pitch == layout.wh:
            self.s.load(buffer, MemoryType.INP, sram=sram, offset=offset, x_size=rows * pitch,
                        y_size=count, x_stride=layout.hh * layout.wh)
            return
        for block in range(count):
            self.s.load(buffer, MemoryType.INP, sram=sram + block * rows * pitch,
                        offset=offset + block * layout.hh * layout.wh, x_size=pitch,
                        y_size=rows, x_stride=layout.wh)

    def load_consts(self, tile: Tile, acc: int) -> None:
        consts = len(self.layer.consts)
        if consts:
            self.s.load(self.buf.consts, MemoryType.ACC, sram=acc, offset=tile.ob0,
                        x_size=tile.ocb, y_size=consts, x_stride=self.layer.out.cb)

    def load_identity(self, sram: int = 0) -> None:
        self.s.load(self.buf.identity, MemoryType.WGT, sram=sram, x_size=1)

    def alu_steps(self, steps, region: int, tile: Tile, acc: int) -> None:
        """Apply epilogue steps to the region [o][position] of the tile."""
        npos, ocb = tile.positions, tile.ocb
        for op, operand in steps:
            if isinstance(operand, Imm):
                self.kernel([Dim(ocb * npos, 1, 1)], (region, region, 0), uk.alu(op, operand.value))
            else:
                const = acc + operand.index * ocb
                self.kernel([Dim(ocb, npos, 1), Dim(npos, 1, 0)], (region, const, 0), uk.alu(op))

    def store(self, tile: Tile, region: int) -> None:
        self.store_tile(self.layer.out, tile, region)

    def store_tile(self, out: ActLayout, tile: Tile, region: int) -> None:
        offset = layout_offset(out, tile.nb, tile.ob0, tile.oh0 + out.halo[0],
                               tile.ow0 + out.halo[1])
        if tile.owc == out.wh:
            self.s.store(self.buf.out, sram=region, offset=offset, x_size=tile.positions,
                         y_size=tile.ocb, x_stride=out.hh * out.wh)
            return
        for block in range(tile.ocb):
            self.s.store(self.buf.out, sram=region + block * tile.positions,
                         offset=offset + block * out.hh * out.wh, x_size=tile.owc,
                         y_size=tile.ohc, x_stride=out.wh)

    # -- per kind ----------------------------------------------------------------------------
    @abstractmethod
    def prologue(self, tile: Tile, acc: int) -> None:
        """Set up the accumulators of `tile` (bias or reset)."""

    @abstractmethod
    def loads(self, tile, chunk, inp, wgt, first) -> None:
        """Load the inputs and weights of one reduction chunk of `tile`."""

    @abstractmethod
    def compute(self, tile, chunk, inp, wgt, acc) -> None:
        """The GEMM/ALU work of one chunk."""

    @abstractmethod
    def epilogue(self, tile, acc) -> None:
        """The ALU steps after the last chunk (requantization)."""

    @abstractmethod
    def result_region(self, tile, acc) -> int:
        """The OUT index where the int8 result of `tile` lies, for the store."""


def layout_offset(layout: ActLayout, nb: int, cb: int, row: int, col: int) -> int:
    """Tile index of (row, col) — halo coordinates — of channel block cb, batch block nb."""
    return ((nb * layout.cb + cb) * layout.hh + row) * layout.wh + col


class ConvEmitter(LayerEmitter):
    """GEMM over taps and input blocks (after a bias GEMM reading the bias input tile, the last
    of INP, where the layer has bias tiles); requantization on the ALU. With a fused residual
    Add, the other operand is copied into a second ACC region by an identity GEMM (with the
    tile's first reduction chunk), both are scaled, added and requantized. With a fused pool,
    tiles span the convolution rows under whole pooled rows, the maximum goes into the second
    region, and only that is requantized and stored."""

    def copies(self, tile: Tile) -> int:
        return 3 if tile.ocb * tile.positions < 3 else 1

    def out_region(self, tile: Tile, acc: int) -> int:
        return acc + len(self.layer.consts) * self.t.ocb

    def second_region(self, tile: Tile, acc: int) -> int:
        """The ACC region after the accumulators: the residual operand's, or the pooled
        results."""
        return self.out_region(tile, acc) + self.copies(tile) * tile.ocb * tile.positions

    def result_region(self, tile, acc) -> int:
        if self.layer.pool is not None:
            return self.second_region(tile, acc)
        return self.out_region(tile, acc)

    def tiles(self) -> list[Tile]:
        layer = self.layer
        if layer.pool is None:
            return super().tiles()
        ow = layer.out_hw[1]
        return [Tile(nb, ob0, ocb, *pooled_conv_rows(layer, ph0, phc), 0, ow, ph0, phc)
                for ob0, ocb in chunks(layer.out.cb, self.t.ocb) for nb in range(layer.out.nb)
                for ph0, phc in chunks(layer.tiled_hw[0], self.t.rows)]

    def pooled(self, tile: Tile) -> Tile:
        """The pooled rows of `tile` as a tile of the pool's output."""
        return Tile(tile.nb, tile.ob0, tile.ocb, tile.ph0, tile.phc, 0, self.layer.tiled_hw[1])

    def store(self, tile: Tile, region: int) -> None:
        if self.layer.pool is None:
            super().store(tile, region)
        else:
            self.store_tile(self.layer.pool.out, self.pooled(tile), region)

    def opens(self, tile: Tile, chunk) -> bool:
        """True for the first reduction chunk of `tile` (which loads and copies its extras)."""
        return chunk == self.reduction_chunks(tile)[0]

    def identity_index(self) -> int:
        """The WGT tile holding the identity, after the weights."""
        if self.t.resident:
            return weight_tiles_total(self.layer)
        return self.t.threads * self.wgt_slot

    def bias_index(self) -> int:
        """The first of the bias tiles (one per output block) in WGT, after the identity."""
        return self.identity_index() + (self.layer.residual is not None)

    def residual_window(self, tile: Tile) -> tuple[int, int, int, int]:
        """(row pitch, first DRAM row, first DRAM column, column origin in SRAM) of the other
        operand's window."""
        other = self.layer.residual.other
        row0 = tile.oh0 + other.halo[0]
        if tile.owc == self.layer.out_hw[1]:
            return other.wh, row0, 0, other.halo[1]
        return tile.owc, row0, tile.ow0 + other.halo[1], 0

    def residual_sram(self, inp: int) -> int:
        """Where the other operand's window lies in an INP slot: after the input window."""
        t = self.t
        return inp + self.inp_slot - residual_window_tiles(self.layer, t.ocb, t.rows, t.cols)

    def prologue(self, tile, acc) -> None:
        self.load_consts(tile, acc)
        size = self.copies(tile) * tile.ocb * tile.positions
        if self.layer.residual is not None:
            size += tile.ocb * tile.positions
        if self.layer.pool is not None:
            size += tile.ocb * self.pooled(tile).positions
        self.kernel([Dim(size, 1)], (self.out_region(tile, acc), 0, 0), uk.RESET)

    def loads(self, tile, chunk, inp, wgt, first) -> None:
        layer, cb0, count = self.layer, chunk[0], chunk[1]
        rows, pitch, row0, col0, _ = self.window(tile)
        if first and layer.bias_tiles is not None:
            self.s.load(self.buf.bias_input, MemoryType.INP, sram=self.config.inp_depth - 1,
                        x_size=1)
            self.s.load(self.buf.bias_weights, MemoryType.WGT, sram=self.bias_index(),
                        x_size=len(layer.bias_tiles))
        if layer.residual is not None:
            if first:
                self.load_identity(self.identity_index())
            if self.opens(tile, chunk):
                other_pitch, other_row0, other_col0, _ = self.residual_window(tile)
                self.load_blocks(layer.residual.other, self.buf.inputs[1], tile.nb, tile.ob0,
                                 tile.ocb, tile.ohc, other_row0, other_pitch, other_col0,
                                 self.residual_sram(inp))
        if layer.mode == "identity":
            if first:
                self.load_identity()
        elif self.t.resident:
            if first:
                self.s.load(self.buf.weights, MemoryType.WGT, sram=0,
                            x_size=weight_tiles_total(layer))
        elif self.slot_weights.get(wgt) != (tile.ob0, tile.ocb, cb0, count):
            # A slot keeps its weights while consecutive tiles use the same chunk.
            self.slot_weights[wgt] = (tile.ob0, tile.ocb, cb0, count)
            taps = layer.kernel[0] * layer.kernel[1]
            if layer.mode == "dense":
                cbs = layer.inp.cb
                self.s.load(self.buf.weights, MemoryType.WGT, sram=wgt,
                            offset=(tile.ob0 * cbs + cb0) * taps, x_size=count * taps,
                            y_size=tile.ocb, x_stride=cbs * taps)
            else:
                self.s.load(self.buf.weights, MemoryType.WGT, sram=wgt, offset=tile.ob0 * taps,
                            x_size=tile.ocb * taps)
        self.load_blocks(layer.inp, self.buf.inputs[0], tile.nb, cb0, count, rows, row0, pitch,
                         col0, inp)

    def compute(self, tile, chunk, inp, wgt, acc) -> None:
        layer = self.layer
        (kh, kw), (sh, sw), (dh, dw) = layer.kernel, layer.strides, layer.dilations
        rows, pitch, _, _, origin = self.window(tile)
        block = rows * pitch
        taps = kh * kw
        npos = tile.positions
        if layer.bias_tiles is not None and self.opens(tile, chunk):
            self.kernel([Dim(tile.ocb, npos, 0, 1), Dim(npos, 1, 0, 0)],
                        (self.out_region(tile, acc), self.config.inp_depth - 1,
                         self.bias_index() + tile.ob0), uk.GEMM)
        outputs = [Dim(tile.ohc, tile.owc, sh * pitch, 0), Dim(tile.owc, 1, sw, 0)]
        if layer.mode == "dense":
            cbs = layer.inp.cb
            row = cbs * taps if self.t.resident else chunk[1] * taps
            wbase = (tile.ob0 * cbs + chunk[0]) * taps if self.t.resident else wgt
            reduction = [Dim(chunk[1], 0, block, taps), Dim(kh, 0, dh * pitch, kw),
                         Dim(kw, 0, dw, 1)]
            outputs.insert(0, Dim(tile.ocb, npos, 0, row))
        else:
            identity = layer.mode == "identity"
            wbase = 0 if identity else (tile.ob0 * taps if self.t.resident else wgt)
            reduction = [Dim(kh, 0, dh * pitch, 0 if identity else kw),
                         Dim(kw, 0, dw, 0 if identity else 1)]
            outputs.insert(0, Dim(tile.ocb, npos, block, 0 if identity else taps))
        self.accumulate(reduction, outputs, (self.out_region(tile, acc), inp + origin, wbase),
                        self.copies(tile), tile.ocb * npos)
        if layer.residual is not None and self.opens(tile, chunk):
            pitch, _, _, origin = self.residual_window(tile)
            dims = [Dim(tile.ocb, npos, tile.ohc * pitch), Dim(tile.ohc, tile.owc, pitch),
                    Dim(tile.owc, 1, 1)]
            self.kernel(dims, (self.second_region(tile, acc), self.residual_sram(inp) + origin,
                               self.identity_index()), uk.GEMM)

    def accumulate(self, reduction: list[Dim], outputs: list[Dim], base, copies: int,
                   count: int) -> None:
        """GEMM of `reduction` × `outputs`; with `copies` > 1 the reduction is spread over that
        many partial accumulators (dst + copy × count) so that fewer than three outputs still
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

    def epilogue(self, tile, acc) -> None:
        region = self.out_region(tile, acc)
        size = tile.ocb * tile.positions
        for copy in range(1, self.copies(tile)):
            self.kernel([Dim(size, 1, 1)], (region, region + copy * size, 0), uk.alu(AluOp.ADD))
        if self.layer.pool is not None:
            self.pool(tile, acc)
            self.alu_steps(self.layer.epilogue, self.result_region(tile, acc), self.pooled(tile),
                           acc)
            return
        self.alu_steps(self.layer.epilogue, region, tile, acc)
        residual = self.layer.residual
        if residual is not None:
            other = self.second_region(tile, acc)
            self.alu_steps(residual.steps_conv, region, tile, acc)
            self.alu_steps(residual.steps_other, other, tile, acc)
            self.kernel([Dim(size, 1, 1)], (region, other, 0), uk.alu(AluOp.ADD))
            self.alu_steps(residual.epilogue, region, tile, acc)


    def pool(self, tile: Tile, acc: int) -> None:
        """Max over the pooling windows of the accumulators into the (zeroed) pooled region:
        start every lane at the int32 minimum, then one ALU MAX per tap over the pooled
        positions whose tap lies inside the convolution output (padding never wins)."""
        layer, pool = self.layer, self.layer.pool
        (kh, kw), (sh, sw), (top, left) = pool.kernel, pool.strides, pool.pads[:2]
        oh, ow = layer.out_hw
        pooled = self.pooled(tile)
        target, source = self.result_region(tile, acc), self.out_region(tile, acc)
        lowest_imm = -(1 << (ALU_IMM_BITS - 1))       # × 2^(ACC − IMM bits): the int32 minimum
        self.alu_steps([(AluOp.ADD, Imm(lowest_imm)),
                        (AluOp.SHR, Imm(ALU_IMM_BITS - self.config.acc_width))], target, pooled,
                       acc)
        for ky in range(kh):
            rows = [r for r in range(tile.ph0, tile.ph0 + tile.phc) if 0 <= r * sh - top + ky < oh]
            for kx in range(kw):
                cols = [c for c in range(pooled.owc) if 0 <= c * sw - left + kx < ow]
                if not rows or not cols:
                    continue
                y, x = rows[0] * sh - top + ky, cols[0] * sw - left + kx
                dims = [Dim(tile.ocb, pooled.positions, tile.positions),
                        Dim(len(rows), pooled.owc, sh * ow), Dim(len(cols), 1, sw)]
                self.kernel(dims, (target + (rows[0] - tile.ph0) * pooled.owc + cols[0],
                                   source + (y - tile.oh0) * ow + x, 0), uk.alu(AluOp.MAX))


class MaxPoolEmitter(LayerEmitter):
    """Identity GEMM of the input window into ACC, then ALU MAX over the taps."""

    def regions(self, tile, acc) -> tuple[int, int]:
        rows, pitch, *_ = self.window(tile)
        return acc, acc + tile.ocb * rows * pitch

    def result_region(self, tile, acc) -> int:
        return self.regions(tile, acc)[1]

    def prologue(self, tile, acc) -> None:
        rows, pitch, *_ = self.window(tile)
        size = tile.ocb * (rows * pitch + tile.positions)
        self.kernel([Dim(size, 1)], (acc, 0, 0), uk.RESET)

    def loads(self, tile, chunk, inp, wgt, first) -> None:
        if first:
            self.load_identity()
        rows, pitch, row0, col0, _ = self.window(tile)
        self.load_blocks(self.layer.inp, self.buf.inputs[0], tile.nb, tile.ob0, tile.ocb, rows,
                         row0, pitch, col0, inp)

    def compute(self, tile, chunk, inp, wgt, acc) -> None:
        rows, pitch, *_ = self.window(tile)
        window, _ = self.regions(tile, acc)
        self.kernel([Dim(tile.ocb * rows * pitch, 1, 1)], (window, inp, 0), uk.GEMM)

    def epilogue(self, tile, acc) -> None:
        layer = self.layer
        (kh, kw), (sh, sw), (dh, dw) = layer.kernel, layer.strides, layer.dilations
        rows, pitch, _, _, origin = self.window(tile)
        window, out = self.regions(tile, acc)
        outputs = [Dim(tile.ocb, tile.positions, rows * pitch),
                   Dim(tile.ohc, tile.owc, sh * pitch), Dim(tile.owc, 1, sw)]
        self.kernel(outputs, (out, window + origin, 0), uk.alu(AluOp.ADD))
        taps = [Dim(kh, 0, dh * pitch), Dim(kw, 0, dw)]
        self.kernel(taps + outputs, (out, window + origin, 0), uk.alu(AluOp.MAX))


class AddEmitter(LayerEmitter):
    """Both inputs into ACC by identity GEMMs, each scaled by its steps, added, requantized."""

    def regions(self, tile, acc) -> tuple[int, int]:
        first = acc + len(self.layer.consts) * self.t.ocb
        return first, first + tile.ocb * tile.positions

    def result_region(self, tile, acc) -> int:
        return self.regions(tile, acc)[0]

    def prologue(self, tile, acc) -> None:
        self.load_consts(tile, acc)
        self.kernel([Dim(2 * tile.ocb * tile.positions, 1)], (self.regions(tile, acc)[0], 0, 0),
                    uk.RESET)

    def loads(self, tile, chunk, inp, wgt, first) -> None:
        if first:
            self.load_identity()
        layer = self.layer
        for layout, buffer, sram in ((layer.a, self.buf.inputs[0], inp),
                                     (layer.b, self.buf.inputs[1],
                                      inp + tile.ocb * tile.ohc * layer.a.wh)):
            self.load_blocks(layout, buffer, tile.nb, tile.ob0, tile.ocb, tile.ohc,
                             tile.oh0 + layout.halo[0], layout.wh, 0, sram)

    def compute(self, tile, chunk, inp, wgt, acc) -> None:
        layer = self.layer
        first, second = self.regions(tile, acc)
        source = inp
        for layout, region in ((layer.a, first), (layer.b, second)):
            dims = [Dim(tile.ocb, tile.positions, tile.ohc * layout.wh),
                    Dim(tile.ohc, tile.owc, layout.wh), Dim(tile.owc, 1, 1)]
            self.kernel(dims, (region, source + layout.halo[1], 0), uk.GEMM)
            source += tile.ocb * tile.ohc * layout.wh

    def epilogue(self, tile, acc) -> None:
        layer = self.layer
        first, second = self.regions(tile, acc)
        self.alu_steps(layer.steps_a, first, tile, acc)
        self.alu_steps(layer.steps_b, second, tile, acc)
        size = tile.ocb * tile.positions
        self.kernel([Dim(size, 1, 1)], (first, second, 0), uk.alu(AluOp.ADD))
        self.alu_steps(layer.epilogue, first, tile, acc)


EMITTERS = {ConvLayer: ConvEmitter, MaxPoolLayer: MaxPoolEmitter, AddLayer: AddEmitter}


def emit_layer(stream: CommandStream, layer, tiling: Tiling, buffers: Buffers) -> int:
    """Emit `layer` into `stream`; returns the number of GEMM/ALU instructions."""
    emitter = EMITTERS[type(layer)](stream, layer, tiling, buffers)
    emitter.emit()
    return emitter.instructions
