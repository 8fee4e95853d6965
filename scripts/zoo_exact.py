#!/usr/bin/env python
"""Zoo models' quantized tensors against an exact evaluation of the same QDQ graph (every float
tensor in float64, `vta.compiler.compare.exact_values`): the compiler's integer graph (its
reference executor, which the VTA backends reproduce bit for bit) and onnxruntime (both
optimization levels), tensor by tensor, one line per model and reference input.

    python scripts/zoo_exact.py [MODEL ...] [--samples N] [--seed S] [--trace]

Per line: `ours` — the tensors where the integer graph differs from the exact evaluation and
the largest difference in steps (of that tensor); `ORT on`/`ORT off` — likewise for
onnxruntime at ORT_ENABLE_ALL/ORT_DISABLE_ALL; `output` — the differences at the quantized
tensors that produce the graph's outputs; `first` — onnxruntime's first differing tensor in
graph order, its node, how many of its elements differ and by how many steps. With `--trace`,
each node of the integer graph is also run on the exact evaluation's inputs (where the exact
evaluation has them; host values from the traced run), and every node whose output then departs
from the exact one is printed — the departures of its own, not those it inherits — with the
first differing element and, for a node that accumulates, its accumulator, multiplier and
exact value in output steps. A measurement: the exit status is 0 whatever it finds.
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
    parser.add_argument("--trace", action="store_true",
                        help="print every node that departs from the exact evaluation on its own")
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
            if args.trace:
                for line in _departures(graph, exact, ours):
                    print(f"{'':20}   {line}", flush=True)
    return 0


def _departures(graph, exact: dict, ours: dict) -> list[str]:
    """The nodes whose output differs from the exact evaluation's when they are run on its
    inputs (quantized values from the exact evaluation, host values as the traced run computes
    them from those)."""
    import dataclasses
    from vta.compiler import ir, reference
    values = dict(graph.constants) | {name: ours[name] for name in graph.inputs}
    lines = []
    for node in graph.nodes:
        inputs = [values[name] if name else None for name in node.inputs]
        results = reference.run_node(node, inputs)
        for name, result in zip(node.outputs, results):
            if name in exact:
                gap = np.abs(result.astype(np.int32) - exact[name].astype(np.int32))
                if gap.any():
                    at = tuple(int(i) for i in np.argwhere(gap)[0])
                    line = (f"{type(node).__name__} {node.name}: {int(np.count_nonzero(gap))} "
                            f"of {gap.size}, {int(gap.max())} step, first at {at}: ours "
                            f"{int(result[at])}, exact {int(exact[name][at])}")
                    requant = getattr(node, "requant", None)
                    if requant is not None and not isinstance(node, ir.MatMul):
                        raw = dataclasses.replace(node, requant=lambda acc: np.asarray(acc))
                        acc = int(reference.run_node(raw, inputs)[0][at]) + int(
                            np.broadcast_to(requant.offset, gap.shape)[at])
                        m = float(np.broadcast_to(requant.multiplier, gap.shape)[at])
                        line += (f" (acc {acc}, multiplier {m!r}: {acc * m:.9f} steps from the "
                                 f"zero point; plan error ≤ {requant.error:.2g})")
                    lines.append(line)
            values[name] = exact[name] if name in exact else result
    return lines


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
