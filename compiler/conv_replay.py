"""Tile replay of a convolution's tiles (`ConvReplay`, part of `ConvEmitter`): what a tile's
commands depend on but where it lies, the anchors its DRAM offsets move by, and what it changes
of the emitter's state (`tile_replay`, `LayerEmitter.emit`)."""

from __future__ import annotations

from vta.compiler.layers import WeightMode
from vta.compiler.tiling import Part, Tile, operand_window, output_tile, pooled_tile
from vta.isa import MemoryType


class ConvReplay:
    """The tile replay hooks of `ConvEmitter` (its layer, tiling, plan, buffers, slots and
    pace)."""

    def replay_anchors(self) -> dict | None:
        """The anchors of a tile's offsets: in the input, the other operand's and the output's
        layouts the tile's own place (its window's, its output's or pooled output's), in the
        weights, constants and a shortcut's weights its first output block's."""
        layer, buffers, sub = self.layer, self.buffers, self.sub
        inp, wgt = sub.factor(MemoryType.INP), sub.factor(MemoryType.WGT)
        x = layer.input
        output = layer.output if layer.pool is None else layer.pool.output
        stored = (lambda tile: output_tile(layer, tile)) if layer.pool is None else pooled_tile

        def input_anchor(tile: Tile) -> int:
            window = self.window(tile)
            return x.tile_offset(tile.batch_block, self.chunks(tile)[0][0], window.first_row,
                                 window.first_col)

        def output_anchor(tile: Tile) -> int:
            tile = stored(tile)
            return output.tile_offset(tile.batch_block, tile.first_block,
                                      tile.first_row + output.halo[0],
                                      tile.first_col + output.halo[1])

        anchors = {buffers.inputs[0]: (input_anchor, inp),
                   buffers.output: (output_anchor, sub.acc),
                   buffers.identity: (_nowhere, wgt)}
        if layer.residual is not None:
            shortcut = layer.residual.shortcut
            other = layer.residual.other if shortcut is None else shortcut.input

            def other_anchor(tile: Tile) -> int:
                window = operand_window(layer, tile)
                return other.tile_offset(tile.batch_block,
                                         tile.first_block if shortcut is None else 0,
                                         window.first_row, window.first_col)

            anchors[buffers.inputs[1]] = (other_anchor, inp)
            if shortcut is not None:
                anchors[buffers.shortcut_weights] = (
                    lambda tile: tile.first_block * shortcut.in_blocks, wgt)
        if buffers.weights is not None:
            per_block = layer.taps * (x.channel_blocks if layer.mode == WeightMode.DENSE else 1)
            anchors[buffers.weights] = (lambda tile: tile.first_block * per_block, wgt)
        if buffers.constants is not None:
            anchors[buffers.constants] = (lambda tile: tile.first_block,
                                          sub.factor(MemoryType.ACC))
        if buffers.bias_input is not None:
            anchors[buffers.bias_input] = (_nowhere, inp)
        if buffers.bias_weights is not None:
            anchors[buffers.bias_weights] = (_nowhere, wgt)
        return anchors

    def replay_shape(self, tile: Tile) -> tuple:
        """The tile's extents, its input window's and its other operand's (regions and
        micro-kernels follow from them), and its fused pool's (`pool_shape`)."""
        window = self.window(tile)
        shape = (tile.blocks, tile.rows, tile.cols, tile.carried_rows, window.rows,
                 window.pitch, window.origin)
        if self.layer.residual is not None:
            other = operand_window(self.layer, tile)
            shape += (other.rows, other.pitch, other.origin)
        if self.layer.pool is not None:
            shape += self.pool_shape(tile)
        return shape

    def replay_weights(self, wgt: int, recorded: Tile, tile: Tile) -> int:
        """The bias weights lie by output block, the resident weights by output block within
        each reduction chunk's part (`resident_part`)."""
        shift = tile.first_block - recorded.first_block
        if not shift:
            return wgt
        bias = self.plan.shared.get(Part.BIAS_WEIGHTS)
        if bias is not None and bias.offset <= wgt < bias.end:
            return wgt + shift
        if self.tiling.weights_resident and self.layer.mode != WeightMode.IDENTITY:
            taps = self.layer.taps
            for chunk in self.chunks(recorded):
                count = chunk[1] if self.layer.mode == WeightMode.DENSE else 1
                start = self.resident_part(recorded, chunk)
                if start <= wgt < start + recorded.blocks * count * taps:
                    return wgt + shift * count * taps
        return wgt

    def replay_key(self, tile: Tile, steps: list[tuple[int, int]], acc: int) -> tuple:
        """The tile's shape and reduction steps (relative to the first); what it finds in the
        slots it checks (their chunks relative to its first output and input blocks, None for
        another tile's; whether its ACC slot `acc` holds its constants; which of its resident
        weights are loaded); the pace (relative to its GEMM end: its times are sums of dyadic
        fractions, exact in floating point, so that moving them changes no decision)."""
        block, blocks, first = tile.first_block, tile.blocks, steps[0][0]
        pace = self.pace
        key = (self.replay_shape(tile), tuple((start - first, count) for start, count in steps),
               tuple(sorted((slot, (k[2] - first, k[3]) if k[:2] == (block, blocks) else None)
                            for slot, k in self.slot_weights.items())),
               tuple(sorted((at, k[2] if k[:2] == (block, blocks) else None)
                            for at, k in self.slot_shortcut.items())),
               self.slot_constants.get(acc) == (block, blocks),
               pace.load - pace.gemm, tuple(free - pace.gemm for free in pace.slots),
               pace.step % len(pace.slots))
        if self.tiling.weights_resident:
            key += (tuple(self.resident_key(tile, chunk) in self.resident_parts
                          for chunk in steps),)
        return key

    def replay_base(self) -> tuple:
        """The pace's GEMM end and step count, and what the slots hold."""
        return (self.pace.gemm, self.pace.step, dict(self.slot_weights),
                dict(self.slot_shortcut), dict(self.slot_constants))

    def replay_changes(self, tile: Tile, base: tuple) -> tuple:
        """The emitter's state after `tile`: the slots it loaded (their chunks relative to its
        first output and input blocks), the pace relative to `base`, where the GEMM copies the
        accumulators."""
        block, first = tile.first_block, self.chunks(tile)[0][0]
        gemm, steps, weights, shortcut, constants = base
        pace = self.pace
        return (tuple((slot, (k[0] - block, k[1], k[2] - first, k[3]))
                      for slot, k in self.slot_weights.items() if weights.get(slot) != k),
                tuple((at, (k[0] - block, *k[1:])) for at, k in self.slot_shortcut.items()
                      if shortcut.get(at) != k),
                tuple((slot, (k[0] - block, k[1])) for slot, k in self.slot_constants.items()
                      if constants.get(slot) != k),
                pace.load - gemm, pace.gemm - gemm, tuple(free - gemm for free in pace.slots),
                pace.step - steps, self.copy_offset)

    def replayed(self, tile: Tile, changes: tuple, base: tuple) -> None:
        """Take on the state a replayed `tile` leaves (`replay_changes`, from `base`)."""
        block, first = tile.first_block, self.chunks(tile)[0][0]
        weights, shortcut, constants, load, gemm, slots, steps, self.copy_offset = changes
        for slot, (output, blocks, start, count) in weights:
            self.slot_weights[slot] = (output + block, blocks, start + first, count)
        for at, (output, blocks, part) in shortcut:
            self.slot_shortcut[at] = (output + block, blocks, part)
        for slot, (output, blocks) in constants:
            self.slot_constants[slot] = (output + block, blocks)
        pace = self.pace
        pace.load, pace.gemm = base[0] + load, base[0] + gemm
        pace.slots = [base[0] + free for free in slots]
        pace.step = base[1] + steps
        if self.tiling.weights_resident:
            self.resident_parts.update(self.resident_key(tile, chunk)
                                       for chunk in self.chunks(tile))


def _nowhere(tile: Tile) -> int:
    """The anchor of a buffer every tile reads from its start."""
    return 0
