"""Tiles of the activation block: how the compiler targets a config whose BLOCK_IN ≠ BLOCK_OUT.

Activations are laid out with one channel block, `activation_block` = max(BLOCK_IN, BLOCK_OUT)
(both are powers of two, so the smaller divides it). The compiler plans and emits every layer in
*tiles of that block*: an activation tile of BATCH × block values, a weight tile of
block × block, as on a square config of that block. Each such tile is a whole number of the
config's own tiles (`SubTiles`): `inp` INP tiles, `acc` ACC (and OUT) tiles, `inp · acc` WGT
tiles — one of `inp` and `acc` is 1. At batch 1 those sub-tiles lie one after the other in the
tile's bytes (lanes 0…BLOCK−1, then the next BLOCK lanes), so a tile at index t of the layout is
the config's tiles t·k … t·k + k − 1, and a DMA of n tiles from tile t moves n·k of them from
t·k. The layer's emitter (`layer_emitter.LayerEmitter`) translates each DMA that way, and each
GEMM or ALU loop nest (`kernel_dims`): an ALU micro-op on one accumulator tile becomes `acc`
micro-ops on its sub-tiles, a GEMM micro-op `acc` × `inp` of them — output sub-block j reads
input sub-block i through weight tile j·inp + i of the block's weight tile (`weight_tiles`
reorders a block × block weight tile into those). On a square config every factor is 1 and
nothing changes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from vta.compiler import uop_kernels as uk
from vta.compiler.uop_kernels import Dim
from vta.isa import Config, MemoryType


def activation_block(config: Config) -> int:
    """Channels per block of an activation's layout (and of a weight tile's both sides)."""
    return max(config.block_in, config.block_out)


@dataclass(frozen=True)
class SubTiles:
    """The config's tiles in one tile of the activation block: `inp` INP tiles, `acc` ACC and
    OUT tiles (and `inp · acc` WGT tiles)."""

    inp: int = 1
    acc: int = 1

    @classmethod
    def of(cls, config: Config) -> SubTiles:
        return _of(config.block_in, config.block_out)

    @property
    def square(self) -> bool:
        return self.inp == self.acc == 1

    @property
    def wgt(self) -> int:
        return self.inp * self.acc

    def factor(self, memory: MemoryType) -> int:
        """The config's tiles of `memory` in one tile of the activation block."""
        if memory == MemoryType.INP:
            return self.inp
        if memory == MemoryType.WGT:
            return self.wgt
        if memory in (MemoryType.ACC, MemoryType.OUT):
            return self.acc
        return 1

    def kernel_dims(self, dims: list[Dim], base: tuple[int, int, int], op: uk.Op
                    ) -> tuple[list[Dim], tuple[int, int, int]]:
        """A loop nest over tiles of the activation block as one over the config's tiles."""
        if self.square:
            return dims, base
        if op.unit == uk.Unit.ALU:        # dst and src are both ACC tiles
            scale = (self.acc, self.acc, 0)
            inner = [Dim(self.acc, 1, 1, 0)]
            outer = []
        elif op.reset:
            scale = (self.acc, self.inp, self.wgt)
            inner, outer = [Dim(self.acc, 1, 0, 0)], []
        else:
            scale = (self.acc, self.inp, self.wgt)
            inner = [Dim(self.acc, 1, 0, self.inp)]
            outer = [Dim(self.inp, 0, 1, 1)]
        scaled = [Dim(dim.extent, dim.dst * scale[0], dim.src * scale[1], dim.wgt * scale[2])
                  for dim in dims]
        return (outer + scaled + inner,
                (base[0] * scale[0], base[1] * scale[1], base[2] * scale[2]))

    def weight_tiles(self, tiles: np.ndarray, config: Config) -> np.ndarray:
        """Weight tiles (…, block, block) of the activation block as the config's WGT tiles
        (… × acc × inp, BLOCK_OUT, BLOCK_IN): sub-tile (j, i) holds output lanes of block j and
        input lanes of block i."""
        if self.square:
            return tiles
        head = tiles.shape[:-2]
        out, inp = config.block_out, config.block_in
        split = tiles.reshape(*head, self.acc, out, self.inp, inp)
        order = tuple(range(len(head))) + tuple(len(head) + i for i in (0, 2, 1, 3))
        return np.ascontiguousarray(split.transpose(order)).reshape(-1, out, inp)


@functools.lru_cache(maxsize=None)
def _of(block_in: int, block_out: int) -> SubTiles:
    block = max(block_in, block_out)
    return SubTiles(block // block_in, block // block_out)
