"""A residual Add of two int8 tensors on the VTA ALU:
``y = clamp(round((sa·(a − za) + sb·(b − zb)) / sy) + zy, lo, hi)``.

With the ALU multiply, each operand is brought to a common unit 2^−S of an output step by an
exact integer product, ``Ka·a`` and ``Kb·b`` with Ki ≈ si/sy · 2^S a 16-bit multiplier or the
product of two (two MULs in a row: the operand is int8, so the product stays exact). The zero
points, the rounding constant and the output zero point are one constant added to the sum,
``2^(S−1) + zy·2^S − za·Ka − zb·Kb`` (an ACC tile where it is no immediate), before the
truncating shifts by S and the saturation: no operand needs an ADD of its own. S is as large
as the int32 sum allows (about 21 bits below the output step), so the multipliers' rounding
moves the sum by at most about 2^−14 of a step; every one of the 65 536 input pairs is then run
through the plan and its actual distance from exact rounding taken as the plan's error
(`Requantize.error`). Without the multiply, scales a power of two apart are brought together
by left shifts.
"""

from __future__ import annotations

import math

import numpy as np

from vta.compiler.alu_program import (ACC_LIMIT, IMM_MAX, INT32_MAX, INT32_MIN, AluStep,
                                      alu_cycles, run_steps, shifts, split_shift)
from vta.compiler.requantize import (INT8_MAX, INT8_MIN, Requantize, output_range,
                                     plan_requantization, saturate)
from vta.compiler.requantize_multiply import ERROR_BUDGET
from vta.isa import AluOp, VtaError

#: How many of the largest units 2^−S an Add plan tries, and the multipliers it tries around
#: each exact si/sy · 2^S (the product's rounding errors of the two operands may cancel).
SHIFTS = 4
NEIGHBOURS = (-2, -1, 0, 1, 2, 3)
#: How many candidates, cheapest first, are measured on every int8 pair before the others.
MEASURED = 24


def plan_add(scales: tuple[float, float], zero_points: tuple[int, int], *, scale: float,
             zero_point: int, lo: int = INT8_MIN, hi: int = INT8_MAX, alu_mul: bool, where: str
             ) -> tuple[tuple[AluStep, ...], tuple[AluStep, ...], Requantize]:
    """(steps of a, steps of b, requantization of their sum) for int8 a and b."""
    lo, hi = output_range(zero_point, lo, hi, where)
    if alu_mul:
        ratios = [s / scale for s in scales]
        reach = sum(max(INT8_MAX - z, z - INT8_MIN) * r for z, r in zip(zero_points, ratios))
        # the sum plus the output zero point and the rounding constant stays inside int32: by
        # this bound, or (one shift more) by the exact check of each candidate's corners
        units = [shift for shift in range(30, 0, -1)
                 if (reach + abs(zero_point) + 2) * 2.0 ** shift < 2 * ACC_LIMIT][:SHIFTS + 1]
        candidates = [candidate for shift in units
                      for candidate in _candidates(ratios, zero_points, shift, zero_point, lo, hi)]
        # cheapest first, then by the error bound; measured (on every pair) in that order;
        # where none of those is within the budget, the others by their bound until one is (the
        # bound ignores the operands' errors cancelling: a plan far inside it may come late)
        candidates.sort(key=lambda c: (alu_cycles(c[0] + c[1] + c[2]), c[3]))
        accurate = sorted(candidates[MEASURED:], key=lambda c: c[3])
        measured = []
        for steps_a, steps_b, epilogue, _, shift in candidates[:MEASURED] + accurate:
            requant = _measure(steps_a, steps_b, epilogue, shift, ratios, zero_points,
                               zero_point, lo, hi)
            if requant.error <= ERROR_BUDGET:
                return steps_a, steps_b, requant
            measured.append((requant.error, steps_a, steps_b, requant))
        if measured:
            _, steps_a, steps_b, requant = min(measured, key=lambda m: m[0])
            return steps_a, steps_b, requant
    return _shifted_operands(scales, zero_points, scale, zero_point, lo, hi, alu_mul, where)


