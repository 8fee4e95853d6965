"""Requantization on the VTA ALU (its lane arithmetic is `vta.isa.alu`, checked in
tests/isa/test_alu_lane.py): the chosen programs against exact rational rounding — every result
within the plan's proven error bound (at most ERROR_BUDGET of an output step) of round half up,
no intermediate value leaving int32, scratch registers zeroed before use."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vta.compiler.alu_program import (IMM_MAX, AluStep, Register, alu_cycles, monotone,
                                      registers, run_steps, scratch_written)
from vta.compiler.requantize import plan_requantization
from vta.compiler.requantize_add import plan_add
from vta.compiler.requantize_multiply import ERROR_BUDGET
from vta.isa import AluOp, VtaError

def run_exactly(steps, acc: int, lane: int = 0) -> int:
    """Register 0 after `steps` on one lane, with Python integers (docs/isa-reference.md §4.4:
    MUL by its 16-bit operand, SHR by its signed 5-bit amount), asserting that every operand is
    in its field's range and no result leaves int32 (where the ALU would wrap)."""
    values = {0: acc}
    for step in steps:
        if isinstance(step.operand, Register):
            operand = values[step.operand.index]
        else:
            operand = int(np.ravel(step.operand)[lane if np.size(step.operand) > 1 else 0])
        current = values.get(step.register, 0)
        if step.op == AluOp.MUL:
            assert -2**15 <= operand < 2**15, step
            value = current * operand
        elif step.op == AluOp.SHR:
            assert -16 <= operand <= 15, step
            value = current >> operand if operand >= 0 else current << -operand
        else:
            value = {AluOp.ADD: current + operand, AluOp.MIN: min(current, operand),
                     AluOp.MAX: max(current, operand)}[step.op]
        assert -2**31 <= value < 2**31, f"{step} wraps"
        values[step.register] = value
    return values[0]


