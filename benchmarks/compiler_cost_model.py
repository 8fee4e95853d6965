#!/usr/bin/env python
"""The compiler's recorded cycles against measured ones: compile a model, run one input on a
backend that counts cycles (default rtl), print per layer the tiling, the cycles the compiler
recorded (its cycle-model timing), the measurement and the MAC utilization (MACs per cycle
against the GEMM core's peak); then the layer's bound: the compute module's busy floor (its
GEMM and ALU executions, one per cycle) against the bus's (its DRAM bytes at one bus word per
cycle), the larger of the two (`floor`), which one it is, and the cycles over the floor; then
totals by operator and without the stem.

    python benchmarks/compiler_cost_model.py [digits|efficientnet|resnet18] [--backend rtl]
        [--per-tensor] [--power-of-two]     (ResNet-18's quantization; both: the original's)
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from vta.compiler.evaluate import prepare
from vta.isa import Config
from vta.runtime.roofline import TRAFFIC_COUNTERS


#: The input stem (torchvision's conv1 + maxpool), which the original VTA ran on the CPU.
STEMS = {"resnet18": ("conv1", "maxpool")}


def model_and_input(name: str, **quantization):
    from vta.compiler import models
    if name == "digits":
        inputs, _ = models.digits_dataset()
        return models.build_digits()[1], inputs[:1]
    if name == "efficientnet":
        return models.build_efficientnet_lite0()[1], models.efficientnet_images()["chelsea"]
    rng = np.random.default_rng(0)
    return (models.build_resnet18(**quantization)[1],
            rng.normal(size=(1, 3, 224, 224)).astype(np.float32))


def bounds(counters: dict, config: Config) -> tuple[int, int, int]:
    """(GEMM executions, ALU executions, bus cycles of the DRAM data) of one layer's run."""
    data = sum(counters[name] for name in TRAFFIC_COUNTERS)
    return counters["gemm_counter"], counters["alu_counter"], -(-data // config.bus_bytes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default="digits",
                        choices=["digits", "efficientnet", "resnet18"])
    parser.add_argument("--backend", default="rtl")
    parser.add_argument("--preset", default="pynq")
    parser.add_argument("--per-tensor", action="store_true",
                        help="ResNet-18 with per-tensor weight scales")
    parser.add_argument("--power-of-two", action="store_true",
                        help="ResNet-18 with power-of-two scales")
    args = parser.parse_args()
    if args.model != "resnet18" and (args.per_tensor or args.power_of_two):
        parser.error("--per-tensor and --power-of-two choose ResNet-18's quantization")
    path, x = model_and_input(args.model, per_channel=not args.per_tensor,
                              power_of_two=args.power_of_two)
    config = Config.preset(args.preset)
    peak_macs = config.derived()["macs_per_cycle"]
    evaluation = prepare(path, config, args.backend)
    graph = evaluation.graph
    result = evaluation.executor.run({graph.inputs[0]: x})
    measured = dict((name, report.cycles) for name, report in result.reports)
    total_estimate = total_measured = total_macs = 0
    print(f"{'layer':44} {'tiling (blocks,rows,cols,in,threads,resident)':44} "
          f"{'estimate':>10} {'measured':>10} {'ratio':>6} {'MAC util':>8} {'GEMM':>9} "
          f"{'ALU':>8} {'bus':>8} {'bound':>9} {'floor':>9} {'/floor':>6}")
    reports = dict(result.reports)
    total_floor = 0
    for node in evaluation.model.nodes:
        if node["placement"] != "vta":
            continue
        t = node["tiling"]
        tiling = ",".join(str(t[key]) for key in ("out_blocks", "rows", "cols", "in_blocks",
                                                  "threads", "weights_resident"))
        estimate, cycles = node["estimated_cycles"], measured[node["name"]]
        total_estimate += estimate
        total_measured += cycles or 0
        total_macs += node["macs"]
        ratio = f"{cycles / estimate:6.2f}" if cycles else "     -"
        utilization = f"{node['macs'] / (cycles * peak_macs):8.1%}" if cycles else "       -"
        gemm, alu, bus = bounds(reports[node["name"]].counters, config)
        floor = max(gemm + alu, bus)
        total_floor += floor
        over = f"{cycles / floor:6.2f}" if cycles and floor else "     -"
        print(f"{node['name'][-44:]:44} {tiling:44} {estimate:10d} {cycles or 0:10d} {ratio} "
              f"{utilization} {gemm:9d} {alu:8d} {bus:8d} "
              f"{'compute' if gemm + alu >= bus else 'bandwidth':>9} {floor:9d} {over}")
    overall = f"{total_macs / (total_measured * peak_macs):8.1%}" if total_measured else ""
    print(f"{'total':89} {total_estimate:10d} {total_measured:10d} {'':6} {overall} "
          f"{'':38} {total_floor:9d}")
    by_operator: dict[str, list[int]] = {}
    for node in evaluation.model.nodes:
        if node["placement"] == "vta":
            entry = by_operator.setdefault(node["operator"], [0, 0])
            entry[0] += measured[node["name"]] or 0
            entry[1] += node["macs"]
    print("by operator: " + ", ".join(
        f"{name} {cycles / 1e6:.2f} M cycles ({macs / peak_macs / 1e6:.2f} M at peak)"
        for name, (cycles, macs) in by_operator.items()))
    stem = STEMS.get(args.model, ())
    if stem and total_measured:
        rest = total_measured - sum(measured.get(name) or 0 for name in stem)
        print(f"without the stem ({', '.join(stem)}): {rest} cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
