"""Requantization as the VTA ALU computes it: the integer arithmetic and the choice of constants.

A requantization maps int32 accumulators to int8: ``y = clamp(round(acc * M) + zero_point, lo, hi)``
for a real multiplier ``M`` (per tensor or per output channel). VTA has no floating point, so it
is done as a short sequence of ALU operations (`AluStep`), each exactly what one ALU instruction
computes on every lane (isa-reference §4.4, docs/contracts.md §1):

- with the ALU multiply (``ALU_MUL``): an offset (the rounding and the zero point, which a bias
  absorbs), a truncating pre-shift, a clamp where the product could leave 32 bits, ``MUL`` by a
  15-bit multiplier, a truncating post-shift, and the final ``MAX lo`` / ``MIN hi``;
  `plan_requantization` chooses, among such plans accurate to a small fraction of an output
  step, the one costing the fewest ALU cycles (`alu_cycles`), then the fewest per-channel
  constants (ACC tiles to load);
- without it (the original VTA's scheme), ``M`` must be a power of two and the multiply is a shift.

`plan_add` plans a residual Add as ``clamp((ka·a + kb·b + C) >> s, lo, hi)``.

Every step operand is an integer array broadcast against the tensor (a 0-d array when it is the
same for every lane, per-channel otherwise), and every operand value fits a signed 16-bit
immediate (SHR amounts fit −16…15), so code generation may emit a uniform operand as an
immediate and a per-channel one as an ACC tile with identical results. The numpy reference
executes the very same steps through `alu`, so it is bit-exact with the hardware by construction.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np

from vta.isa import AluOp, VtaError
from vta.isa import alu as lane
from vta.isa.alu import (ACC_BITS, IMMEDIATE_MAX, MAX_RIGHT_SHIFT, MULTIPLIER_OPERAND_BITS,
                         alu_unwrapped, sign_extend)
from vta.isa.machine import Machine

#: Largest multiplier: one bit less than MUL's operand, so that its sign extension keeps it
#: positive (docs/contracts.md §1).
MULTIPLIER_BITS = MULTIPLIER_OPERAND_BITS - 1
#: The widest shift one SHR may do.
MAX_SHIFT = MAX_RIGHT_SHIFT
#: Largest magnitude of an ALU immediate.
IMM_MAX = IMMEDIATE_MAX
#: The largest rounding error (in output steps) a plan's pre-shift, folded rounding or Add
#: multipliers may add to save ALU cycles.
ROUNDING_TOLERANCE = 1 / 32
#: Smallest multiplier: a relative error ≤ 2^-14, at most 1/64 step over the int8 range.
MIN_MULTIPLIER = 1 << 13
#: Output range of every requantization: the int8 values a STORE keeps.
INT8_MIN, INT8_MAX = -128, 127


def wrap32(values: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of integers to int32, as the 32-bit accumulator does."""
    return np.asarray(values, dtype=np.int64).astype(np.int32)   # integer casts wrap modulo 2^32


