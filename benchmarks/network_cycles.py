#!/usr/bin/env python
"""Cycles of a whole network on VTA, layer by layer, against each layer's bound.

Compiles the model for the preset (with a machine description: ``--machine`` overrides, e.g.
``'{"overlap_kernels": 0}'`` for a compute module that runs one instruction at a time), runs
one input on a backend that counts cycles (default: the cycle model) and prints per VTA layer:
its GEMM and ALU micro-op executions and bus cycles (its DRAM bytes at one bus word per cycle),
its bound — the compute module's floor (GEMM + ALU executions when the two run one after the
other; the larger of the two when the machine overlaps them) or the bus's, whichever is larger
—, the measured cycles, cycles over the bound, and MAC utilization (MACs per cycle against the
GEMM core's peak; for layers bound by compute, also against the GEMM-only floor). The `by` column names the bound: the GEMM unit, the ALU unit (their sum
``GEMM+ALU`` on a one-unit core) or the bus. Totals at the end, the share of the compute-bound
3×3 and 1×1 convolutions at ≥ 90 % utilization, and the depthwise convolutions against their own
bound: they use only the diagonal of each weight tile (``dw`` before the kernel), so a GEMM
execution does BLOCK of the BLOCK² MACs it could and their MAC utilization cannot pass 1/BLOCK;
`util@bound` is then taken against that diagonal peak.

    python benchmarks/network_cycles.py [resnet18|efficientnet|digits] [--machine JSON]
        [--backend cycle|rtl] [--preset pynq]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from vta.compiler.evaluate import prepare
from vta.isa import Config
from vta.runtime.roofline import TRAFFIC_COUNTERS


def model_and_input(name: str):
    from vta.compiler import models
    if name == "digits":
        inputs, _ = models.digits_dataset()
        return models.build_digits()[1], inputs[:1]
    if name == "efficientnet":
        return models.build_efficientnet_lite0()[1], models.efficientnet_images()["chelsea"]
    rng = np.random.default_rng(0)
    return models.build_resnet18()[1], rng.normal(size=(1, 3, 224, 224)).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default="resnet18",
                        choices=["digits", "efficientnet", "resnet18"])
    parser.add_argument("--backend", default="cycle")
    parser.add_argument("--preset", default="pynq")
    parser.add_argument("--machine", default="{}", help="machine overrides (a JSON object)")
    args = parser.parse_args()
    config = Config.preset(args.preset)
    overrides = json.loads(args.machine)
    if overrides:
        config = config.replace(MACHINE=config.machine.overrides() | overrides)
    overlap = config.machine.overlap_kernels > 0
    peak = config.derived()["macs_per_cycle"]
    path, x = model_and_input(args.model)
    started = time.perf_counter()
    evaluation = prepare(path, config, args.backend)
    compiled = time.perf_counter() - started
    result = evaluation.executor.run({evaluation.graph.inputs[0]: x})
    reports = dict(result.reports)
    graph_nodes = {node.name: node for node in evaluation.graph.nodes}
    print(f"{args.model}, preset {args.preset}, machine {config.machine.overrides() or 'default'}"
          f" (compute overlap {'on' if overlap else 'off'}), backend {args.backend}; "
          f"compiled in {compiled:.1f} s")
    print(f"{'layer':40} {'op':8} {'kernel':>6} {'GEMM':>9} {'ALU':>8} {'bus':>8} "
          f"{'bound':>9} {'by':>9} {'cycles':>9} {'/bound':>6} {'MAC util':>8} {'util@bound':>10}")
    totals = {"cycles": 0, "bound": 0, "macs": 0}
    convs = [0, 0]        # compute-bound 3x3/1x1 convolutions: at >= 90 %, all
    depthwise = {"layers": 0, "cycles": 0, "bound": 0, "macs": 0, "GEMM": 0, "ALU": 0, "bus": 0,
                 "GEMM+ALU": 0}
    # a convolution fused into another's layer (a residual block's shortcut) counts there
    fused_macs: dict[str, int] = {}
    for node in evaluation.model.nodes:
        if node.get("into") and node["operator"] == "Conv2d":
            fused_macs[node["into"]] = fused_macs.get(node["into"], 0) + node["macs"]
    for node in evaluation.model.nodes:
        if node["placement"] != "vta":
            continue
        report = reports[node["name"]]
        counters = report.counters
        gemm, alu = counters["gemm_counter"], counters["alu_counter"]
        bus = -(-sum(counters[name] for name in TRAFFIC_COUNTERS) // config.bus_bytes)
        compute = max(gemm, alu) if overlap else gemm + alu
        bound = max(compute, bus)
        cycles = report.cycles or 0
        macs = node["macs"] + fused_macs.get(node["name"], 0)
        graph_node = graph_nodes.get(node["name"])
        weight = getattr(graph_node, "weight", None)
        kernel = "x".join(str(k) for k in weight.shape[2:]) if weight is not None \
            and getattr(weight, "ndim", 0) == 4 else "-"
        diagonal = bool(getattr(graph_node, "depthwise", False))
        if bus > compute:
            by = "bus"
        else:
            by = ("GEMM" if gemm >= alu else "ALU") if overlap else "GEMM+ALU"
        utilization = macs / (cycles * peak) if cycles else 0.0
        # a depthwise layer's peak is the diagonal of the array: peak / BLOCK MACs per cycle
        at_bound = macs * (config.block_out if diagonal else 1) / (bound * peak) if bound else 0.0
        if diagonal:
            kernel = "dw" + kernel
            depthwise["layers"] += 1
            depthwise["cycles"] += cycles
            depthwise["bound"] += bound
            depthwise["macs"] += macs
            depthwise[by] += 1
        totals["cycles"] += cycles
        totals["bound"] += bound
        totals["macs"] += macs
        if compute >= bus and kernel in ("3x3", "1x1") and node["operator"] == "Conv2d" \
                and not diagonal:
            convs[1] += 1
            convs[0] += utilization >= 0.9
        print(f"{node['name'][-40:]:40} {node['operator'][:8]:8} {kernel:>6} {gemm:9d} {alu:8d} "
              f"{bus:8d} {bound:9d} {by:>9} "
              f"{cycles:9d} {cycles / bound if bound else 0:6.2f} {utilization:8.1%} "
              f"{at_bound:10.1%}")
    print(f"{'total':40} {'':8} {'':>6} {'':9} {'':8} {'':8} {totals['bound']:9d} {'':9} "
          f"{totals['cycles']:9d} {totals['cycles'] / totals['bound']:6.2f} "
          f"{totals['macs'] / (totals['cycles'] * peak):8.1%}")
    if convs[1]:
        print(f"compute-bound 3x3/1x1 convolutions at >= 90 % MAC utilization: "
              f"{convs[0]} of {convs[1]}")
    if depthwise["layers"]:
        bounds = ", ".join(f"{depthwise[name]} by {name}" for name in
                           ("GEMM", "ALU", "GEMM+ALU", "bus") if depthwise[name])
        print(f"depthwise convolutions: {depthwise['layers']} layers ({bounds}), bound "
              f"{depthwise['bound']}, cycles {depthwise['cycles']} "
              f"({depthwise['cycles'] / depthwise['bound']:.2f} of the bound), "
              f"{depthwise['macs'] / (depthwise['cycles'] * peak):.1%} MAC utilization "
              f"(at most 1/{config.block_out} = {1 / config.block_out:.1%}: one diagonal of each "
              f"weight tile), {depthwise['macs'] * config.block_out / (depthwise['cycles'] * peak):.1%} "
              f"of the diagonal peak")
    print(f"TOTAL {totals['cycles']} cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
