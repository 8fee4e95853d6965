"""The register map: described once, the docs table generated from it and up to date."""

import subprocess
import sys
from pathlib import Path

from vta.isa.registers import MODULE_COUNTERS, READABLE, REGISTERS, WRITABLE, Register

REPO = Path(__file__).resolve().parents[2]


def test_offsets_are_distinct_words_and_the_derived_sets_agree():
    offsets = [spec.offset for spec in REGISTERS]
    assert len(set(offsets)) == len(offsets) and all(offset % 4 == 0 for offset in offsets)
    assert WRITABLE == {Register.CONTROL, Register.INSN_ADDR, Register.INSN_COUNT}
    assert Register.CONTROL not in READABLE and Register.CYCLES in READABLE
    assert MODULE_COUNTERS["compute"] == {"busy": Register.COMPUTE_BUSY,
                                          "stall": Register.COMPUTE_STALL}
    assert list(MODULE_COUNTERS) == ["fetch", "load", "compute", "store"]


def test_docs_register_table_is_generated_from_the_map():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "generate_docs.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "| 0x2C | `STORE_STALL` | R |" in (REPO / "docs" / "registers.md").read_text()
