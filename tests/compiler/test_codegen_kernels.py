"""Micro-kernel loop choice: the chosen loops and micro-ops enumerate exactly the requested loop
nest, and the hazard check agrees with a brute-force expansion; the kernels emitted for a nest
do at every base index."""

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vta.compiler import uop_kernels as uk
from vta.compiler.uop_kernels import Dim, _hazard_free, choose_loops
from vta.isa import AluOp, Config, FieldRangeError, VtaError, decode_uop
from vta.runtime.device import Device
from vta.runtime.stream import CommandStream

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


class Collecting(CommandStream):
    """A command stream that also keeps every kernel pushed."""

    def __init__(self, device):
        super().__init__(device)
        self.pushed = []

    def push_kernel(self, kernel):
        self.pushed.append(kernel)
        super().push_kernel(kernel)


def executed(kernel, config):
    """Every (dst, src, wgt) a pushed kernel's instruction executes, from its micro-op words
    decoded by the ISA layer and the loop fields of its instruction."""
    insn, out = kernel.instruction(0), []
    uops = [decode_uop(int(word), config) for word in kernel.words]
    wgt_out, wgt_in = getattr(insn, "wgt_factor_out", 0), getattr(insn, "wgt_factor_in", 0)
    for i in range(insn.iter_out):
        for j in range(insn.iter_in):
            out += [(u.dst_idx + i * insn.dst_factor_out + j * insn.dst_factor_in,
                     u.src_idx + i * insn.src_factor_out + j * insn.src_factor_in,
                     u.wgt_idx + i * wgt_out + j * wgt_in) for u in uops]
    return out


@settings(max_examples=150, deadline=None)
@given(dims_strategy, st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60),
                                         st.integers(0, 60)), min_size=1, max_size=4),
       st.sampled_from([uk.GEMM, uk.RESET, uk.alu(AluOp.ADD), uk.alu(AluOp.ADD, 3)]),
       st.integers(1, 8))
def test_emitted_kernels_execute_the_nest_at_every_base(dims, bases, op, max_uops):
    """The same nest emitted at several bases (kernels recorded once at base 0 and moved,
    `_Recorded.kernels`) executes exactly the nest's indices at each, as decoded from the
    micro-op words, without a write within the hazard window."""
    config = Config.preset("pynq")
    stream = Collecting(Device(config, "functional"))
    for base in bases:
        stream.pushed.clear()
        try:
            uk.emit(stream, dims, base, op, max_uops)
        except VtaError as error:
            assert "no hazard-free micro-kernel" in str(error)
            assert not brute_hazard_free(expand(dims, base))
            return
        wanted = expand(dims, base)
        if op.unit == uk.Unit.ALU:
            wanted = [(dst, src, 0) for dst, src, _ in wanted]
        runs = [executed(kernel, config) for kernel in stream.pushed]
        assert Counter(sum(runs, [])) == Counter(wanted)
        assert all(brute_hazard_free(run) for run in runs)


@pytest.mark.parametrize("dst", [1950, 2047])
def test_a_nest_past_the_micro_op_field_names_it(dst):
    """A nest whose micro-ops pass their dst field at this base is refused with the field
    named, though the same nest at base 0 was recorded (and would be moved) before."""
    config = Config.preset("pynq")
    stream = CommandStream(Device(config, "functional"))
    dims = [Dim(3, 5), Dim(3, 1), Dim(2, 100)]       # two loops, a level of two micro-ops
    uk.emit(stream, dims, (0, 0, 0), uk.GEMM, 8)
    with pytest.raises(FieldRangeError, match=r"field dst_idx = \d+ does not fit its 11 bits"):
        uk.emit(stream, dims, (dst, 0, 0), uk.GEMM, 8)
