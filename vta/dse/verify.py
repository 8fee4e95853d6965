"""Verifying the points of a Pareto front: Yosys confirms the analytic resources, the
Verilog is built for Verilator, the random-program fuzzer runs it against the functional
simulator and the cycle model (the cycles must be exactly the RTL's), and the conformance
corpus runs on it where the corpus applies (the point has the ISA of one of its configs).
Each Yosys run, Verilator build, fuzz batch and corpus case is a task of its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vta.dse.engine import Engine
from vta.dse.evaluate import synthesize
from vta.dse.store import Store
from vta.dse.sweep import PointResult
from vta.fpga.boards import BOARDS
from vta.isa import Config, VtaError
from vta.isa.config import ISA_KEYS

#: The vendored conformance corpus of a source checkout.
CORPUS = Path(__file__).resolve().parents[2] / "tests" / "conformance" / "corpus"
FUZZ_BACKENDS = ("functional", "cycle", "rtl")
FUZZ_BATCH = 10
VERDICTS = {"deadlock": 3, "bounds": 2}


def build_rtl(config_keys: dict) -> dict:
    """Generate the Verilog and build the Verilator harness (cached for the other tasks)."""
    from vta.runtime.backends import get_backend
    started = time.perf_counter()
    get_backend("rtl", Config(**config_keys))
    return {"seconds": time.perf_counter() - started}


def fuzz_batch(batch) -> dict:
    """One fuzz batch: programs run and divergences; a program the generator cannot encode for
    this config is a finding too (the point is not verified)."""
    from vta.fuzz.campaign import run_batch
    try:
        result = run_batch(batch)
    except VtaError as error:
        return {"programs": 0, "findings": [f"generator: {str(error).splitlines()[0]}"]}
    return {"programs": result.programs,
            "findings": ["; ".join(f.divergences)[:300] for f in result.findings]}


def corpus_cases(config: Config) -> list[Path]:
    """Corpus cases whose ISA is `config`'s (none when the corpus is not here)."""
    cases = []
    for index in sorted(CORPUS.glob("vta-*/index.json")):
        document = json.loads(index.read_text())
        corpus_config = Config(**document["config"])      # LOG_BLOCK or LOG_BLOCK_IN/OUT
        if all(getattr(corpus_config, key) == getattr(config, key) for key in ISA_KEYS):
            cases += [index.parent / case["name"] for case in document["cases"]]
    return cases


def run_case(config_keys: dict, case: str) -> dict:
    """One corpus case on the RTL of the config: the documented verdict, and for a valid
    program the expected DRAM and counters."""
    from vta.isa.image import ProgramImage
    from vta.runtime.backends import get_backend

    config = Config(**config_keys)
    folder = Path(case)
    meta = json.loads((folder / "case.json").read_text())
    image = ProgramImage.load(folder, config)
    try:
        report = get_backend("rtl", config).run(image)
    except VtaError as error:
        ok = meta["expect"] != "ok" and VERDICTS[meta["expect"]] == error.exit_status
        return {"case": folder.name, "passed": ok, "detail": str(error).splitlines()[0]}
    if meta["expect"] != "ok":
        return {"case": folder.name, "passed": False, "detail": f"ran, expected {meta['expect']}"}
    expected = np.fromfile(folder / "expected.bin", dtype=np.uint8)
    same = np.array_equal(image.dram, expected) and report.counters == meta["counters"]
    return {"case": folder.name, "passed": bool(same), "detail": "" if same else "differs"}


def verify_front(front: list[PointResult], board: str, store: Store, engine: Engine,
                 programs: int, progress: Callable[[int, int], None] | None = None,
                 seed: int = 0) -> dict:
    """Verify every front point: the fuzzer and the corpus once per point (stored), Yosys once
    per point and FPGA family; a point passes if they find nothing and Yosys' counts fit
    `board`. {fingerprint: outcome} for the front."""
    from vta.fuzz.campaign import batches

    family = BOARDS[board].yosys_family
    todo = [r for r in front if store.get(f"verify:{r.fingerprint}") is None]
    builds, checks, synths = {}, {}, {}
    for result in front:
        synth_key = f"synth:{result.fingerprint}:{family}"
        if store.get(synth_key) is None:
            synths[synth_key] = (synthesize, (result.config.to_dict(), family))
    for result in todo:
        config, fingerprint = result.config, result.fingerprint
        builds[f"build:{fingerprint}"] = (build_rtl, (config.to_dict(),))
        for index, batch in enumerate(batches({fingerprint: config}, programs, seed,
                                              FUZZ_BACKENDS, FUZZ_BATCH)):
            checks[f"fuzz:{fingerprint}:{index}"] = (fuzz_batch, (batch,))
        for case in corpus_cases(config):
            checks[f"case:{fingerprint}:{case.parent.name}/{case.name}"] = (
                run_case, (config.to_dict(), str(case)))
    outcomes = {r.fingerprint: {"fuzz": {"programs": 0, "findings": []}, "corpus": []}
                for r in todo}
    total = len(builds) + len(checks) + len(synths)
    done = 0
    # Builds first (the checks need them); Yosys runs go alongside the checks.
    for stage in (builds, checks | synths):
        for key, result in engine.run(stage):
            done += 1
            if progress:
                progress(done, total)
            kind, fingerprint, *_ = key.split(":")
            if kind == "synth":
                store.put(key, "synth", result, result["seconds"], config=fingerprint)
            elif kind == "fuzz":
                outcomes[fingerprint]["fuzz"]["programs"] += result["programs"]
                outcomes[fingerprint]["fuzz"]["findings"] += result["findings"]
            elif kind == "case":
                outcomes[fingerprint]["corpus"].append(result)
    for result in todo:
        outcome = outcomes[result.fingerprint]
        failed_cases = [case["case"] for case in outcome["corpus"] if not case["passed"]]
        outcome["passed"] = not outcome["fuzz"]["findings"] and not failed_cases
        outcome["summary"] = (f"{outcome['fuzz']['programs']} fuzz programs on "
                              f"{'/'.join(FUZZ_BACKENDS)}, {len(outcome['fuzz']['findings'])} "
                              f"divergences; corpus {len(outcome['corpus']) - len(failed_cases)}"
                              f"/{len(outcome['corpus'])}")
        store.put(f"verify:{result.fingerprint}", "verify", outcome, 0.0,
                  config=result.fingerprint)
    return {r.fingerprint: _on_board(store.get(f"verify:{r.fingerprint}"), r, board, store)
            for r in front}


def _on_board(outcome: dict, result: PointResult, board: str, store: Store) -> dict:
    """A stored verification with Yosys' counts on `board` (beside the analytic ones): it
    passes only if they fit the board."""
    capacity, family = BOARDS[board].capacity, BOARDS[board].yosys_family
    used = store.get(f"synth:{result.fingerprint}:{family}")["used"]
    overflows = [f"{name} {used[name]:,} > {capacity[name]:,}" for name in capacity
                 if used[name] > capacity[name]]
    fit = f"Yosys: {'does not fit' if overflows else 'fits'} {board}"
    return outcome | {
        "synth": {family: used}, "overflows": overflows,
        "synth_vs_model": {family: {name: (used[name], result.resources[board]["used"][name])
                                    for name in used}},
        "passed": outcome["passed"] and not overflows,
        "summary": f"{outcome['summary']}; {fit}" + (f" ({', '.join(overflows)})"
                                                     if overflows else "")}

