"""The whole core in Amaranth simulation: conformance cases run through the AXI ports against the
memory model, driven by the host driver; the final DRAM must equal expected.bin byte for byte."""

import numpy as np
import pytest
from vta.hardware.core import VtaCore
from vta.isa import Config
from vta.isa.image import ProgramImage
from vta.runtime.backends.rtl.amaranth_simulation import run_core

#: Small cases (a few hundred to ~1500 cycles) covering every instruction kind and edge family.
CASES = [
    "vta-1x16/e_insn_at_address_0", "vta-1x16/e_imm_src_ignored", "vta-1x16/p_padded_load_all",
    "vta-1x16/e_nop_tokens_junk_fields", "vta-1x16/p_shift_and_scale", "vta-1x16/p_gemm_default",
    "vta-1x16/e_uop_unaligned_overlap", "vta-1x16/e_overlapping_stores",
    "vta-1x16/e_gemm_reset_mix", "vta-1x16/e_dram_roundtrip", "vta-1x16/p_alu_add_vv",
    "vta-1x32/p_alu_min_imm", "vta-1x32/p_gemm_default",
]


#: Cases also run with the 128-bit bus of the ultra96 preset (one INP/OUT tile per bus word,
#: four micro-ops per word).
WIDE_BUS_CASES = ["vta-1x16/e_uop_unaligned_overlap", "vta-1x16/p_alu_add_vv",
                  "vta-1x32/p_gemm_default"]


@pytest.mark.parametrize("case,preset", [(case, "pynq") for case in CASES] +
                         [(case, "ultra96") for case in WIDE_BUS_CASES])
def test_conformance_case(corpus, case, preset):
    image = ProgramImage.load(corpus / case, Config.preset(preset))
    expected = np.fromfile(corpus / case / "expected.bin", dtype=np.uint8)
    dram = image.dram.copy()
    result, _ = run_core(VtaCore(config=image.config), dram, image.insn_addr, image.insn_count,
                         max_cycles=5000)
    mismatch = np.flatnonzero(dram != expected)
    assert mismatch.size == 0, f"{mismatch.size} bytes differ, first at {mismatch[0]:#x}"
    cycles = result.cycles
    assert 0 < cycles < 5000
    for module, counters in result.modules.items():
        for kind, value in counters.items():
            assert value <= cycles, (module, kind)
    assert result.modules["compute"]["busy"] > 0
