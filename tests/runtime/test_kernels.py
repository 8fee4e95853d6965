"""Micro-kernel recording, GEMM/ALU instruction fields, the uop cache (residency, FIFO-ring
eviction, cleared at synchronize) and where micro-ops land in DRAM."""

import numpy as np
import pytest
from runtime_helpers import CONFIGS, PYNQ, uop_loads

from vta.isa import UOP_BYTES, Alu, AluOp, FieldRangeError, Gemm, VtaError, decode_uop, layouts
from vta.runtime import Device, UopHazardError


@pytest.fixture
def device():
    return Device(PYNQ)


def kernel_of_size(stream, key, size, start=0):
    """A GEMM kernel of `size` micro-ops whose words differ from other keys' (kernels with the
    same micro-ops share them in uop SRAM)."""
    with stream.kernel(key) as k:
        for index in range(size):
            k.gemm(dst=(start + index) % 64, src=sum(key.encode()) % 64, wgt=0)


def test_gemm_loops_map_to_outer_then_inner(device):
    s = device.stream
    with s.kernel("g") as k:
        k.loop(3, dst_factor=4, src_factor=5, wgt_factor=6)
        k.loop(7, dst_factor=1, src_factor=2, wgt_factor=3)
        k.gemm(dst=1, src=2, wgt=3)
        k.gemm(dst=2, src=3, wgt=4)
    _, gemm = s.instructions
    assert isinstance(gemm, Gemm) and not gemm.reset_reg
    assert (gemm.uop_bgn, gemm.uop_end, gemm.iter_out, gemm.iter_in) == (0, 2, 3, 7)
    assert (gemm.dst_factor_out, gemm.src_factor_out, gemm.wgt_factor_out) == (4, 5, 6)
    assert (gemm.dst_factor_in, gemm.src_factor_in, gemm.wgt_factor_in) == (1, 2, 3)


def test_gemm_without_loops_runs_once(device):
    with device.stream.kernel("reset") as k:
        k.gemm(dst=0, src=0, wgt=0, reset=True)
    gemm = device.stream.instructions[-1]
    assert gemm.reset_reg and (gemm.iter_out, gemm.iter_in) == (1, 1)
    assert (gemm.dst_factor_out, gemm.dst_factor_in, gemm.wgt_factor_in) == (0, 0, 0)


def test_alu_single_loop_becomes_the_inner_loop(device):
    with device.stream.kernel("a") as k:
        k.loop(9, dst_factor=2, src_factor=3)
        k.add(dst=0, src=100)
    alu = device.stream.instructions[-1]
    assert isinstance(alu, Alu) and alu.alu_opcode == AluOp.ADD and not alu.use_imm
    assert (alu.iter_out, alu.dst_factor_out, alu.src_factor_out) == (1, 0, 0)
    assert (alu.iter_in, alu.dst_factor_in, alu.src_factor_in) == (9, 2, 3)


def test_alu_two_loops_and_immediate(device):
    with device.stream.kernel("a") as k:
        k.loop(2, dst_factor=8, src_factor=8)
        k.loop(8, dst_factor=1, src_factor=1)
        k.shr(dst=0, src=0, imm=-3)
    alu = device.stream.instructions[-1]
    assert alu.alu_opcode == AluOp.SHR and alu.use_imm and alu.imm == -3
    assert (alu.iter_out, alu.iter_in, alu.dst_factor_out, alu.dst_factor_in) == (2, 8, 8, 1)


def test_uops_in_dram_are_the_recorded_ones(device):
    s = device.stream
    with s.kernel("g") as k:
        k.gemm(dst=5, src=6, wgt=7)
        k.gemm(dst=9, src=10, wgt=11)
    image = s.build()
    (uop_load,) = uop_loads(image.instructions())
    address = uop_load.dram_base * UOP_BYTES
    assert address >= 4096 and uop_load.y_size == 1 and uop_load.x_stride == uop_load.x_size == 2
    words = image.dram[address:address + 2 * UOP_BYTES].view(np.uint32)
    assert [(u.dst_idx, u.src_idx, u.wgt_idx) for u in (decode_uop(w, PYNQ) for w in words)] == \
        [(5, 6, 7), (9, 10, 11)]


def test_resident_kernel_is_not_loaded_again(device):
    s = device.stream
    for key in ("a", "b", "a", "b", "a"):
        kernel_of_size(s, key, 3)
    loads = uop_loads(s.instructions)
    assert [load.sram_base for load in loads] == [0, 3]
    gemms = [i for i in s.instructions if isinstance(i, Gemm)]
    assert [(g.uop_bgn, g.uop_end) for g in gemms] == [(0, 3), (3, 6), (0, 3), (3, 6), (0, 3)]


