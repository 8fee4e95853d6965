"""The analytic resource and energy models against hand counts and Yosys runs."""

import pytest

from vta.dse.energy import energy, sram_pj_per_64_bits
from vta.fpga.resource_model import calibrated, ramb_units
from vta.isa import Config, MemoryType

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


@pytest.mark.parametrize("overlap_kernels, bram36", [(64, 132), (0, 125.5)])
def test_pynq_block_ram_matches_the_documented_yosys_runs(overlap_kernels, bram36):
    # docs/fpga.md: Yosys synth_xilinx counts 132 RAMB36 for the pynq preset (compute overlap
    # on), 125.5 for the single-unit core
    config = Config.preset("pynq").replace(MACHINE={"overlap_kernels": overlap_kernels})
    estimate = calibrated("xc7").estimate(config)["BRAM36"]
    assert abs(estimate - bram36) / bram36 <= 0.10


def test_the_overlapping_core_is_estimated_larger_and_grows_with_its_footprint_table():
    from vta.fpga.resource_model import memories

    model = calibrated("xc7")
    pynq = Config.preset("pynq")
    sizes = [model.estimate(pynq.replace(MACHINE={"overlap_kernels": kernels}))
             for kernels in (0, 8, 64)]
    for name in ("LUT", "FF", "BRAM36", "DSP"):
        assert sizes[0][name] < sizes[1][name] <= sizes[2][name], name
    assert sizes[1]["LUT"] < sizes[2]["LUT"] and sizes[1]["FF"] < sizes[2]["FF"]
    # the memories as the generator builds them: ACC in four banks, OUT in two halves, the
    # micro-ops in two copies (one read port per unit)
    shapes = memories(pynq)
    acc_depth = pynq.depth(MemoryType.ACC)
    assert [shapes[f"ACC {bank}"][0] for bank in range(4)] == [acc_depth // 4] * 4
    assert "UOP 1" in shapes and "OUT 1" in shapes
    single = memories(pynq.replace(MACHINE={"overlap_kernels": 0}))
    assert [single[f"ACC {bank}"][0] for bank in range(2)] == [acc_depth // 2] * 2
    assert "ACC 2" not in single and "UOP 1" not in single and "OUT 1" not in single


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


def refit(family: str):
    """The model of `family` refitted here from the calibration runs alone (the held-out runs
    cannot leak in), and the held-out runs."""
    import json

    from vta.fpga.resource_model import CALIBRATION_FILE, fit

    data = json.loads(CALIBRATION_FILE.read_text())
    reference = data.get("references", {}).get(family)
    runs = [r for r in data["runs"] if r["family"] == family]
    model = fit(family, [r for r in runs if r["role"] == "calibration"],
                reference=refit(reference)[0] if reference else None)
    return model, [r for r in runs if r["role"] != "calibration"]


@pytest.mark.parametrize("family", ["xc7", "xcup"])
def test_resource_model_is_within_ten_percent_of_yosys_on_runs_it_was_not_fitted_on(family):
    model, held_out = refit(family)
    configs = [Config(**run["config"]) for run in held_out]
    if family == "xc7":
        # issue 14: at least 8 points, the core as generated today (overlap on) and without it
        assert len(held_out) >= 8
        kernels = {config.machine.overlap_kernels for config in configs}
        assert 0 in kernels and 64 in kernels and len(kernels) >= 3
        assert {config.inp_width for config in configs} >= {4, 8}
        assert len({(config.batch, config.block_in) for config in configs}) >= 3
    else:
        assert len(held_out) >= 2
    for run, config in zip(held_out, configs):
        estimate = model.estimate(config)
        for name, used in run["used"].items():
            assert abs(estimate[name] - used) <= 0.10 * max(used, 1), (config, name)


def test_a_core_without_alu_multipliers_is_estimated_with_fewer_luts_and_dsps():
    model, held_out = refit("xc7")
    pynq = Config.preset("pynq")
    with_mul, without = model.estimate(pynq), model.estimate(pynq.replace(ALU_MUL=False))
    assert without["LUT"] < with_mul["LUT"] and without["DSP"] < with_mul["DSP"]
    held_out = [r for r in held_out if not Config(**r["config"]).ALU_MUL]
    assert held_out
    for run in held_out:
        estimate = model.estimate(Config(**run["config"]))
        assert abs(estimate["LUT"] - run["used"]["LUT"]) <= 0.10 * run["used"]["LUT"]
