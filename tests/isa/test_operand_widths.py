"""Narrow operands and separate BLOCK_IN/BLOCK_OUT in the config (isa-reference §1, §2)."""

import hashlib
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vta.isa import Config, ConfigError, MemoryType
from vta.isa.elements import pack, unpack, value_range

PYNQ = Config.preset("pynq")
INT4_1x16x8 = PYNQ.replace(LOG_BLOCK_OUT=3, LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2,
                           LOG_INP_BUFF_SIZE=14, LOG_WGT_BUFF_SIZE=16, LOG_ACC_BUFF_SIZE=16)


def test_documented_byte_of_two_int4_values():
    assert pack([1, -2], 4).tolist() == [0xE1]
    assert unpack(np.array([0xE1], np.uint8), 4).tolist() == [1, -2]
    assert pack([1, -2, 0, -1], 2).tolist() == [0b11_00_10_01]


@given(st.sampled_from([2, 4, 8]), st.data())
def test_pack_keeps_the_low_bits_and_unpack_sign_extends(bits, data):
    count = data.draw(st.integers(1, 8)) * (8 // bits)
    values = np.array(data.draw(st.lists(st.integers(-1000, 1000), min_size=count,
                                         max_size=count)))
    low, _ = value_range(bits)
    low_bits = (values - low) % (1 << bits) + low        # the low `bits` bits, signed
    packed = pack(values, bits)
    assert packed.dtype == np.uint8 and packed.size == count * bits // 8
    assert unpack(packed, bits).tolist() == low_bits.tolist()
    # independently: value k sits in bits [k·bits, (k+1)·bits) of the little-endian bytes
    number = int.from_bytes(packed.tobytes(), "little")
    assert [(number >> (k * bits)) & ((1 << bits) - 1) for k in range(count)] == \
        (low_bits % (1 << bits)).tolist()


def test_log_block_sets_both_blocks_and_square_fingerprints_are_the_original_keys():
    config = PYNQ.replace(LOG_BLOCK=5)
    assert (config.block_in, config.block_out) == (32, 32)
    original = {"LOG_INP_WIDTH": 3, "LOG_WGT_WIDTH": 3, "LOG_ACC_WIDTH": 5, "LOG_BATCH": 0,
                "LOG_BLOCK": 5, "LOG_UOP_BUFF_SIZE": 15, "LOG_INP_BUFF_SIZE": 15,
                "LOG_WGT_BUFF_SIZE": 18, "LOG_ACC_BUFF_SIZE": 17, "ALU_MUL": True}
    digest = hashlib.sha256(json.dumps(original, sort_keys=True).encode()).hexdigest()[:16]
    assert config.isa_fingerprint == digest
    assert Config(**INT4_1x16x8.to_dict()) == INT4_1x16x8


def test_sizes_of_a_narrow_rectangular_config():
    c = INT4_1x16x8
    assert c.config_string == "1x16x8_i4w4a32_15_14_16_16"
    assert [c.elem_bytes(kind) for kind in (MemoryType.INP, MemoryType.WGT, MemoryType.ACC,
                                            MemoryType.OUT)] == [16 * 4 // 8, 8 * 16 * 4 // 8,
                                                                 8 * 4, 8 * 4 // 8]
    # depth = buffer bytes / tile bytes
    assert c.inp_depth == (1 << 14) // 8 and c.wgt_depth == (1 << 16) // 64
    assert c.acc_depth == (1 << 16) // 32 == c.out_depth


@pytest.mark.parametrize("keys, message", [
    ({"LOG_INP_WIDTH": 0}, "config key LOG_INP_WIDTH = 0 is outside 1..3"),
    ({"LOG_WGT_WIDTH": 4}, "config key LOG_WGT_WIDTH = 4 is outside 1..3"),
    ({"LOG_BLOCK_OUT": 7}, "config key LOG_BLOCK_OUT = 7 is outside 1..6"),
    ({"LOG_BLOCK": 0}, "config key LOG_BLOCK = 0 is outside 1..6"),
    ({"LOG_BLOCK": 3, "LOG_BLOCK_IN": 4}, "config keys LOG_BLOCK and LOG_BLOCK_IN both given"),
    ({"LOG_INP_WIDTH": 1, "LOG_BLOCK": 1, "LOG_INP_BUFF_SIZE": 12, "LOG_WGT_BUFF_SIZE": 12,
      "LOG_ACC_BUFF_SIZE": 12}, "INP tiles of 4 bits are not a whole number of bytes"),
    ({"LOG_INP_WIDTH": 2}, "micro-op fields need 33 bits"),
    # int4 with 4,096 ACC tiles and 2,048 micro-ops: the ALU's loop fields reach bit 116, its
    # 16-bit immediate would straddle bit 128 (isa-reference §3), so it starts there: 144 bits
    ({"LOG_INP_WIDTH": 2, "LOG_WGT_WIDTH": 2, "LOG_UOP_BUFF_SIZE": 13, "LOG_INP_BUFF_SIZE": 13,
      "LOG_WGT_BUFF_SIZE": 15, "LOG_ACC_BUFF_SIZE": 18}, "ALU fields need 144 bits, more than 128"),
])
def test_configs_the_generator_cannot_build_are_refused_in_one_line(keys, message):
    with pytest.raises(ConfigError, match=message) as error:
        PYNQ.replace(**keys)
    assert "\n" not in str(error.value)


def test_narrow_out_tiles_must_fill_bus_words():
    with pytest.raises(ConfigError, match="OUT tiles of 32 bits are not a whole number of "
                                          "64-bit bus words"):
        INT4_1x16x8.check_bus()
    INT4_1x16x8.replace(LOG_BUS_WIDTH=5).check_bus()
