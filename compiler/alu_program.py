"""Programs of VTA's tensor ALU over a tile's accumulators: the arithmetic, the steps, their cost.

A requantization (and the scaling of a residual Add's operands) is a short program of ALU
instructions applied to every lane of a tile. `AluStep` is one instruction: ``reg = op(reg,
operand)`` where ``reg`` is one of the tile's *registers* — register 0 holds the accumulators
(and, at the end, the result), further registers are scratch ACC regions of the same shape —
and the operand is a constant (one immediate for every lane, or an ACC tile per output
channel) or another register read lane by lane (a vector instruction). Each step is exactly
what one ALU instruction computes (`vta.isa.alu`: docs/isa-reference.md §4.4, docs/contracts.md
§1). The numpy reference executes the very same steps through it, so it is bit-exact with the
hardware by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vta.isa import AluOp, VtaError
from vta.isa import alu as lane
from vta.isa.alu import (ACC_BITS, IMMEDIATE_MAX, MAX_RIGHT_SHIFT, MULTIPLIER_OPERAND_BITS,
                         sign_extend)
from vta.isa.machine import Machine

#: The widest shift one SHR may do.
MAX_SHIFT = MAX_RIGHT_SHIFT
#: Largest magnitude of an ALU immediate; MUL reads this many bits of its operand, so every
#: MUL operand fits it too.
IMM_MAX = IMMEDIATE_MAX
#: An operand constant too wide for an immediate still fits an ACC tile lane.
INT32_MIN, INT32_MAX = -(1 << (ACC_BITS - 1)), (1 << (ACC_BITS - 1)) - 1
#: The smallest magnitude an accumulator lane cannot hold as a positive value (2^31): a value
#: that may reach it may wrap.
ACC_LIMIT = INT32_MAX + 1


def wrap32(values: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of integers to int32, as the 32-bit accumulator does."""
    return np.asarray(values, dtype=np.int64).astype(np.int32)   # integer casts wrap modulo 2^32


