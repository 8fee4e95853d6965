"""Requantization as the VTA ALU computes it: the integer arithmetic and the choice of constants.

A requantization maps int32 accumulators to int8: ``y = clamp(round(acc * M) + zero_point, lo, hi)``
for a real multiplier ``M`` (per tensor or per output channel). VTA has no floating point, so it
is done as a short sequence of ALU operations (`AluStep`), each exactly what one ALU instruction
computes on every lane (reference §4.4, DESIGN.md contract 1):

- with the ALU multiply (``ALU_MUL``): a truncating pre-shift, a clamp that keeps the product
  inside 32 bits, ``MUL`` by a 15-bit multiplier, a rounding post-shift (``ADD 2^(s-1)`` then
  ``SHR s``), ``ADD zero_point``, and the final ``MAX lo`` / ``MIN hi``;
- without it (the original VTA's scheme), ``M`` must be a power of two and the multiply is a shift.

Every step operand is an integer array broadcast against the tensor (a 0-d array when it is the
same for every lane, per-channel otherwise), and every operand value fits a signed 16-bit
immediate (SHR amounts fit −16…15), so code generation may emit a uniform operand as an
immediate and a per-channel one as an ACC tile with identical results. The numpy reference
executes the very same steps through `alu`, so it is bit-exact with the hardware by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vta.isa import AluOp, VtaError

#: Bits of the int32 accumulator; all ALU results wrap modulo 2**ACC_BITS.
ACC_BITS = 32
#: Largest multiplier: 15 bits, so that ``sext16`` keeps it positive (DESIGN.md contract 1).
MULTIPLIER_BITS = 15
#: The widest shift one SHR may do (its operand is taken as a signed 5-bit value, −16…15).
MAX_SHIFT = 15
#: Largest magnitude of an ALU immediate (signed 16 bits).
IMM_MAX = (1 << 15) - 1
#: The largest rounding error (in output steps) a pre-shift may add to spare the two clamp
#: operations that otherwise keep the multiplication inside 32 bits.
PRE_SHIFT_TOLERANCE = 1 / 32
#: Output range of every requantization: the int8 values a STORE keeps.
INT8_MIN, INT8_MAX = -128, 127


def wrap32(values: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of integers to int32, as the 32-bit accumulator does."""
    return np.asarray(values, dtype=np.int64).astype(np.int32)   # integer casts wrap modulo 2^32


def sext(values: np.ndarray, bits: int) -> np.ndarray:
    """The low `bits` bits of `values`, sign-extended (as int64)."""
    values = np.asarray(values, dtype=np.int64)
    low = values & ((1 << bits) - 1)
    return np.where(low >= 1 << (bits - 1), low - (1 << bits), low)


