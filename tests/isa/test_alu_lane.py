"""The ALU lane of `vta.isa.alu` against the table of docs/isa-reference.md §4.4 (and the
multiply of docs/contracts.md §1), written out here with Python integers."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from vta.isa import AluOp
from vta.isa.alu import alu, alu_unwrapped, shift_amount


def wrap32(value: int) -> int:
    return (int(value) + (1 << 31)) % (1 << 32) - (1 << 31)


def expected(opcode: AluOp, a: int, b: int) -> int:
    """One lane from the reference table; `b` is the immediate or the 32-bit source lane."""
    if opcode == AluOp.MIN:
        return min(a, b)
    if opcode == AluOp.MAX:
        return max(a, b)
    if opcode == AluOp.ADD:
        return wrap32(a + b)
    if opcode == AluOp.SHR:
        shift = (b & 31) - 32 if b & 16 else b & 31
        return a >> shift if shift >= 0 else wrap32(a << -shift)
    factor = (b & 0xFFFF) - 0x10000 if b & 0x8000 else b & 0xFFFF
    return wrap32(a * factor)


INT32 = st.integers(-(1 << 31), (1 << 31) - 1)
EDGES = [-(1 << 31), -(1 << 31) + 1, -32768, -17, -16, -1, 0, 1, 15, 16, 31, 32767, (1 << 31) - 1]


@given(st.sampled_from(list(AluOp)), st.lists(INT32, min_size=1, max_size=8), INT32)
def test_vector_lanes_follow_the_reference_table(opcode, a_values, b):
    a = np.array(a_values, dtype=np.int32)
    got = alu(opcode, a, np.full_like(a, b))
    assert got.tolist() == [expected(opcode, value, b) for value in a_values]


def test_edge_values_with_a_scalar_operand_in_place():
    for opcode in AluOp:
        for b in EDGES:
            a = np.array(EDGES, dtype=np.int32)
            result = alu(opcode, a, np.int32(b), out=a)
            assert np.shares_memory(result, a)
            assert a.tolist() == [expected(opcode, value, b) for value in EDGES], (opcode, b)


def test_shift_amount_is_the_low_five_bits_signed():
    assert shift_amount(np.array([0, 15, 16, 31, 32, -1, -16, 47])).tolist() == \
        [0, 15, -16, -1, 0, -1, -16, 15]


def test_unwrapped_results_leave_int32_where_the_hardware_wraps():
    assert int(alu_unwrapped(AluOp.ADD, (1 << 31) - 1, 1)) == 1 << 31
    assert int(alu_unwrapped(AluOp.MUL, 1 << 20, 1 << 14)) == 1 << 34
    assert int(alu(AluOp.MUL, np.int32(1 << 20), np.int32(1 << 14))) == 0