def alu(op: AluOp, a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """One ALU operation on int32 lanes exactly as VTA computes it (`vta.isa.alu`); `b` is the
    operand after the hardware's selection (an immediate, or the ACC source lanes)."""
    return lane.alu(op, wrap32(a), wrap32(b))


@dataclass(frozen=True)
class AluStep:
    """One ALU operation applied to every lane: ``acc = op(acc, operand)``."""

    op: AluOp
    operand: np.ndarray

    def __post_init__(self):
        operand = np.asarray(self.operand, dtype=np.int64)
        if operand.size and (operand.min() < -IMM_MAX - 1 or operand.max() > IMM_MAX):
            raise VtaError(f"ALU {self.op.name} operand outside a signed 16-bit immediate")
        if operand.size and np.all(operand == operand.flat[0]):
            operand = np.asarray(operand.flat[0], dtype=np.int64)
        object.__setattr__(self, "operand", operand)

    @property
    def uniform(self) -> bool:
        """True when every lane gets the same operand (an immediate suffices)."""
        return self.operand.ndim == 0

    def apply(self, acc: np.ndarray) -> np.ndarray:
        return alu(self.op, acc, self.operand)

    def __repr__(self) -> str:
        operand = int(self.operand) if self.uniform else f"per-channel{list(self.operand.ravel()[:4])}..."
        return f"{self.op.name} {operand}"


def run_steps(steps: tuple[AluStep, ...], acc: np.ndarray) -> np.ndarray:
    """Apply ALU steps in order to int32 lanes."""
    acc = wrap32(acc)
    for step in steps:
        acc = step.apply(acc)
    return acc


def monotone(steps: list[tuple[AluOp, np.ndarray]], low: np.ndarray, high: np.ndarray) -> bool:
    """True when `steps` (op, operand broadcast per lane) map every accumulator in [low, high]
    through a non-decreasing function without wrapping: each operation is monotone (MUL by a
    non-negative factor) and neither end of the interval leaves int32 on the way. Then the
    maximum of the results is the result of the maximum (max pooling commutes with them)."""
    low, high = np.asarray(low, dtype=np.int64), np.asarray(high, dtype=np.int64)
    limit = 1 << (ACC_BITS - 1)
    for op, operand in steps:
        operand = np.asarray(operand, dtype=np.int64)
        if op == AluOp.MUL and np.any(sign_extend(operand, MULTIPLIER_OPERAND_BITS) < 0):
            return False
        low, high = alu_unwrapped(op, low, operand), alu_unwrapped(op, high, operand)
        if np.any(low < -limit) or np.any(high >= limit):
            return False
    return True


def alu_cycles(steps, machine: Machine = Machine()) -> int:
    """ALU cycles per output vector: the machine's ALU initiation interval per step (a
    per-channel operand, an ACC tile, is read in the same cycle: code generation puts it in
    the other ACC bank)."""
    return len(steps) * machine.loop_interval(gemm=False)


@dataclass(frozen=True)
class Requantize:
    """int32 accumulators → int8: the ALU steps and what they stand for.

    `multiplier` is the real factor M (float64, broadcast against the tensor), `zero_point`, `lo`
    and `hi` the int8 output zero point and clamp (the clamp holds any fused ReLU/Clip).
    `offset` (int64, broadcast like M) is added to the accumulator before the steps: a plan made
    with ``absorb=True`` leaves its leading constant there for the caller to fold into a bias.
    """

    multiplier: np.ndarray
    zero_point: int
    lo: int
    hi: int
    steps: tuple[AluStep, ...] = field(repr=False)
    offset: np.ndarray | int = field(default=0, repr=False)

    def __call__(self, acc: np.ndarray) -> np.ndarray:
        return run_steps(self.steps, np.asarray(acc, dtype=np.int64) + self.offset).astype(np.int8)


def _split_shift(total: np.ndarray) -> list[np.ndarray]:
    """Split non-negative shift amounts into chunks of at most MAX_SHIFT (same chunk count)."""
    chunks = []
    remaining = np.asarray(total, dtype=np.int64)
    while np.any(remaining > 0):
        chunk = np.minimum(remaining, MAX_SHIFT)
        chunks.append(chunk)
        remaining = remaining - chunk
    return chunks


def _shifts(amounts: np.ndarray) -> list[AluStep]:
    return [AluStep(AluOp.SHR, chunk) for chunk in _split_shift(amounts)]


def _last_chunk_limit(zero_point: int) -> int:
    """The largest b with |zero_point · 2^b| + 2^(b-1) within an immediate (7 for |zp| = 128)."""
    b = MAX_SHIFT
    while abs(zero_point) * (1 << b) + (1 << (b - 1)) > IMM_MAX:
        b -= 1
    return b


def _rounding_shift(shift: np.ndarray, zero_point: int, last=None) -> list[AluStep]:
    """Steps computing ``floor((x + 2^(s-1)) / 2^s) + zero_point`` (round half up), s ≥ 0.

    Truncating shifts by a = s − b come first (b = `last`, by default as large as the immediate
    allows); the last chunk b adds ``2^(b-1) + zp·2^b`` (an immediate), which is exact:
    ``floor((floor(x / 2^a) + 2^(b-1) + zp·2^b) / 2^b) = floor((x + 2^(s-1)) / 2^s) + zp``.
    """
    shift = np.asarray(shift, dtype=np.int64)
    if last is None:
        last = np.minimum(shift, _last_chunk_limit(zero_point))
    steps = _shifts(shift - last)
    constant = _half(last) + (zero_point << last)
    if np.any(constant):
        steps.append(AluStep(AluOp.ADD, constant))
    if np.any(last):
        steps.append(AluStep(AluOp.SHR, last))
    return steps


def _power_of_two_exponent(multiplier: np.ndarray) -> np.ndarray | None:
    """k with M = 2^k exactly (to float32 precision), or None if some M is no power of two."""
    exponent = np.round(np.log2(multiplier)).astype(np.int64)
    if np.all(np.abs(multiplier / np.exp2(exponent) - 1) < 1e-6):
        return exponent
    return None


def plan_requantization(multiplier, *, zero_point: int, lo: int = INT8_MIN, hi: int = INT8_MAX,
         acc_bound, alu_mul: bool, where: str, absorb: bool = False) -> Requantize:
    """Choose the ALU steps of ``clamp(round(acc * M) + zero_point, lo, hi)``.

    `multiplier` M > 0 (scalar or per-channel, broadcast against the accumulator tensor);
    `acc_bound` bounds |acc| (same broadcast shape) and decides whether a pre-clamp is needed;
    `alu_mul` says whether the config has the ALU multiply; `where` names the node in errors.
    With `absorb`, the caller adds the plan's leading constant (`Requantize.offset`, any int32
    below 2^31 − acc_bound) to the accumulator itself, in a bias; otherwise it is a leading ADD.
    """
    multiplier = np.asarray(multiplier, dtype=np.float64)
    acc_bound = np.broadcast_to(np.asarray(acc_bound, dtype=np.int64), multiplier.shape)
    lo, hi = _output_range(zero_point, lo, hi, where)
    if not np.all(np.isfinite(multiplier)) or np.any(multiplier <= 0):
        raise VtaError(f"{where}: requantization scale must be positive and finite")
    exponent = _power_of_two_exponent(multiplier)
    if exponent is not None and np.all(exponent <= 0):
        offset, steps = _right_shift(-exponent, zero_point, acc_bound, absorb)
    elif exponent is not None and (not alu_mul or np.all(exponent >= 0)):
        # Beyond this many output steps from the zero point every result saturates.
        window = max(hi - zero_point, zero_point - lo) + 2
        offset, steps = 0, _left_shift_steps(exponent, acc_bound, window, zero_point)
    elif alu_mul:
        offset, steps = _multiply_steps(multiplier, acc_bound, zero_point, lo, hi, absorb)
    else:
        raise VtaError(f"{where}: requantization scale {float(multiplier.ravel()[0]):.6g} is not a "
                       "power of two and the config has no ALU multiply (ALU_MUL); quantize with "
                       "`vta quantize --power-of-two`")
    return Requantize(multiplier, int(zero_point), lo, hi, tuple(steps + _saturate(lo, hi)), offset)


def _output_range(zero_point: int, lo: int, hi: int, where: str) -> tuple[int, int]:
    lo, hi = max(int(lo), INT8_MIN), min(int(hi), INT8_MAX)
    if not INT8_MIN <= zero_point <= INT8_MAX or lo > hi:
        raise VtaError(f"{where}: output zero point {zero_point} or clamp [{lo}, {hi}] is not int8")
    return lo, hi


def _saturate(lo: int, hi: int) -> list[AluStep]:
    return [AluStep(AluOp.MAX, np.int64(lo)), AluStep(AluOp.MIN, np.int64(hi))]


def _half(shift: np.ndarray) -> np.ndarray:
    """2^(shift−1), 0 for shift 0: the rounding offset of a right shift."""
    return np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), 0)


