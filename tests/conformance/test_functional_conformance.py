"""Every corpus case on the functional simulator: positive cases give expected.bin byte for
byte and the original counters; negative ones give the right error kind, at the instruction
the original model named."""

import json
import re

import numpy as np
import pytest

from vta.isa import BoundsError, Config, DeadlockError
from vta.isa.image import ProgramImage
from vta.simulator import check_program
from vta.simulator.functional import FunctionalSimulator

from corpus import case_id, corpus_cases

CASES = corpus_cases()
SIMULATORS: dict[Config, FunctionalSimulator] = {}


def simulator(config: Config) -> FunctionalSimulator:
    """One simulator per config, shared by the cases (each run starts from zeroed buffers)."""
    return SIMULATORS.setdefault(config, FunctionalSimulator(config))


def oracle_index(meta: dict) -> int | None:
    """The instruction index in the original model's message (bounds cases give one)."""
    match = re.search(r"insn (\d+):", meta.get("oracle_message") or "")
    return int(match.group(1)) if match else None


def oracle_waits(meta: dict) -> set[tuple[str, str]]:
    """(module, queue) pairs the original model reported as waiting in a deadlock."""
    return {(module, queue) for module, queue in
            re.findall(r"(load|compute|store)(?: stage)? waits on (\w+)", meta["oracle_message"])}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_case(corpus, case):
    image = ProgramImage.load(case)
    meta = image.metadata
    run = simulator(image.config)
    if meta["expect"] == "ok":
        check_program(image)
        counters = run.run(image.dram, image.insn_addr, image.insn_count)
        expected = np.fromfile(case / "expected.bin", np.uint8)
        different = np.flatnonzero(image.dram != expected)
        assert not different.size, f"{different.size} bytes differ, first at {different[0]:#x}"
        assert counters == meta["counters"]
    elif meta["expect"] == "bounds":
        prefix = f"instruction {oracle_index(meta)}: "
        with pytest.raises(BoundsError) as static:
            check_program(image)
        assert str(static.value).startswith(prefix)
        with pytest.raises(BoundsError) as dynamic:  # the simulator alone catches it too
            run.run(image.dram.copy(), image.insn_addr, image.insn_count)
        assert str(dynamic.value).startswith(prefix)
    else:
        assert meta["expect"] == "deadlock"
        check_program(image)
        with pytest.raises(DeadlockError) as error:
            run.run(image.dram, image.insn_addr, image.insn_count)
        message = str(error.value)
        assert re.match(r"instruction \d+: deadlock: ", message)
        for module, queue in oracle_waits(meta):
            assert f"{module} waits for a token on {queue}" in message


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_case_prepared(corpus, case):
    """The same results from a fresh simulator that prepared the program first; preparing a
    program with a bounds error is quiet, its run raises the error at the same instruction."""
    image = ProgramImage.load(case)
    meta = image.metadata
    run = FunctionalSimulator(image.config)
    dram = image.dram.copy()
    if meta["expect"] == "deadlock":
        run.prepare(dram, image.insn_addr, image.insn_count)
        with pytest.raises(DeadlockError):
            run.run(dram, image.insn_addr, image.insn_count)
        return
    run.prepare(dram, image.insn_addr, image.insn_count)
    assert (dram == image.dram).all()
    if meta["expect"] == "ok":
        counters = run.run(dram, image.insn_addr, image.insn_count)
        assert (dram == np.fromfile(case / "expected.bin", np.uint8)).all()
        assert counters == meta["counters"]
    else:
        with pytest.raises(BoundsError, match=f"^instruction {oracle_index(meta)}: "):
            run.run(dram, image.insn_addr, image.insn_count)


def test_corpus_covers_both_configs(corpus):
    names = {case.parent.name for case in CASES}
    assert names == {"vta-1x16", "vta-1x32"}
    assert len(CASES) == sum(len(json.loads((corpus / name / "index.json").read_text())["cases"])
                             for name in names)
