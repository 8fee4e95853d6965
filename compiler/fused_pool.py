"""A max pool fused into a convolution's layer (`FusedPool`, part of `ConvEmitter`): the max
over the pooling windows of the tile's accumulators, and the convolution row a tile carries into
the next tile of its thread (`tiling.carries`)."""

from __future__ import annotations

from vta.compiler import uop_kernels as uk
from vta.compiler.layer_emitter import Placed
from vta.compiler.layers import Imm, Step
from vta.compiler.tiling import Part, Tile, pooled_tile, tiles
from vta.compiler.uop_kernels import Dim
from vta.isa import AluOp, MemoryType
from vta.isa.layout import ALU_IMM_BITS


class FusedPool:
    """The fused pool's emission, for `ConvEmitter` (its layer, tiling, plan and kernels)."""

    def pool(self, placed: Placed) -> None:
        """Max over the pooling windows of the accumulators into the pooled region: start every
        lane at the int32 minimum (``MUL 0``, ``ADD −2^15``, ``SHL 16``, or without the ALU
        multiply ``MIN −2^15``, ``MAX −2^15``, ``SHL 16``: on the ALU, which has time to spare
        beside the GEMMs, rather than zeroed with the accumulators), then ALU MAXes over the
        pooled positions whose tap lies inside the convolution output (padding never wins):
        one over the taps that every pooled position of the tile has (fewer micro-kernels: the
        compute overlap knows the footprints of the last few only), one per other tap."""
        pool, tile = self.layer.pool, placed.tile
        (kh, kw) = pool.kernel
        pooled = pooled_tile(tile)
        target = placed.at(Part.POOLED)
        lowest_imm = -(1 << (ALU_IMM_BITS - 1))       # × 2^(ACC − IMM bits): the int32 minimum
        start = [Step(AluOp.MUL, Imm(0)), Step(AluOp.ADD, Imm(lowest_imm))] \
            if self.stream.config.ALU_MUL else [Step(AluOp.MIN, Imm(lowest_imm)),
                                                Step(AluOp.MAX, Imm(lowest_imm))]
        self.alu_steps(start + [Step(AluOp.SHR, Imm(ALU_IMM_BITS
                                                    - self.stream.config.acc_width))],
                       target, pooled, placed)
        rows, cols = self.pooled_taps(tile)
        full_rows = [ky for ky in range(kh) if len(rows[ky]) == pooled.rows]
        full_cols = [kx for kx in range(kw) if len(cols[kx]) == pooled.cols]
        taps = [(ky, kx) for ky in range(kh) for kx in range(kw)]
        if full_rows and full_cols and full_rows == list(range(full_rows[0], full_rows[-1] + 1)) \
                and full_cols == list(range(full_cols[0], full_cols[-1] + 1)):
            self.pool_max(placed, [Dim(len(full_rows), 0, tile.cols),
                                   Dim(len(full_cols), 0, 1)], full_rows[0], full_cols[0],
                          rows[full_rows[0]], cols[full_cols[0]])
            taps = [(ky, kx) for ky, kx in taps if ky not in full_rows or kx not in full_cols]
        for ky, kx in taps:
            if rows[ky] and cols[kx]:
                self.pool_max(placed, [], ky, kx, rows[ky], cols[kx])

    def pooled_taps(self, tile: Tile) -> tuple[list[list[int]], list[list[int]]]:
        """For each row tap of the pool, the pooled rows of `tile` whose tap lies inside the
        convolution's output and the tile; the same for each column tap."""
        layer, pool = self.layer, self.layer.pool
        (kh, kw), (sh, sw), (top, left) = pool.kernel, pool.strides, pool.pads[:2]
        height = layer.output_size[0]
        first_row, first_col = tile.first_pooled_row, tile.first_pooled_col
        rows = [[r for r in range(first_row, first_row + tile.pooled_rows)
                 if max(0, tile.first_row) <= r * sh - top + ky
                 < min(height, tile.first_row + tile.rows)]
                for ky in range(kh)]
        cols = [[c for c in range(first_col, first_col + tile.pooled_cols)
                 if tile.first_col <= c * sw - left + kx < tile.first_col + tile.cols]
                for kx in range(kw)]
        return rows, cols

    def pool_shape(self, tile: Tile) -> tuple:
        """What of where `tile` lies its pool's kernels depend on (`ConvReplay.replay_shape`):
        its pooled taps relative to its first pooled row and column, where those lie in its
        convolution rows and columns, whether it zeroes its accumulators, and the tile that
        carries its last row (its shape and ACC slot), if any."""
        (sh, sw), (top, left) = self.layer.pool.strides, self.layer.pool.pads[:2]
        rows, cols = self.pooled_taps(tile)
        following = self.successors().get(tile)
        return (tuple(tuple(r - tile.first_pooled_row for r in tap) for tap in rows),
                tuple(tuple(c - tile.first_pooled_col for c in tap) for tap in cols),
                tile.first_pooled_row * sh - top - tile.first_row,
                tile.first_pooled_col * sw - left - tile.first_col,
                tile.pooled_rows, tile.pooled_cols, bool(tile.first_pooled_row),
                None if following is None else (following[0].blocks, following[0].rows,
                                                following[0].cols, following[1]))

    def carry(self, placed: Placed) -> None:
        """Copy the tile's last convolution row into the first row of the accumulators of the
        tile that carries it (`tiling.carries`), if any: `zero`, then ``ADD``. In the tile's
        own ACC slot (one thread, or two ACC slots) a block's target may be another block's
        source (the two tiles' blocks lie apart by their own sizes): such blocks are copied one
        by one, each before any target overwrites its source."""
        tile = placed.tile
        following = self.successors().get(tile)
        if following is None:
            return
        successor, slot = following
        target = slot + self.plan.regions(successor)[Part.ACCUMULATORS].offset
        source = placed.at(Part.ACCUMULATORS) + (tile.rows - 1) * tile.cols
        copies = {block: (target + block * successor.positions, source + block * tile.positions)
                  for block in range(tile.blocks)}
        if not {to for to, _ in copies.values()} & {of for _, of in copies.values()}:
            self.zero([Dim(tile.blocks, successor.positions, successor.positions),
                       Dim(tile.cols, 1, 1)], target)
            self.kernel([Dim(tile.blocks, successor.positions, tile.positions),
                         Dim(tile.cols, 1, 1)], (target, source, 0), uk.alu(AluOp.ADD))
        else:
            copies = {block: pair for block, pair in copies.items() if pair[0] != pair[1]}
            while copies:
                block = next(block for block, (to, _) in copies.items()
                             if all(of != to for other, (_, of) in copies.items()
                                    if other != block))
                to, of = copies.pop(block)
                self.zero([Dim(tile.cols, 1, 1)], to)
                self.kernel([Dim(tile.cols, 1, 1)], (to, of, 0), uk.alu(AluOp.ADD))
        rest = successor.positions - tile.cols        # the successor's other rows: zeroed
        self.zero([Dim(tile.blocks, successor.positions, successor.positions), Dim(rest, 1, 1)],
                  target + tile.cols)

    def zero(self, dims: list[Dim], at: int) -> None:
        """Zero the accumulators `dims` walks from `at` on the ALU: ``MUL 0``, or without the
        ALU multiply ``MIN 0``, ``MAX 0``."""
        ops = (AluOp.MUL,) if self.stream.config.ALU_MUL else (AluOp.MIN, AluOp.MAX)
        for op in ops:
            self.kernel(dims, (at, at, 0), uk.alu(op, 0))

    def successors(self) -> dict[Tile, tuple[Tile, int]]:
        """For each tile whose last row the next tile of its thread carries: that tile and its
        ACC slot."""
        if not hasattr(self, "_successors"):
            order, threads = tiles(self.layer, self.tiling), self.tiling.threads
            self._successors = {order[index - threads]: (tile, self.plan.slot(MemoryType.ACC,
                                                                               index))
                                for index, tile in enumerate(order)
                                if tile.carried_rows and tile.first_pooled_row}
        return self._successors

    def pool_max(self, placed: Placed, taps: list[Dim], ky: int, kx: int, rows: list[int],
                 cols: list[int]) -> None:
        """One ALU MAX of the taps `taps` from tap (ky, kx) (loops over the accumulators) into
        the pooled positions `rows` × `cols` (contiguous ranges) of the tile."""
        pool, tile = self.layer.pool, placed.tile
        (sh, sw), (top, left) = pool.strides, pool.pads[:2]
        pooled = pooled_tile(tile)
        y, x = rows[0] * sh - top + ky, cols[0] * sw - left + kx
        dims = taps + [Dim(tile.blocks, pooled.positions, tile.positions),
                       Dim(len(rows), pooled.cols, sh * tile.cols), Dim(len(cols), 1, sw)]
        self.kernel(dims, (placed.at(Part.POOLED) + (rows[0] - tile.first_pooled_row)
                           * pooled.cols + cols[0] - tile.first_pooled_col,
                           placed.at(Part.ACCUMULATORS) + (y - tile.first_row) * tile.cols
                           + x - tile.first_col, 0), uk.alu(AluOp.MAX))