def _place(offset: np.ndarray, steps: list[AluStep], acc_bound: np.ndarray, absorb: bool):
    """(offset, steps) with a leading constant left to the caller (`absorb`) or as a leading
    ADD; None where it does not fit an immediate or could wrap the accumulator."""
    offset = np.asarray(offset, dtype=np.int64)
    if not offset.any():
        return 0, steps
    wraps = np.any(acc_bound + np.abs(offset) >= 1 << 31)
    if wraps or (not absorb and np.abs(offset).max() > IMM_MAX):
        return None
    return (offset, steps) if absorb else (0, [AluStep(AluOp.ADD, offset)] + steps)


def _right_shift(shift: np.ndarray, zero_point: int, acc_bound: np.ndarray, absorb: bool):
    """M = 2^−s: the offset ``2^(s-1) + zp·2^s`` then truncating shifts (exact), or
    `_rounding_shift` where that offset cannot be placed."""
    offset = _half(shift) + np.left_shift(zero_point, shift)
    placed = _place(offset, _shifts(shift), acc_bound, absorb)
    if placed:
        return placed
    limit = _last_chunk_limit(zero_point)
    if np.any(acc_bound + IMM_MAX >= 1 << 31) and np.any(shift <= limit):
        # The ADD would come first and could wrap an extreme accumulator: clamp (s ≤ 7: every
        # |x| ≥ 2^15 − 1 saturates the output anyway), or shift by 1 first (s ≥ 2).
        if np.all(shift <= 7):
            return 0, _clamp(np.int64(IMM_MAX)) + _rounding_shift(shift, zero_point)
        if np.all(shift >= 2):
            return 0, _rounding_shift(shift, zero_point, np.minimum(shift - 1, limit))
        raise VtaError("requantization: power-of-two multipliers 2^0…2^-1 next to 2^-8 or "
                       "smaller with accumulators reaching 2^31 have no exact plan")
    return 0, _rounding_shift(shift, zero_point)


