"""Requantization on the VTA ALU: the ALU arithmetic against Python integers, and the chosen
steps against exact rational rounding."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vta.compiler.requantize import IMM_MAX, alu, plan, run_steps
from vta.isa import AluOp, VtaError

int32 = st.integers(-2**31, 2**31 - 1)


def to_int32(value: int) -> int:
    return (value + 2**31) % 2**32 - 2**31


def python_alu(op: AluOp, a: int, b: int) -> int:
    """Reference §4.4 written with Python integers."""
    if op == AluOp.MIN:
        return min(a, b)
    if op == AluOp.MAX:
        return max(a, b)
    if op == AluOp.ADD:
        return to_int32(a + b)
    if op == AluOp.SHR:
        s = (b & 31) - 32 if b & 16 else b & 31
        return a >> s if s >= 0 else to_int32(a << -s)
    m = (b & 0xFFFF) - 0x10000 if b & 0x8000 else b & 0xFFFF
    return to_int32(a * m)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(AluOp)), int32, int32)
def test_alu_matches_reference_semantics(op, a, b):
    assert int(alu(op, np.array([a]), np.array([b]))[0]) == python_alu(op, a, b)


def exact(acc: int, multiplier: float, zero_point: int, lo: int, hi: int) -> int:
    """clamp(round_half_up(acc × M) + zp, lo, hi) in exact rational arithmetic."""
    product = Fraction(acc) * Fraction(multiplier)
    rounded = (product + Fraction(1, 2)).__floor__()
    return min(max(rounded + zero_point, lo), hi)


@settings(max_examples=150, deadline=None)
@given(st.floats(2.0**-24, 4.0), st.integers(-128, 127), st.integers(0, 2**30),
       st.lists(st.integers(-2**31, 2**31 - 1), min_size=1, max_size=64))
def test_multiply_requantization_is_within_one_step_and_never_overflows(multiplier, zero_point,
                                                                         bound, accs):
    accs = np.clip(np.array(accs, dtype=np.int64), -bound, bound)
    requant = plan(multiplier, zero_point=zero_point, acc_bound=bound, alu_mul=True, where="t")
    got = run_steps(requant.steps, accs)
    want = np.array([exact(int(a), multiplier, zero_point, -128, 127) for a in accs])
    assert np.abs(got - want).max() <= 1
    for step in requant.steps:
        assert np.all(np.abs(step.operand) <= IMM_MAX)
        if step.op == AluOp.SHR:
            assert np.all((-16 <= step.operand) & (step.operand <= 15))
        if step.op == AluOp.MUL:
            assert np.all((0 < step.operand) & (step.operand < 2**15))


def test_multiply_requantization_is_exact_away_from_ties():
    """The steps round half up like floor(acc × M + 1/2), but for ties and 15-bit rounding."""
    multiplier = 0.0123456
    accs = np.arange(-20000, 20000, 7)
    requant = plan(multiplier, zero_point=3, acc_bound=20000, alu_mul=True, where="t")
    got = run_steps(requant.steps, accs)
    want = np.clip(np.floor(accs * multiplier + 0.5) + 3, -128, 127)
    assert np.mean(got == want) > 0.999
    assert np.abs(got - want).max() <= 1


def test_per_channel_multipliers_get_per_channel_operands():
    multipliers = np.array([0.5, 0.001, 0.02, 3e-5]).reshape(4, 1, 1)
    requant = plan(multipliers, zero_point=-128, acc_bound=np.full((4, 1, 1), 10**6), alu_mul=True,
                   where="t")
    accs = np.random.default_rng(0).integers(-10**6, 10**6, (2, 4, 5, 5))
    got = requant(accs)
    want = np.clip(np.floor(accs * multipliers + 0.5) - 128, -128, 127)
    assert np.abs(got - want).max() <= 1
    assert any(not step.uniform for step in requant.steps)


def test_clamp_holds_relu6():
    requant = plan(0.01, zero_point=-128, lo=-128, hi=-28, acc_bound=10**5, alu_mul=True, where="t")
    got = requant(np.array([-5000, 0, 5000, 20000]))
    assert got.tolist() == [-128, -128, -78, -28]


def test_power_of_two_multiplier_uses_shifts_only():
    for alu_mul in (True, False):
        requant = plan(2.0**-9, zero_point=5, acc_bound=2**20, alu_mul=alu_mul, where="t")
        assert all(step.op != AluOp.MUL for step in requant.steps)
        accs = np.arange(-2**17, 2**17, 97)
        want = np.clip(np.floor(accs / 512 + 0.5) + 5, -128, 127)
        assert np.array_equal(requant(accs), want)


def test_left_shift_power_of_two_is_clamped_not_wrapped():
    requant = plan(4.0, zero_point=0, acc_bound=2**31 - 1, alu_mul=False, where="t")
    accs = np.array([-2**31, -40, -3, 0, 31, 32, 2**30, 2**31 - 1])
    assert requant(accs).tolist() == [-128, -128, -12, 0, 124, 127, 127, 127]


def test_shift_only_config_rejects_other_scales_naming_the_node():
    with pytest.raises(VtaError, match=r"^node conv7: .*not a power of two.*ALU_MUL"):
        plan(0.0123, zero_point=0, acc_bound=1000, alu_mul=False, where="node conv7")
