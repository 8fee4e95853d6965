#!/usr/bin/env python
"""Golden replay of the compiler back end: compile a fixed set of graphs (the three workload
models and the back-end tests' synthetic layers on several configs) and record, per case, a
digest of every memory section (packed weights, constants, micro-ops and instruction streams),
the host steps, and each layer's placement, tiling and recorded cycles. `check` compiles again
and prints every difference: a refactoring that must not change behaviour shows none.

    python scripts/compiler_replay.py record replay.json [--quick]
    python scripts/compiler_replay.py check replay.json [--quick]

`--quick` leaves out EfficientNet-Lite0 and ResNet-18 (about a minute instead of three).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "compiler"))

from backend_graphs import (add_graph, chained_graph, conv_graph,  # noqa: E402
                            conv_pool_graph, dense_graph, pool_graph, residual_graph)
from vta.compiler.build import compile_graph  # noqa: E402
from vta.isa import Config  # noqa: E402

PYNQ = Config.preset("pynq")
TINY = PYNQ.replace(LOG_INP_BUFF_SIZE=10, LOG_WGT_BUFF_SIZE=13, LOG_ACC_BUFF_SIZE=13)
CONFIGS = {"pynq": PYNQ, "tiny": TINY, "1x32": PYNQ.replace(LOG_BLOCK=5),
           "batch2": PYNQ.replace(LOG_BATCH=1), "no-mul": PYNQ.replace(ALU_MUL=False)}

SYNTHETIC = {
    "conv3x3": lambda rng: conv_graph(rng, c=20, o=36, h=9, w=7, k=3, pad=1),
    "conv-s2-dil": lambda rng: conv_graph(rng, c=40, o=24, h=11, w=12, k=3, stride=2, pad=2,
                                          dilation=2, relu=True),
    "depthwise": lambda rng: conv_graph(rng, c=40, o=40, groups=40, k=5, stride=2, pad=2, h=9,
                                        w=9, per_channel=False),
    "grouped": lambda rng: conv_graph(rng, c=24, o=12, groups=4, k=3, h=6, w=6),
    "stem": lambda rng: conv_graph(rng, c=3, o=32, h=30, w=30, k=7, stride=2, pad=3,
                                   input_zero_point=-128),
    "dense": lambda rng: dense_graph(rng, k=300, m=20),
    "dense-narrow": lambda rng: dense_graph(rng, k=40, m=5, per_channel=False),
    "maxpool": lambda rng: pool_graph(rng, k=3, stride=2, pad=1, ceil_mode=True, h=8, w=8),
    "avgpool": lambda rng: pool_graph(rng, kind="avg", k=3, stride=1, pad=1, h=6, w=6),
    "add": lambda rng: add_graph(rng, c=24, h=5, w=6),
    "residual": lambda rng: residual_graph(rng, c=20, h=6, w=6),
    "residual-other-first": lambda rng: residual_graph(rng, c=40, h=9, w=9, conv_first=False),
    "conv+maxpool": lambda rng: conv_pool_graph(rng),
    "stem+maxpool": lambda rng: conv_pool_graph(rng, c=3, o=20, k=7, stride=2, pad=3, h=20,
                                                w=18),
    "chained": chained_graph,
}
NO_MUL = {
    "conv": lambda rng: conv_graph(rng, alu_mul=False),
    "dense": lambda rng: dense_graph(rng, alu_mul=False),
    "avgpool": lambda rng: pool_graph(rng, kind="avg", k=2, stride=2, alu_mul=False),
}


def cases(quick: bool):
    """(name, graph, config) of every case."""
    for config_name in ("pynq", "tiny", "1x32", "batch2"):
        for name, build in SYNTHETIC.items():
            yield f"{name}/{config_name}", lambda b=build: b(np.random.default_rng(11)), \
                CONFIGS[config_name]
    for name, build in NO_MUL.items():
        yield f"{name}/no-mul", lambda b=build: b(np.random.default_rng(11)), CONFIGS["no-mul"]
    from vta.compiler import models
    from vta.compiler.onnx_import import import_onnx
    builders = {"digits": lambda: models.build_digits()[1]}
    if not quick:
        builders["efficientnet"] = lambda: models.build_efficientnet_lite0()[1]
        builders["resnet18"] = lambda: models.build_resnet18(seed=0)[1]
    for name, path in builders.items():
        yield name, lambda p=path: import_onnx(p(), alu_mul=True), PYNQ


def digest(data: bytes | None) -> str:
    return hashlib.sha256(data or b"").hexdigest()[:16]


def summary(graph, config) -> dict:
    """What a compile produced, in a form that compares by equality."""
    model = compile_graph(graph, config)
    return {
        "memory_bytes": model.memory_bytes,
        "sections": [[s.name, s.addr, s.nbytes, s.fill if s.data is None else digest(s.data)]
                     for s in model.sections],
        "steps": model.steps,
        "values": model.values,
        "nodes": [{key: (list(value.values()) if isinstance(value, dict) else value)
                   for key, value in node.items()} for node in model.nodes],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["record", "check"])
    parser.add_argument("file", type=Path)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    results = {}
    for name, build, config in cases(args.quick):
        results[name] = json.loads(json.dumps(summary(build(), config)))
        print(f"compiled {name}", file=sys.stderr)
    if args.action == "record":
        args.file.write_text(json.dumps(results, indent=1))
        print(f"recorded {len(results)} cases in {args.file}")
        return 0
    recorded = json.loads(args.file.read_text())
    differences = 0
    for name, result in results.items():
        if name not in recorded:
            print(f"{name}: not recorded")
            continue
        for key in result:
            if result[key] != recorded[name][key]:
                differences += 1
                print(f"{name}: {key} differs")
    print(f"{len(results)} cases, {differences} differences")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