def _clamp(bound: np.ndarray) -> list[AluStep]:
    return [AluStep(AluOp.MAX, -bound), AluStep(AluOp.MIN, bound)]


def _left_shift_steps(exponent: np.ndarray, acc_bound: np.ndarray, window: int,
                      zero_point: int) -> list[AluStep]:
    """M = 2^k with some k > 0: a rounding right shift where k < 0, then a left shift (after a
    clamp that keeps it from overflowing) where k > 0, then the zero point."""
    steps = _rounding_shift(np.maximum(-exponent, 0), 0)
    left = np.maximum(exponent, 0)
    # Clamp to the values that can still reach the window (right-shifted lanes beyond an
    # immediate saturate anyway).
    reach = np.where(left > 0, -(-window >> left), IMM_MAX)
    if np.any(left > MAX_SHIFT) or np.any((acc_bound << left) >= 1 << 31):
        steps += _clamp(np.minimum(reach, IMM_MAX))
    steps += [AluStep(AluOp.SHR, -chunk) for chunk in _split_shift(left)]
    if zero_point:
        steps.append(AluStep(AluOp.ADD, np.int64(zero_point)))
    return steps


# -- with the ALU multiply --------------------------------------------------------------------
class Rounding(enum.Enum):
    """Where a multiply plan puts the rounding and the zero point, with y(v) the result of the
    steps after the pre-shift (v the pre-shifted accumulator, m the multiplier, s the
    post-shift)."""

    #: the offset holds the pre-shift's rounding 2^(p−1) only; `_rounding_shift` adds the zero
    #: point between two post-shifts (always possible)
    SPLIT = "split"
    #: the offset holds all, y = (v·m) >> s (error ±2^(p−1)·M, as a rounding pre-shift)
    FOLD = "fold"
    #: the offset holds the rounding and zp·2^s / m rounded, an ADD after the MUL the remainder
    #: r, y = (v·m + r) >> s (error 0 when p = 0)
    EXACT = "exact"


@dataclass(frozen=True)
class _Target:
    """What a multiply plan must compute: the output's zero point and clamp, the bound on |acc|
    (broadcast like M), whether the caller absorbs the leading constant (`plan_requantization`'s
    `absorb`), and whether a rounding offset 2^(p−1) can be added without wrapping."""

    zero_point: int
    lo: int
    hi: int
    acc_bound: np.ndarray
    absorb: bool
    rounds: bool


@dataclass
class _Lanes:
    """One multiply plan's constants and properties per lane (arrays broadcast like M)."""

    offset: np.ndarray      # added before the pre-shift
    residual: np.ndarray    # EXACT: added after the MUL
    fits: np.ndarray        # no product can leave 32 bits without the clamp
    clamp_safe: np.ndarray  # a clamp of v to ±IMM_MAX changes no output
    error: np.ndarray       # bound on the rounding error of the pre-shift, in output steps


@dataclass(frozen=True)
class _Shape:
    """A multiply plan's shifts and multiplier per lane: total shift p + s, mantissa m and
    pre-shift p."""

    total: np.ndarray
    mantissa: np.ndarray
    pre: np.ndarray


