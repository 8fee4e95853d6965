"""One lane of the tensor ALU, on numpy arrays: the arithmetic of docs/isa-reference.md §4.4 and
the multiply extension of docs/contracts.md §1, stated once.

The functional simulator runs it on whole accumulator tiles, the compiler's requantization
plans with it, and the hardware's tests take it as the gold model of `vta.hardware.alu`.
Accumulator lanes are int32 (`Config` accepts only ``LOG_ACC_WIDTH = 5``).
"""

from __future__ import annotations

import numpy as np

from vta.isa.layout import ALU_IMM_BITS
from vta.isa.opcodes import AluOp

#: Bits of an accumulator lane; every result wraps modulo 2**ACC_BITS.
ACC_BITS = 32
#: SHR takes the low log2(ACC_BITS) bits of its operand as a signed amount.
SHIFT_BITS = (ACC_BITS - 1).bit_length()
#: The widest right shift (a negative amount shifts left by up to 2**(SHIFT_BITS - 1)).
MAX_RIGHT_SHIFT = (1 << (SHIFT_BITS - 1)) - 1
#: MUL multiplies by the low MULTIPLIER_OPERAND_BITS bits of its operand, sign-extended.
MULTIPLIER_OPERAND_BITS = ALU_IMM_BITS
#: Range of an immediate operand (a signed ALU_IMM_BITS-bit field).
IMMEDIATE_MIN, IMMEDIATE_MAX = -(1 << (ALU_IMM_BITS - 1)), (1 << (ALU_IMM_BITS - 1)) - 1


def sign_extend(values, bits: int) -> np.ndarray:
    """The low `bits` bits of `values` read as a two's-complement number (int64)."""
    half = 1 << (bits - 1)
    return ((np.asarray(values, dtype=np.int64) & (2 * half - 1)) ^ half) - half


def shift_amount(operand) -> np.ndarray:
    """The signed shift of SHR for operand `operand`; negative means a left shift."""
    return sign_extend(operand, SHIFT_BITS)


def alu_unwrapped(opcode: AluOp, a, b) -> np.ndarray:
    """``op(a, b)`` on int64 lanes before the wrap to ACC_BITS (for range analysis); `b` is the
    operand after the hardware's selection (an immediate or the source lane)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if opcode == AluOp.MIN:
        return np.minimum(a, b)
    if opcode == AluOp.MAX:
        return np.maximum(a, b)
    if opcode == AluOp.ADD:
        return a + b
    if opcode == AluOp.SHR:
        amount = shift_amount(b)
        return np.where(amount >= 0, a >> np.maximum(amount, 0), a << np.maximum(-amount, 0))
    if opcode == AluOp.MUL:
        return a * sign_extend(b, MULTIPLIER_OPERAND_BITS)
    raise ValueError(f"ALU opcode {opcode} has no operation")


def alu(opcode: AluOp, a: np.ndarray, b, out: np.ndarray | None = None) -> np.ndarray:
    """``op(a, b)`` on int32 lanes with the hardware's wrap-around; `b` (int32 range) broadcasts
    against `a`. The result goes to `out` when given (it may overlap the operands)."""
    a = np.asarray(a)
    if a.dtype != np.int32:
        a = a.astype(np.int32)
    if not (isinstance(b, np.int32) or (isinstance(b, np.ndarray) and b.dtype == np.int32)):
        b = np.asarray(b).astype(np.int32)
    if opcode == AluOp.MIN:
        return np.minimum(a, b, out=out)
    if opcode == AluOp.MAX:
        return np.maximum(a, b, out=out)
    if opcode == AluOp.ADD:
        return np.add(a, b, out=out, dtype=np.int32, casting="unsafe")
    if opcode == AluOp.SHR:
        if isinstance(b, np.int32):  # an immediate: its shift as a Python int, no array work
            half = 1 << (SHIFT_BITS - 1)
            shift = ((int(b) & (2 * half - 1)) ^ half) - half
            if shift >= 0:
                return np.right_shift(a, np.int32(shift), out=out)
            unsigned = None if out is None else out.view(np.uint32)
            return np.left_shift(a.view(np.uint32), np.uint32(-shift), out=unsigned).view(np.int32)
        shift = shift_amount(b)
        if shift.ndim == 0 and shift >= 0:
            return np.right_shift(a, np.int32(shift), out=out)
        if shift.ndim == 0:
            unsigned = None if out is None else out.view(np.uint32)
            return np.left_shift(a.view(np.uint32), np.uint32(-shift), out=unsigned).view(np.int32)
        right = a >> np.maximum(shift, 0).astype(np.int32)
        left = (a.view(np.uint32) << np.maximum(-shift, 0).astype(np.uint32)).view(np.int32)
        result = np.where(shift >= 0, right, left)
    elif opcode == AluOp.MUL:
        factor = sign_extend(b, MULTIPLIER_OPERAND_BITS)
        result = (a.astype(np.int64) * factor).astype(np.int32)
    else:
        raise ValueError(f"ALU opcode {opcode} has no operation")
    if out is None:
        return result
    out[...] = result
    return out
