#!/usr/bin/env python3
"""Simulated cycles per second of the ``cycle`` backend (data included: the static check, the
functional simulator and the cycle model) against the ``rtl`` backend's fast Verilator harness,
measured in one run on the same images: the GEMM-bound image of benchmarks/rtl_sim.py and the
bus-bound blocked GEMM of the corpus.

    .venv/bin/python benchmarks/cycle_sim.py [--gemms 4] [--repeat 20]

Both runs must give the same cycle count. Wall-clock figures are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]


def timed(function, repeat: int):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return result, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gemms", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    from corpus import CORPUS
    from rtl_sim import gemm_program
    from vta.isa import Config
    from vta.isa.image import ProgramImage
    from vta.runtime.backends import get_backend

    images = {"GEMM-bound (rtl_sim.py)": gemm_program(Config.preset("pynq"), args.gemms),
              "bus-bound (p_blocked_gemm_64_256_64_nocomp_vt2)":
                  ProgramImage.load(CORPUS / "vta-1x16/p_blocked_gemm_64_256_64_nocomp_vt2")}
    for name, image in images.items():
        def run_on(backend):
            return backend.run(ProgramImage(image.config, image.dram.copy(), image.insn_addr,
                                            image.insn_count))

        cycle, rtl = get_backend("cycle", image.config), get_backend("rtl", image.config)
        run_on(rtl)  # build / warm the harness
        report, model_time = timed(lambda: run_on(cycle), args.repeat)
        rtl_report, rtl_time = timed(lambda: run_on(rtl), 3)
        if rtl_report.cycles != report.cycles:
            raise SystemExit(f"{name}: model {report.cycles} cycles, RTL {rtl_report.cycles}")
        model_rate, rtl_rate = report.cycles / model_time, rtl_report.cycles / rtl_time
        print(f"{name}: {report.cycles} cycles; cycle backend {model_time * 1e3:.2f} ms "
              f"({model_rate / 1e6:.1f} M cycles/s), Verilator fast harness "
              f"{rtl_time * 1e3:.0f} ms ({rtl_rate / 1e6:.2f} M cycles/s): {model_rate / rtl_rate:.0f}x")


if __name__ == "__main__":
    main()
