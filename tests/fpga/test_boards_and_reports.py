"""The board catalogue and the resource accounting of synthesis reports (no tool runs)."""

import pytest

from vta.fpga.boards import BOARDS, board
from vta.fpga.synth import SynthReport, count_resources, sram_bits
from vta.fpga.tools import ToolError
from vta.isa import Config, ConfigError


def test_pynq_boards_have_the_xc7z020_capacity():
    # Xilinx DS190: XC7Z020 has 53,200 LUTs, 106,400 flip-flops, 140 36 Kb block RAMs, 220 DSP48E1.
    for name in ("pynq-z1", "pynq-z2"):
        target = board(name)
        assert target.part.startswith("xc7z020")
        assert target.capacity == {"LUT": 53_200, "FF": 106_400, "BRAM36": 140, "DSP": 220}
        assert target.yosys_family == "xc7"
        assert target.default_config() == Config.preset("pynq")


def test_each_board_defaults_to_its_preset():
    assert {name: b.preset for name, b in BOARDS.items()} == {
        "pynq-z1": "pynq", "pynq-z2": "pynq", "ultra96-v2": "ultra96", "zcu104": "zcu104"}
    assert board("ultra96-v2").part.startswith("xczu3eg")
    assert board("zcu104").part.startswith("xczu7ev")


def test_unknown_board_is_a_one_line_error():
    with pytest.raises(ConfigError, match="unknown board 'pynq-z3' .*pynq-z1"):
        board("pynq-z3")


def test_zynq7000_hp_port_cannot_carry_a_128_bit_bus():
    with pytest.raises(ConfigError, match="S_AXI_HP0 carries 32, 64-bit data.*128-bit"):
        board("pynq-z1").check_config(Config.preset("ultra96"))
    board("ultra96-v2").check_config(Config.preset("ultra96"))


def test_sram_bits_of_the_pynq_preset():
    # Buffers of 1x16_i8w8a32_15_15_18_17: UOP 2^15 B, INP 2^15 B, WGT 2^18 B, ACC 2^17 B,
    # and OUT with ACC's depth (2048) of 16-byte elements: 32 KiB. 480 KiB in all.
    assert sram_bits(Config.preset("pynq")) == 480 * 1024 * 8


def test_count_resources_weighs_each_primitive():
    cells = {"LUT2": 10, "LUT6": 5, "RAM32M": 2, "SRLC32E": 3, "FDRE": 40, "FDSE": 2,
             "RAMB36E1": 3, "RAMB18E1": 3, "DSP48E1": 7, "CARRY4": 9, "MUXF7": 4}
    assert count_resources(cells) == {"LUT": 10 + 5 + 8 + 3, "FF": 42, "BRAM36": 4.5, "DSP": 7}


def test_count_resources_rejects_unknown_and_unmapped_cells():
    with pytest.raises(ToolError, match="URAM288"):
        count_resources({"URAM288": 1})


def test_report_names_the_overflowing_resource():
    report = SynthReport(board("pynq-z1"), Config.preset("pynq"),
                         {"LUT6": 1000, "FDRE": 2000, "RAMB36E1": 150, "DSP48E1": 221})
    assert not report.fits
    assert report.overflows == ["BRAM36", "DSP"]
    data = report.to_json()
    assert data["part"] == "xc7z020clg400-1" and data["fits"] is False
    assert data["resources"]["DSP"] == {"used": 221, "available": 220}
    assert data["resources"]["LUT"] == {"used": 1000, "available": 53_200}
    assert "does not fit: BRAM36 150 > 140, DSP 221 > 220" in report.table()


def test_report_of_a_design_that_fits():
    report = SynthReport(board("zcu104"), Config.preset("zcu104"),
                         {"LUT6": 1000, "FDRE": 2000, "RAMB18E2": 3, "DSP48E2": 221})
    assert report.fits and report.to_json()["resources"]["BRAM36"]["used"] == 1.5
