"""The GEMM engine: a whole GEMM instruction as one batched BLAS product (isa-reference §4.3).

GEMM executions commute (each adds to an accumulator mod 2^32, or zeroes it), so an
instruction is planned as a whole: the micro-op table × loop nest is factored into an affine
grid (`affine.loop_grid`), whose dimensions are classified by which indices they move:

* reduction (dst fixed): summed inside the product, the K axis;
* row (wgt fixed) and column (src fixed): the M and N axes of the product;
* batch (all three move): one product per point;
* repeat (nothing moves): a multiplier;

plus the residual irregular base vectors of the table, which become a gathered batch axis.
Regular grids are read through strided views of the SRAM arrays; irregular ones through
index arrays, with a segment sum where several products land on one accumulator. Operands are
converted to float32 as they are gathered, and regathered only when INP or WGT changed.
A float32 dot product of int8 values is exact while partial sums stay below 2^24, so
reductions are split into chunks of at most MAX_EXACT_TERMS terms whose int32 results are
added with wrap-around. Plans are cached per (instruction, micro-op words).
"""

from __future__ import annotations

import math

import numpy as np

from vta.isa import Config, MemoryType
from vta.simulator.functional.affine import (Dimension, Grid, compact_index, expand, loop_grid,
                                             progression, sorted_unique)
from vta.simulator.functional.bounds import Sizes, check_loop_indices
from vta.simulator.functional.memory import Sram
from vta.simulator.functional.plan_cache import PlanCache
from vta.isa.program import DecodedInstruction
from vta.simulator.functional.workspace import Workspace

#: 1024 products of int8 values sum to at most 2^24 in magnitude: exact in float32.
MAX_EXACT_TERMS = 1024
DST, SRC, WGT = 0, 1, 2


def wrap_int32(value: int) -> np.int32:
    return np.int32((value + (1 << 31)) % (1 << 32) - (1 << 31))


def tile_set(grid: Grid, dims: tuple[Dimension, ...]) -> slice | None:
    """The destination tiles of `grid` over `dims` as a slice, when they are an arithmetic
    progression hit once each (found from the steps alone); None when that takes index arrays."""
    if len(grid.bases) != 1:
        return None
    loops = sorted(((d.extent, d.step[DST]) for d in dims), key=lambda loop: -loop[1])
    return progression(int(grid.bases[0, DST]), loops)


def strided_tiles(buffer: np.ndarray, origin: int, axes: list[tuple[int, int]]) -> np.ndarray:
    """A view of `buffer` starting at tile `origin`, with (extent, byte stride) axes (numpy
    checks that the view stays inside the buffer)."""
    return np.ndarray(tuple(e for e, _ in axes), buffer.dtype, buffer=buffer,
                      offset=origin * buffer[0].nbytes, strides=tuple(s for _, s in axes))


class ResetPlan:
    """GEMM with reset_reg: ACC and OUT of every destination tile become 0."""

    nbytes = 0

    def __init__(self, sram: Sram, destinations: slice | np.ndarray):
        self.sram, self.destinations = sram, destinations

    def run(self) -> None:
        self.sram.acc[self.destinations] = 0
        self.sram.out[self.destinations] = 0


