#!/usr/bin/env python
"""Randomized sweep of the fused layers of docs/compiler.md ("ResNet-18 on `pynq`: where the
cycles go"): the max pool fused into its convolution (carried rows, column chunks), the strided
1×1 shortcut fused into conv2 with the residual Add, the bias on the im2col padding lanes, and
the pipeline fill and drain (steps in parts, the halved last tile).

Each seed draws one small graph (`FAMILIES`): a stem (a conv on 1/3/4 input channels, kernel
2–7, stride 1–3, odd image sizes, then a 2×2 or 3×3 max pool, strided or not, padded or not), a
residual block with a strided 1×1 downsample shortcut (3..256 channels, odd sizes), the two
chained, or the two chained as an ONNX model quantized and imported. Batch 1 or 2, one of the
configs below, and one of two ways to pick the tilings: `timed` (the compiler's own choice,
timed on the cycle model) or `forced` (compiled untimed, so fused wherever it fits, each layer
given a random tiling that fits, timed on the cycle model). Every case runs on the functional
and the cycle backend: every value in device memory must equal the reference executor's, and
each layer's cycles on the cycle backend the compiler's `estimated_cycles`.

    python scripts/fusion_sweep.py                 # the fixed seeds (SEEDS)
    python scripts/fusion_sweep.py --seeds 0-19 --jobs 2
    python scripts/fusion_sweep.py --rtl 4         # also the 4 smallest cases on the RTL
                                                   # (of RTL_CONFIGS)

Prints one line per failing case (seed, what failed) and a summary; exit status 1 if any
case failed. `python scripts/fusion_sweep.py --show SEED` prints a case's parameters.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import signal
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "compiler"))

from backend_graphs import (conv_pool_graph, downsample_graph, random_feeds,  # noqa: E402
                            stem_block_graph)
from vta.compiler import build, reference, sram_plan  # noqa: E402
from vta.compiler.executor import Executor  # noqa: E402
from vta.compiler.schedule import time_tiling  # noqa: E402
from vta.isa import Config  # noqa: E402

PYNQ = Config.preset("pynq")
CONFIGS = {
    "pynq": PYNQ,
    "ultra96": Config.preset("ultra96"),
    "zcu104": Config.preset("zcu104"),
    "de10nano": Config.preset("de10nano"),
    "no-mul": PYNQ.replace(ALU_MUL=False),
    "one-unit": PYNQ.replace(MACHINE={"overlap_kernels": 0}),
    "tiny": PYNQ.replace(LOG_INP_BUFF_SIZE=10, LOG_WGT_BUFF_SIZE=13, LOG_ACC_BUFF_SIZE=13),
    "1x32": PYNQ.replace(LOG_BLOCK=5),
    "1x16x8": PYNQ.replace(LOG_BLOCK_OUT=3, LOG_WGT_BUFF_SIZE=17, LOG_ACC_BUFF_SIZE=16),
    "1x8x16": PYNQ.replace(LOG_BLOCK_IN=3, LOG_INP_BUFF_SIZE=14, LOG_WGT_BUFF_SIZE=17),
    "batch2": PYNQ.replace(LOG_BATCH=1),
}
#: The graphs: a stem (conv → max pool), a residual block with a strided shortcut, the two
#: chained (IR graphs, tests/compiler/backend_graphs.py), and the two chained as a float
#: ONNX model quantized by `vta quantize`'s code and imported.
FAMILIES = ("stem", "block", "net", "onnx")
#: The fixed seeds of a default run.
SEEDS = range(880)
#: The configs of the RTL's cases (each builds its Verilator harness once).
RTL_CONFIGS = ("pynq", "no-mul")
#: A case taking longer than this (compile and both backends) counts as hung.
CASE_SECONDS = 900


@dataclass
class Case:
    seed: int
    family: str                 # one of FAMILIES
    config: str
    mode: str                   # "timed" or "forced"
    params: dict = field(default_factory=dict)

    def graph(self):
        rng = np.random.default_rng(self.seed)
        if self.family == "onnx":
            return onnx_graph(self.seed, self.params, CONFIGS[self.config].ALU_MUL)
        return {"stem": conv_pool_graph, "block": downsample_graph,
                "net": stem_block_graph}[self.family](rng, **self.params)

    def feeds(self, graph) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        if self.family == "onnx":
            name = graph.inputs[0]
            return {name: rng.normal(0, 1, graph.values[name].shape).astype(np.float32)}
        return random_feeds(rng, graph)

    def size(self) -> int:
        """A rough measure of the work (for picking the RTL's few small cases)."""
        p = self.params
        stem = p.get("o", 0) * p["h"] * p["w"] * p["c"] * p.get("k", 1) ** 2
        if self.family == "block":
            return p["n"] * p["o"] * p["h"] * p["w"] * (p["c"] + 9 * p["o"])
        return p.get("n", 1) * stem * (2 if self.family != "stem" else 1)


def draw_case(seed: int) -> Case:
    """The case of `seed`: its family, config and mode cycle through all of them, the shapes
    are drawn at random."""
    rng = np.random.default_rng(10_000 + seed)
    names = list(CONFIGS)
    family = FAMILIES[seed % len(FAMILIES)]
    config = names[seed // len(FAMILIES) % len(names)]
    mode = ("timed", "forced")[seed // (len(FAMILIES) * len(names)) % 2]
    alu_mul = CONFIGS[config].ALU_MUL
    n = int(rng.choice([1, 1, 2]))
    if family == "onnx":
        k = int(rng.choice([3, 5, 7]))
        size = int(rng.integers(k + 8, 40))
        return Case(seed, family, config, mode, dict(
            c=int(rng.choice([1, 3, 4])), o=int(rng.choice([16, 24, 32, 64])),
            h=size, w=size, k=k, stride=int(rng.choice([1, 2])),
            pool=[(3, 2, 1), (2, 2, 0), (3, 2, 0)][int(rng.integers(3))],
            block_channels=int(rng.choice([16, 40, 64, 96, 128])),
            per_channel=bool(rng.random() < 0.7), power_of_two=bool(rng.random() < 0.3)))
    if family in ("stem", "net"):
        k = int(rng.choice([3, 5, 7, 3, 5, 7, 2, 4]))
        stride = int(rng.choice([1, 2, 2, 3]) if k > 2 else rng.choice([1, 2]))
        pool, pool_stride, pool_pad = [(3, 2, 1), (3, 2, 0), (2, 2, 0), (3, 1, 1), (2, 1, 0),
                                       (3, 3, 0), (2, 2, 1), (3, 2, (0, 1, 1, 0))][
            int(rng.choice(8, p=[0.3, 0.15, 0.2, 0.05, 0.05, 0.1, 0.05, 0.1]))]
        low = k + stride * pool
        high = 48 if rng.random() < 0.2 else 32
        pad = int(rng.choice([0, k // 2, k // 2, k // 2 + 1]))
        params = dict(n=n, c=int(rng.choice([1, 3, 4])), o=int(rng.choice([8, 16, 20, 32, 64])),
                      h=int(rng.integers(low, high)), w=int(rng.integers(low, high)), k=k,
                      stride=stride, pad=pad if pad <= k // 2 else (k // 2, pad, pad, k // 2),
                      pool=pool, pool_stride=pool_stride, pool_pad=pool_pad,
                      ceil_mode=bool(rng.random() < 0.2), relu=bool(rng.random() < 0.8),
                      per_channel=bool(rng.random() < 0.7),
                      input_zero_point=int(rng.choice([-128, -128, int(rng.integers(-30, 30))])),
                      alu_mul=alu_mul)
        if family == "net":
            params.update(block_channels=int(rng.choice([16, 24, 40, 64, 72, 128])),
                          block_stride=int(rng.choice([2, 2, 1])),
                          downsample_first=bool(rng.random() < 0.5))
    else:
        def channels():
            return int(rng.choice([16, 24, 40, 64, 72, 96, 128, 136, 192, 256]))
        h = int(rng.integers(3, 20))
        params = dict(n=n, c=int(rng.choice([3, 8, channels()])) if rng.random() < 0.15
                      else channels(), o=channels(), h=h,
                      w=int(h if rng.random() < 0.5 else rng.integers(3, 20)),
                      stride=int(rng.choice([2, 2, 2, 1, 3])),
                      downsample_first=bool(rng.random() < 0.5), alu_mul=alu_mul)
    return Case(seed, family, config, mode, params)


def onnx_graph(seed: int, params: dict, alu_mul: bool):
    """The ONNX case: ResNet-18's builder (`models.resnet18`) writes a stem and one block with
    a strided shortcut, quantized on random calibration images and imported."""
    import tempfile

    import onnx
    from onnx import TensorProto, helper

    from vta.compiler.models.resnet18 import _Builder
    from vta.compiler.onnx_import import import_onnx
    from vta.compiler.quantize import quantize

    p = params
    b = _Builder(seed)
    x = b.conv("conv1", "image", p["c"], p["o"], p["k"], p["stride"])
    kernel, stride, pad = p["pool"]
    b.nodes.append(helper.make_node("MaxPool", [x], ["maxpool"], name="maxpool",
                                    kernel_shape=[kernel] * 2, strides=[stride] * 2,
                                    pads=[pad] * 4))
    x = b.block("layer1", "maxpool", p["o"], p["block_channels"], 2)
    shape = [1, p["c"], p["h"], p["w"]]
    graph = helper.make_graph(b.nodes, "net",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)],
                              b.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    calibration = np.random.default_rng(seed).normal(0, 1, [8] + shape[1:]).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        onnx.save(model, f"{folder}/float.onnx")
        quantize(f"{folder}/float.onnx", calibration, f"{folder}/int8.onnx",
                 per_channel=p["per_channel"], power_of_two=p["power_of_two"])
        return import_onnx(f"{folder}/int8.onnx", alu_mul=alu_mul)


@contextlib.contextmanager
def random_tilings(seed: int):
    """Compile with each layer given a random tiling that fits (instead of the best), with
    the cycles the cycle model times for it."""
    rng = np.random.default_rng(seed)

    def choose(layer, config, cost=None):
        plans = sram_plan.fitting_plans(layer, config)
        if not plans:
            return original(layer, config, cost)
        plan = plans[int(rng.integers(len(plans)))]
        return plan, time_tiling(config, layer, plan.tiling)

    original = build.choose
    build.choose = choose
    try:
        yield
    finally:
        build.choose = original


def fused_features(model) -> list[str]:
    """Which of the swept features the compiled model uses."""
    fused = {node["operator"] for node in model.nodes if node["placement"] == "fused"}
    features = [name for name, operator in (("pool", "MaxPool"), ("shortcut", "Conv2d"))
                if operator in fused]
    if any("constant_lanes" in step for step in model.steps):
        features.append("lanes")
    return features


def run_case(case: Case, backends=("functional", "cycle")) -> tuple[list[str], list[str]]:
    """(problems, features used) of one case."""
    graph = case.graph()
    config = CONFIGS[case.config]
    feeds = case.feeds(graph)
    expected = reference.run(graph, feeds)
    if case.mode == "forced":
        with random_tilings(case.seed):
            model = build.compile_graph(graph, config, timed=False, workers=1)
    else:
        model = build.compile_graph(graph, config, workers=1)
    problems = []
    for backend in backends:
        executor = Executor(model, backend)
        result = executor.run(feeds)
        for name, info in model.values.items():
            if name in expected and (info["addr"] is not None or name in executor.host_values):
                got = executor.read(name)
                if not np.array_equal(got, expected[name]):
                    wrong = int(np.sum(got != expected[name]))
                    problems.append(f"{backend}: {name} differs in {wrong} of {got.size}")
        if backend != "functional":
            recorded = {node["name"]: node["estimated_cycles"] for node in model.nodes
                        if node["placement"] == "vta"}
            measured = {name: report.cycles for name, report in result.reports}
            if recorded != measured:
                problems.append(f"{backend}: cycles recorded {recorded} ran {measured}")
    return problems, fused_features(model)


def _timed_out(*_):
    raise TimeoutError(f"case took over {CASE_SECONDS} s")


def checked(case: Case, backends=("functional", "cycle")) -> tuple[Case, list[str], list[str]]:
    signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(CASE_SECONDS)
    try:
        problems, features = run_case(case, backends)
    except Exception as error:   # a crash is a finding, reported with its case
        last = traceback.extract_tb(error.__traceback__)[-1]
        problems, features = [f"{type(error).__name__}: {error} "
                              f"({Path(last.filename).name}:{last.lineno})"], []
    finally:
        signal.alarm(0)
    return case, problems, features


def parse_seeds(text: str) -> list[int]:
    seeds = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        seeds += range(int(first), int(last or first) + 1)
    return seeds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=parse_seeds, default=list(SEEDS),
                        help="seeds as 0-99,120 (default: SEEDS)")
    parser.add_argument("--jobs", type=int, default=1, help="cases run at once")
    parser.add_argument("--rtl", type=int, default=0, metavar="N",
                        help="also run the N smallest cases of RTL_CONFIGS on the RTL "
                             "backend (slow)")
    parser.add_argument("--show", type=int, metavar="SEED", help="print a case and stop")
    args = parser.parse_args(argv)
    if args.show is not None:
        print(draw_case(args.show))
        return 0
    from rich.progress import Progress

    cases = [draw_case(seed) for seed in args.seeds]
    failed, counts = [], {}
    with Progress() as progress, multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        task = progress.add_task("fusion sweep", total=len(cases))
        for case, problems, features in pool.imap_unordered(checked, cases):
            for feature in features + [case.config, case.family, case.mode]:
                counts[feature] = counts.get(feature, 0) + 1
            if problems:
                failed.append(case.seed)
                progress.console.print(f"[red]seed {case.seed}[/red] {case}: "
                                       + "; ".join(problems))
            progress.advance(task)
        rtl_cases = sorted((case for case in cases if case.config in RTL_CONFIGS),
                           key=Case.size)[:args.rtl]
        task = progress.add_task("on the RTL", total=len(rtl_cases))
        for case in rtl_cases:
            case, problems, features = checked(case, ("rtl",))
            if problems:
                failed.append(case.seed)
                progress.console.print(f"[red]seed {case.seed} (RTL)[/red] {case}: "
                                       + "; ".join(problems))
            progress.advance(task)
    print(f"{len(cases)} cases ({len(rtl_cases)} also on the RTL), "
          f"{len(set(failed))} failed: {sorted(set(failed))}")
    print("cases using each feature, config, family and mode:",
          ", ".join(f"{name} {count}" for name, count in sorted(counts.items())))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
