#!/usr/bin/env python3
"""Issue 14's design-space targets, measured: a sweep of ≥ 24 points × 3 models cold (with the
front verified) and re-run from the store; a search of a ≥ 1000-point space × 3 models; the
int4 digits CNN on the RTL, bit-exact with the functional simulator, accuracy beside int8's.

    .venv/bin/python scripts/dse_benchmark.py sweep  [-o DIR] [--programs N] [--workers W]
    .venv/bin/python scripts/dse_benchmark.py search [-o DIR] [--trials N] [--workers W]
    .venv/bin/python scripts/dse_benchmark.py int4 [--inputs N]

Models: the digits CNN, ResNet-18 (benchmarks/build_resnet18.py) and a zoo model (--zoo,
default resnet_small); layer cycles from the cycle model (--fidelity, default cycle). Each run's
wall time is printed with the CPU time of its process tree and the machine's load average
(figures taken while other jobs load the machine are noisy).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VTA = str(Path(sys.executable).with_name("vta"))

#: 64 points, 35 buildable: int8 and int4 operands, blocks of 8 and 16, 32- and 64-bit buses,
#: eight buffer plans (INP 8 or 32 KiB x WGT 64 or 256 KiB x ACC 32 or 128 KiB; the largest is
#: pynq's, whose int8 16-wide points have the ISA of the conformance corpus).
SWEEP = """
base = "pynq"
[parameters]
LOG_WIDTH = [3, 2]
LOG_BLOCK = [3, 4]
LOG_BUS_WIDTH = [5, 6]
LOG_INP_BUFF_SIZE = [13, 15]
LOG_WGT_BUFF_SIZE = [16, 18]
LOG_ACC_BUFF_SIZE = [15, 17]
[constraints]
fits = "pynq-z1"
"""

#: 1080 points: the widths, blocks and buses of the sweep x 27 buffer plans x 5 clocks; a point
#: whose clock is above its fmax estimate on the board is left out.
SEARCH = """
base = "pynq"
[parameters]
LOG_WIDTH = [3, 2]
LOG_BLOCK = [3, 4]
LOG_BUS_WIDTH = [5, 6]
LOG_INP_BUFF_SIZE = [13, 14, 15]
LOG_WGT_BUFF_SIZE = [15, 16, 17]
LOG_ACC_BUFF_SIZE = [15, 16, 17]
CLOCK_MHZ = [75.0, 100.0, 125.0, 150.0, 200.0]
[search]
method = "nsga2"
trials = TRIALS
population = 50
[constraints]
fits = "pynq-z1"
meets_clock = true
"""


def timed(argv: list[str]) -> float:
    """Run `argv`; print its wall time, the CPU time of its process tree and the load."""
    print("$", " ".join(argv), flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run(argv, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"-> {seconds:.1f} s wall, {cpu:.1f} s CPU (process tree), load average "
          f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end", flush=True)
    return seconds


#: The int4 point of the sweep the digits CNN runs on the RTL (inputs and weights 4-bit).
INT4 = {"LOG_INP_WIDTH": 2, "LOG_WGT_WIDTH": 2, "LOG_BLOCK": 4, "LOG_BUS_WIDTH": 6,
        "LOG_INP_BUFF_SIZE": 13, "LOG_WGT_BUFF_SIZE": 16, "LOG_ACC_BUFF_SIZE": 15}


def int4_digits(count: int) -> int:
    """The digits CNN re-quantized for int4 on the RTL and on the functional simulator: every
    value of `count` inferences bit-exact between them (and with the integer reference); the
    accuracy over all 1797 digits at int4 beside int8's (integer reference, bit-exact with
    both backends)."""
    import numpy as np

    from vta.compiler.evaluate import prepare, run_one
    from vta.compiler.models.digits import build_digits, digits_dataset
    from vta.dse.models import accuracy, resolve
    from vta.isa import Config

    config = Config.preset("pynq").replace(**INT4)
    _, int8_path = build_digits()
    inputs, labels = digits_dataset()
    started = time.perf_counter()
    rtl, functional = prepare(int8_path, config, "rtl"), prepare(int8_path, config)
    print(f"int4 digits CNN on {config.config_string}: compiled twice in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    differing, agree = [], 0
    for index, x in enumerate(inputs[:count]):
        on_rtl, on_functional = run_one(rtl, x[None]), run_one(functional, x[None])
        if not np.array_equal(on_rtl, on_functional):
            differing.append(index)
        agree += int(np.argmax(on_rtl) == labels[index])
    exact = not differing and not rtl.mismatched_values and not functional.mismatched_values
    print(f"RTL vs functional on {count} digits: "
          f"{'bit-exact in every value' if exact else 'DIFFER'} (outputs differing: "
          f"{differing or 'none'}; values off the reference: RTL "
          f"{sorted(set(rtl.mismatched_values)) or 'none'}, functional "
          f"{sorted(set(functional.mismatched_values)) or 'none'}); RTL "
          f"{np.mean(rtl.run_seconds):.2f} s per inference; {agree}/{count} correct on RTL")
    spec = resolve("digits")
    for bits in (8, 4):
        result = accuracy(spec, bits, bits)
        print(f"accuracy int{bits} (inputs and weights): {100 * result['accuracy']:.2f} % of "
              f"{result['samples']} digits", flush=True)
    return 0 if exact else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=("sweep", "search", "int4"))
    parser.add_argument("-o", "--output", type=Path, default=Path("/tmp/vta-dse-benchmark"))
    parser.add_argument("--zoo", default="resnet_small")
    parser.add_argument("--programs", type=int, default=20)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--fidelity", choices=("estimate", "cycle"), default="cycle")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--inputs", type=int, default=50,
                        help="int4: digits run on the RTL and the functional simulator")
    args = parser.parse_args()
    if args.target == "int4":
        return int4_digits(args.inputs)
    folder = args.output / args.target
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    space = folder / "space.toml"
    space.write_text(SWEEP if args.target == "sweep" else
                     SEARCH.replace("TRIALS", str(args.trials)))
    command = [VTA, "dse", str(space), "--models", f"digits,resnet18,zoo:{args.zoo}",
               "-o", str(folder / "out"), "--workers", str(args.workers),
               "--fidelity", args.fidelity]
    if args.target == "sweep":
        cold = timed(command + ["--verify", "--programs", str(args.programs)])
        warm = timed(command + ["--verify", "--programs", str(args.programs)])
        print(f"sweep: cold {cold / 60:.1f} min (front verified), re-run from the store "
              f"{warm:.1f} s")
    else:
        seconds = timed(command)
        print(f"search: {seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
