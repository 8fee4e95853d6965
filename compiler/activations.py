"""Element-wise activations of one int8 tensor as VTA ALU programs: LeakyRelu, PRelu (constant
slopes), HardSigmoid and HardSwish between a DequantizeLinear and a QuantizeLinear.

An int8 input takes at most 256 values, so the activation *is* a table: for each input q, the
output ONNX defines — DequantizeLinear, the float operator (its host kernel), QuantizeLinear
(round half to even, saturate), any Relu/Clip after it — evaluated in float64, the exact
evaluation of the QDQ graph. The planners below build an ALU program on ``a = q − zero_point``
(register 0, as a `Requantization` layer leaves it) and accept it only if it gives that table
on every one of the 256 inputs: the VTA result then equals the exact table for every input, by
exhaustion, not by an error bound. Where no candidate program matches, the caller makes the
table itself a host node (`tables`; with per-channel parameters, the float operator runs on the
host as it is).

Programs (unit 2^−T of an output step, T as large as the 32-bit accumulator allows):

- piecewise linear with a break at 0 (LeakyRelu, PRelu, and HardSigmoid with one piece):
  ``X = max(a, 0)·m₊ + min(a, 0)·m₋``, each multiplier of up to 22 bits as ``(a·h)·2^j + a·l``
  (two 16-bit ALU multiplies);
- HardSwish ``x·clamp(x/6 + 1/2, 0, 1)``: ``h = clamp(⌊(a·m + c)/2^V⌋, 0, H)`` in a scratch
  register, H = (input scale / output scale)·2^T, then ``X = a·h`` (a vector MUL);

then ``y = clamp(⌊(X + c)/2^T⌋, L, H)``, where L and H are the table's extremes and c is chosen
from the intersection of the intervals every input allows (`fit_constant`), so the rounding, the
zero point and any constant term (HardSigmoid's β) come out exact wherever X separates the
outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vta.compiler.alu_program import (IMM_MAX, INT32_MAX, AluStep, Register, run_steps, shifts)
from vta.compiler.requantize import Requantize
from vta.compiler.tables import quantized_exactly
from vta.isa import AluOp, VtaError

#: The operators planned here and the ONNX attributes (with defaults) each takes.
ACTIVATIONS = {"LeakyRelu": {"alpha": 0.01}, "PRelu": {},
               "HardSigmoid": {"alpha": 0.2, "beta": 0.5}, "HardSwish": {}}

#: Multiplier widths tried, cheapest first: one ALU MUL (15 bits), two (22 bits).
_PRECISIONS = (15, 22)


@dataclass(frozen=True)
class Activation:
    """What the importer knows of an activation node: the operator, its real slopes for the
    piecewise-linear planner (per channel, broadcast like the table's channel axes: (negative,
    positive) slopes of f(x) around 0), and `table`, which computes the float output of the
    node for float inputs (the host kernel, in the inputs' float type)."""

    op: str
    slopes: tuple[np.ndarray, np.ndarray] | None
    table: Callable[[np.ndarray], np.ndarray]


def target_table(activation: Activation, x_quant, out_quant, lo: int, hi: int, inputs: np.ndarray,
                 channel_shape: tuple[int, ...]) -> np.ndarray:
    """The int8 output for each int8 input (axis 0) and channel (the other axes): ONNX's
    DequantizeLinear, the node's float kernel and QuantizeLinear, clamped to [lo, hi], all in
    float64 — the exact evaluation of the QDQ graph, as the host's tables (`tables`)."""
    def per_channel(real):
        real = real.reshape((-1,) + (1,) * len(channel_shape))
        return activation.table(np.ascontiguousarray(np.broadcast_to(
            real, (len(inputs),) + channel_shape)))
    steps = quantized_exactly(inputs, x_quant, out_quant, per_channel)
    return np.clip(steps, lo, hi).astype(np.int64)


def fit_constant(x: np.ndarray, table: np.ndarray, shift: int, low: int, high: int
                 ) -> np.ndarray | None:
    """c (per channel: the table's axes after the first) with clamp(⌊(x + c)/2^shift⌋, low,
    high) = table for every input (axis 0), or None where no c does it."""
    unit = np.int64(1) << np.int64(shift)
    x, table = x.astype(np.int64), table.astype(np.int64)
    lower = np.where(table > low, table * unit - x, np.iinfo(np.int64).min // 4)
    upper = np.where(table < high, (table + 1) * unit - 1 - x, np.iinfo(np.int64).max // 4)
    lower, upper = lower.max(axis=0), upper.min(axis=0)
    if np.any(lower > upper):
        return None
    # The middle of the allowed interval, nearest to 0 where it is unbounded.
    bounded_lower = np.where(lower < -(1 << 40), np.minimum(upper, 0), lower)
    bounded_upper = np.where(upper > (1 << 40), np.maximum(bounded_lower, 0), upper)
    return (bounded_lower + bounded_upper) // 2


def _multiply(register: int, multiplier: np.ndarray, scratch: int, bits: int) -> list[AluStep]:
    """register ×= multiplier (|m| < 2^bits): one MUL where it fits 16 bits, else
    ``(r·h)·2^j + r·l`` with the scratch register (m = h·2^j + l, 0 ≤ l < 2^j)."""
    multiplier = np.asarray(multiplier, dtype=np.int64)
    if np.all(np.abs(multiplier) <= IMM_MAX):
        return [AluStep(AluOp.MUL, multiplier, register)]
    j = bits - IMM_MAX.bit_length()
    high, low = multiplier >> j, multiplier & ((1 << j) - 1)
    return [AluStep(AluOp.MUL, np.int64(0), scratch), AluStep(AluOp.ADD, Register(register), scratch),
            AluStep(AluOp.MUL, high, register), AluStep(AluOp.SHR, np.int64(-j), register),
            AluStep(AluOp.MUL, low, scratch), AluStep(AluOp.ADD, Register(scratch), register)]


def _scaled(slope: np.ndarray, shift: int) -> np.ndarray:
    return np.rint(np.asarray(slope, dtype=np.float64) * float(1 << shift)).astype(np.int64)


def _finish(steps: list[AluStep], a: np.ndarray, table: np.ndarray, shift: int, low: int,
            high: int) -> list[AluStep] | None:
    """`steps` (computing X) completed by ADD c, the shift and the clamp, where some c makes
    the whole program give `table` on every input."""
    x = run_steps(steps, a).astype(np.int64)
    c = fit_constant(x, table, shift, low, high)
    if c is None or np.any(np.abs(x).max(axis=0) + np.abs(c) > INT32_MAX):
        return None
    program = list(steps) + ([AluStep(AluOp.ADD, c)] if np.any(c) else []) + shifts(shift) + \
        [AluStep(AluOp.MAX, np.int64(low)), AluStep(AluOp.MIN, np.int64(high))]
    return program if np.array_equal(run_steps(program, a), table) else None


def _piecewise_linear(slopes, a, table, low, high) -> list[AluStep] | None:
    """X = min(a, 0)·m₋ + max(a, 0)·m₊ (one product where the slopes agree)."""
    negative, positive = (np.asarray(s, dtype=np.float64) for s in slopes)
    reach = float(max(np.abs(negative).max(), np.abs(positive).max()))
    if not 0 < reach < np.inf:
        return None
    for bits in _PRECISIONS:
        shift = int(np.floor(np.log2((2 ** bits - 1) / reach)))
        if shift < 0:
            continue
        for tries in range(3):
            t = shift - tries
            m_neg, m_pos = _scaled(negative, t), _scaled(positive, t)
            if np.array_equal(m_neg, m_pos):
                steps = _multiply(0, m_pos, 1, bits)
            else:
                steps = [AluStep(AluOp.MUL, np.int64(0), 1), AluStep(AluOp.ADD, Register(0), 1),
                         AluStep(AluOp.MIN, np.int64(0), 1), AluStep(AluOp.MAX, np.int64(0), 0)]
                steps += _multiply(0, m_pos, 2, bits) if np.any(m_pos != 1) else []
                steps += _multiply(1, m_neg, 2, bits) + [AluStep(AluOp.ADD, Register(1), 0)]
            program = _finish(steps, a, table, t, low, high)
            if program is not None:
                return program
    return None


def _hard_swish(ratio: float, input_scale: float, a, table, low, high) -> list[AluStep] | None:
    """h = clamp(⌊(a·m + c)/2^V⌋, 0, H) ≈ clamp(x/6 + 1/2, 0, 1)·ratio·2^T in register 1,
    then X = a·h."""
    top = int(np.floor(np.log2(IMM_MAX / ratio)))
    for t in (top, top - 1):
        cap = int(np.rint(ratio * (1 << t)))
        if not 0 < cap <= IMM_MAX:
            continue
        slope = input_scale / 6 * ratio * (1 << t)
        extra = int(np.floor(np.log2((2 ** 22 - 1) / slope)))
        if extra < 0:
            continue
        m = _scaled(slope, extra)
        centre = int(np.rint(ratio * (1 << t) / 2 * (1 << extra))) + (1 << extra >> 1)
        for nudge in (0, -1, 1, -2, 2):
            c = centre + nudge * max(1, (1 << extra) >> 3)
            steps = [AluStep(AluOp.MUL, np.int64(0), 1), AluStep(AluOp.ADD, Register(0), 1)]
            steps += _multiply(1, m, 2, 22)
            steps += [AluStep(AluOp.ADD, np.int64(c), 1)] + shifts(extra, 1)
            steps += [AluStep(AluOp.MAX, np.int64(0), 1), AluStep(AluOp.MIN, np.int64(cap), 1),
                      AluStep(AluOp.MUL, Register(1), 0)]
            program = _finish(steps, a, table, t, low, high)
            if program is not None:
                return program
    return None


def _shift_only(slopes, a, table, low, high) -> list[AluStep] | None:
    """X = a (no multiply, for configs without ALU_MUL): one slope, applied by the final
    shift alone where it is close to 2^−T."""
    negative, positive = (np.asarray(s, dtype=np.float64) for s in slopes)
    if not np.array_equal(negative, positive) or np.any(positive <= 0) \
            or not np.all(np.isfinite(positive)):
        return None
    for t in sorted({int(np.floor(-np.log2(v))) for v in (positive.min(), positive.max())}
                    | {int(np.ceil(-np.log2(v))) for v in (positive.min(), positive.max())}):
        program = _finish([], a, table, t, low, high) if t >= 0 else None
        if program is not None:
            return program
    return None


def plan_activation(activation: Activation, x_quant, out_quant, lo: int, hi: int,
                    value_range: tuple[int, int], channel_shape: tuple[int, ...], where: str,
                    *, alu_mul: bool = True) -> Requantize:
    """The ALU program of `activation` on a = q − x_quant.zero_point (register 0) giving, for
    every int8 input q in `value_range`, exactly the output ONNX defines (`target_table`),
    as a `Requantize` (its multiplier: the input/output scale ratio, for the cost model).
    Without `alu_mul` only programs without a multiply qualify."""
    inputs = np.arange(value_range[0], value_range[1] + 1, dtype=np.int64)
    table = target_table(activation, x_quant, out_quant, lo, hi, inputs, channel_shape)
    a = (inputs - x_quant.zero_point).reshape((-1,) + (1,) * len(channel_shape))
    a = np.broadcast_to(a, table.shape)
    low, high = int(table.min()), int(table.max())
    ratio = x_quant.scale / out_quant.scale
    if low == high:
        steps = [AluStep(AluOp.MAX, np.int64(low)), AluStep(AluOp.MIN, np.int64(high))]
    elif not alu_mul:
        steps = None if activation.op == "HardSwish" else _shift_only(
            tuple(slope * ratio for slope in activation.slopes), a, table, low, high)
    elif activation.op == "HardSwish":
        steps = _hard_swish(ratio, x_quant.scale, a, table, low, high)
    else:
        negative, positive = activation.slopes
        steps = _piecewise_linear((negative * ratio, positive * ratio), a, table, low, high)
    if steps is None:
        raise VtaError(f"{where}: no ALU program of {activation.op} gives ONNX's int8 result "
                       "for every input" + ("" if alu_mul else " without the ALU multiply"))
    return Requantize(np.asarray(ratio), int(out_quant.zero_point), low, high, tuple(steps))