def alu(op: AluOp, a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """One ALU operation on int32 lanes exactly as VTA computes it (`vta.isa.alu`); `b` is the
    operand after the hardware's selection (an immediate, or the ACC source lanes)."""
    return lane.alu(op, wrap32(a), wrap32(b))


@dataclass(frozen=True)
class Register:
    """A register of the tile read lane by lane as an operand (a vector ALU instruction)."""

    index: int


@dataclass(frozen=True)
class AluStep:
    """One ALU instruction on every lane of register `register`: ``reg = op(reg, operand)``.

    A constant operand is an int array broadcast against the tensor (0-d when it is the same
    for every lane); MUL and SHR operands fit 16 bits (MUL reads no more, SHR its low 5 bits as
    a signed amount), MIN, MAX and ADD constants 32 bits (one beyond 16 bits is an ACC tile,
    not an immediate).
    """

    op: AluOp
    operand: np.ndarray | Register
    register: int = 0

    def __post_init__(self):
        if isinstance(self.operand, Register):
            if self.operand.index == self.register:
                raise VtaError(f"ALU {self.op.name} reads the register it writes")
            return
        operand = np.asarray(self.operand, dtype=np.int64)
        narrow = self.op in (AluOp.MUL, AluOp.SHR)      # the ALU reads 16 (5) bits of these
        low, high = (-IMM_MAX - 1, IMM_MAX) if narrow else (INT32_MIN, INT32_MAX)
        if operand.size and (operand.min() < low or operand.max() > high):
            raise VtaError(f"ALU {self.op.name} operand outside {low}…{high}")
        if operand.size and np.all(operand == operand.flat[0]):
            operand = np.asarray(operand.flat[0], dtype=np.int64)
        object.__setattr__(self, "operand", operand)

    @property
    def uniform(self) -> bool:
        """True when every lane gets the same constant."""
        return not isinstance(self.operand, Register) and self.operand.ndim == 0

    @property
    def immediate(self) -> bool:
        """True when the operand is one immediate for every lane (else an ACC tile is read)."""
        return self.uniform and abs(int(self.operand)) <= IMM_MAX + (int(self.operand) < 0)

    def __repr__(self) -> str:
        if isinstance(self.operand, Register):
            operand = f"r{self.operand.index}"
        elif self.uniform:
            operand = str(int(self.operand))
        else:
            operand = f"per-channel{list(self.operand.ravel()[:4])}..."
        target = f"r{self.register} " if self.register else ""
        return f"{target}{self.op.name} {operand}"


def registers(steps) -> int:
    """How many registers (register 0 and scratch ACC regions) `steps` use."""
    used = [step.register for step in steps]
    used += [step.operand.index for step in steps if isinstance(step.operand, Register)]
    return max(used, default=0) + 1


def run_steps(steps, acc: np.ndarray) -> np.ndarray:
    """Apply ALU steps in order to int32 lanes; returns register 0. Scratch registers start
    at zero (a program must not depend on that: it zeroes them itself, see `scratch_written`)."""
    values = [wrap32(acc)]
    values += [np.zeros_like(values[0]) for _ in range(registers(steps) - 1)]
    for step in steps:
        operand = values[step.operand.index] if isinstance(step.operand, Register) \
            else step.operand
        values[step.register] = alu(step.op, values[step.register], operand)
    return values[0]


def scratch_written(steps) -> bool:
    """True when every scratch register's first use is a MUL by 0 (so the program does not
    depend on what the register held before)."""
    seen = {0}
    for step in steps:
        if isinstance(step.operand, Register) and step.operand.index not in seen:
            return False
        if step.register not in seen:
            if step.op != AluOp.MUL or isinstance(step.operand, Register) \
                    or np.any(step.operand != 0):
                return False
            seen.add(step.register)
    return True


def alu_cycles(steps, machine: Machine = Machine()) -> int:
    """ALU cycles per output vector: the machine's ALU initiation interval per step (an ACC
    operand — a per-channel constant, a wide constant, a register — is read in the same cycle
    from the other ACC bank)."""
    return len(steps) * machine.loop_interval(gemm=False)


def monotone(steps, low: np.ndarray, high: np.ndarray) -> bool:
    """True when `steps` (`AluStep`s, or (op, operand) pairs on register 0) map every
    accumulator in [low, high] (per lane) through a non-decreasing function without wrapping.
    Then the maximum of the results is the result of the maximum (max pooling commutes).

    Each register is tracked as an interval of values and an interval of increments (how much
    it can change when the accumulator grows by one), soundly through every operation; the
    program is monotone when no value leaves int32 and register 0's increments are ≥ 0.
    """
    low, high = np.asarray(low, dtype=np.int64), np.asarray(high, dtype=np.int64)
    one = np.ones_like(low)
    state = {0: (low, high, one, one)}     # value low/high, increment low/high
    limit = ACC_LIMIT
    for step in steps:
        if not isinstance(step, AluStep):
            step = AluStep(*step)
        if set(state) == {0}:
            # Before any scratch register exists, register 0's value is a function of the
            # accumulator: if that is non-decreasing, the rest may be analysed as a function
            # of this value instead (a composition of non-decreasing functions), which keeps
            # a register copied from it moving together with it.
            value_low, value_high, increment_low, _ = state[0]
            if np.any(increment_low < 0):
                return False
            state[0] = (value_low, value_high, one, one)
        if isinstance(step.operand, Register):
            if step.operand.index not in state:
                return False
            other = state[step.operand.index]
        else:
            constant = np.asarray(step.operand, dtype=np.int64)
            other = (constant, constant, 0 * constant, 0 * constant)
        if step.register not in state:
            if step.op != AluOp.MUL or isinstance(step.operand, Register) or np.any(other[0]):
                return False            # a scratch register read before it is zeroed
            state[step.register] = (0 * low, 0 * low, 0 * low, 0 * low)
        result = _interval_step(step.op, state[step.register], other)
        if result is None or np.any(result[0] < -limit) or np.any(result[1] >= limit):
            return False
        state[step.register] = result
    return bool(np.all(state[0][2] >= 0))


def _interval_step(op: AluOp, a, b):
    """(value low, value high, increment low, increment high) of op(a, b), or None where it
    cannot be bounded (MUL or SHR by a register)."""
    a_low, a_high, da_low, da_high = a
    b_low, b_high, db_low, db_high = b
    if op == AluOp.ADD:
        return a_low + b_low, a_high + b_high, da_low + db_low, da_high + db_high
    if op in (AluOp.MIN, AluOp.MAX):
        pick = np.minimum if op == AluOp.MIN else np.maximum
        return (pick(a_low, b_low), pick(a_high, b_high),
                np.minimum(da_low, db_low), np.maximum(da_high, db_high))
    if np.any(b_low != b_high) or np.any(db_low != 0) or np.any(db_high != 0):
        return None
    if op == AluOp.MUL:
        factor = sign_extend(b_low, MULTIPLIER_OPERAND_BITS)
        ends = (a_low * factor, a_high * factor)
        increments = (da_low * factor, da_high * factor)
        return (np.minimum(*ends), np.maximum(*ends),
                np.minimum(*increments), np.maximum(*increments))
    amount = lane.shift_amount(b_low)
    left, right = -np.minimum(amount, 0), np.maximum(amount, 0)

    def shifted(x):
        return (x << left) >> right
    # floor(x / 2^s) grows by floor(d / 2^s) … ceil(d / 2^s) when x grows by d.
    return shifted(a_low), shifted(a_high), shifted(da_low), -shifted(-da_high)


def split_shift(total) -> list[np.ndarray]:
    """Split non-negative shift amounts (per lane) into chunks of at most MAX_SHIFT, the same
    number of chunks for every lane."""
    chunks = []
    remaining = np.asarray(total, dtype=np.int64)
    while np.any(remaining > 0):
        chunk = np.minimum(remaining, MAX_SHIFT)
        chunks.append(chunk)
        remaining = remaining - chunk
    return chunks


def shifts(amounts, register: int = 0) -> list[AluStep]:
    """Truncating right shifts by `amounts` (per lane, ≥ 0)."""
    return [AluStep(AluOp.SHR, chunk, register) for chunk in split_shift(amounts)]


def half(shift) -> np.ndarray:
    """2^(shift−1), 0 for shift 0: the rounding offset of a right shift."""
    shift = np.asarray(shift, dtype=np.int64)
    return np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), 0)


