"""One lane of VTA's tensor ALU written from the reference (§4.4, DESIGN.md contract 1) with
Python integers: the gold model the hardware, simulator and compiler tests share."""

from vta.isa import AluOp


def wrap32(value: int) -> int:
    return (int(value) + (1 << 31)) % (1 << 32) - (1 << 31)


def sext(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def alu_lane(opcode: AluOp, a: int, b: int) -> int:
    """One lane of the vector ALU; `b` is the immediate or the full 32-bit source lane."""
    if opcode == AluOp.MIN:
        return min(a, b)
    if opcode == AluOp.MAX:
        return max(a, b)
    if opcode == AluOp.ADD:
        return wrap32(a + b)
    if opcode == AluOp.SHR:
        shift = sext(b, 5)
        return a >> shift if shift >= 0 else wrap32(a << -shift)
    if opcode == AluOp.MUL:
        return wrap32(a * sext(b, 16))
    raise AssertionError(opcode)
