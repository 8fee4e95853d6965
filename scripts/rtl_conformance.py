#!/usr/bin/env python3
"""Run the whole conformance corpus on the RTL (the ``rtl`` backend) and print the verdict.

    .venv/bin/python scripts/rtl_conformance.py                   # fast harness, both configs
    .venv/bin/python scripts/rtl_conformance.py --harness both    # + cocotb, cycles must agree
    .venv/bin/python scripts/rtl_conformance.py --simulator icarus --filter p_save

A positive case conforms when the final DRAM image equals ``expected.bin`` byte for byte and the
counters equal ``case.json``'s; a negative case when the run fails with the expected verdict
(deadlock: exit status 3, bounds: 2). With ``--harness both`` each case runs on the fast harness
and on the cocotb testbench, which must also agree on the image and the cycle count.
Exit status 0 when every case conforms.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "conformance" / "corpus"
VERDICTS = {"deadlock": 3, "bounds": 2}


def run_case(case: Path, simulator: str, harnesses: tuple[str, ...]) -> dict:
    """Run one case on each harness; a dict with the verdict and the details of any failure."""
    from vta.isa import VtaError
    from vta.isa.image import ProgramImage
    from vta.runtime.backends import get_backend

    meta = json.loads((case / "case.json").read_text())
    outcome = {"case": f"{case.parent.name}/{case.name}", "expect": meta["expect"], "problems": [],
               "cycles": {}}
    images = {}
    for harness in harnesses:
        image = ProgramImage.load(case)
        try:
            report = get_backend("rtl", image.config, simulator=simulator, harness=harness).run(image)
        except VtaError as error:
            status, message = error.exit_status, str(error).splitlines()[0]
            if meta["expect"] == "ok" or VERDICTS[meta["expect"]] != status:
                outcome["problems"].append(f"{harness}: exit status {status}: {message}")
            continue
        if meta["expect"] != "ok":
            outcome["problems"].append(f"{harness}: ran to completion, expected {meta['expect']}")
            continue
        expected = np.fromfile(case / "expected.bin", dtype=np.uint8)
        differ = np.flatnonzero(image.dram != expected)
        if differ.size:
            outcome["problems"].append(f"{harness}: {differ.size} bytes differ, first at {differ[0]:#x}")
        if report.counters != meta["counters"]:
            outcome["problems"].append(f"{harness}: counters {report.counters} != {meta['counters']}")
        outcome["cycles"][harness] = report.cycles
        images[harness] = image.dram
    if len(images) == 2:
        fast, cocotb = images.values()
        if not np.array_equal(fast, cocotb):
            outcome["problems"].append("fast and cocotb images differ")
        if len(set(outcome["cycles"].values())) != 1:
            outcome["problems"].append(f"cycles differ: {outcome['cycles']}")
    return outcome


def corpus_cases(configs: list[str], pattern: str) -> list[Path]:
    cases = []
    for config in configs:
        index = json.loads((CORPUS / config / "index.json").read_text())
        cases += [CORPUS / config / entry["name"] for entry in index["cases"] if pattern in entry["name"]]
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator")
    parser.add_argument("--harness", choices=("fast", "cocotb", "both"), default=None,
                        help="default: fast on Verilator, cocotb on Icarus")
    parser.add_argument("--config", action="append", choices=("vta-1x16", "vta-1x32"),
                        help="corpus config folder (repeatable; default: both)")
    parser.add_argument("--filter", default="", help="only cases whose name contains this")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    harness = args.harness or ("fast" if args.simulator == "verilator" else "cocotb")
    harnesses = ("fast", "cocotb") if harness == "both" else (harness,)
    cases = corpus_cases(args.config or ["vta-1x16", "vta-1x32"], args.filter)
    if not cases:
        print(f"no cases in {CORPUS} match", file=sys.stderr)
        return 1
    _warm_builds(cases, args.simulator, harnesses)
    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        outcomes = list(pool.map(run_case, cases, [args.simulator] * len(cases),
                                 [harnesses] * len(cases)))
    elapsed = time.perf_counter() - start
    for outcome in outcomes:
        for problem in outcome["problems"]:
            print(f"FAIL {outcome['case']}: {problem}")
    positives = [o for o in outcomes if o["expect"] == "ok"]
    negatives = [o for o in outcomes if o["expect"] != "ok"]
    identical = sum(not o["problems"] for o in positives)
    verdicts = sum(not o["problems"] for o in negatives)
    passed = identical + verdicts
    label = "+".join(harnesses)
    print(f"rtl ({args.simulator}, {label}): {passed}/{len(outcomes)} conform — "
          f"{identical}/{len(positives)} byte-identical, {verdicts}/{len(negatives)} negative "
          f"verdicts ({elapsed:.0f} s)")
    if len(harnesses) == 2:
        agree = sum(len(set(o["cycles"].values())) == 1 for o in positives if len(o["cycles"]) == 2)
        print(f"fast and cocotb cycle counts agree on {agree}/{len(positives)} positive cases")
    return 0 if passed == len(outcomes) else 1


def _warm_builds(cases: list[Path], simulator: str, harnesses: tuple[str, ...]) -> None:
    """Build each config's harnesses once, here, so the workers find them in the cache."""
    from vta.isa.image import ProgramImage
    from vta.runtime.backends.rtl.backend import make_harness
    from vta.runtime.backends.rtl.verilog import core_verilog

    for folder in sorted({case.parent for case in cases}):
        config = ProgramImage.load(cases[[c.parent for c in cases].index(folder)]).config
        for harness in harnesses:
            start = time.perf_counter()
            make_harness(core_verilog(config, sv=simulator != "icarus"), simulator, harness,
                         config=config).build()
            print(f"{folder.name}: {harness} harness on {simulator} ready in "
                  f"{time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
