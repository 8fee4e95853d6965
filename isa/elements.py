"""Narrow tile elements in bytes (docs/isa-reference.md §2, "Narrow elements").

INP, WGT and OUT values are `bits` = 2, 4 or 8 bits wide. A tile is a bit vector with value k in
bits [k·bits, (k+1)·bits), stored little-endian, so byte j holds values j·(8/bits) … in order from
its least significant bits; consecutive tiles are whole bytes, so the same rule packs any run of
tiles. Values are two's-complement; a STORE keeps the low `bits` bits of each OUT value.
"""

from __future__ import annotations

import numpy as np

from vta.isa.alu import sign_extend


def values_per_byte(bits: int) -> int:
    if bits not in (2, 4, 8):
        raise ValueError(f"element width {bits} is not 2, 4 or 8 bits")
    return 8 // bits


def value_range(bits: int) -> tuple[int, int]:
    """(lowest, highest) signed value of a `bits`-bit element."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def pack(values, bits: int) -> np.ndarray:
    """The bytes of `values` (integers; their low `bits` bits are kept) packed along the last
    axis, which must hold a whole number of bytes of values."""
    values = np.asarray(values)
    per = values_per_byte(bits)
    if per == 1:
        return values.astype(np.int64).astype(np.uint8)
    if values.shape[-1] % per:
        raise ValueError(f"{values.shape[-1]} values of {bits} bits are not whole bytes")
    lanes = (values.astype(np.int64) & ((1 << bits) - 1)).astype(np.uint8)
    lanes = lanes.reshape(values.shape[:-1] + (values.shape[-1] // per, per))
    shifted = lanes << (np.arange(per, dtype=np.uint8) * bits)
    return np.bitwise_or.reduce(shifted, axis=-1).astype(np.uint8)


def unpack(data, bits: int) -> np.ndarray:
    """The signed `bits`-bit values (int8) packed in the bytes `data`, along its last axis."""
    data = np.asarray(data, dtype=np.uint8)
    per = values_per_byte(bits)
    if per == 1:
        return data.view(np.int8)
    shifts = np.arange(per, dtype=np.uint8) * bits
    lanes = (data[..., None] >> shifts) & ((1 << bits) - 1)
    return sign_extend(lanes, bits).astype(np.int8).reshape(data.shape[:-1] + (-1,))
