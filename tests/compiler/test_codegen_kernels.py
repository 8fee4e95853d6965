"""Micro-kernel loop choice: the chosen loops and micro-ops enumerate exactly the requested loop
nest, and the hazard check agrees with a brute-force expansion."""

import itertools
from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vta.compiler.uop_kernels import Dim, _hazard_free, choose_loops

dims_strategy = st.lists(st.builds(Dim, st.integers(1, 5), st.integers(0, 7), st.integers(0, 9),
                                   st.integers(0, 3)), min_size=0, max_size=5)


def expand(dims, base):
    """Every (dst, src, wgt) of the nest, outermost level first."""
    ranges = [range(d.extent) for d in dims]
    return [tuple(b + sum(i * d.steps[c] for i, d in zip(index, dims)) for c, b in enumerate(base))
            for index in itertools.product(*ranges)]


def expand_choice(p):
    out = []
    for i in range(p.outer.extent):
        for j in range(p.inner.extent):
            for dst, src, wgt in p.uops.tolist():
                out.append((dst + i * p.outer.dst + j * p.inner.dst,
                            src + i * p.outer.src + j * p.inner.src,
                            wgt + i * p.outer.wgt + j * p.inner.wgt))
    return out


def brute_hazard_free(sequence):
    dst = [d for d, _, _ in sequence]
    return all(dst[k] not in dst[max(k - 2, 0):k] for k in range(len(dst)))


@settings(max_examples=300, deadline=None)
@given(dims_strategy, st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(0, 20)))
def test_chosen_loops_cover_the_nest_without_hazards(dims, base):
    chosen = choose_loops(dims, base, check_hazard=True)
    wanted = Counter(expand(dims, base))
    if chosen is None:
        # no order is hazard-free: then not even the requested order is
        assert not brute_hazard_free(expand(dims, base)) or not dims
        return
    executed = expand_choice(chosen)
    assert Counter(executed) == wanted
    assert brute_hazard_free(executed)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=6), st.builds(Dim, st.integers(1, 4),
       st.integers(0, 6)), st.builds(Dim, st.integers(1, 4), st.integers(0, 6)))
def test_hazard_check_matches_brute_force(dst, outer, inner):
    sequence = [(d + i * outer.dst + j * inner.dst, 0, 0) for i in range(outer.extent)
                for j in range(inner.extent) for d in dst]
    assert _hazard_free(np.array(dst), outer, inner) == brute_hazard_free(sequence)