class ProductPlan:
    """An accumulating GEMM as products of (G·P) pairs of (M × K) and (K × N) or (N × K)
    matrices."""

    def __init__(self, config: Config, sram: Sram, workspace: Workspace, grid: Grid):
        self.sram, self.workspace = sram, workspace
        batch, block_in, block_out = config.batch, config.block_in, config.block_out
        repeat = [d for d in grid.dims if not any(d.step)]
        dims = [d for d in grid.dims if any(d.step)]
        self.multiplier = wrap_int32(math.prod(d.extent for d in repeat))
        k_dims = tuple(d for d in dims if d.step[DST] == 0)
        m_dims = tuple(d for d in dims if d.step[DST] and d.step[WGT] == 0)
        n_dims = tuple(d for d in dims if d.step[DST] and d.step[WGT] and d.step[SRC] == 0)
        p_dims = tuple(d for d in dims if d.step[DST] and d.step[WGT] and d.step[SRC])
        extents = lambda ds: tuple(d.extent for d in ds)  # noqa: E731
        groups = len(grid.bases)
        self.batches = groups * math.prod(extents(p_dims))
        self.rows = math.prod(extents(m_dims)) * batch
        self.cols = math.prod(extents(n_dims)) * block_out
        reduction = math.prod(extents(k_dims))
        self.terms = reduction * block_in
        self.chunks = math.ceil(self.terms / MAX_EXACT_TERMS)
        chunk_tiles = math.ceil(reduction / self.chunks)
        self.padded = self.chunks * chunk_tiles * block_in
        lead = (groups,) + extents(p_dims)
        self.a_shape = lead + extents(m_dims) + (batch,) + extents(k_dims) + (block_in,)
        # BLAS multiplies by B ~10-20 % faster held as (K, N) than as (N, K), but gathering it
        # transposed costs about twice as much: (K, N) where B is the smaller operand (weights
        # reused by many rows, as in a convolution), (N, K) otherwise. b_axes orders the
        # (N, K)-ordered source view as it is gathered.
        self.b_rows = self.cols <= self.rows  # B held as (K, N)
        self.b_shape = lead + extents(n_dims) + (block_out,) + extents(k_dims) + (block_in,)
        n_axes, k_axes, first = len(n_dims) + 1, len(k_dims) + 1, len(lead)
        self.b_axes = tuple(range(len(self.b_shape)))
        if self.b_rows:
            self.b_axes = (self.b_axes[:first] + self.b_axes[first + n_axes:]
                           + self.b_axes[first:first + n_axes])
            self.b_shape = tuple(self.b_shape[axis] for axis in self.b_axes)
        self.c_shape = lead + extents(m_dims) + (batch,) + extents(n_dims) + (block_out,)
        # BLAS is faster with the longer side as the product's rows: where B has more rows
        # than A (and is held as (N, K)), a strided plan computes Cᵀ = B · Aᵀ (c_axes puts it
        # back in C's axis order as it is added to ACC).
        self.transposed = False
        self.ct_shape = lead + extents(n_dims) + (block_out,) + extents(m_dims) + (batch,)
        m_axes = len(m_dims) + 1
        self.c_axes = (tuple(range(first)) + tuple(range(first + n_axes, first + n_axes + m_axes))
                       + tuple(range(first, first + n_axes)))
        self.operands = {  # zero padding beyond `terms` is never overwritten
            MemoryType.INP: np.zeros((self.batches, self.rows, self.padded), np.float32),
            MemoryType.WGT: np.zeros((self.batches, self.padded, self.cols) if self.b_rows
                                     else (self.batches, self.cols, self.padded), np.float32)}
        for operand in self.operands.values():
            operand.fill(0)  # its pages mapped when it is planned, not in its first run
        a, b = self.operands[MemoryType.INP], self.operands[MemoryType.WGT]
        if self.padded > self.terms:
            a = a[..., :self.terms]
            b = b[:, :self.terms] if self.b_rows else b[..., :self.terms]
        #: The operand matrices as the tiles' axes (views), which a refresh fills.
        self.tiles = {MemoryType.INP: np.reshape(a, self.a_shape, copy=False),
                      MemoryType.WGT: np.reshape(b, self.b_shape, copy=False)}
        self.generations = dict.fromkeys(self.operands, -1)
        if tile_set(grid, p_dims + m_dims + n_dims) is not None:
            self.strided = True
        else:
            destinations = expand(grid, p_dims + m_dims + n_dims, DST).reshape(-1)
            injective = len(sorted_unique(destinations)) == len(destinations)
            self.strided = groups == 1 and injective
        if self.strided:
            self.transposed = self.chunks == 1 and not self.b_rows
            self._plan_views(grid.bases[0], p_dims, m_dims, n_dims, k_dims)
        else:
            self._plan_gather(grid, p_dims, m_dims, n_dims, k_dims, destinations, injective)
        self.scratch()

    # -- planning -------------------------------------------------------------------------
    def _plan_views(self, origin, p_dims, m_dims, n_dims, k_dims) -> None:
        sram = self.sram
        lane = lambda buffer: buffer.itemsize  # noqa: E731
        tile = lambda buffer: buffer.shape[1] * buffer.shape[2] * buffer.itemsize  # noqa: E731

        def axes(buffer, component, outer, inner):
            t, step = tile(buffer), lambda d: d.step[component] * t  # noqa: E731
            return ([(1, 0)] + [(d.extent, step(d)) for d in p_dims + outer]
                    + [(buffer.shape[1], buffer.shape[2] * lane(buffer))]
                    + [(d.extent, step(d)) for d in inner] + [(buffer.shape[2], lane(buffer))])

        a_view = strided_tiles(sram.inp, origin[SRC], axes(sram.inp, SRC, m_dims, k_dims))
        b_view = strided_tiles(sram.wgt, origin[WGT], axes(sram.wgt, WGT, n_dims, k_dims))
        self.sources = {MemoryType.INP: a_view, MemoryType.WGT: b_view.transpose(self.b_axes)}
        acc_view = strided_tiles(sram.acc, origin[DST], axes(sram.acc, DST, m_dims, n_dims))
        out_view = strided_tiles(sram.out, origin[DST], axes(sram.out, DST, m_dims, n_dims))
        # The C axes in the accumulators' memory order (largest stride first): the product is
        # added through long contiguous runs of ACC rather than runs of one tile.
        self.c_order = tuple(np.argsort([-stride for stride in acc_view.strides], kind="stable"))
        self.acc_view = acc_view.transpose(self.c_order)
        self.out_view = out_view.transpose(self.c_order)
        if self.transposed:  # Cᵀ's axes to C's, then to memory order
            self.c_order = tuple(self.c_axes[axis] for axis in self.c_order)

    def _plan_gather(self, grid, p_dims, m_dims, n_dims, k_dims, destinations, injective) -> None:
        self.a_index = expand(grid, p_dims + m_dims + k_dims, SRC)
        self.b_index = expand(grid, p_dims + n_dims + k_dims, WGT)
        self.lane_axis = 1 + len(p_dims) + len(m_dims)       # the batch lane of A and C
        self.col_lane_axis = 1 + len(p_dims) + len(n_dims)   # the block_out lane of B
        if injective:
            self.destinations, self.order, self.starts = destinations, None, None
        else:
            self.order = np.argsort(destinations, kind="stable")
            ordered = destinations[self.order]
            self.starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
            self.destinations = ordered[self.starts]

    # -- execution ------------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        """Bytes of the operand matrices this plan keeps."""
        return sum(operand.nbytes for operand in self.operands.values())

    def _operand(self, memory_type: MemoryType) -> np.ndarray:
        """The float32 matrix of INP, A (batches, rows, padded), or of WGT, B (batches, padded,
        cols) or (batches, cols, padded) (`b_rows`), refreshed from the buffer only when it
        changed since this plan last read it."""
        generation = self.sram.generation[memory_type]
        if self.generations[memory_type] != generation:
            if self.strided:
                source = self.sources[memory_type]
            elif memory_type == MemoryType.INP:
                source = np.moveaxis(self.sram.inp[self.a_index], -2, self.lane_axis)
            else:
                source = np.moveaxis(self.sram.wgt[self.b_index], -2,
                                     self.col_lane_axis).transpose(self.b_axes)
            np.copyto(self.tiles[memory_type], source)
            self.generations[memory_type] = generation
        return self.operands[memory_type]

    def scratch(self) -> None:
        """Allocate the workspace arrays a run of this plan uses (when it is planned)."""
        shape = (self.batches, self.rows, self.cols)
        if self.transposed:
            self.workspace.get("partial_t", (self.batches, self.cols, self.rows), np.float32)
        elif self.chunks == 1:
            self.workspace.get("partial", shape, np.float32)
        else:
            chunked = (self.batches, self.chunks, self.rows, self.cols)
            self.workspace.get("partial", chunked, np.float32)
            self.workspace.get("partial_int", chunked, np.int32)
        if self.chunks > 1 or self.multiplier != 1 or not self.strided:
            self.workspace.get("product", shape, np.int32)

    def run(self) -> None:
        product = self._product(self._operand(MemoryType.INP), self._operand(MemoryType.WGT))
        if self.multiplier != 1 or not self.strided:
            product = self._exact_int32(product)
            if self.multiplier != 1:
                np.multiply(product, self.multiplier, out=product)
        if self.strided:  # float32 products hold exact integers: cast, then add with wrap-around
            product = product.reshape(self.ct_shape if self.transposed else self.c_shape)
            np.add(self.acc_view, product.transpose(self.c_order),
                   out=self.acc_view, dtype=np.int32, casting="unsafe")
            np.copyto(self.out_view, self.acc_view, casting="unsafe")
        else:
            self._scatter(product)

    def _exact_int32(self, product: np.ndarray) -> np.ndarray:
        if product.dtype == np.int32:
            return product
        result = self.workspace.get("product", product.shape, np.int32)
        np.copyto(result, product, casting="unsafe")
        return result

    def _product(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(batches, rows, cols) = a · b (a · bᵀ for B held as (N, K)), or (batches, cols, rows)
        = b · aᵀ for a `transposed` plan; exact: float32 holding integers when the reduction
        fits one chunk, else int32 chunk sums with wrap-around."""
        ws, shape = self.workspace, (self.batches, self.rows, self.cols)
        if self.transposed:  # (batches, cols, rows) = b · aᵀ
            partial = ws.get("partial_t", (self.batches, self.cols, self.rows), np.float32)
            np.matmul(b, a.transpose(0, 2, 1), out=partial)
            return partial
        if self.chunks == 1:
            partial = ws.get("partial", shape, np.float32)
            np.matmul(a, b if self.b_rows else b.transpose(0, 2, 1), out=partial)
            return partial
        result = ws.get("product", shape, np.int32)
        width = self.padded // self.chunks
        chunked = (self.batches, self.chunks, self.rows, self.cols)
        partial = ws.get("partial", chunked, np.float32)
        a_chunks = a.reshape(self.batches, self.rows, self.chunks, width).transpose(0, 2, 1, 3)
        b_chunks = (b.reshape(self.batches, self.chunks, width, self.cols) if self.b_rows else
                    b.reshape(self.batches, self.cols, self.chunks, width).transpose(0, 2, 3, 1))
        np.matmul(a_chunks, b_chunks, out=partial)
        exact = ws.get("partial_int", chunked, np.int32)
        np.copyto(exact, partial, casting="unsafe")
        np.add.reduce(exact, axis=1, dtype=np.int32, out=result)
        return result

    def _scatter(self, product: np.ndarray) -> None:
        acc, out = self.sram.acc, self.sram.out
        tiles = np.moveaxis(product.reshape(self.c_shape), self.lane_axis, -2)
        tiles = tiles.reshape((-1,) + acc.shape[1:])
        if self.order is not None:
            tiles = np.add.reduceat(tiles[self.order], self.starts, axis=0, dtype=np.int32)
        acc[self.destinations] += tiles
        out[self.destinations] = acc[self.destinations].astype(np.int8)


class GemmEngine:
    """Plans (cached) and runs GEMM instructions on one core's buffers."""

    def __init__(self, config: Config, sram: Sram, workspace: Workspace):
        self.config, self.sram, self.workspace = config, sram, workspace
        self.sizes = Sizes.of(config)
        self.plans = PlanCache()

    def execute(self, insn: DecodedInstruction) -> None:
        f = insn.fields
        if f["iter_out"] and f["iter_in"] and f["uop_end"] > f["uop_bgn"]:
            self.plans.plan(insn, self.sram, lambda words: self._plan(insn, words)).run()

    def prepare(self, insn: DecodedInstruction) -> None:
        """Plan `insn` over the micro-ops now in UOP memory, as its execution would."""
        f = insn.fields
        if f["iter_out"] and f["iter_in"] and f["uop_end"] > f["uop_bgn"]:
            self.plans.plan(insn, self.sram, lambda words: self._plan(insn, words))

    def _plan(self, insn: DecodedInstruction, words: np.ndarray) -> ResetPlan | ProductPlan:
        fields = self.sizes.uop_layout.unpack_array(words)
        check_loop_indices(insn, self.sram.uop, self.sizes, fields)
        f = insn.fields
        uops = np.stack([fields["dst_idx"], fields["src_idx"], fields["wgt_idx"]], axis=1)
        loops = [Dimension(f[f"iter_{level}"], tuple(f[f"{operand}_factor_{level}"]
                                                     for operand in ("dst", "src", "wgt")))
                 for level in ("out", "in")]
        grid = loop_grid(uops, loops)
        if f["reset_reg"]:
            moving = tuple(d for d in grid.dims if d.step[DST])
            tiles = tile_set(grid, moving)
            if tiles is None:
                tiles = compact_index(sorted_unique(expand(grid, moving, DST).reshape(-1)))
            return ResetPlan(self.sram, tiles)
        return ProductPlan(self.config, self.sram, self.workspace, grid)
