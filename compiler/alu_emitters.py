"""The emitters of the layers computed on the ALU after identity GEMMs copy their inputs into
ACC: max pooling (`MaxPoolEmitter`) and element-wise Add/Mul (`AddEmitter`)."""

from __future__ import annotations

from vta.compiler import uop_kernels as uk
from vta.compiler.layer_emitter import LayerEmitter, Placed
from vta.compiler.tiling import Part, input_window, operand_window, same_shape_window
from vta.compiler.uop_kernels import Dim
from vta.isa import AluOp


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
