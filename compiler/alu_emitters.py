"""The emitters of the layers computed on the ALU after identity GEMMs copy their inputs into
ACC: max pooling (`MaxPoolEmitter`) and element-wise Add/Mul (`AddEmitter`)."""

from __future__ import annotations

from vta.compiler import uop_kernels as uk
from vta.compiler.layer_emitter import LayerEmitter, Placed
from vta.compiler.sram_plan import SplitRows, split_rows
from vta.compiler.tiling import Part, operand_window, same_shape_window
from vta.compiler.uop_kernels import Dim
from vta.isa import AluOp


class MaxPoolEmitter(LayerEmitter):
    """Identity GEMM of the input window into ACC, then ALU MAX over the taps.

    With column stride 2 (`sram_plan.split_rows`) the copy puts each window row's even columns
    and odd columns apart, so that a tap reads consecutive entries for consecutive outputs;
    the maxima start as one tap, copied from INP by an identity GEMM into the zeroed
    accumulators (a tap whose MAX would conflict), and one ALU MAX per other tap follows.
    Otherwise the window is copied as it lies, an ALU ADD copies tap (0, 0) into the zeroed
    maxima and one ALU MAX runs over every tap."""

    def prologue(self, placed: Placed) -> None:
        regions = placed.regions
        size = regions[Part.ACCUMULATORS].end - regions[Part.WINDOW].offset
        self.kernel([Dim(size, 1)], (placed.at(Part.WINDOW), 0, 0), uk.RESET)

    def loads(self, placed: Placed, chunk: tuple[int, int], first: bool, part=None) -> None:
        if first:
            self.load_identity()
        tile = placed.tile
        self.load_blocks(self.layer.input, self.buffers.inputs[0], tile,
                         (tile.first_block, tile.blocks), self.window(tile),
                         placed.at(Part.INPUT))

    def taps(self, placed: Placed, split: SplitRows):
        """(tap, its first output's entry in the window copy, conflicts) of every tap:
        `conflicts` where its MAX would read both operands from one ACC bank."""
        layer, tile = self.layer, placed.tile
        (kh, kw), (dh, dw) = layer.kernel, layer.dilations
        window = self.window(tile)
        result = placed.at(Part.ACCUMULATORS)
        found = []
        for ky in range(kh):
            for kx in range(kw):
                entry = placed.at(Part.WINDOW) + ky * dh * split.stride \
                    + split.column(window.origin + kx * dw)
                found.append(((ky, kx), entry, (result - entry) % 2 == 0))
        return found

    def compute(self, placed: Placed, chunk: tuple[int, int], middle=None, part=None) -> None:
        tile = placed.tile
        window = self.window(tile)
        split = split_rows(self.layer, window)
        identity = self.plan.shared[Part.IDENTITY].offset
        copy, inp = placed.at(Part.WINDOW), placed.at(Part.INPUT)
        if split is None:
            self.kernel([Dim(tile.blocks * window.tiles, 1, 1)], (copy, inp, identity), uk.GEMM)
        else:
            rows = [Dim(tile.blocks, window.rows * split.stride, window.tiles),
                    Dim(window.rows, split.stride, window.pitch)]
            for parity, count in ((0, -(-window.pitch // 2)), (1, window.pitch // 2)):
                if count:
                    self.kernel(rows + [Dim(count, 1, 2)],
                                (copy + split.column(parity), inp + parity, identity), uk.GEMM)
            # the maxima start as one tap (one whose MAX would conflict, if any), from INP
            (ky, kx), _, _ = self.first_tap(placed, split)
            layer = self.layer
            (sh, sw), (dh, dw) = layer.strides, layer.dilations
            outputs = [Dim(tile.blocks, tile.positions, window.tiles),
                       Dim(tile.rows, tile.cols, sh * window.pitch), Dim(tile.cols, 1, sw)]
            self.kernel(outputs, (placed.at(Part.ACCUMULATORS),
                                  inp + window.origin + ky * dh * window.pitch + kx * dw,
                                  identity), uk.GEMM)
        if middle is not None:
            middle(last=True)

    def first_tap(self, placed: Placed, split: SplitRows):
        taps = self.taps(placed, split)
        return next((tap for tap in taps if tap[2]), taps[0])

    def epilogue(self, placed: Placed) -> None:
        layer, tile = self.layer, placed.tile
        (kh, kw), (sh, sw), (dh, dw) = layer.kernel, layer.strides, layer.dilations
        window = self.window(tile)
        split = split_rows(layer, window)
        result = placed.at(Part.ACCUMULATORS)
        if split is not None:
            first = self.first_tap(placed, split)
            outputs = [Dim(tile.blocks, tile.positions, window.rows * split.stride),
                       Dim(tile.rows, tile.cols, sh * split.stride), Dim(tile.cols, 1, 1)]
            for tap in self.taps(placed, split):
                if tap[0] != first[0]:
                    self.kernel(outputs, (result, tap[1], 0), uk.alu(AluOp.MAX))
            return
        pitch = window.pitch
        source = placed.at(Part.WINDOW) + window.origin
        outputs = [Dim(tile.blocks, tile.positions, window.tiles),
                   Dim(tile.rows, tile.cols, sh * pitch), Dim(tile.cols, 1, sw)]
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

    def loads(self, placed: Placed, chunk: tuple[int, int], first: bool, part=None) -> None:
        if first:
            self.load_identity()
        tile = placed.tile
        for layout, buffer, window, sram, _ in self.operands(placed):
            self.load_blocks(layout, buffer, tile, (tile.first_block, tile.blocks), window, sram)

    def compute(self, placed: Placed, chunk: tuple[int, int], middle=None, part=None) -> None:
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