def _lanes(rounding: Rounding, target: _Target, shape: _Shape) -> _Lanes:
    total, mantissa, pre = shape.total, shape.mantissa, shape.pre
    zero_point = target.zero_point
    post = total - pre
    scale = mantissa * np.exp2(-total.astype(np.float64))
    residual = np.zeros_like(mantissa)
    if rounding == Rounding.FOLD:
        offset = np.rint((zero_point + 0.5) / scale + (np.exp2(pre) - 1) / 2).astype(np.int64)
        error = np.exp2(pre - 1.0) * scale
    elif rounding == Rounding.EXACT:
        constant = _half(post) + np.left_shift(zero_point, post)
        carry = np.rint(constant / mantissa).astype(np.int64)
        residual = constant - carry * mantissa
        offset = _half(pre) + np.left_shift(carry, pre)
        error = np.where(pre > 0, np.exp2(pre - 1.0), 0) * scale
    else:
        offset = _half(pre)
        error = np.where(pre > 0, np.exp2(pre - (1.0 if target.rounds else 0.0)), 0) * scale

    def result(v):
        if rounding == Rounding.SPLIT:
            return ((v * mantissa + _half(post)) >> post) + zero_point
        return (v * mantissa + residual) >> post

    reach = ((target.acc_bound + np.abs(offset)) >> pre) + 1
    limit = (1 << 30) if rounding == Rounding.SPLIT else (1 << 31)
    fits = reach * mantissa + np.abs(residual) < limit
    clamp_safe = (result(IMM_MAX) >= target.hi) & (result(-IMM_MAX) <= target.lo)
    return _Lanes(offset, residual, fits, clamp_safe, error)


def _multiply_steps(multiplier: np.ndarray, acc_bound: np.ndarray, zero_point: int, lo: int,
                    hi: int, absorb: bool):
    """The (offset, steps) costing the fewest ALU cycles, then with the smallest error bound.

    Each plan is: offset, ``SHR p``, an optional clamp of v to ±IMM_MAX, ``MUL m``, a post-shift
    by s (m / 2^(p+s) ≈ M, MIN_MULTIPLIER ≤ m ≤ IMM_MAX), rounding and zero point as `Rounding`
    says. Candidates vary p + s (per lane, or one for all lanes: then only m varies), the
    rounding, the clamp, and p (the least each lane needs, or one p or one s for all lanes, or
    raised so that s fits one SHR); all but the first (per-lane, SPLIT, clamped: the
    always-possible plan) must keep the pre-shift error within ROUNDING_TOLERANCE.
    """
    rounds = bool(np.all(acc_bound < (1 << 31) - (1 << MAX_SHIFT)))   # acc + 2^(p-1) cannot wrap
    target = _Target(zero_point, lo, hi, acc_bound, absorb, rounds)
    # Relative multiplier error counts over the output range.
    window = max(hi - zero_point, zero_point - lo) + 1
    best = None
    for total in _totals(multiplier):
        mantissa = np.round(multiplier * np.exp2(total)).astype(np.int64)
        if mantissa.max() > IMM_MAX or mantissa.min() < MIN_MULTIPLIER:
            continue
        precision = window * np.abs(mantissa * np.exp2(-total.astype(np.float64)) / multiplier - 1)
        for rounding in Rounding:
            least = {clamp: total + 1 for clamp in (False, True)}
            for p in range(int(total.max()) + 1):
                lanes = _lanes(rounding, target, _Shape(total, mantissa, np.minimum(p, total)))
                for clamp, ok in ((False, lanes.fits), (True, lanes.clamp_safe)):
                    least[clamp] = np.where((least[clamp] > total) & ok, np.minimum(p, total),
                                            least[clamp])
                if all(np.all(found <= total) for found in least.values()):
                    break
            for clamp in (True, False):
                for pre in _pre_shifts(least[clamp], total):
                    found = _multiply_candidate(rounding, target, _Shape(total, mantissa, pre),
                                                clamp=clamp, forced=best is None)
                    if found is not None:
                        cycles, error, offset, steps = found
                        constants = sum(not step.uniform for step in steps)
                        key = (cycles, constants, float(np.max(error + precision)))
                        if best is None or key < best[0]:
                            best = (key, offset, steps)
    return best[1], best[2]