def last_chunk_limit(zero_point: int) -> int:
    """The largest b with |zero_point · 2^b| + 2^(b−1) within an immediate (7 for |zp| = 128)."""
    b = MAX_SHIFT
    while abs(zero_point) * (1 << b) + (1 << (b - 1)) > IMM_MAX:
        b -= 1
    return b


def rounding_shift(shift, zero_point: int, last=None, centre=None) -> list[AluStep]:
    """Steps computing ``⌊(x + 2^(s−1)) / 2^s⌋ + zero_point`` (round half up) exactly, s ≥ 0
    per lane.

    Truncating shifts by a = s − b come first (b = `last`, by default as large as the immediate
    allows), then ``ADD 2^(b−1) + zp·2^b`` (an immediate) and ``SHR b``:
    ``⌊(⌊x / 2^a⌋ + 2^(b−1) + zp·2^b) / 2^b⌋ = ⌊(x + 2^(s−1)) / 2^s⌋ + zp``.

    With `centre` (per lane, in units of x), ``⌊(x + centre + 2^(s−1)) / 2^s⌋ + zero_point``
    instead: one ADD of the whole constant (an ACC tile where it is no immediate), then the
    shifts; the caller makes sure x plus it stays inside int32.
    """
    shift = np.asarray(shift, dtype=np.int64)
    if centre is not None:
        constant = np.asarray(centre, dtype=np.int64) + half(shift) + np.left_shift(
            np.int64(zero_point), shift)
        return ([AluStep(AluOp.ADD, constant)] if np.any(constant) else []) + shifts(shift)
    if last is None:
        last = np.minimum(shift, last_chunk_limit(zero_point))
    steps = shifts(shift - last)
    constant = half(last) + (zero_point << np.asarray(last, dtype=np.int64))
    if np.any(constant):
        steps.append(AluStep(AluOp.ADD, constant))
    if np.any(last):
        steps.append(AluStep(AluOp.SHR, last))
    return steps
