#!/usr/bin/env python
"""Zoo models' quantized tensors against an exact evaluation of the same QDQ graph (every float
tensor in float64, `vta.compiler.compare.exact_values`): the compiler's integer graph (its
reference executor, which the VTA backends reproduce bit for bit) and onnxruntime (both
optimization levels), tensor by tensor, one line per model and reference input.

    python scripts/zoo_exact.py [MODEL ...] [--samples N] [--seed S]

Per line: `ours` — the tensors where the integer graph differs from the exact evaluation and
the largest difference in steps (of that tensor); `ORT on`/`ORT off` — likewise for
onnxruntime at ORT_ENABLE_ALL/ORT_DISABLE_ALL; `output` — the differences at the quantized
tensors that produce the graph's outputs; `first` — onnxruntime's first differing tensor in
graph order, its node, how many of its elements differ and by how many steps. A measurement:
the exit status is 0 whatever it finds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import numpy as np                                                  # noqa: E402

import zoo                                                          # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", metavar="MODEL", help="zoo models (default: all small)")
    parser.add_argument("--samples", type=int, default=None, help="reference inputs (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="the zoo's seed (default 0)")
    args = parser.parse_args()
    from vta.compiler import ir, reference
    from vta.compiler.compare import exact_values, onnxruntime_values
    from vta.compiler.onnx_import import import_onnx
    for name in args.models or zoo.names(large=False):
        built = zoo.build(name, seed=args.seed)
        graph = import_onnx(built.int8_path)
        outputs = {_quantized_source(graph, output) for output in graph.outputs} - {None}
        for index, feed in enumerate(built.reference.inputs[:args.samples]):
            exact = exact_values(built.int8_path, graph, feed)
            ours = reference.run(graph, feed)
            cells = [_distance(graph, ours, exact, outputs)]
            for optimized in (True, False):
                theirs = onnxruntime_values(built.int8_path, graph, feed, optimized)
                cells.append(_distance(graph, theirs, exact, outputs))
            print(f"{name:20} input {index}: ours {_text(cells[0])}; ORT on {_text(cells[1])}; "
                  f"ORT off {_text(cells[2])}", flush=True)
    return 0


def _quantized_source(graph, name: str) -> str | None:
    """The quantized value an output is dequantized from (or the output itself)."""
    while name in graph.values and not graph.values[name].quantized:
        producer = graph.producer(name)
        if producer is None or not producer.inputs:
            return None
        name = producer.inputs[0]
    return name if name in graph.values else None


def _distance(graph, values: dict, exact: dict, outputs: set) -> tuple:
    """(tensors differing, max steps, max steps at the outputs, first differing tensor)."""
    differing, worst, at_output, first = 0, 0, 0, None
    for node in graph.nodes:
        name = node.output
        if name not in exact or name not in values:
            continue
        gap = np.abs(values[name].astype(np.int32) - exact[name].astype(np.int32))
        if not gap.any():
            continue
        differing += 1
        worst = max(worst, int(gap.max()))
        if name in outputs:
            at_output = max(at_output, int(gap.max()))
        if first is None:
            first = f"{node.name} ({int(np.count_nonzero(gap))} of {gap.size}, {int(gap.max())} step)"
    return differing, worst, at_output, first


def _text(cell: tuple) -> str:
    differing, worst, at_output, first = cell
    if not differing:
        return "exact"
    return f"{differing} tensors, max {worst}, output {at_output}, first {first}"


if __name__ == "__main__":
    sys.exit(main())