def _totals(multiplier: np.ndarray) -> list[np.ndarray]:
    """Total shifts p + s to try: per lane, giving m its full 15 bits (2^14 ≤ m < 2^15) or 14;
    and one for all lanes, giving the largest M's m 15 bits or 14."""
    total = MULTIPLIER_BITS - 1 - np.floor(np.log2(multiplier)).astype(np.int64)
    total = np.where(np.round(multiplier * np.exp2(total)) > IMM_MAX, total - 1, total)
    shared = np.full_like(total, total.min())
    return _distinct([total, total - 1, shared, shared - 1])


def _pre_shifts(least: np.ndarray, total: np.ndarray) -> list[np.ndarray]:
    """Pre-shifts to try from the least each lane needs: as is, one p for all lanes, one s for
    all lanes; each also raised so that s fits one SHR."""
    shapes = [least, np.full_like(least, least.max()), total - (total - least).min()]
    return _distinct(shapes + [np.maximum(p, total - MAX_SHIFT) for p in shapes])


def _distinct(arrays: list[np.ndarray]) -> list[np.ndarray]:
    return list({array.tobytes(): array for array in arrays}.values())


def _multiply_candidate(rounding: Rounding, target: _Target, shape: _Shape, *, clamp: bool,
                        forced: bool):
    """(cycles, error bound per lane, offset, steps) of one plan, or None if it is not valid
    (`forced`: even when its pre-shift error exceeds ROUNDING_TOLERANCE)."""
    pre = shape.pre
    post = shape.total - pre
    if np.any(pre < 0) or np.any(post < 0):
        return None
    lanes = _lanes(rounding, target, shape)
    if not np.all(lanes.clamp_safe if clamp else lanes.fits):
        return None
    if not forced and np.max(lanes.error) > ROUNDING_TOLERANCE:
        return None
    middle = (_clamp(np.int64(IMM_MAX)) if clamp else []) + [AluStep(AluOp.MUL, shape.mantissa)]
    if rounding == Rounding.SPLIT:
        lead = _rounding_shift(pre, 0) if target.rounds else _shifts(pre)
        placed = 0, lead
        if target.absorb and lead and lead[0].op == AluOp.ADD:
            placed = lead[0].operand, lead[1:]
        post_steps = _rounding_shift(post, target.zero_point)
    else:
        placed = _place(lanes.offset, _shifts(pre), target.acc_bound, target.absorb)
        if placed is None:
            return None
        post_steps = ([AluStep(AluOp.ADD, lanes.residual)] if lanes.residual.any() else []) \
            + _shifts(post)
    offset, steps = placed
    steps = steps + middle + post_steps
    return alu_cycles(steps), lanes.error, offset, steps


# -- residual Add -----------------------------------------------------------------------------
#: Bits of the larger multiplier where an Add brings its operands to a common scale first.
ADD_MULTIPLIER_BITS = 14


