"""Factoring micro-op tables × loops into affine grids: the grid is the same set of executions."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vta.simulator.functional.affine import (Dimension, compact_index, expand, factor_sequence,
                                             loop_grid, progression, sorted_unique)


def executions(grid) -> list[tuple[int, ...]]:
    """Every execution of a grid, as sorted index vectors (a multiset)."""
    columns = [expand(grid, grid.dims, c).reshape(-1) for c in range(grid.bases.shape[1])]
    return sorted(zip(*(column.tolist() for column in columns)))


def expected_executions(uops: np.ndarray, loops: list[Dimension]) -> list[tuple[int, ...]]:
    points = [tuple(u) for u in uops.tolist()]
    for loop in loops:
        points = [tuple(p + k * s for p, s in zip(point, loop.step))
                  for point in points for k in range(loop.extent)]
    return sorted(points)


@st.composite
def tables(draw):
    """Micro-op tables (n, 3): affine grids (maybe shuffled or with noise) or random."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["grid", "shuffled", "noisy", "random"]))
    if kind == "random":
        return rng.integers(0, 50, (draw(st.integers(1, 30)), 3))
    extents = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    steps = rng.integers(-4, 5, (len(extents), 3))
    grid = np.zeros((1, 3), np.int64)
    for extent, step in zip(extents, steps):
        grid = (grid[:, None, :] + np.arange(extent)[None, :, None] * step).reshape(-1, 3)
    grid = grid - grid.min(axis=0) + rng.integers(0, 10, 3)
    if kind == "shuffled":
        grid = grid[rng.permutation(len(grid))]
    elif kind == "noisy":
        grid[rng.integers(0, len(grid))] += rng.integers(1, 3, 3)
    return grid


loops_strategy = st.lists(st.builds(Dimension, st.integers(0, 4),
                                    st.tuples(*[st.integers(0, 6)] * 3)), max_size=2)


@settings(max_examples=300, deadline=None)
@given(uops=tables(), loops=loops_strategy)
def test_grid_holds_exactly_the_executions(uops, loops):
    grid = loop_grid(uops, loops)
    if any(loop.extent == 0 for loop in loops):
        assert expected_executions(uops, loops) == []
    else:
        assert executions(grid) == expected_executions(uops, loops)
        assert grid.size == len(uops) * int(np.prod([loop.extent for loop in loops]))


def test_regular_tables_leave_no_residual():
    conv = np.array([(w, c * 232 + kh * 58 + kw + w, (c * 3 + kh) * 3 + kw)
                     for kh in range(3) for kw in range(3) for c in range(4) for w in range(56)])
    grid = factor_sequence(conv)
    assert len(grid.bases) == 1
    assert [d.extent for d in grid.dims] == [56, 4, 3, 3]
    shuffled = conv[np.random.default_rng(0).permutation(len(conv))]
    assert len(loop_grid(shuffled, []).bases) == 1  # sorting recovers the structure


def test_irregular_tables_keep_their_points_as_bases():
    points = np.array([[0, 5, 1], [3, 1, 1], [1, 1, 7]])
    grid = factor_sequence(points)
    assert grid.dims == () and (grid.bases == points).all()


def test_compact_index():
    assert compact_index(np.array([4, 6, 8])) == slice(4, 10, 2)
    assert compact_index(np.array([7])) == slice(7, 8, 1)
    assert isinstance(compact_index(np.array([3, 2, 1])), np.ndarray)
    assert isinstance(compact_index(np.array([1, 2, 4])), np.ndarray)


@settings(max_examples=300, deadline=None)
@given(base=st.integers(0, 20),
       loops=st.lists(st.tuples(st.integers(1, 4), st.integers(-2, 9)), max_size=3))
def test_progression_is_the_loop_indices_in_order(base, loops):
    indices = [base]
    for extent, step in loops:
        indices = [i + k * step for i in indices for k in range(extent)]
    found = progression(base, loops)
    ordered = compact_index(np.array(indices))
    if isinstance(ordered, slice):
        assert found == ordered
    else:
        assert found is None


@given(values=st.lists(st.integers(-5, 5), max_size=12))
def test_sorted_unique_is_numpy_unique(values):
    array = np.array(values, dtype=np.int64)
    assert sorted_unique(array).tolist() == np.unique(array).tolist()