def test_kernels_with_the_same_micro_ops_share_them(device):
    """ALU steps over the same tiles (other operations, immediates or loops) have the same
    micro-ops: loaded once, every instruction runs them from the same uop SRAM range."""
    s = device.stream
    for key, op, imm in (("shift", AluOp.SHR, 3), ("add", AluOp.ADD, 7), ("max", AluOp.MAX, -5)):
        with s.kernel(key) as k:
            for index in range(4):
                k.alu(op, dst=index, src=index, imm=imm)
    with s.kernel("looped") as k:
        k.loop(2, dst_factor=4, src_factor=4)
        for index in range(4):
            k.alu(AluOp.MIN, dst=index, src=index, imm=9)
    loads = uop_loads(s.instructions)
    assert [(load.sram_base, load.x_size) for load in loads] == [(0, 4)]
    alus = [i for i in s.instructions if isinstance(i, Alu)]
    assert [(i.uop_bgn, i.uop_end, i.alu_opcode, i.imm, i.iter_in) for i in alus] == [
        (0, 4, AluOp.SHR, 3, 1), (0, 4, AluOp.ADD, 7, 1), (0, 4, AluOp.MAX, -5, 1),
        (0, 4, AluOp.MIN, 9, 2)]


def test_fifo_ring_eviction(device):
    s = device.stream
    third = PYNQ.uop_depth // 3 + 1         # three of them do not fit
    kernel_of_size(s, "a", third)            # [0, third)
    kernel_of_size(s, "b", third)            # [third, 2 third)
    kernel_of_size(s, "c", third)            # wraps to 0: evicts a, keeps b
    kernel_of_size(s, "b", third)            # resident
    kernel_of_size(s, "a", third)            # after c: [third, 2 third), evicts b
    kernel_of_size(s, "c", third)            # resident
    kernel_of_size(s, "b", third)            # wraps to 0, evicts c
    loads = uop_loads(s.instructions)
    assert [(load.sram_base, load.x_size) for load in loads] == \
        [(0, third), (third, third), (0, third), (third, third), (0, third)]
    gemms = [i.uop_bgn for i in s.instructions if isinstance(i, Gemm)]
    assert gemms == [0, third, 0, third, third, 0, 0]


def test_kernel_whose_footprint_was_forgotten_is_loaded_again(device):
    """The compute module keeps the ACC footprints of the last `overlap_kernels` kernels loaded
    (docs/hardware.md): a resident kernel with that many loads after its own is loaded again,
    one with a load fewer is not."""
    s = device.stream
    footprints = PYNQ.machine.overlap_kernels
    kernel_of_size(s, "a", 1)
    for index in range(footprints - 1):
        kernel_of_size(s, f"other {index}", 1, start=1 + index)
    kernel_of_size(s, "a", 1)                # the table still holds its footprint
    assert len(uop_loads(s.instructions)) == footprints
    kernel_of_size(s, "last", 1, start=footprints)
    kernel_of_size(s, "a", 1)                # its entry replaced by the last load
    loads = uop_loads(s.instructions)
    assert len(loads) == footprints + 2 and loads[-1].sram_base == footprints + 1
    gemms = [i.uop_bgn for i in s.instructions if isinstance(i, Gemm)]
    assert gemms[footprints] == 0 and gemms[-1] == footprints + 1


def test_kernel_filling_the_whole_buffer(device):
    s = device.stream
    kernel_of_size(s, "small", 5)
    with s.kernel("full") as k:
        for index in range(PYNQ.uop_depth):
            k.alu(AluOp.ADD, dst=index % 64, imm=1)
    kernel_of_size(s, "small", 5)
    assert [(l.sram_base, l.x_size) for l in uop_loads(s.instructions)] == \
        [(0, 5), (0, PYNQ.uop_depth), (0, 5)]


def test_cache_is_cleared_at_synchronize(device):
    s = device.stream
    kernel_of_size(s, "a", 2)
    kernel_of_size(s, "a", 2)
    assert len(uop_loads(s.build().instructions())) == 1
    kernel_of_size(s, "a", 2)                # recorded kernel reused, but loaded again
    assert len(uop_loads(s.build().instructions())) == 1
    assert list(s.kernels) == ["a"]


