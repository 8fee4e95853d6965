#!/usr/bin/env python3
"""Simulated cycles per second of the cycle model and of the ``cycle`` backend (data included:
the static check, the functional simulator and the cycle model) against the ``rtl`` backend's
fast Verilator harness, measured in one run on the same images: the GEMM-bound image of
benchmarks/rtl_sim.py and the bus-bound (load/store-dominated) images of the corpus.

    .venv/bin/python benchmarks/cycle_sim.py [--gemms 4] [--repeat 20] [--no-rtl]

Both must give the same cycle count. Times are the best of `--repeat` runs in the process's
CPU time (wall time on a shared machine mostly measures the other processes); the model (the
compiled engine, docs/cycle-model.md "The engine") is also timed as the Python model
(`CycleModel(engine=False)`, with its compiled loops) and with everything stepped in Python
(`CycleModel(fast_forward=False)`) in the same process, and the ratios are the figures the
load changes least.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

BUS_BOUND = ["vta-1x16/p_blocked_gemm_64_256_64_nocomp_vt2",
             "vta-1x32/p_blocked_gemm_64_128_64_comp_vt2"]


def timed(function, repeat: int):
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        result = function()
        best = min(best, time.process_time() - start)
    return result, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gemms", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-rtl", action="store_true", help="skip the Verilator harness")
    args = parser.parse_args()

    from corpus import CORPUS
    from rtl_sim import gemm_program
    from vta.isa import Config
    from vta.isa.image import ProgramImage
    from vta.runtime.backends import get_backend
    from vta.simulator.cycle import CycleModel

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    images = {"GEMM-bound (rtl_sim.py)": gemm_program(Config.preset("pynq"), args.gemms)}
    images |= {f"bus-bound ({name.split('/')[1]}, {name.split('/')[0]})":
               ProgramImage.load(CORPUS / name) for name in BUS_BOUND}
    for name, image in images.items():
        def run_on(backend):
            return backend.run(ProgramImage(image.config, image.dram.copy(), image.insn_addr,
                                            image.insn_count))

        program = image.program
        fast, step = CycleModel(image.config), CycleModel(image.config, fast_forward=False)
        python = CycleModel(image.config, engine=False)
        model_report, model_time = timed(
            lambda: fast.run(program, image.insn_addr, image.dram), args.repeat)
        python_report, python_time = timed(
            lambda: python.run(program, image.insn_addr, image.dram), args.repeat)
        step_report, step_time = timed(
            lambda: step.run(program, image.insn_addr, image.dram), args.repeat)
        cycle = get_backend("cycle", image.config)
        report, backend_time = timed(lambda: run_on(cycle), args.repeat)
        cycles = report.cycles
        if (model_report.cycles, python_report.cycles, step_report.cycles) != (cycles,) * 3:
            raise SystemExit(f"{name}: model {model_report.cycles}, Python model "
                             f"{python_report.cycles}, stepping {step_report.cycles}, "
                             f"backend {cycles} cycles")
        line = (f"{name}: {cycles} cycles; cycle model {model_time * 1e3:.3f} ms CPU "
                f"({cycles / model_time / 1e6:.1f} M cycles/s; Python model "
                f"{python_time * 1e3:.2f} ms, {python_time / model_time:.1f}x; stepping in "
                f"Python {step_time * 1e3:.2f} ms, {step_time / model_time:.1f}x), cycle backend "
                f"{backend_time * 1e3:.2f} ms ({cycles / backend_time / 1e6:.1f} M cycles/s)")
        if not args.no_rtl:
            rtl = get_backend("rtl", image.config)
            run_on(rtl)  # build / warm the harness
            start = time.perf_counter()
            rtl_report = run_on(rtl)
            rtl_time = time.perf_counter() - start
            if rtl_report.cycles != cycles:
                raise SystemExit(f"{name}: model {cycles} cycles, RTL {rtl_report.cycles}")
            rtl_rate = cycles / rtl_time
            line += (f"; Verilator fast harness {rtl_time * 1e3:.0f} ms wall "
                     f"({rtl_rate / 1e6:.2f} M cycles/s): backend "
                     f"{cycles / backend_time / rtl_rate:.0f}x")
        print(line)


if __name__ == "__main__":
    main()
