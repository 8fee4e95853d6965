"""The board backend's driver against the RTL co-simulation: corpus cases byte for byte, the
driver's register accesses against the register map, and a deadlock stopped by the watchdog.
The whole corpus is `slow` (scripts/fpga)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from corpus import CORPUS, case_id, corpus_cases

from vta.cli import main
from vta.isa import BoundsError, DeadlockError
from vta.isa.image import ProgramImage
from vta.isa.registers import CONTROL_START, MODULE_COUNTERS, STATUS_BUSY, STATUS_DONE, Register
from vta.runtime.backends import get_backend
from vta.runtime.memory import PAGE_BYTES

QUICK_CASES = ["vta-1x16/e_dram_roundtrip", "vta-1x16/p_gemm_reduce2", "vta-1x16/p_alu_max_vv"]
REGISTER_DOC = Path(__file__).resolve().parents[2] / "docs" / "registers.md"


def documented_registers() -> dict[int, tuple[str, str]]:
    """offset -> (name, access) from the table of docs/registers.md."""
    rows = re.findall(r"^\| (0x[0-9A-Fa-f]+) \| `(\w+)` \| (R/W|R|W) \|", REGISTER_DOC.read_text(),
                      re.M)
    return {int(offset, 16): (name, access) for offset, name, access in rows}


def run_case(case, **options):
    """Run one corpus case on the board backend bound to the co-simulation; check the result
    against the corpus; the backend (for its MMIO log) and the report."""
    image = ProgramImage.load(case)
    meta = json.loads((case / "case.json").read_text())
    backend = get_backend("board", image.config, binding="cosim", **options)
    if meta["expect"] == "deadlock":
        with pytest.raises(DeadlockError, match="watchdog"):
            backend.run(image)
        return backend, None
    if meta["expect"] == "bounds":
        with pytest.raises(BoundsError):
            backend.run(image)
        return backend, None
    report = backend.run(image)
    assert np.array_equal(image.dram, np.fromfile(case / "expected.bin", dtype=np.uint8))
    assert report.counters == meta["counters"]
    assert report.backend == "board" and report.cycles > 0
    return backend, report


@pytest.mark.parametrize("name", QUICK_CASES)
def test_corpus_case_on_the_board_driver(name):
    run_case(CORPUS / name)


def test_mmio_log_follows_the_register_map():
    backend, report = run_case(CORPUS / QUICK_CASES[0])
    log = backend.mmio_log
    image = ProgramImage.load(CORPUS / QUICK_CASES[0])
    documented = documented_registers()
    assert documented[0x00] == ("CONTROL", "W") and len(documented) >= 12
    for kind, offset, _ in log:
        if kind != "wait":
            name, access = documented[offset]
            assert name == Register(offset).name
            assert (kind == "read" and "R" in access) or (kind == "write" and "W" in access)

    # Start: the core is idle; then the stream's physical address, its length, start.
    assert log[0][:2] == ("read", Register.STATUS) and not log[0][2] & STATUS_BUSY
    (_, _, insn_addr), (_, _, insn_count), (_, _, control) = log[1:4]
    assert [entry[:2] for entry in log[1:4]] == [("write", Register.INSN_ADDR),
                                                  ("write", Register.INSN_COUNT),
                                                  ("write", Register.CONTROL)]
    assert control == CONTROL_START and insn_count == image.insn_count
    physical_base = insn_addr - image.insn_addr
    assert physical_base > 0 and physical_base % PAGE_BYTES == 0  # relocated, page-aligned

    # Poll: STATUS reads with waits between them, until one says done.
    polls = [entry for entry in log[4:] if entry[:2] == ("read", Register.STATUS)]
    assert all(not value & STATUS_DONE for _, _, value in polls[:-1])
    assert polls[-1][2] & STATUS_DONE
    done_at = log.index(polls[-1])
    waits = [entry for entry in log[4:done_at] if entry[0] == "wait"]
    assert len(waits) == len(polls) - 1

    # Then the counters, in register-map order.
    tail = log[done_at + 1:]
    expected = [Register.CYCLES] + [register for counters in MODULE_COUNTERS.values()
                                    for register in counters.values()]
    assert [(kind, offset) for kind, offset, _ in tail] == [("read", r) for r in expected]
    assert tail[0][2] == report.cycles
    values = iter(value for _, _, value in tail[1:])
    assert report.modules == {module: {kind: next(values) for kind in counters}
                              for module, counters in MODULE_COUNTERS.items()}


def test_deadlock_is_stopped_by_the_watchdog():
    run_case(CORPUS / "vta-1x16/n_deadlock_l2g", max_cycles=20_000)


def test_vta_exec_backend_board(monkeypatch, capsys):
    monkeypatch.setenv("VTA_BOARD_BINDING", "cosim")
    status = main(["exec", str(CORPUS / QUICK_CASES[1]), "--backend", "board", "--json"])
    assert status == 0
    assert json.loads(capsys.readouterr().out)["backend"] == "board"


@pytest.mark.slow
@pytest.mark.parametrize("case", corpus_cases(), ids=case_id)
def test_whole_corpus_on_the_board_driver(case):
    run_case(case)
