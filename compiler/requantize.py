"""Requantization as the VTA ALU computes it: ``y = clamp(round(acc * M) + zero_point, lo, hi)``
from int32 accumulators to int8, for a real multiplier ``M`` (per tensor or per output channel).

VTA has no floating point, so a requantization is a short ALU program (`alu_program.AluStep`s)
that the numpy reference runs step for step, bit-exact with the hardware by construction.
`plan_requantization` chooses it:

- M a power of two: shifts (exact; the original VTA's scheme, the only one without the ALU
  multiply);
- otherwise, with the ALU multiply (``ALU_MUL``): `requantize_multiply.plan_multiply`, within
  `ERROR_BUDGET` of an output step of exact rounding at the fewest ALU cycles.

`requantize_add.plan_add` plans a residual Add.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vta.compiler.alu_program import (ACC_LIMIT, IMM_MAX, MAX_SHIFT, AluStep, Register, half,
                                      last_chunk_limit, rounding_shift, run_steps, shifts,
                                      split_shift)
from vta.compiler.requantize_multiply import plan_multiply
from vta.isa import AluOp, VtaError

#: Output range of every requantization: the int8 values a STORE keeps.
INT8_MIN, INT8_MAX = -128, 127


@dataclass(frozen=True)
class Requantize:
    """int32 accumulators → int8: the ALU steps and what they stand for.

    `multiplier` is the real factor M (float64, broadcast against the tensor), `zero_point`, `lo`
    and `hi` the int8 output zero point and clamp (the clamp holds any fused ReLU/Clip).
    `offset` (int64, broadcast like M) is added to the accumulator before the steps: a plan made
    with ``absorb=True`` leaves its leading constant there for the caller to fold into a bias.
    `error` bounds, in output steps, how far the result may round from exact rounding of
    acc · M (round half up, or half to even where `ties_to_even`): 0 for exact plans.
    """

    multiplier: np.ndarray
    zero_point: int
    lo: int
    hi: int
    steps: tuple[AluStep, ...] = field(repr=False)
    offset: np.ndarray | int = field(default=0, repr=False)
    error: float = 0.0
    ties_to_even: bool = False

    def __call__(self, acc: np.ndarray) -> np.ndarray:
        return run_steps(self.steps, np.asarray(acc, dtype=np.int64) + self.offset).astype(np.int8)


def plan_requantization(multiplier, *, zero_point: int, lo: int = INT8_MIN, hi: int = INT8_MAX,
                        acc_bound, alu_mul: bool, where: str, absorb: bool = False,
                        ties_to_even: bool = False) -> Requantize:
    """Choose the ALU steps of ``clamp(round(acc * M) + zero_point, lo, hi)``.

    `multiplier` M > 0 (scalar or per-channel, broadcast against the accumulator tensor);
    `acc_bound` bounds |acc| (same broadcast shape); `alu_mul` says whether the config has the
    ALU multiply; `where` names the node in errors. With `absorb`, the caller adds the plan's
    leading constant (`Requantize.offset`, any int32 below 2^31 − acc_bound) to the accumulator
    itself, in a bias; otherwise it is a leading ADD. `ties_to_even`: round half to even where
    M is a power of two below 1 (where exact ties occur: an average of 2^k values in its
    input's scale, as onnxruntime's QLinearAveragePool rounds them) and the ALU multiplies.
    """
    multiplier = np.asarray(multiplier, dtype=np.float64)
    acc_bound = np.broadcast_to(np.asarray(acc_bound, dtype=np.int64), multiplier.shape)
    lo, hi = output_range(zero_point, lo, hi, where)
    if not np.all(np.isfinite(multiplier)) or np.any(multiplier <= 0):
        raise VtaError(f"{where}: requantization scale must be positive and finite")
    exponent = _power_of_two_exponent(multiplier)
    error = 0.0
    halves = exponent is not None and np.all(exponent <= 0) and np.any(exponent < 0)
    ties_to_even = bool(ties_to_even and halves and alu_mul and lo != hi
                        and np.all(acc_bound < ACC_LIMIT // 4))
    if lo == hi:
        offset, steps = 0, saturate(lo, hi)       # one output value for every accumulator
    elif ties_to_even:
        offset, steps = 0, _half_even_shift(-exponent, zero_point) + saturate(lo, hi)
    elif exponent is not None and np.all(exponent <= 0):
        offset, steps = _right_shift(-exponent, zero_point, acc_bound, absorb)
        steps = steps + saturate(lo, hi)
    elif exponent is not None and (not alu_mul or np.all(exponent >= 0)):
        # Beyond this many output steps from the zero point every result saturates.
        window = max(hi - zero_point, zero_point - lo) + 2
        offset, steps = 0, _left_shift_steps(exponent, acc_bound, window, zero_point)
        steps += saturate(lo, hi)
    elif alu_mul:
        plan = plan_multiply(multiplier, acc_bound, zero_point, lo, hi)
        offset, steps, error = 0, list(plan.steps), plan.error
    else:
        raise VtaError(f"{where}: requantization scale {float(multiplier.ravel()[0]):.6g} is not a "
                       "power of two and the config has no ALU multiply (ALU_MUL); quantize with "
                       "`vta quantize --power-of-two`")
    return Requantize(multiplier, int(zero_point), lo, hi, tuple(steps), offset, error,
                      ties_to_even)


def output_range(zero_point: int, lo: int, hi: int, where: str) -> tuple[int, int]:
    lo, hi = max(int(lo), INT8_MIN), min(int(hi), INT8_MAX)
    if not INT8_MIN <= zero_point <= INT8_MAX or lo > hi:
        raise VtaError(f"{where}: output zero point {zero_point} or clamp [{lo}, {hi}] is not int8")
    return lo, hi


def saturate(lo: int, hi: int) -> list[AluStep]:
    return [AluStep(AluOp.MAX, np.int64(lo)), AluStep(AluOp.MIN, np.int64(hi))]


def _power_of_two_exponent(multiplier: np.ndarray) -> np.ndarray | None:
    """k with M = 2^k exactly (to float32 precision), or None if some M is no power of two."""
    exponent = np.round(np.log2(multiplier)).astype(np.int64)
    if np.all(np.abs(multiplier / np.exp2(exponent) - 1) < 1e-6):
        return exponent
    return None


def _place(offset: np.ndarray, steps: list[AluStep], acc_bound: np.ndarray, absorb: bool):
    """(offset, steps) with a leading constant left to the caller (`absorb`) or as a leading
    ADD; None where it does not fit an immediate or could wrap the accumulator."""
    offset = np.asarray(offset, dtype=np.int64)
    if not offset.any():
        return 0, steps
    wraps = np.any(acc_bound + np.abs(offset) >= ACC_LIMIT)
    if wraps or (not absorb and np.abs(offset).max() > IMM_MAX):
        return None
    return (offset, steps) if absorb else (0, [AluStep(AluOp.ADD, offset)] + steps)


def _right_shift(shift: np.ndarray, zero_point: int, acc_bound: np.ndarray, absorb: bool):
    """M = 2^−s: the offset ``2^(s-1) + zp·2^s`` then truncating shifts (exact), or
    `rounding_shift` where that offset cannot be placed."""
    offset = half(shift) + np.left_shift(zero_point, shift)
    placed = _place(offset, shifts(shift), acc_bound, absorb)
    if placed:
        return placed
    limit = last_chunk_limit(zero_point)
    if np.any(acc_bound + IMM_MAX >= ACC_LIMIT) and np.any(shift <= limit):
        # The ADD would come first and could wrap an extreme accumulator: clamp (s ≤ 7: every
        # |x| ≥ 2^15 − 1 saturates the output anyway), or shift by 1 first (s ≥ 2).
        if np.all(shift <= 7):
            return 0, _clamp(np.int64(IMM_MAX)) + rounding_shift(shift, zero_point)
        if np.all(shift >= 2):
            return 0, rounding_shift(shift, zero_point, np.minimum(shift - 1, limit))
        raise VtaError("requantization: power-of-two multipliers 2^0…2^-1 next to 2^-8 or "
                       "smaller with accumulators reaching 2^31 have no exact plan")
    return 0, rounding_shift(shift, zero_point)


def _half_even_shift(shift: np.ndarray, zero_point: int) -> list[AluStep]:
    """M = 2^−s, ties to even: ``⌊(x + 2^(s−1) − 1 + b) / 2^s⌋ + zp`` with b the parity of
    ⌊x / 2^s⌋ (⌊x / 2^s⌋ − 2·⌊x / 2^(s+1)⌋, in scratch registers 1 and 2; 0 where s = 0): a tie
    rounds up from an odd quotient, down from an even one, anything else as to nearest."""
    shifted = (shift > 0).astype(np.int64)
    parity = [AluStep(AluOp.MUL, np.int64(0), 1), AluStep(AluOp.ADD, Register(0), 1),
              *shifts(shift, 1),
              AluStep(AluOp.MUL, np.int64(0), 2), AluStep(AluOp.ADD, Register(1), 2),
              AluStep(AluOp.SHR, np.int64(1), 2), AluStep(AluOp.MUL, np.int64(-2), 2),
              AluStep(AluOp.ADD, Register(2), 1)]
    if not np.all(shifted):
        parity.append(AluStep(AluOp.MUL, shifted, 1))
    return parity + [AluStep(AluOp.ADD, Register(1))] + rounding_shift(shift, zero_point,
                                                                        centre=-shifted)


def _clamp(bound: np.ndarray) -> list[AluStep]:
    return [AluStep(AluOp.MAX, -bound), AluStep(AluOp.MIN, bound)]


def _left_shift_steps(exponent: np.ndarray, acc_bound: np.ndarray, window: int,
                      zero_point: int) -> list[AluStep]:
    """M = 2^k with some k > 0: a rounding right shift where k < 0, then a left shift (after a
    clamp that keeps it from overflowing) where k > 0, then the zero point."""
    steps = rounding_shift(np.maximum(-exponent, 0), 0)
    left = np.maximum(exponent, 0)
    # Clamp to the values that can still reach the window (right-shifted lanes beyond an
    # immediate saturate anyway).
    reach = np.where(left > 0, -(-window >> left), IMM_MAX)
    if np.any(left > MAX_SHIFT) or np.any((acc_bound << left) >= ACC_LIMIT):
        steps += _clamp(np.minimum(reach, IMM_MAX))
    steps += [AluStep(AluOp.SHR, -chunk) for chunk in split_shift(left)]
    if zero_point:
        steps.append(AluStep(AluOp.ADD, np.int64(zero_point)))
    return steps
