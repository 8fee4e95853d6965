"""The rtl backend on the generated ``vta_core``, against the conformance corpus.

The default run keeps the co-simulation small: one fast-harness build per config and a handful of
cases each, one cocotb/Verilator build (1x16) that must agree with the fast harness cycle for
cycle, and one Icarus smoke case. The whole corpus is the `slow` test at the end (and
scripts/rtl_conformance.py).
"""

import json

import numpy as np
import pytest
from corpus import case_id, corpus_cases

from vta.isa import BoundsError, Config, DeadlockError, VtaError
from vta.isa.image import ProgramImage
from vta.isa.registers import MODULE_COUNTERS
from vta.runtime.backends import get_backend

QUICK = {
    "vta-1x16": ["p_save_load_out", "p_gemm_default", "p_alu_test_add_vec_comp",
                 "r_multiphase_000", "e_dram_roundtrip", "n_deadlock_l2g"],
    "vta-1x32": ["p_save_load_out", "p_gemm_default", "r_multiphase_000", "n_deadlock_circular"],
}


def quick_cases():
    return [case for config, names in QUICK.items() for case in corpus_cases(config)
            if case.name in names]


def run_rtl(case, **options):
    image = ProgramImage.load(case)
    return image, get_backend("rtl", image.config, **options).run(image)


def check_conforms(case, **options):
    meta = json.loads((case / "case.json").read_text())
    if meta["expect"] != "ok":
        expected_error = {"deadlock": DeadlockError, "bounds": BoundsError}[meta["expect"]]
        with pytest.raises(expected_error, match=r"^instruction \d+"):
            run_rtl(case, **options)
        return None
    image, report = run_rtl(case, **options)
    expected = np.fromfile(case / "expected.bin", dtype=np.uint8)
    differ = np.flatnonzero(image.dram != expected)
    assert differ.size == 0, f"{differ.size} bytes differ, first at {differ[0]:#x}"
    assert report.counters == meta["counters"]
    assert report.backend == "rtl" and report.cycles > 0
    assert set(report.modules) == set(MODULE_COUNTERS)
    assert all(0 <= value <= report.cycles for counters in report.modules.values()
               for value in counters.values())
    return image, report


@pytest.mark.parametrize("case", quick_cases(), ids=case_id)
def test_fast_harness_conforms(case):
    check_conforms(case)


def test_the_backend_builds_the_fast_harness_profile_guided(corpus):
    """The backend's fast harness for a config (built by the cases above) is compiled with the
    profile of its training run."""
    config = ProgramImage.load(corpus_cases("vta-1x16")[0]).config
    folder = get_backend("rtl", config).harness.build()
    assert any((folder / "profile").rglob("*.gcda"))
    assert "-fprofile-use=" in (folder / "build.log").read_text()


def test_bounds_error_is_caught_before_the_run(corpus):
    case = next(case for case in corpus_cases("vta-1x16") if case.name.startswith("n_bounds"))
    with pytest.raises(BoundsError, match="instruction"):
        run_rtl(case)


@pytest.mark.parametrize("name", ["p_save_load_out", "r_multiphase_000"])
def test_cocotb_and_fast_harness_agree(corpus, name):
    case = corpus / "vta-1x16" / name
    _, fast = check_conforms(case)
    _, cocotb = check_conforms(case, harness="cocotb")
    assert cocotb.cycles == fast.cycles
    assert cocotb.modules == fast.modules


def test_icarus_smoke(corpus):
    case = corpus / "vta-1x16" / "p_save_load_out"
    _, fast = check_conforms(case)
    _, icarus = check_conforms(case, simulator="icarus")
    assert icarus.cycles == fast.cycles
    assert icarus.modules == fast.modules


@pytest.mark.slow
@pytest.mark.parametrize("case", corpus_cases(), ids=case_id)
def test_whole_corpus_on_the_fast_harness(case):
    check_conforms(case)


@pytest.mark.parametrize("options, message", [
    ({"simulator": "xcelium"}, "unknown simulator 'xcelium'"),
    ({"harness": "turbo"}, "unknown harness 'turbo'"),
    ({"simulator": "icarus", "harness": "fast"}, "the fast harness needs simulator='verilator'"),
    ({"max_cycles": 0}, "max_cycles must be positive"),
    ({"waves": "run.txt"}, "a waveform file is .fst or .vcd"),
    ({"waves_window": (0, 9)}, "a waves window needs a waves file"),
    ({"trace": "run.json"}, "has no option 'trace'"),
])
def test_bad_options_are_rejected(options, message):
    with pytest.raises(VtaError, match=message):
        get_backend("rtl", Config.preset(), **options)