def alu(op: AluOp, a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """One ALU operation on int32 lanes exactly as VTA computes it (reference §4.4).

    `b` is the second operand after the hardware's operand selection (an immediate already
    sign-extended, or the ACC source lanes); SHR uses its low 5 bits as a signed amount and MUL
    its low 16 bits sign-extended.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if op == AluOp.MIN:
        result = np.minimum(a, b)
    elif op == AluOp.MAX:
        result = np.maximum(a, b)
    elif op == AluOp.ADD:
        result = a + b
    elif op == AluOp.SHR:
        amount = sext(b, 5)
        result = np.where(amount >= 0, a >> np.maximum(amount, 0), a << np.maximum(-amount, 0))
    elif op == AluOp.MUL:
        result = a * sext(b, 16)
    else:
        raise VtaError(f"ALU operation {op!r} does not exist")
    return wrap32(result)


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


@dataclass(frozen=True)
class Requantize:
    """int32 accumulators → int8: the ALU steps and what they stand for.

    `multiplier` is the real factor M (float64, broadcast against the tensor), `zero_point`, `lo`
    and `hi` the int8 output zero point and clamp (the clamp holds any fused ReLU/Clip).
    """

    multiplier: np.ndarray
    zero_point: int
    lo: int
    hi: int
    steps: tuple[AluStep, ...] = field(repr=False)

    def __call__(self, acc: np.ndarray) -> np.ndarray:
        return run_steps(self.steps, acc).astype(np.int8)


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


def _rounding_shift(shift: np.ndarray, zero_point: int) -> list[AluStep]:
    """Steps computing ``floor((x + 2^(s-1)) / 2^s) + zero_point`` (round half up), s ≥ 0.

    Truncating shifts by a = s − b come first; the last chunk b adds ``2^(b-1) + zp·2^b`` (an
    immediate), which is exact:
    ``floor((floor(x / 2^a) + 2^(b-1) + zp·2^b) / 2^b) = floor((x + 2^(s-1)) / 2^s) + zp``.
    """
    shift = np.asarray(shift, dtype=np.int64)
    last = np.minimum(shift, _last_chunk_limit(zero_point))
    steps = _shifts(shift - last)
    constant = np.where(last > 0, 1 << np.maximum(last - 1, 0), 0) + (zero_point << last)
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


def plan(multiplier, *, zero_point: int, lo: int = INT8_MIN, hi: int = INT8_MAX,
         acc_bound, alu_mul: bool, where: str) -> Requantize:
    """Choose the ALU steps of ``clamp(round(acc * M) + zero_point, lo, hi)``.

    `multiplier` M > 0 (scalar or per-channel, broadcast against the accumulator tensor);
    `acc_bound` bounds |acc| (same broadcast shape) and decides whether a pre-clamp is needed;
    `alu_mul` says whether the config has the ALU multiply; `where` names the node in errors.
    """
    multiplier = np.asarray(multiplier, dtype=np.float64)
    acc_bound = np.broadcast_to(np.asarray(acc_bound, dtype=np.int64), multiplier.shape)
    lo, hi = max(int(lo), INT8_MIN), min(int(hi), INT8_MAX)
    if not INT8_MIN <= zero_point <= INT8_MAX or lo > hi:
        raise VtaError(f"{where}: output zero point {zero_point} or clamp [{lo}, {hi}] is not int8")
    if not np.all(np.isfinite(multiplier)) or np.any(multiplier <= 0):
        raise VtaError(f"{where}: requantization scale must be positive and finite")
    # Beyond this many output steps from the zero point every result saturates.
    window = max(hi - zero_point, zero_point - lo) + 2
    exponent = _power_of_two_exponent(multiplier)
    if exponent is not None and np.all(exponent <= 0):
        steps = _rounding_shift(-exponent, zero_point)
    elif exponent is not None and (not alu_mul or np.all(exponent >= 0)):
        steps = _left_shift_steps(exponent, acc_bound, window, zero_point)
    elif alu_mul:
        steps = _multiply_steps(multiplier, acc_bound, window, zero_point)
    else:
        raise VtaError(f"{where}: requantization scale {float(multiplier.ravel()[0]):.6g} is not a "
                       "power of two and the config has no ALU multiply (ALU_MUL); quantize with "
                       "`vta quantize --power-of-two`")
    steps += [AluStep(AluOp.MAX, np.int64(lo)), AluStep(AluOp.MIN, np.int64(hi))]
    return Requantize(multiplier, int(zero_point), lo, hi, tuple(steps))


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


def _multiply_steps(multiplier: np.ndarray, acc_bound: np.ndarray, window: int,
                    zero_point: int) -> list[AluStep]:
    """``ADD 2^(p-1)``, ``SHR p`` (a rounding pre-shift; the ADD can be folded into a bias), an
    optional clamp to ±IMM_MAX, ``MUL m`` (15 bits), then a rounding post-shift by s that adds
    the zero point: m / 2^(p+s) ≈ M."""
    # Total shift t giving the multiplier its full 15 bits: 2^14 <= M * 2^t < 2^15.
    total = MULTIPLIER_BITS - 1 - np.floor(np.log2(multiplier)).astype(np.int64)
    mantissa = np.round(multiplier * np.exp2(total)).astype(np.int64)
    overflow = mantissa > IMM_MAX          # rounding reached 2^15
    total = np.where(overflow, total - 1, total)
    mantissa = np.where(overflow, np.round(multiplier * np.exp2(total)).astype(np.int64), mantissa)
    # The smallest pre-shift keeping every accumulator that can still reach the output window
    # within an immediate, so that a clamp to ±IMM_MAX changes no result ...
    pre = _smallest_shift(np.ceil(window / multiplier).astype(np.int64), IMM_MAX - 1)
    # ... and the one that makes the clamp unnecessary (the product stays below 2^30), taken
    # where its rounding error is small enough.
    unclamped = _smallest_shift(acc_bound * mantissa, (1 << 30) - 1, offset=mantissa)
    affordable = np.exp2(unclamped - 1) * multiplier <= PRE_SHIFT_TOLERANCE
    pre = np.where(affordable, np.maximum(pre, unclamped), pre)
    pre = np.minimum(pre, total)
    post = total - pre
    rounds = np.all(acc_bound < (1 << 31) - (1 << MAX_SHIFT))     # acc + 2^(p-1) cannot wrap
    steps = _rounding_shift(pre, 0) if rounds else _shifts(pre)
    if np.any(((acc_bound >> pre) + 1) * mantissa >= 1 << 30):
        steps += _clamp(np.int64(IMM_MAX))
    steps.append(AluStep(AluOp.MUL, mantissa))
    return steps + _rounding_shift(post, zero_point)


def _smallest_shift(values: np.ndarray, limit: int, offset: np.ndarray | int = 0) -> np.ndarray:
    """Per lane, the smallest s ≥ 0 with (values >> s) + offset ≤ limit."""
    values = np.asarray(values, dtype=np.int64)
    shift = np.zeros(values.shape, dtype=np.int64)
    while np.any(too_large := (values >> shift) + offset > limit):
        shift = np.where(too_large, shift + 1, shift)
    return shift
