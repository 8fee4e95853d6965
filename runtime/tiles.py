"""Matrices <-> the tile layout of on-chip buffers (isa-reference §2): a (R, C) matrix becomes
(R/rows, C/cols, rows, cols) tiles, row-major, each tile row-major inside."""

from __future__ import annotations

import numpy as np

from vta.isa import VtaError


def pack(matrix: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Tiles of `rows` × `cols` elements: shape (R/rows, C/cols, rows, cols), C-contiguous."""
    height, width = matrix.shape
    if height % rows or width % cols:
        raise VtaError(f"a {height}x{width} matrix does not split into {rows}x{cols} tiles")
    tiles = matrix.reshape(height // rows, rows, width // cols, cols).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(tiles)


def unpack(tiles: np.ndarray) -> np.ndarray:
    """The matrix of (R/rows, C/cols, rows, cols) tiles."""
    blocks_y, blocks_x, rows, cols = tiles.shape
    return tiles.transpose(0, 2, 1, 3).reshape(blocks_y * rows, blocks_x * cols)