def plan_add(scales: tuple[float, float], zero_points: tuple[int, int], *, scale: float,
             zero_point: int, lo: int = INT8_MIN, hi: int = INT8_MAX, alu_mul: bool, where: str
             ) -> tuple[tuple[AluStep, ...], tuple[AluStep, ...], Requantize]:
    """The ALU steps of ``y = clamp(round((sa·(a − za) + sb·(b − zb)) / sy) + zy, lo, hi)`` for
    int8 a, b: (steps of a, steps of b, requantization of their sum).

    With the ALU multiply, ``y = clamp((ka·a + kb·b + C) >> s, lo, hi)`` where ki = round(si/sy ·
    2^s) for the largest s ≤ MAX_SHIFT that keeps both immediates and
    C = 2^(s−1) + zy·2^s − ka·za − kb·zb, as long as the multipliers' rounding costs at most
    ROUNDING_TOLERANCE. C is added by the fewest immediate ADDs, after the sum or partly as
    ``ADD c`` in one operand's steps before its MUL (ki·c is most of C). Nothing can leave 32
    bits: |ka·(a + c)| ≤ 32767 · (128 + 32767) < 2^31 − 2^24, |kb·b| < 2^22, |C| < 2^24.
    Otherwise each operand is brought to a common scale (by a shift where the scales differ by a
    power of two) and the sum requantized by `plan_requantization`.
    """
    lo, hi = _output_range(zero_point, lo, hi, where)
    if alu_mul:
        ratios = [s / scale for s in scales]
        shift = MAX_SHIFT
        while shift > 0 and round(max(ratios) * 2 ** shift) > IMM_MAX:
            shift -= 1
        factors = [round(r * 2 ** shift) for r in ratios]
        spans = [max(INT8_MAX - z, z - INT8_MIN) for z in zero_points]
        error = sum(span * abs(k / 2 ** shift - r) for span, k, r in zip(spans, factors, ratios))
        if min(factors) >= 1 and max(factors) <= IMM_MAX and error <= ROUNDING_TOLERANCE:
            constant = (1 << shift >> 1) + (zero_point << shift) \
                - sum(k * z for k, z in zip(factors, zero_points))
            carries = _carries(constant, factors)
            rest = constant - sum(c * k for c, k in zip(carries, factors))
            steps = [tuple(([AluStep(AluOp.ADD, np.int64(c))] if c else [])
                           + [AluStep(AluOp.MUL, np.int64(k))]) for c, k in zip(carries, factors)]
            epilogue = _additions(rest) + _shifts(np.int64(shift)) + _saturate(lo, hi)
            requant = Requantize(np.asarray(2.0 ** -shift), int(zero_point), lo, hi, tuple(epilogue))
            return steps[0], steps[1], requant
    acc_scale, factors, bound = _common_scale(scales, alu_mul, where)
    steps = []
    for zero, (op, operand) in zip(zero_points, factors):
        chain = [AluStep(AluOp.ADD, np.int64(-zero))] if zero else []
        if op == AluOp.SHR:
            chain += [AluStep(AluOp.SHR, -chunk) for chunk in _split_shift(np.int64(operand))]
        else:
            chain.append(AluStep(op, np.int64(operand)))
        steps.append(tuple(chain))
    requant = plan_requantization(acc_scale / scale, zero_point=zero_point, lo=lo, hi=hi,
                                  acc_bound=bound, alu_mul=alu_mul, where=where)
    return steps[0], steps[1], requant


def _carries(constant: int, factors: list[int]) -> tuple[int, int]:
    """What each operand adds before its MUL (at most one nonzero): the choice leaving the
    fewest ADDs for the rest of `constant` after the sum."""
    options = [(0, 0)]
    for index, k in enumerate(factors):
        carry = max(-IMM_MAX, min(IMM_MAX, round(constant / k)))
        options.append((carry, 0) if index == 0 else (0, carry))
    return min(options, key=lambda c: sum(map(bool, c)) + len(_additions(
        constant - c[0] * factors[0] - c[1] * factors[1])))


def _additions(constant: int) -> list[AluStep]:
    """The fewest immediate ADDs adding `constant`."""
    steps = []
    while constant:
        chunk = max(-IMM_MAX, min(IMM_MAX, constant))
        steps.append(AluStep(AluOp.ADD, np.int64(chunk)))
        constant -= chunk
    return steps


def _common_scale(scales, alu_mul: bool, where: str):
    """(accumulator scale, per operand (SHR, k) for a left shift by k or (MUL, m), bound on
    |acc|)."""
    small = min(scales)
    shifts = [round(math.log2(s / small)) for s in scales]
    exact = all(abs(s / small / 2.0 ** k - 1) < 1e-6 for s, k in zip(scales, shifts))
    if exact and max(shifts) <= 22:
        return small, [(AluOp.SHR, k) for k in shifts], sum(255 << k for k in shifts)
    if not alu_mul:
        raise VtaError(f"{where}: input scales {scales[0]:.6g} and {scales[1]:.6g} differ by no "
                       "power of two and the config has no ALU multiply (ALU_MUL)")
    acc_scale = max(scales) / 2 ** ADD_MULTIPLIER_BITS
    multipliers = [round(s / acc_scale) for s in scales]
    if min(multipliers) < 1:
        raise VtaError(f"{where}: input scales {scales[0]:.3g} and {scales[1]:.3g} are too far "
                       "apart to add")
    return acc_scale, [(AluOp.MUL, m) for m in multipliers], 255 * sum(multipliers)
