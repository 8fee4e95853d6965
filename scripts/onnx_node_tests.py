#!/usr/bin/env python
"""ONNX's backend node tests for the quantized operators (QuantizeLinear, DequantizeLinear,
QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger, DynamicQuantizeLinear) and the int8/uint8
variants of Add, Sub, Mul, Div, Max, Min, Clip and MaxPool, each compiled for VTA and run on the
functional backend, its outputs compared exactly with the test data. Prints each failure with its
reason and the count passed/total; exit status 1 when any fails.

    python scripts/onnx_node_tests.py [--all-integer] [--backend functional] [--verbose]
                                      [--preset pynq] [-k SUBSTRING]

--all-integer adds every other node test with int8/uint8 tensors (comparisons, bit shifts, Mod,
casts, ...). See docs/zoo.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from zoo.node_tests import onnx_node_tests, run_case, vta_runner    # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all-integer", action="store_true",
                        help="every node test with int8/uint8 tensors, not only those named")
    parser.add_argument("--backend", default="functional", help="backend (default functional)")
    parser.add_argument("--preset", default="pynq", help="VTA config preset (default pynq)")
    parser.add_argument("-k", dest="substring", default="", help="only tests whose name has it")
    parser.add_argument("--verbose", action="store_true", help="list the passing tests too")
    args = parser.parse_args()
    from vta.isa import Config, VtaError
    try:
        config = Config.preset(args.preset)
    except VtaError as error:
        print(f"onnx_node_tests: {error}", file=sys.stderr)
        return 2
    cases = [c for c in onnx_node_tests(args.all_integer) if args.substring in c.name]
    passed, prepare = 0, vta_runner(config, args.backend)
    for case in cases:
        outcome = run_case(case, prepare)
        passed += outcome.passed
        if not outcome.passed or args.verbose:
            print(f"{'PASS' if outcome.passed else 'FAIL'} {case.name}"
                  + (f": {outcome.reason}" if outcome.reason else ""), flush=True)
    print(f"{passed}/{len(cases)} ONNX node tests pass on the {args.backend} backend")
    return 0 if passed == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
