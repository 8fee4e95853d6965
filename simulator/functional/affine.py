"""Affine structure of a GEMM/ALU loop nest.

A micro-op table run inside two loops is a set of executions, each a vector of SRAM indices
(dst, src, wgt). This module factors such a set into a mixed-radix affine grid — dimensions
with an extent and a step vector — times a residual list of irregular base vectors, so that
an engine can address the grid with strided views and only gather the residual.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dimension:
    """`extent` points, `step` apart (one component per index: dst, src[, wgt])."""

    extent: int
    step: tuple[int, ...]


@dataclass(frozen=True)
class Grid:
    """The executions `bases[g] + Σ_d i_d · dims[d].step` for every g and 0 ≤ i_d < extent_d."""

    dims: tuple[Dimension, ...]
    bases: np.ndarray  # (G, components) int64

    @property
    def size(self) -> int:
        return len(self.bases) * int(np.prod([d.extent for d in self.dims], dtype=np.int64))


def factor_sequence(points: np.ndarray) -> Grid:
    """Factor a sequence of index vectors (n, c), innermost dimension first.

    At each level the innermost run of equal differences gives a candidate extent (or one of
    its divisors); it is accepted if every block of that length repeats the same run. What
    cannot be factored further remains as the residual bases."""
    dims: list[Dimension] = []
    points = np.asarray(points, dtype=np.int64)
    while len(points) > 1:
        found = _factor_level(points)
        if found is None:
            break
        extent, step = found
        dims.append(Dimension(extent, tuple(int(v) for v in step)))
        points = points[::extent]
    return Grid(tuple(dims), points)


def _factor_level(points: np.ndarray) -> tuple[int, np.ndarray] | None:
    n = len(points)
    diffs = np.diff(points, axis=0)
    step = diffs[0]
    changes = np.flatnonzero(np.any(diffs != step, axis=1))
    run = int(changes[0]) + 1 if len(changes) else n  # points in the first run of equal steps
    ramp = np.arange(run, dtype=np.int64)[:, None] * step
    for extent in range(run, 1, -1):
        if n % extent or run % extent:
            continue
        blocks = points.reshape(n // extent, extent, -1)
        if np.array_equal(blocks - blocks[:, :1], np.broadcast_to(ramp[:extent], blocks.shape)):
            return extent, step
    return None


def loop_grid(uops: np.ndarray, loops: list[Dimension]) -> Grid:
    """The grid of a micro-op table (n, c) run inside `loops`: the table is factored in its own
    order and sorted (executions of a GEMM commute); the factoring with fewer residual bases
    wins. Extent-1 dimensions are dropped."""
    best = factor_sequence(uops)
    if len(best.bases) > 1:
        order = np.lexsort(uops.T[::-1])
        sorted_grid = factor_sequence(uops[order])
        if len(sorted_grid.bases) < len(best.bases):
            best = sorted_grid
    dims = tuple(d for d in best.dims + tuple(loops) if d.extent > 1)
    return Grid(dims, best.bases)


def expand(grid: Grid, dims: tuple[Dimension, ...], component: int) -> np.ndarray:
    """Index `component` over (G, *dims) of `grid` (dims a subset of grid.dims, others at 0)."""
    values = grid.bases[:, component].reshape((-1,) + (1,) * len(dims))
    for axis, dim in enumerate(dims):
        shape = [1] * (len(dims) + 1)
        shape[axis + 1] = dim.extent
        values = values + (np.arange(dim.extent, dtype=np.int64) * dim.step[component]).reshape(shape)
    return values


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values of a 1-D integer array, in increasing order (what `np.unique`
    returns, without its first call's import of numpy.ma: tens of milliseconds)."""
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def progression(base: int, loops: list[tuple[int, int]]) -> slice | None:
    """The indices ``base + Σ i_k · step_k`` (0 ≤ i_k < extent_k) of `loops` (extent, step),
    outermost first, as a slice when they run in that order as an increasing arithmetic
    progression (each loop's step the inner one's step times its extent); None otherwise.
    Found by arithmetic alone: no index array is built."""
    loops = [(extent, step) for extent, step in loops if extent > 1]
    if not loops:
        return slice(base, base + 1, 1)
    step = loops[-1][1]
    if step <= 0:
        return None
    span = step
    for extent, loop_step in reversed(loops):
        if loop_step != span:
            return None
        span *= extent
    return slice(base, base + span, step)


def compact_index(indices: np.ndarray) -> slice | np.ndarray:
    """A slice selecting the same elements as `indices` when they are an increasing arithmetic
    progression (basic indexing makes views, fancy indexing copies), else `indices`."""
    first = int(indices[0])
    step = int(indices[1]) - first if len(indices) > 1 else 1
    if step > 0 and np.array_equal(indices, np.arange(first, first + step * len(indices), step)):
        return slice(first, first + step * len(indices), step)
    return indices
