"""Front verification: which points the conformance corpus applies to (those with one of its
configs' ISA), and Yosys' counts against the board."""

from vta.dse.verify import corpus_cases
from vta.isa import Config


def test_the_corpus_applies_to_points_with_its_isa_only():
    pynq = Config.preset("pynq")
    cases = corpus_cases(pynq)
    assert cases and all(case.parent.name == "vta-1x16" for case in cases)
    # the bus and the clock are not part of the ISA; a buffer size or a width is
    assert corpus_cases(pynq.replace(LOG_BUS_WIDTH=5, CLOCK_MHZ=150.0)) == cases
    assert corpus_cases(pynq.replace(LOG_INP_BUFF_SIZE=14)) == []
    assert corpus_cases(pynq.replace(LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2,
                                     LOG_INP_BUFF_SIZE=14, LOG_WGT_BUFF_SIZE=17)) == []


def test_a_front_point_yosys_puts_beyond_the_board_fails_verification(tmp_path, monkeypatch):
    """Yosys' count is the project's own synthesis estimate: 141 BRAM36 do not fit the
    XC7Z020's 140, whatever the fuzzer says; the same point on the ZCU104 (312) passes, from the
    stored fuzz results and one more Yosys run for its family."""
    from vta.dse import verify
    from vta.dse.engine import Engine
    from vta.dse.evaluate import resources
    from vta.dse.store import Store
    from vta.dse.sweep import PointResult

    runs = []

    def synthesize(config_keys, family):
        runs.append(family)
        return {"used": {"LUT": 30_000, "FF": 15_000, "BRAM36": 141.0, "DSP": 167},
                "cells": {}, "seconds": 0.0}

    monkeypatch.setattr(verify, "synthesize", synthesize)
    monkeypatch.setattr(verify, "build_rtl", lambda config_keys: runs.append("build") or {})
    monkeypatch.setattr(verify, "corpus_cases", lambda config: [])
    config = Config.preset("pynq")
    point = PointResult({}, config, resources(config, ("pynq-z1", "zcu104")))
    with Store(tmp_path / "results.sqlite") as store, Engine(synchronous=True) as engine:
        on_pynq = verify.verify_front([point], "pynq-z1", store, engine, 0)[config.fingerprint]
        on_zcu = verify.verify_front([point], "zcu104", store, engine, 0)[config.fingerprint]
    assert not on_pynq["passed"] and on_pynq["overflows"] == ["BRAM36 141.0 > 140"]
    assert "does not fit pynq-z1" in on_pynq["summary"]
    assert on_zcu["passed"] and on_zcu["synth"] == {"xcup": synthesize({}, "xcup")["used"]}
    assert runs == ["build", "xc7", "xcup", "xcup"]
