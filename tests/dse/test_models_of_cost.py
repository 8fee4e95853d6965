"""The analytic resource and energy models against hand counts and Yosys runs."""

import pytest

from vta.dse.energy import energy, sram_pj_per_64_bits
from vta.fpga.resource_model import calibrated, ramb_units
from vta.isa import Config

ZERO = dict.fromkeys(("inp_load_nbytes", "wgt_load_nbytes", "acc_load_nbytes",
                      "uop_load_nbytes", "out_store_nbytes", "gemm_counter", "alu_counter",
                      "alu_vector_counter"), 0)


@pytest.mark.parametrize("depth, width, units", [
    (512, 128, 2),      # two 512 x 72 RAMB36 (or four 512 x 36 RAMB18)
    (1024, 32, 1),      # one 1K x 36 RAMB36
    (256, 512, 7.5),    # fifteen 512 x 36 RAMB18
    (2048, 8, 0.5),     # one 2K x 9 RAMB18
    (64, 32, 0),        # 2 Kib: LUT RAM
])
def test_block_ram_tiling(depth, width, units):
    assert ramb_units(depth, width) == units


def test_pynq_block_ram_matches_the_documented_yosys_run():
    # docs/fpga.md: Yosys synth_xilinx counts 125.5 RAMB36 for the pynq preset
    estimate = calibrated("xc7").estimate(Config.preset("pynq"))["BRAM36"]
    assert abs(estimate - 125.5) / 125.5 <= 0.10


def test_energy_counts_products_bytes_and_static_power():
    config = Config.preset("pynq")
    counters = ZERO | {"gemm_counter": 1000, "inp_load_nbytes": 8000}
    result = energy(config, counters, 1e-3, "xc7")
    # 1000 GEMMs x 256 products x (0.2 pJ multiply + 0.1 pJ add)
    assert result["mac"] == pytest.approx(1000 * 256 * 0.3e-6)
    # 8000 bytes = 1000 64-bit DRAM accesses at 1.95 nJ
    assert result["dram"] == pytest.approx(1.95)
    assert result["static"] == pytest.approx(120.0)          # 0.12 W for 1 ms
    assert result["dram_bytes"] == 8000
    assert result["total"] == pytest.approx(sum(result[k] for k in
                                                ("mac", "sram", "alu", "dram", "static")),
                                            abs=1e-3)


def test_sram_energy_follows_horowitz_figures():
    for nbytes, picojoules in ((8 << 10, 10), (32 << 10, 20), (1 << 20, 100)):
        assert abs(sram_pj_per_64_bits(nbytes) - picojoules) / picojoules <= 0.15


def test_resource_model_is_within_ten_percent_of_yosys_on_runs_it_was_not_fitted_on():
    import json

    from vta.fpga.resource_model import CALIBRATION_FILE, fit

    runs = json.loads(CALIBRATION_FILE.read_text())["runs"]
    for family in ("xc7", "xcup"):
        # refit here from the calibration runs alone: the held-out runs cannot leak in
        model = fit(family, [r for r in runs if r["family"] == family
                             and r["role"] == "calibration"])
        held_out = [r for r in runs if r["family"] == family and r["role"] != "calibration"]
        assert len(held_out) >= (8 if family == "xc7" else 4)
        for run in held_out:
            estimate = model.estimate(Config(**run["config"]))
            for name, used in run["used"].items():
                assert abs(estimate[name] - used) <= 0.10 * max(used, 1), (run["config"], name)



def test_a_core_without_alu_multipliers_is_estimated_with_fewer_luts_and_dsps():
    import json

    from vta.fpga.resource_model import CALIBRATION_FILE, fit

    runs = [r for r in json.loads(CALIBRATION_FILE.read_text())["runs"] if r["family"] == "xc7"]
    model = fit("xc7", [r for r in runs if r["role"] == "calibration"])
    pynq = Config.preset("pynq")
    with_mul, without = model.estimate(pynq), model.estimate(pynq.replace(ALU_MUL=False))
    assert without["LUT"] < with_mul["LUT"] and without["DSP"] < with_mul["DSP"]
    held_out = [r for r in runs if r["role"] != "calibration"
                and not Config(**r["config"]).ALU_MUL]
    assert len(held_out) >= 3
    for run in held_out:
        estimate = model.estimate(Config(**run["config"]))
        assert abs(estimate["LUT"] - run["used"]["LUT"]) <= 0.10 * run["used"]["LUT"]