def admissible(acc: int, multiplier: float, zero_point: int, lo: int, hi: int, slack: float):
    """The outputs round half up may give for acc·M + zp moved by at most `slack` (exact)."""
    exact = Fraction(acc) * Fraction(multiplier) + zero_point + Fraction(1, 2)
    slack = Fraction(slack)
    return [min(max((exact + sign * slack) // 1, lo), hi) for sign in (-1, 1)]


def check_operands(steps) -> None:
    for step in steps:
        if isinstance(step.operand, Register):
            continue
        if step.op == AluOp.SHR:
            assert np.all((-16 <= step.operand) & (step.operand <= 15))
        if step.op == AluOp.MUL:
            assert np.all(np.abs(step.operand) <= IMM_MAX)
        assert np.all(np.abs(step.operand) < 2**31)
    assert scratch_written(steps)


@settings(max_examples=60, deadline=None)
@given(st.floats(2.0**-16, 4.0), st.lists(st.floats(1.0, 8.0), min_size=1, max_size=3),
       st.integers(-128, 127), st.sampled_from(["none", "relu", "relu6"]),
       st.integers(1, 2**31 - 2**16), st.data())
def test_multiply_plans_stay_within_their_bound_and_never_wrap(base, spreads, zero_point, clamp,
                                                               bound, data):
    """Per channel, accumulators where the outputs change (around a random output, and next to
    the saturation points), random ones and the extremes ±bound: every result is round half up
    of acc·M + zp moved by at most the plan's error, which is within ERROR_BUDGET."""
    multiplier = base * np.array(spreads)
    lo = zero_point if clamp != "none" else -128
    hi = min(zero_point + 40, 127) if clamp == "relu6" else 127
    requant = plan_requantization(multiplier, zero_point=zero_point, lo=lo, hi=hi,
                                  acc_bound=bound, alu_mul=True, where="t")
    check_operands(requant.steps)
    assert requant.error <= ERROR_BUDGET
    assert not np.any(requant.offset)
    for channel, m in enumerate(multiplier):
        target = data.draw(st.integers(lo, hi))
        centers = [round((target - zero_point) / m), round((lo - zero_point + 0.5) / m),
                   round((hi - zero_point - 0.5) / m)]
        accs = {-bound, bound, *data.draw(st.lists(st.integers(-bound, bound), max_size=20))}
        accs |= {c + d for c in centers for d in range(-40, 41) if -bound <= c + d <= bound}
        for acc in sorted(accs):
            got = run_exactly(requant.steps, acc, channel)
            low, high = admissible(acc, float(m), zero_point, lo, hi, requant.error)
            assert low <= got <= high, (acc, got, low, high)


@settings(max_examples=30, deadline=None)
@given(st.floats(2.0**-10, 64.0), st.integers(-128, 127), st.integers(-128, 127),
       st.booleans())
def test_int8_rescales_are_checked_on_every_input(multiplier, input_zero_point, zero_point, relu):
    """An int8 → int8 rescale (acc = x − zx, |acc| ≤ 255): the plan's error is measured on every
    accumulator, and every result lies within it of exact rounding."""
    lo = zero_point if relu else -128
    requant = plan_requantization(multiplier, zero_point=zero_point, lo=lo, acc_bound=255,
                                  alu_mul=True, where="t")
    check_operands(requant.steps)
    assert requant.error <= ERROR_BUDGET
    for acc in range(-255, 256):
        got = run_exactly(requant.steps, acc)
        low, high = admissible(acc, multiplier, zero_point, lo, 127, requant.error)
        assert low <= got <= high


def test_per_channel_convolution_plan_uses_one_scratch_register_and_18_cycles_at_most():
    """M ≈ 2^-10 per channel after a ReLU, accumulators up to 2^22: a main product and a
    correction in a scratch register, both clamped to the unsaturated range first."""
    multipliers = np.array([1.0e-3, 1.3e-3, 0.7e-3, 1.9e-3]).reshape(4, 1, 1)
    requant = plan_requantization(multipliers, zero_point=-128, acc_bound=2**22, alu_mul=True,
                                  where="t")
    assert registers(requant.steps) == 2 and alu_cycles(requant.steps) <= 18
    accs = np.random.default_rng(0).integers(-2**18, 2**18, (3, 4, 50, 50))
    got = requant(accs)
    want = np.clip(np.floor(accs * multipliers + 0.5) - 128, -128, 127)
    assert np.mean(got == want) > 0.9999 and np.abs(got - want).max() <= 1


def test_multiplier_with_a_short_mantissa_is_one_exact_multiply():
    """M = 3·2^-12 is 3 / 2^12 exactly: one MUL and the rounding shift, no scratch register."""
    requant = plan_requantization(3 * 2.0**-12, zero_point=5, acc_bound=2**20, alu_mul=True,
                                  where="t")
    assert registers(requant.steps) == 1 and requant.error == 0
    accs = np.arange(-2**20, 2**20, 37)
    np.testing.assert_array_equal(requant(accs),
                                  np.clip(np.floor(accs * 3 / 4096 + 0.5) + 5, -128, 127))


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
    requant = plan_requantization(2.0**-9, zero_point=5, acc_bound=2**20, alu_mul=True,
                                  where="t", absorb=True)
    assert [step.op for step in requant.steps] == [AluOp.SHR, AluOp.MAX, AluOp.MIN]
    accs = np.arange(-2**17, 2**17, 97)
    assert np.array_equal(requant(accs), np.clip(np.floor(accs / 512 + 0.5) + 5, -128, 127))


def test_left_shift_power_of_two_is_clamped_not_wrapped():
    requant = plan_requantization(4.0, zero_point=0, acc_bound=2**31 - 1, alu_mul=False,
                                  where="t")
    accs = np.array([-2**31, -40, -3, 0, 31, 32, 2**30, 2**31 - 1])
    assert requant(accs).tolist() == [-128, -128, -12, 0, 124, 127, 127, 127]


@pytest.mark.parametrize("multiplier, zero_point, bound", [
    (1.44019556e9, 17, 65025),          # a product of two activations into a tiny output scale
    (3.0e9, -5, 300000), (7.7e8, 0, 2**20), (6.1e9, 100, 4000), (2.0e14, 3, 1000)])
def test_huge_multipliers_are_exact_or_refused(multiplier, zero_point, bound):
    """M beyond what two 16-bit factors reach: only accumulators within a step or so of 0 do
    not saturate. A plan there must give exact rounding with its shifts in the field's range;
    the plans of a negative total shift (a left shift) dropped the zero point (17 steps off at
    acc = 0) or shifted by −18 (a compile failure); no plan is a refusal (the host runs it)."""
    try:
        requant = plan_requantization(multiplier, zero_point=zero_point, acc_bound=bound,
                                      alu_mul=True, where="t")
    except VtaError as error:
        assert "no ALU program" in str(error)
        return
    check_operands(requant.steps)
    for acc in [-bound, -3, -2, -1, 0, 1, 2, 3, bound]:
        low, high = admissible(acc, multiplier, zero_point, -128, 127, requant.error)
        assert low == high == run_exactly(requant.steps, acc), acc


def test_shift_only_config_rejects_other_scales_naming_the_node():
    with pytest.raises(VtaError, match=r"^node conv7: .*not a power of two.*ALU_MUL"):
        plan_requantization(0.0123, zero_point=0, acc_bound=1000, alu_mul=False,
                            where="node conv7")


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


#: The 32-bit sum limits an Add's unit to about 2^-22 of a step, and the multipliers' rounding
#: moves results by up to ~2^-14 where no unit and multipliers tried avoid it on every pair.
ADD_ERROR_LIMIT = 2.0 ** -14
ALL_A, ALL_B = (grid.ravel() for grid in np.meshgrid(np.arange(-128, 128), np.arange(-128, 128)))


def run_add(steps_a, steps_b, requant, a, b):
    return requant(run_steps(steps_a, a).astype(np.int64) + run_steps(steps_b, b))


def add_admissible(scales, zero_points, scale, zero_point, lo, slack):
    """Per int8 pair, the outputs within `slack` steps of exact rounding (exact arithmetic on
    the common denominator of the binary-fraction scales)."""
    fractions = [Fraction(s) for s in (*scales, scale)] + [Fraction(slack)]
    common = math.lcm(*(f.denominator for f in fractions))
    pa, pb, py, ps = (int(f * common) for f in fractions)
    total = (np.array(ALL_A - zero_points[0], dtype=object) * (2 * pa)
             + np.array(ALL_B - zero_points[1], dtype=object) * (2 * pb))
    # floor(total / 2py + zp + 1/2 ± ps / common), all over the denominator 2·py·common
    return [np.clip(((total * common + (2 * zero_point + 1) * py * common + sign * 2 * ps * py)
                     // (2 * py * common)).astype(np.int64), lo, 127) for sign in (-1, 1)]


@settings(max_examples=25, deadline=None)
@given(st.floats(0.005, 0.5), st.floats(0.005, 0.5), st.floats(0.3, 3.0),
       st.integers(-128, 127), st.integers(-128, 127), st.integers(-128, 127), st.booleans())
# within the limit only with the shift one past the conservative int32 bound (7.5e-5 below it)
@example(0.29066514385873266, 0.32421875, 1.3219418783928916, 0, 34, 45, False)
def test_add_is_within_its_measured_error_on_every_pair(sa, sb, factor, za, zb, zy, relu):
    """Every int8 pair: y = clamp((Ka·(a − za) + Kb·(b − zb) + rounding) >> S) is within the
    plan's error (measured on all pairs, ≤ ERROR_BUDGET) of exact rounding, and no product or
    sum leaves int32."""
    scale, lo = max(sa, sb) * factor, zy if relu else -128
    steps_a, steps_b, requant = plan_add((sa, sb), (za, zb), scale=scale, zero_point=zy, lo=lo,
                                         alu_mul=True, where="t")
    assert requant.error <= ADD_ERROR_LIMIT
    check_operands(steps_a + steps_b + requant.steps)
    assert registers(steps_a + steps_b + requant.steps) == 1
    got = run_add(steps_a, steps_b, requant, ALL_A, ALL_B)
    low, high = add_admissible((sa, sb), (za, zb), scale, zy, lo, requant.error)
    assert np.all((low <= got) & (got <= high))
    for a, b in [(-128, -128), (127, 127), (-128, 127), (127, -128)]:
        total = run_exactly(steps_a, a) + run_exactly(steps_b, b)
        assert -2**31 <= total < 2**31
        run_exactly(requant.steps, total)


def test_add_without_multiply_shifts_power_of_two_scales_exactly():
    scales, zero_points = (0.25, 0.5), (3, -7)
    steps_a, steps_b, requant = plan_add(scales, zero_points, scale=1.0, zero_point=2,
                                         alu_mul=False, where="t")
    assert all(step.op != AluOp.MUL for step in steps_a + steps_b + requant.steps)
    got = run_add(steps_a, steps_b, requant, ALL_A, ALL_B)
    exact = add_admissible(scales, zero_points, 1.0, 2, -128, 0)[0]
    assert np.array_equal(got, exact)


def test_add_without_multiply_rejects_other_scales_naming_the_node():
    with pytest.raises(VtaError, match=r"^node add3: .*differ by no power of two.*ALU_MUL"):
        plan_add((0.3, 0.5), (0, 0), scale=1.0, zero_point=0, alu_mul=False, where="node add3")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([AluOp.ADD, AluOp.SHR, AluOp.MUL, AluOp.MIN,
                                           AluOp.MAX]), st.integers(-2**15, 2**15 - 1),
                          st.integers(0, 2)),
                min_size=1, max_size=8),
       st.integers(0, 2**31 - 1))
def test_monotone_verdict_holds_on_the_whole_interval(program, reach):
    """Where `monotone` says so, running the program (with the ALU's wrap-around, registers
    combined by vector ADD/MIN/MAX) over accumulators spread across [−reach, reach] gives a
    non-decreasing result."""
    steps = [AluStep(AluOp.MUL, np.int64(0), 1), AluStep(AluOp.ADD, Register(0), 1)]
    for op, operand, kind in program:
        if kind == 2 and op in (AluOp.ADD, AluOp.MIN, AluOp.MAX):
            steps.append(AluStep(op, Register(1)))
        else:
            steps.append(AluStep(op, np.int64(operand), kind % 2))
    accs = np.unique(np.r_[np.linspace(-reach, reach, 4001).astype(np.int64), -reach, reach])
    if monotone(steps, np.int64(-reach), np.int64(reach)):
        out = run_steps(tuple(steps), accs)
        assert np.all(np.diff(out.astype(np.int64)) >= 0)


def test_negative_multiplier_is_not_monotone():
    assert not monotone([(AluOp.MUL, np.int64(-3))], np.int64(-10), np.int64(10))
    assert monotone([(AluOp.MUL, np.int64(3))], np.int64(-10), np.int64(10))


def test_scratch_register_must_be_zeroed_before_use():
    assert not scratch_written([AluStep(AluOp.ADD, Register(0), 1)])
    assert not scratch_written([AluStep(AluOp.ADD, Register(1))])
    assert scratch_written([AluStep(AluOp.MUL, np.int64(0), 1), AluStep(AluOp.ADD, Register(0), 1),
                            AluStep(AluOp.ADD, Register(1))])


@settings(max_examples=40, deadline=None)
@given(st.floats(2.0**-12, 2.0), st.integers(1, 2**20), st.integers(-128, 127), st.data())
def test_chain_is_within_its_bound_of_the_exact_product(multiplier, reach, zero_point, data):
    """The single-register chain ⌊acc·a / 2^s⌋·b plus its centring constant is within its
    error bound (units of 2^-T) of acc·M·2^T, checked with exact rationals on the accumulators
    where the truncation is largest and at random, and its steps never leave int32."""
    from vta.compiler.requantize_multiply import X_LIMIT, _chain, _arithmetic
    reach_array = np.array([reach])
    top = int(np.floor(np.log2(X_LIMIT / (reach * multiplier + 1))))
    shape = _chain(np.array([multiplier]), reach_array, top, zero_point)
    if shape is None:
        return
    (a,), (b,), (s,), (centre,) = shape.factors[0], shape.factors[1], shape.chain, \
        np.ravel(shape.centre)
    accs = {-reach, reach, 0, *data.draw(st.lists(st.integers(-reach, reach), max_size=30))}
    accs |= {acc for acc in ((2**int(s) - 1) // int(a), -(2**int(s) - 1) // int(a))
             if abs(acc) <= reach}
    mu = Fraction(multiplier) * 2**top
    steps = _arithmetic(shape, zero_point)
    # the planner keeps a chain only where `monotone` finds no intermediate leaving int32
    valid = monotone(steps, np.array([-reach]), np.array([reach]))
    for acc in sorted(accs):
        x = (acc * int(a) >> int(s)) * int(b) + int(centre)
        assert abs(Fraction(x) - acc * mu) <= Fraction(float(shape.error_units[0]))
        if valid:
            got = run_exactly(steps, acc)
            assert got == (x + (1 << (top - 1)) + (zero_point << top)) >> top


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(2.0**-12, 2.0), min_size=1, max_size=4),
       st.lists(st.integers(1, 2**22), min_size=1, max_size=4), st.integers(-3, 0))
def test_chain_takes_the_smallest_bound_over_every_shift_and_factor(multipliers, reaches, below):
    """Per lane, the chain's (s, b) has the smallest error bound of every shift s ≤ MAX_SHIFT
    and factor b ≤ CHAIN_FACTOR whose a = round(μ·2^s / b) is a valid operand: the search's
    pruning (odd b only from the second shift on, b bounded by the truncation and by a's
    limit) leaves none out, and `_chain_floor` lies below them all."""
    from vta.compiler.alu_program import MAX_SHIFT
    from vta.compiler.requantize_multiply import CHAIN_FACTOR, X_LIMIT, _chain, _chain_floor
    lanes = min(len(multipliers), len(reaches))
    multiplier = np.array(multipliers[:lanes])
    reach = np.array(reaches[:lanes], dtype=np.int64)
    total = int(np.floor(np.log2(X_LIMIT / (np.max(reach * multiplier) + 1)))) + below
    shape = _chain(multiplier, reach, total, 0)
    b = np.arange(1, CHAIN_FACTOR + 1, dtype=np.float64)
    for lane in range(lanes):
        mu = multiplier[lane] * 2.0**total
        limit = min(IMM_MAX, (X_LIMIT - 1) // (int(reach[lane]) + 1))
        bounds = np.full((MAX_SHIFT + 1, CHAIN_FACTOR), np.inf)
        for s in range(MAX_SHIFT + 1):
            a = np.round(mu * 2.0**s / b)
            dropped = b * (2**s - 1) / 2.0**s
            centre = np.round(dropped / 2)
            bound = reach[lane] * np.abs(a * b / 2.0**s - mu) + np.maximum(centre, dropped - centre)
            bounds[s] = np.where((a >= 1) & (a <= limit), bound, np.inf)
        # the floor that lets a first search give up a chain lies below every (s, b)'s bound
        floor = _chain_floor(np.array([mu]), reach[lane:lane + 1], np.array([limit]))
        assert floor[0] <= bounds.min()
        if shape is None:       # no lane without a valid (s, b), or the chain leaves int32
            continue
        s, factor = int(shape.chain[lane]), int(shape.factors[1][lane])
        assert np.isfinite(bounds.min())
        assert shape.error_units[lane] == pytest.approx(bounds.min(), rel=1e-12)
        assert bounds[s, factor - 1] == pytest.approx(bounds.min(), rel=1e-12)
        assert shape.factors[0][lane] == round(mu * 2.0**s / factor)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.floats(IMM_MAX + 1, IMM_MAX * IMM_MAX - 1),
                 st.builds(lambda k, d: float(k * IMM_MAX) + d, st.integers(1, IMM_MAX - 1),
                           st.sampled_from([-IMM_MAX / 2 - 0.5, -IMM_MAX / 2, -2, -0.5, 0, 0.5, 1,
                                            IMM_MAX / 2]))
                 .filter(lambda t: IMM_MAX < t < IMM_MAX * IMM_MAX)))
def test_two_factors_are_the_first_closest_of_all_16_bit_pairs(target):
    """The two factors of a product are those of the first f (smallest) whose f·g, g the nearest
    16-bit factor, lies closest to the target among all f from ⌈target / IMM_MAX⌉ to
    IMM_MAX: the search's bound on f loses none."""
    from vta.compiler.requantize_multiply import _two_factors
    f = np.arange(math.ceil(target / IMM_MAX), IMM_MAX + 1, dtype=np.float64)
    g = np.clip(np.round(target / f), 1, IMM_MAX)
    best = int(np.argmin(np.abs(f * g - target)))
    first, second = _two_factors(np.array([target]))
    assert (first[0], second[0]) == (f[best], g[best])


def test_chain_replaces_the_correction_where_it_is_within_the_budget():
    """Accumulators up to 2^16 (a product of two activations over a short contraction), where
    one 16-bit multiply is too coarse: the chain, no scratch register, within 2^-16 of exact
    rounding on every accumulator (measured one by one)."""
    multiplier, zero_point = 0.00077, -5
    requant = plan_requantization(multiplier, zero_point=zero_point, acc_bound=2**16,
                                  alu_mul=True, where="t")
    assert registers(requant.steps) == 1 and requant.error <= ERROR_BUDGET
    assert [step.op for step in requant.steps][:3] == [AluOp.MUL, AluOp.SHR, AluOp.MUL]
    for acc in range(-2**16, 2**16 + 1, 7):
        low, high = admissible(acc, multiplier, zero_point, -128, 127, requant.error)
        assert low <= run_exactly(requant.steps, acc) <= high


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(2.0 ** -30, 64.0), min_size=1, max_size=6),
       st.integers(-128, 127), st.integers(-128, 127), st.integers(-128, 127))
def test_saturation_bounds_are_the_exact_saturation_points(multipliers, zero_point, a, b):
    """Per lane, the largest accumulator whose exactly rounded result is ≤ lo and the smallest
    whose result is ≥ hi (round half up of acc·M + zero point, in rationals)."""
    from vta.compiler.requantize_multiply import _saturation_bounds
    lo, hi = min(a, b), max(a, b)
    low, high = _saturation_bounds(np.array(multipliers), zero_point, lo, hi)

    def rounded(acc, m):
        return math.floor(acc * Fraction(m) + zero_point + Fraction(1, 2))

    for m, below, above in zip(multipliers, low, high):
        assert rounded(int(below), m) <= lo < rounded(int(below) + 1, m)
        assert rounded(int(above) - 1, m) < hi <= rounded(int(above), m)