def _candidates(ratios, zero_points, shift: int, zero_point: int, lo: int, hi: int):
    """(steps a, steps b, epilogue, error bound in steps, shift) with the operands in units of
    2^−shift of an output step, multiplied by the products nearest the multipliers around
    ri·2^shift (the two operands' rounding errors may cancel); none whose products, sum or sum
    plus the constant could leave int32."""
    options = []
    for ratio in ratios:
        found = []
        for target in {math.floor(ratio * 2.0 ** shift) + d for d in NEIGHBOURS}:
            factors = _factors(target)
            if factors is None:
                continue
            product = math.prod(factors)
            steps = tuple(AluStep(AluOp.MUL, np.int64(k)) for k in factors)
            found.append((steps, product, 255 * abs(product - ratio * 2.0 ** shift)))
        options.append(found)
    candidates = []
    for a, product_a, error_a in options[0]:
        for b, product_b, error_b in options[1]:
            constant = ((1 << (shift - 1)) + (zero_point << shift)
                        - zero_points[0] * product_a - zero_points[1] * product_b)
            # the sum Ka·a + Kb·b is extreme at the corners; so is the sum plus the constant
            corners = [product_a * x + product_b * y for x in (INT8_MIN, INT8_MAX)
                       for y in (INT8_MIN, INT8_MAX)]
            if not all(INT32_MIN <= v + c <= INT32_MAX for v in corners for c in (0, constant)):
                continue
            epilogue = ((AluStep(AluOp.ADD, np.int64(constant)),) if constant else ()) \
                + tuple(shifts(shift)) + tuple(saturate(lo, hi))
            candidates.append((a, b, epilogue, (error_a + error_b + 1) * 2.0 ** -shift, shift))
    return candidates


def _measure(steps_a, steps_b, epilogue, shift: int, ratios, zero_points, zero_point: int,
             lo: int, hi: int) -> Requantize:
    """The requantization of the plan, its error measured on every int8 pair: how far the
    exact value must move for round half up to give the plan's result."""
    values = np.arange(INT8_MIN, INT8_MAX + 1, dtype=np.int64)
    total = (run_steps(steps_a, values).astype(np.int64)[:, None]
             + run_steps(steps_b, values).astype(np.int64)[None, :])
    got = run_steps(epilogue, total).astype(np.int64)
    exact = (ratios[0] * (values - zero_points[0]))[:, None] \
        + (ratios[1] * (values - zero_points[1]))[None, :] + zero_point
    need = np.maximum(got - 0.5 - exact, exact - (got + 0.5))
    need = np.where(((got == lo) & (exact < lo)) | ((got == hi) & (exact > hi)), 0, need)
    # the exact value in float64 is within 2^-50 of it relative: that much more
    slack = 2.0 ** -50 * (np.abs(exact).max() + 1)
    return Requantize(np.asarray(2.0 ** -shift), int(zero_point), lo, hi, epilogue,
                      error=float(max(need.max(), 0)) + slack)


def _factors(target: float) -> tuple[int, ...] | None:
    """One 16-bit multiplier nearest `target`, or two whose product is nearest it."""
    if target < 0.5:
        return None
    if target <= IMM_MAX:
        return (round(target),)
    if target > IMM_MAX * IMM_MAX:
        return None
    first = np.arange(math.ceil(target / IMM_MAX), IMM_MAX + 1, dtype=np.int64)
    second = np.clip(np.round(target / first), 1, IMM_MAX).astype(np.int64)
    best = int(np.argmin(np.abs(first * second - target)))
    return int(first[best]), int(second[best])


def _shifted_operands(scales, zero_points, scale, zero_point, lo, hi, alu_mul, where):
    """Operands minus their zero points brought to the smaller scale by left shifts (scales a
    power of two apart), the sum requantized by `plan_requantization`."""
    small = min(scales)
    amounts = [round(math.log2(s / small)) for s in scales]
    exact = all(abs(s / small / 2.0 ** k - 1) < 1e-6 for s, k in zip(scales, amounts))
    if not exact or max(amounts) > 22:
        reason = "differ by no power of two and the config has no ALU multiply (ALU_MUL)" \
            if not alu_mul else "are too far apart to add"
        raise VtaError(f"{where}: input scales {scales[0]:.6g} and {scales[1]:.6g} {reason}")
    steps = []
    for zero, amount in zip(zero_points, amounts):
        chain = [AluStep(AluOp.ADD, np.int64(-zero))] if zero else []
        chain += [AluStep(AluOp.SHR, -chunk) for chunk in split_shift(np.int64(amount))]
        steps.append(tuple(chain))
    requant = plan_requantization(small / scale, zero_point=zero_point, lo=lo, hi=hi,
                                  acc_bound=sum(255 << k for k in amounts), alu_mul=alu_mul,
                                  where=where)
    return steps[0], steps[1], requant
