"""Matrices <-> the tile layout of on-chip buffers (isa-reference §2): a (R, C) matrix becomes
(R/rows, C/cols, rows, cols) tiles, row-major, each tile row-major inside; values narrower than
8 bits are packed into bytes (`vta.isa.elements`)."""

from __future__ import annotations

import numpy as np

from vta.isa import VtaError
from vta.isa.elements import pack as pack_values
from vta.isa.elements import unpack as unpack_values


def pack(matrix: np.ndarray, rows: int, cols: int, bits: int = 8) -> np.ndarray:
    """The DRAM form of `matrix` in tiles of `rows` × `cols` values of `bits` bits: for 8 bits
    int8 tiles of shape (R/rows, C/cols, rows, cols), else uint8 bytes of shape
    (R/rows, C/cols, rows·cols·bits/8); C-contiguous either way."""
    height, width = matrix.shape
    if height % rows or width % cols:
        raise VtaError(f"a {height}x{width} matrix does not split into {rows}x{cols} tiles")
    tiles = matrix.reshape(height // rows, rows, width // cols, cols).transpose(0, 2, 1, 3)
    if bits == 8:
        return np.ascontiguousarray(tiles)
    return pack_values(tiles.reshape(height // rows, width // cols, rows * cols), bits)


def unpack(tiles: np.ndarray, rows: int | None = None, cols: int | None = None,
           bits: int = 8) -> np.ndarray:
    """The matrix of (R/rows, C/cols, rows, cols) tiles, or of DRAM bytes (R/rows, C/cols,
    rows·cols·bits/8) with the tile shape and value width given."""
    if rows is not None:
        tiles = unpack_values(tiles, bits).reshape(tiles.shape[:2] + (rows, cols))
    blocks_y, blocks_x, rows, cols = tiles.shape
    return tiles.transpose(0, 2, 1, 3).reshape(blocks_y * rows, blocks_x * cols)
