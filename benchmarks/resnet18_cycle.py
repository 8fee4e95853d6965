#!/usr/bin/env python3
"""A whole ResNet-18 inference on the ``cycle`` backend (functional data, cycle-model time):
wall and CPU seconds per run, how they split between the functional simulator and the cycle
model, and the cycle model (the compiled engine) against the Python model
(`CycleModel(engine=False)`) and with every grant and burst stepped in Python
(`fast_forward=False`), timed on the same layer images in the same process.

    .venv/bin/python benchmarks/resnet18_cycle.py [--vtab MODEL.vtab] [--runs 3]

Without ``--vtab`` the seeded int8 ResNet-18 of the model cache (benchmarks/build_resnet18.py)
is compiled first (not timed here: benchmarks/compile_time.py). The input is one calibration
image. Wall time on a shared machine mostly measures the other processes: the load average is
printed, and CPU time is the figure to compare.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vtab", type=Path, help="a compiled ResNet-18 (default: compile it)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import vta.simulator.cycle.model as cycle_model
    import vta.simulator.functional.simulator as functional
    from vta.compiler.artifact import load
    from vta.compiler.executor import Executor
    from vta.compiler.models.resnet18 import build_resnet18, calibration_images
    from vta.inference import compile as compile_model, save

    path = args.vtab
    if path is None:
        _, int8 = build_resnet18()
        path = Path(tempfile.mkdtemp()) / "resnet18.vtab"
        save(compile_model(int8), path)
    model = load(path)
    feeds = {model.inputs[0]["onnx_name"]: calibration_images()[:1]}

    spent, images = Counter(), []
    run_model, run_functional = cycle_model.CycleModel.run, functional.FunctionalSimulator.run

    def timed_model(self, program, insn_addr, dram):
        start = time.process_time()
        result = run_model(self, program, insn_addr, dram)
        spent["cycle model"] += time.process_time() - start
        images.append((self.config, program, insn_addr, dram))  # micro-ops stay put
        return result

    def timed_functional(self, *args, **kwargs):
        start = time.process_time()
        result = run_functional(self, *args, **kwargs)
        spent["functional simulator"] += time.process_time() - start
        return result

    cycle_model.CycleModel.run = timed_model
    functional.FunctionalSimulator.run = timed_functional
    executor = Executor(model, "cycle")
    for run in range(args.runs):
        spent.clear()
        images.clear()
        load_average = os.getloadavg()[0]
        start, start_cpu = time.perf_counter(), time.process_time()
        result = executor.run(feeds)
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        split = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in spent.items())
        print(f"run {run + 1}: {result.cycles:,} cycles in {wall:.2f} s wall, {cpu:.2f} s CPU "
              f"({split}; the rest: host steps, moves, decoding) at load {load_average:.1f}")
    cycle_model.CycleModel.run = run_model
    variants = {"engine": {}, "python": {"engine": False}, "stepping": {"fast_forward": False}}
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(2):
        for name, options in variants.items():
            start = time.process_time()
            for config, program, insn_addr, dram in images:
                cycle_model.CycleModel(config, **options).run(program, insn_addr, dram)
            best[name] = min(best[name], time.process_time() - start)
    count = sum(len(program) for _, program, _, _ in images)
    fast = best["engine"]
    print(f"cycle model over the {len(images)} layer images ({count} instructions): "
          f"{fast:.3f} s CPU ({fast / count * 1e6:.2f} us per instruction); Python model "
          f"{best['python']:.2f} s ({best['python'] / fast:.1f}x); stepping in Python "
          f"{best['stepping']:.2f} s ({best['stepping'] / fast:.1f}x)")


if __name__ == "__main__":
    main()
