"""Requantization on the VTA ALU (its lane arithmetic is `vta.isa.alu`, checked in
tests/isa/test_alu.py): the chosen steps against exact rational rounding (plans may round off by at most 1/32 step for the
pre-shift and 1/64 for the multiplier, the documented budget)."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vta.compiler.requantize import (IMM_MAX, AluStep, alu, alu_cycles, monotone, plan_add,
                                     plan_requantization, run_steps)
from vta.isa import AluOp, VtaError

int32 = st.integers(-2**31, 2**31 - 1)


#: The documented error budget of a plan beyond exact rounding (pre-shift 1/32, multiplier
#: 1/64), in 64ths of an output step.
SLACK_64THS = 3


def admissible(accs: np.ndarray, multiplier: float, zero_point: int, lo: int, hi: int):
    """Per accumulator, the lowest and highest output a plan may give: clamp(floor(acc·M + zp +
    1/2 ∓ slack)), in exact integer arithmetic (M is a binary fraction num / den)."""
    num, den = Fraction(multiplier).as_integer_ratio()
    scaled = np.array(accs, dtype=object) * (64 * num)
    bounds = [(scaled + (64 * zero_point + 32 + sign * SLACK_64THS) * den) // (64 * den)
              for sign in (-1, 1)]
    return [np.clip(b.astype(np.int64), lo, hi) for b in bounds]


def check_operands(steps) -> None:
    for step in steps:
        assert np.all(np.abs(step.operand) <= IMM_MAX)
        if step.op == AluOp.SHR:
            assert np.all((-16 <= step.operand) & (step.operand <= 15))
        if step.op == AluOp.MUL:
            assert np.all((0 < step.operand) & (step.operand < 2**15))


@settings(max_examples=200, deadline=None)
@given(st.floats(2.0**-24, 4.0), st.lists(st.floats(1.0, 16.0), min_size=1, max_size=4),
       st.integers(-128, 127), st.booleans(), st.integers(0, 2**31 - 1), st.booleans(),
       st.integers(-128, 127))
def test_multiply_requantization_is_within_budget_and_never_overflows(
        base, spreads, zero_point, relu, bound, absorb, target):
    """Per channel, a dense run of accumulators around the output `target` (where the outputs
    change), and the extremes ±bound."""
    multiplier = base * np.array(spreads)
    lo = zero_point if relu else -128
    centers = np.clip(np.round((target - zero_point) / multiplier), -bound, bound).astype(np.int64)
    accs = np.clip(np.r_[-1000:1000][:, None] + centers, -bound, bound)
    accs = np.vstack([accs, np.full((2, multiplier.size), [[-bound], [bound]])])
    requant = plan_requantization(multiplier, zero_point=zero_point, lo=lo, acc_bound=bound,
                                  alu_mul=True, where="t", absorb=absorb)
    got = requant(accs)
    check_operands(requant.steps)
    assert absorb or not np.any(requant.offset)
    assert np.all(np.abs(requant.offset) + bound < 2**31)
    for channel, m in enumerate(multiplier):
        low, high = admissible(accs[:, channel], float(m), zero_point, lo, 127)
        assert np.all((low <= got[:, channel]) & (got[:, channel] <= high))


def test_typical_layer_needs_no_add_when_a_bias_absorbs_the_offset():
    """M ≈ 1/100 after a ReLU: the rounding and the zero point go into the offset (a bias), so no
    ADD remains, and at most a clamp, MUL, two SHR and the saturation are left."""
    multiplier = 0.0123456
    accs = np.arange(-2**20, 2**20, 3)
    requant = plan_requantization(multiplier, zero_point=-128, acc_bound=2**20, alu_mul=True,
                                  where="t", absorb=True)
    assert requant.offset != 0 and all(step.op != AluOp.ADD for step in requant.steps)
    assert alu_cycles(requant.steps) <= 7
    low, high = admissible(accs, multiplier, -128, -128, 127)
    assert np.all((low <= requant(accs)) & (requant(accs) <= high))


def test_close_per_channel_multipliers_share_their_shifts():
    """Multipliers within a factor 2 keep m ≥ 2^13 under one total shift: only MUL varies."""
    multipliers = np.array([1.0e-3, 1.3e-3, 1.6e-3, 1.9e-3])
    requant = plan_requantization(multipliers.reshape(4, 1, 1), zero_point=-128, acc_bound=2**20,
                                  alu_mul=True, where="t", absorb=True)
    assert [step.op for step in requant.steps if not step.uniform] == [AluOp.MUL]
    centers = np.round(np.array([-1, 100]) / multipliers[:, None]).astype(np.int64)   # (4, 2)
    for channel, m in enumerate(multipliers):
        accs = (centers[channel][:, None] + np.arange(-3000, 3000)).ravel()
        lanes = np.zeros((accs.size, 4), np.int64)
        lanes[:, channel] = accs
        got = requant(lanes.reshape(-1, 4, 1, 1))[:, channel, 0, 0]
        low, high = admissible(accs, float(m), -128, -128, 127)
        assert np.all((low <= got) & (got <= high))


def test_multiply_requantization_is_exact_away_from_ties():
    """The steps round half up like floor(acc × M + 1/2), but for ties and 15-bit rounding."""
    multiplier = 0.0123456
    accs = np.arange(-20000, 20000, 7)
    requant = plan_requantization(multiplier, zero_point=3, acc_bound=20000, alu_mul=True,
                                  where="t")
    got = run_steps(requant.steps, accs)
    want = np.clip(np.floor(accs * multiplier + 0.5) + 3, -128, 127)
    assert np.mean(got == want) > 0.999
    assert np.abs(got - want).max() <= 1


def test_per_channel_multipliers_get_per_channel_operands():
    multipliers = np.array([0.5, 0.001, 0.02, 3e-5]).reshape(4, 1, 1)
    requant = plan_requantization(multipliers, zero_point=-128, acc_bound=np.full((4, 1, 1), 10**6),
                                  alu_mul=True, where="t")
    accs = np.random.default_rng(0).integers(-10**6, 10**6, (2, 4, 5, 5))
    got = requant(accs)
    want = np.clip(np.floor(accs * multipliers + 0.5) - 128, -128, 127)
    assert np.abs(got - want).max() <= 1
    assert any(not step.uniform for step in requant.steps)


def test_clamp_holds_relu6():
    requant = plan_requantization(0.01, zero_point=-128, lo=-128, hi=-28, acc_bound=10**5,
                                  alu_mul=True, where="t")
    got = requant(np.array([-5000, 0, 5000, 20000]))
    assert got.tolist() == [-128, -128, -78, -28]


def test_power_of_two_multiplier_uses_shifts_only():
    for alu_mul in (True, False):
        requant = plan_requantization(2.0**-9, zero_point=5, acc_bound=2**20, alu_mul=alu_mul,
                                      where="t")
        assert all(step.op != AluOp.MUL for step in requant.steps)
        accs = np.arange(-2**17, 2**17, 97)
        want = np.clip(np.floor(accs / 512 + 0.5) + 5, -128, 127)
        assert np.array_equal(requant(accs), want)


def test_power_of_two_multiplier_with_a_bias_is_one_shift():
    requant = plan_requantization(2.0**-9, zero_point=5, acc_bound=2**20, alu_mul=True, where="t",
                                  absorb=True)
    assert [step.op for step in requant.steps] == [AluOp.SHR, AluOp.MAX, AluOp.MIN]
    accs = np.arange(-2**17, 2**17, 97)
    assert np.array_equal(requant(accs), np.clip(np.floor(accs / 512 + 0.5) + 5, -128, 127))


def test_left_shift_power_of_two_is_clamped_not_wrapped():
    requant = plan_requantization(4.0, zero_point=0, acc_bound=2**31 - 1, alu_mul=False, where="t")
    accs = np.array([-2**31, -40, -3, 0, 31, 32, 2**30, 2**31 - 1])
    assert requant(accs).tolist() == [-128, -128, -12, 0, 124, 127, 127, 127]


def test_shift_only_config_rejects_other_scales_naming_the_node():
    with pytest.raises(VtaError, match=r"^node conv7: .*not a power of two.*ALU_MUL"):
        plan_requantization(0.0123, zero_point=0, acc_bound=1000, alu_mul=False, where="node conv7")


def add_bounds(a, b, scales, zero_points, scale, zero_point, lo, slack_64ths=2):
    """Lowest and highest output admissible for y = (sa(a − za) + sb(b − zb)) / sy + zy within
    `slack_64ths`/64 of a step of exact rounding, in exact integer arithmetic."""
    fractions = [Fraction(s) for s in (*scales, scale)]
    common = np.lcm.reduce([f.denominator for f in fractions])
    pa, pb, py = (int(f * common) for f in fractions)
    total = (np.array(a - zero_points[0], dtype=object) * (64 * pa)
             + np.array(b - zero_points[1], dtype=object) * (64 * pb))
    return [np.clip(((total + (64 * zero_point + 32 + sign * slack_64ths) * py) // (64 * py))
                    .astype(np.int64), lo, 127) for sign in (-1, 1)]


def run_add(steps_a, steps_b, requant, a, b):
    return requant(run_steps(steps_a, a).astype(np.int64) + run_steps(steps_b, b))


ALL_A, ALL_B = (grid.ravel() for grid in np.meshgrid(np.arange(-128, 128), np.arange(-128, 128)))


@settings(max_examples=40, deadline=None)
@given(st.floats(0.01, 0.2), st.floats(0.01, 0.2), st.floats(0.5, 3.0),
       st.integers(-128, 127), st.integers(-128, 127), st.integers(-128, 127), st.booleans())
def test_add_is_two_multiplies_and_one_shift_within_1_32_step(sa, sb, factor, za, zb, zy, relu):
    """Every int8 pair: y = clamp((ka·a + kb·b + C) >> s) stays within 1/32 step of exact
    rounding, and costs at most 9 ALU cycles (the sum's ADD of two ACC operands counts 2)."""
    scale, lo = max(sa, sb) * factor, zy if relu else -128
    steps_a, steps_b, requant = plan_add((sa, sb), (za, zb), scale=scale, zero_point=zy, lo=lo,
                                         alu_mul=True, where="t")
    assert steps_a[-1].op == AluOp.MUL and steps_b[-1].op == AluOp.MUL
    assert [step.op for step in requant.steps].count(AluOp.SHR) == 1
    assert alu_cycles(steps_a) + alu_cycles(steps_b) + 2 + alu_cycles(requant.steps) <= 9
    for step in steps_a + steps_b + requant.steps:
        check_operands([step])
    got = run_add(steps_a, steps_b, requant, ALL_A, ALL_B)
    low, high = add_bounds(ALL_A, ALL_B, (sa, sb), (za, zb), scale, zy, lo)
    assert np.all((low <= got) & (got <= high))


def test_add_of_far_apart_scales_uses_a_common_scale():
    """sa / sy = 20000.5 / 2^10: ka = sa / sy · 2^10 would be off by 1/2, up to 131/2048 step for
    a − za; instead each operand minus its zero point is brought to a common scale first (so the
    scale's error counts only over the output range), then requantized (within 1/2 step)."""
    scales, zero_points = (0.125 * 20000.5 / 1024, 0.05), (3, -7)
    steps_a, steps_b, requant = plan_add(scales, zero_points, scale=0.125, zero_point=2,
                                         alu_mul=True, where="t")
    assert [step.op for step in steps_a + steps_b] == [AluOp.ADD, AluOp.MUL] * 2
    got = run_add(steps_a, steps_b, requant, ALL_A, ALL_B)
    low, high = add_bounds(ALL_A, ALL_B, scales, zero_points, 0.125, 2, -128, slack_64ths=32)
    assert np.all((low <= got) & (got <= high))


def test_add_without_multiply_shifts_power_of_two_scales_exactly():
    scales, zero_points = (0.25, 0.5), (3, -7)
    steps_a, steps_b, requant = plan_add(scales, zero_points, scale=1.0, zero_point=2,
                                         alu_mul=False, where="t")
    assert all(step.op != AluOp.MUL for step in steps_a + steps_b + requant.steps)
    got = run_add(steps_a, steps_b, requant, ALL_A, ALL_B)
    exact = add_bounds(ALL_A, ALL_B, scales, zero_points, 1.0, 2, -128, slack_64ths=0)[0]
    assert np.array_equal(got, exact)


def test_add_without_multiply_rejects_other_scales_naming_the_node():
    with pytest.raises(VtaError, match=r"^node add3: .*differ by no power of two.*ALU_MUL"):
        plan_add((0.3, 0.5), (0, 0), scale=1.0, zero_point=0, alu_mul=False, where="node add3")


@pytest.mark.parametrize("exponent, zero_point", [(0, 1), (-3, 5), (-10, 3), (-10, -128)])
def test_power_of_two_plans_never_wrap_at_the_int32_extremes(exponent, zero_point):
    """M = 2^e with accumulators up to ±(2^31 − 1): the zero point's ADD must not wrap them
    (a clamp first where it cannot change the output, else a shift first)."""
    accs = np.array([2**31 - 1, -(2**31 - 1), 2**31 - 2**14, 5000, -77777, 0, 1, -1])
    requant = plan_requantization(np.array([2.0**exponent]), zero_point=zero_point,
                                  acc_bound=2**31 - 1, alu_mul=True, where="t")
    exact = [min(max((Fraction(int(a)) * Fraction(2) ** exponent + Fraction(1, 2)) // 1
                     + zero_point, -128), 127) for a in accs]
    np.testing.assert_array_equal(requant(accs[:, None]).ravel(), exact)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([AluOp.ADD, AluOp.SHR, AluOp.MUL, AluOp.MIN,
                                           AluOp.MAX]), st.integers(-2**15, 2**15 - 1)),
                min_size=1, max_size=6),
       st.integers(0, 2**31 - 1))
def test_monotone_verdict_holds_on_the_whole_interval(program, reach):
    """Where `monotone` says so, running the steps (with the ALU's wrap-around) over
    accumulators spread across [−reach, reach] gives a non-decreasing result; a negative
    multiplier is never monotone."""
    steps = [(op, np.int64(operand)) for op, operand in program]
    accs = np.unique(np.r_[np.linspace(-reach, reach, 4001).astype(np.int64), -reach, reach])
    verdict = monotone(steps, np.int64(-reach), np.int64(reach))
    if verdict:
        out = run_steps(tuple(AluStep(op, operand) for op, operand in steps), accs)
        assert np.all(np.diff(out.astype(np.int64)) >= 0)
    if any(op == AluOp.MUL and operand < 0 for op, operand in program):
        assert not verdict
