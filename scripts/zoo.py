#!/usr/bin/env python
"""Every model of the zoo (benchmarks/zoo, docs/zoo.md) compiled for VTA and run on the
functional and cycle backends, one line per model: whether it compiles (or why not), its
distance from onnxruntime in output quantization steps, onnxruntime's own spread between
ORT_DISABLE_ALL and ORT_ENABLE_ALL, top-1 agreement (classifiers), functional == cycle (and
rtl == functional with --rtl), VTA cycles of one inference, the share of MACs on VTA, compile
seconds, and PASS/FAIL by issue 11's acceptance: within max(2 steps, the spread), top-1 agrees,
backends agree, MAC share at least 98 % (convolutional models) or 90 % (transformers, GRUs).

    python scripts/zoo.py [MODEL ...] [--large] [--samples N] [--rtl] [--preset pynq] [--json]

Models are built on first use and cached (`~/.cache/pyvta/models`); --large adds ResNet-18 and
EfficientNet-Lite0 at 224×224. Exit status 1 when any model fails. Compile seconds are
wall-clock on a possibly shared machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import zoo                                                          # noqa: E402
from zoo.evaluate import Evaluation, evaluate                       # noqa: E402

COLUMNS = ("model", "steps", "spread", "top-1", "f=c", "rtl=f", "cycles", "VTA MACs",
           "VTA ops", "compile s", "result")


def row(result: Evaluation) -> str:
    def figure(value, text):
        return "-" if value is None else text
    cells = [result.name,
             figure(result.steps, f"{result.steps:.0f}" if result.steps is not None else ""),
             figure(result.spread, f"{result.spread:.0f}" if result.spread is not None else ""),
             figure(result.top1, f"{result.top1[0]}/{result.top1[1]}" if result.top1 else ""),
             figure(result.backends_agree, "yes" if result.backends_agree else "NO"),
             figure(result.rtl_agrees, "yes" if result.rtl_agrees else "NO"),
             figure(result.cycles, f"{result.cycles}"),
             figure(result.vta_mac_share, f"{100 * result.vta_mac_share:.1f} %"
                    if result.vta_mac_share is not None else ""),
             figure(result.vta_operators, "{}/{}".format(*result.vta_operators)
                    if result.vta_operators else ""),
             figure(result.compile_seconds, f"{result.compile_seconds:.1f}"
                    if result.compile_seconds is not None else ""),
             "PASS" if result.passed else "FAIL"]
    line = f"{cells[0]:22}" + "".join(f"{c:>10}" for c in cells[1:-1]) + f"  {cells[-1]}"
    reasons = ([f"does not compile: {result.error}"] if not result.compiled
               else [result.error] if result.error else result.failures)
    return line + "".join(f"\n{'':24}{reason}" for reason in reasons)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help=f"zoo models (default: all); {', '.join(zoo.names())}")
    parser.add_argument("--large", action="store_true", help="add the 224×224 models")
    parser.add_argument("--samples", type=int, default=None,
                        help="reference inputs to run (default: all 8)")
    parser.add_argument("--rtl", action="store_true",
                        help="also run the first input on the RTL backend (Verilator; slow)")
    parser.add_argument("--preset", default="pynq", help="VTA config preset (default pynq)")
    parser.add_argument("--seed", type=int, default=0, help="the zoo's seed (default 0)")
    parser.add_argument("--json", action="store_true", help="one JSON object per model")
    args = parser.parse_args()
    from vta.isa import Config
    from vta.isa import VtaError
    try:
        config = Config.preset(args.preset)
        names = args.models or zoo.names(large=args.large)
        specs = [zoo.get(name) for name in names]
    except (KeyError, VtaError) as error:
        print(f"zoo: {error.args[0]}", file=sys.stderr)
        return 2
    if not args.json:
        print(f"{COLUMNS[0]:22}" + "".join(f"{c:>10}" for c in COLUMNS[1:-1])
              + f"  {COLUMNS[-1]}", flush=True)
    results = []
    for spec in specs:
        built = zoo.build(spec.name, args.seed)
        result = evaluate(built, config, samples=args.samples, rtl=args.rtl)
        results.append(result)
        print(json.dumps(result.to_json()) if args.json else row(result), flush=True)
    passed = sum(r.passed for r in results)
    if not args.json:
        print(f"{passed}/{len(results)} models pass")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
