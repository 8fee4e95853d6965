#!/usr/bin/env python3
"""Simulated cycles per second of the ``rtl`` backend's two harnesses on a GEMM-bound program.

    .venv/bin/python benchmarks/rtl_sim.py [--config pynq] [--gemms 4] [--cocotb-gemms 1] [--repeat 1]

The program loads 16 input and 16 weight tiles and a 16-uop kernel once, then runs GEMMs of
64 × 64 × 16 micro-op executions on them, stores the result and finishes, so compute is busy for
nearly the whole run. The fast (C++) harness runs ``--gemms`` GEMMs, the cocotb testbench (on
Verilator) ``--cocotb-gemms`` of them. Both results are checked against the functional
backend. Prints build times, cycles, the compute module's busy share and cycles/s; wall-clock
figures are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from vta.isa import Config
from vta.isa.image import ProgramImage
from vta.runtime.backends import get_backend
from vta.runtime.backends.rtl.backend import make_harness
from vta.runtime.backends.rtl.training import gemm_program
from vta.runtime.backends.rtl.verilog import core_verilog


def measure(config: Config, gemms: int, harness: str) -> None:
    image = gemm_program(config, gemms)
    reference = image.dram.copy()
    get_backend("functional", config).run(ProgramImage(config, reference, image.insn_addr, image.insn_count))
    start = time.perf_counter()
    make_harness(core_verilog(config), "verilator", harness, config=config).build()
    built = time.perf_counter() - start
    backend = get_backend("rtl", config, harness=harness)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    report = backend.run(image)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    busy = report.modules["compute"]["busy"] / report.cycles
    verdict = "matches" if np.array_equal(image.dram, reference) else "DIFFERS FROM"
    own = f" ({report.cycles / cpu:,.0f} cycles/s of simulator CPU)" if harness == "fast" else ""
    print(f"{harness:>6} harness: {report.cycles:>9,} cycles in {elapsed:6.2f} s = "
          f"{report.cycles / elapsed:>10,.0f} cycles/s{own}; compute busy {busy:.0%}; "
          f"build {built:.1f} s; image {verdict} the functional backend")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="pynq", help="config preset (default: pynq)")
    parser.add_argument("--gemms", type=int, default=4, help="GEMMs for the fast harness")
    parser.add_argument("--cocotb-gemms", type=int, default=1,
                        help="GEMMs for cocotb (0: skip the cocotb harness)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the fast harness")
    args = parser.parse_args()
    config = Config.preset(args.config)
    start = time.perf_counter()
    core_verilog(config)
    print(f"config {args.config} ({config.config_string}); Verilog ready in "
          f"{time.perf_counter() - start:.1f} s")
    for _ in range(args.repeat):
        measure(config, args.gemms, "fast")
    if args.cocotb_gemms:
        measure(config, args.cocotb_gemms, "cocotb")


if __name__ == "__main__":
    main()
