#!/usr/bin/env python3
"""The cycle model (`vta.simulator.cycle`) against RTL co-simulation (fast Verilator harness).

    .venv/bin/python scripts/cycle_vs_rtl.py [--latencies 32/16 8/4] [--random 20] [--min-cycles 500]
        [--machine '{"command_queue_depth": 8}']

Runs every positive conformance case of both corpus configs whose RTL run takes at least
``--min-cycles`` cycles, at each memory latency pair ``READ/WRITE``, plus ``--random`` freshly
generated random programs per config (the hypothesis strategy of tests/simulator) at each
latency, and compares total cycles and the per-module busy/stall counters. Prints the worst
cases, the distribution of the errors and the worst-case error; exit status 1 when a total is
off by more than 2 % or a module counter by more than 5 % (of the total cycles when the
counter is small, see docs/cycle-model.md). ``--machine`` gives a machine description (a JSON
object of overrides, docs/machine.md) for both the RTL and the model.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "simulator")]

CYCLE_TOLERANCE, MODULE_TOLERANCE = 0.02, 0.05


def module_error(model: int, rtl: int, cycles: int) -> float:
    """Relative error of a busy/stall counter; counters under 5 % of the run are compared
    against the run length (a few cycles off a tiny counter is not a 5 % disagreement)."""
    return abs(model - rtl) / max(rtl, 0.05 * cycles, 1)


def compare(image, rtl_backend) -> dict:
    from vta.simulator.cycle import CycleModel

    rtl = rtl_backend.run(dataclasses.replace(image, dram=image.dram.copy()))
    model = CycleModel(image.config).run(image.program, image.insn_addr, image.dram)
    modules = {f"{name}.{kind}": (model.modules[name][kind], value)
               for name, counters in rtl.modules.items() for kind, value in counters.items()}
    return {"rtl": rtl.cycles, "model": model.cycles,
            "error": (model.cycles - rtl.cycles) / rtl.cycles,
            "module_error": max(module_error(m, r, rtl.cycles) for m, r in modules.values()),
            "modules": {k: v for k, v in modules.items() if v[0] != v[1]}}


def random_images(config, count: int, seed: int) -> list:
    from hypothesis import HealthCheck, given, settings, strategies as st
    from program_strategies import programs

    if count <= 0:         # hypothesis draws at least one example
        return []
    images = []

    @settings(max_examples=count, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def draw(data):
        images.append(data.draw(programs(config)))

    np.random.seed(seed)
    draw()
    return images[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latencies", nargs="+", default=["32/16", "8/4"])
    parser.add_argument("--random", type=int, default=20, help="random programs per config")
    parser.add_argument("--min-cycles", type=int, default=500)
    parser.add_argument("--json", type=Path, help="write every comparison here")
    parser.add_argument("--machine", type=json.loads, default={},
                        help="machine description overrides, a JSON object")
    args = parser.parse_args()

    from corpus import case_id, corpus_cases
    from vta.isa.image import ProgramImage
    from vta.runtime.backends import get_backend

    cases = [case for case in corpus_cases()
             if json.loads((case / "case.json").read_text())["expect"] == "ok"]
    base_images = [(case_id(case), ProgramImage.load(case)) for case in cases]
    configs = {}
    for _, image in base_images:
        configs.setdefault(image.config.config_string, image.config)
    for name, config in configs.items():
        base_images += [(f"{name}/random_{i:02d}", image)
                        for i, image in enumerate(random_images(config, args.random, 1))]

    results, backends = {}, {}
    for latency in args.latencies:
        read, write = (int(x) for x in latency.split("/"))
        for name, image in base_images:
            config = image.config.replace(MEM_READ_LATENCY=read, MEM_WRITE_LATENCY=write,
                                          MACHINE=args.machine)
            key = (config.fingerprint, read, write)
            if key not in backends:
                backends[key] = get_backend("rtl", config)
            outcome = compare(dataclasses.replace(image, config=config), backends[key])
            if outcome["rtl"] >= args.min_cycles or "random" in name:
                results[f"{name}@{latency}"] = outcome

    errors = np.array([abs(r["error"]) for r in results.values()])
    module_errors = np.array([r["module_error"] for r in results.values()])
    worst = sorted(results.items(), key=lambda item: -abs(item[1]["error"]))[:8]
    for name, r in worst:
        print(f"{r['error'] * 100:+7.3f}%  {name}: model {r['model']}, rtl {r['rtl']}  {r['modules']}")
    random_runs = sum("random" in k for k in results)
    print(f"machine {json.dumps(args.machine)}: {len(results)} runs ({random_runs} random): total cycles "
          f"exact on {(errors == 0).sum()}, within 0.1 % on {(errors <= 0.001).sum()}, "
          f"within 2 % on {(errors <= CYCLE_TOLERANCE).sum()}; worst {errors.max() * 100:.3f} %, "
          f"median {np.median(errors) * 100:.3f} %")
    print(f"module busy/stall counters: exact on {(module_errors == 0).sum()} runs, worst "
          f"{module_errors.max() * 100:.3f} %")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    ok = errors.max() <= CYCLE_TOLERANCE and module_errors.max() <= MODULE_TOLERANCE
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
