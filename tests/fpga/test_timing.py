"""The ECP5 fmax estimate: which config is placed (fast), and the flow itself (`slow`)."""

import json

import pytest

from vta.cli import main
from vta.fpga.synth import sram_bits
from vta.fpga.timing import ECP5_85K, ecp5_config
from vta.isa import Config


def test_pynq_is_shrunk_to_an_8x8_block_with_the_same_depths():
    target = Config.preset("pynq")
    placed = ecp5_config(target)
    assert placed.config_string == "1x8_i8w8a32_15_14_16_16"
    for depth in ("uop_depth", "inp_depth", "wgt_depth", "acc_depth"):
        assert getattr(placed, depth) == getattr(target, depth)
    # 64 products per cycle and 1.5 Mib of buffers: within the LFE5U-85F's 156 multipliers and
    # 208 x 18 Kib block RAMs.
    assert placed.batch * placed.block_in * placed.block_out == 64 <= 156
    assert sram_bits(placed) <= 208 * 18 * 1024 == ECP5_85K.ebr_bits
    assert placed.CLOCK_MHZ == target.CLOCK_MHZ and placed.bus_bits == target.bus_bits


def test_a_config_that_fits_is_placed_as_it_is():
    small = Config.preset("pynq").replace(LOG_BLOCK=3, LOG_INP_BUFF_SIZE=13,
                                          LOG_WGT_BUFF_SIZE=14, LOG_ACC_BUFF_SIZE=15)
    assert ecp5_config(small) == small


@pytest.mark.slow
def test_fmax_estimate_for_the_pynq_preset(capsys):
    assert main(["fpga", "timing", "--json"]) == 0
    estimate = json.loads(capsys.readouterr().out)
    print(f"fmax estimate {estimate['fmax_mhz']} MHz for {estimate['config']} on "
          f"{estimate['device']} (nextpnr, an estimate)")
    assert estimate["estimate"] is True and estimate["device"] == "LFE5U-85F"
    assert estimate["config"] == "1x8_i8w8a32_15_14_16_16" and estimate["shrunk"] is True
    assert estimate["target_mhz"] == 100.0
    assert 10 < estimate["fmax_mhz"] < 500
    assert estimate["cells"]["MULT18X18D"] <= 156
    assert estimate["critical_path"]["logic_levels"] > 0