def test_second_recording_must_match(device):
    s = device.stream
    kernel_of_size(s, "a", 2)
    kernel_of_size(s, "a", 2)                # same again: fine
    with pytest.raises(VtaError, match="recorded again"):
        kernel_of_size(s, "a", 3)


def test_cached_flag_lets_the_body_skip_recording(device):
    s = device.stream
    seen = []
    for _ in range(2):
        with s.kernel("k") as k:
            seen.append(k.cached)
            if not k.cached:
                k.gemm(0, 0, 0)
    assert seen == [False, True] and len([i for i in s.instructions if isinstance(i, Gemm)]) == 2


@pytest.mark.parametrize("dsts", [(0, 0), (0, 1, 0), (3, 4, 5, 4)])
def test_uop_hazard_is_rejected(device, dsts):
    with pytest.raises(UopHazardError, match=f"writes ACC tile {dsts[-1]}"):
        with device.stream.kernel("bad") as k:
            for dst in dsts:
                k.gemm(dst=dst, src=0, wgt=0)


def test_hazard_window_is_two(device):
    with device.stream.kernel("ok") as k:
        for dst in (0, 1, 2, 0, 1, 2):
            k.add(dst=dst, imm=1)


def test_uop_field_out_of_range_names_the_field(device):
    with pytest.raises(FieldRangeError, match="dst_idx"):
        with device.stream.kernel("big") as k:
            k.gemm(dst=PYNQ.acc_depth, src=0, wgt=0)
    with pytest.raises(FieldRangeError, match="wgt_idx"):
        with device.stream.kernel("big2") as k:
            k.gemm(dst=0, src=0, wgt=PYNQ.wgt_depth)


def test_immediate_out_of_range_names_the_field(device):
    with pytest.raises(FieldRangeError, match="imm"):
        with device.stream.kernel("imm") as k:
            k.add(dst=0, imm=1 << 15)


def test_loop_extent_out_of_range_names_the_field(device):
    iter_bits = layouts(PYNQ).gemm["iter_out"].width
    with pytest.raises(FieldRangeError, match="iter_out"):
        with device.stream.kernel("g") as k:
            k.loop(1 << iter_bits)
            k.gemm(0, 0, 0)
    with pytest.raises(FieldRangeError, match="iter_in"):
        with device.stream.kernel("a") as k:
            k.loop(1 << iter_bits)
            k.add(0, imm=1)
    with pytest.raises(FieldRangeError, match="src_factor_out"):
        with device.stream.kernel("g2") as k:
            k.loop(2, src_factor=PYNQ.inp_depth)
            k.gemm(0, 0, 0)


def test_kernel_shape_errors(device):
    s = device.stream
    with pytest.raises(VtaError, match="at most 2 loop"):
        with s.kernel("loops") as k:
            k.loop(2), k.loop(2), k.loop(2)
    with pytest.raises(VtaError, match="before the first micro-op"):
        with s.kernel("late") as k:
            k.gemm(0, 0, 0)
            k.loop(2)
    with pytest.raises(VtaError, match="shares its operation"):
        with s.kernel("mixed") as k:
            k.add(0, imm=1)
            k.add(1, imm=2)
    with pytest.raises(VtaError, match="at least one micro-op"):
        with s.kernel("empty"):
            pass
    with pytest.raises(VtaError, match="do not fit"):
        kernel_of_size(s, "huge", PYNQ.uop_depth + 1)
    with pytest.raises(VtaError, match="-16..15"):
        with s.kernel("shift") as k:
            k.shr(0, imm=16)


def test_alu_mul_needs_the_extension():
    device = Device(PYNQ.replace(ALU_MUL=False))
    with pytest.raises(VtaError, match="ALU_MUL"):
        with device.stream.kernel("mul") as k:
            k.mul(0, imm=3)


@pytest.mark.parametrize("name", ["1x32", "2x16"])
def test_uop_encoding_follows_the_config(name):
    config = CONFIGS[name]
    device = Device(config)
    with device.stream.kernel("g") as k:
        k.gemm(dst=config.acc_depth - 1, src=config.inp_depth - 1, wgt=config.wgt_depth - 1)
    (load,) = uop_loads(device.stream.build().instructions())
    address = load.dram_base * UOP_BYTES
    word = device.dram[address:address + UOP_BYTES].view(np.uint32)[0]
    uop = decode_uop(word, config)
    assert (uop.dst_idx, uop.src_idx, uop.wgt_idx) == \
        (config.acc_depth - 1, config.inp_depth - 1, config.wgt_depth - 1)
