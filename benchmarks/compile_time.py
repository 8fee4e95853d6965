"""Compile time of the workload models, per phase: ONNX import, partition (without the schedule
search it starts), the schedule search (the analytic ranking of the tilings that fit, and the
cycle-model timing of the shortlist), code emission, and `.vtab` serialization.

    python benchmarks/compile_time.py [resnet18] [efficientnet_lite0] [digits]
                                      [--repeat N] [--serial] [--profile N] [--shortlist N]
                                      [--warm]

Each phase's time is exclusive (a phase started inside another is not counted twice). With
`--serial` the candidate timings run in this process (no pool), and the CPU seconds of this
process (printed too, in total and per phase) measure the work whatever the machine's load. `--profile N` prints the N
functions with the most own time under cProfile (which slows everything ~2×). `--shortlist N`
times N tilings per ranking instead of 8; the VTA layers' cycles the search chose are printed
with each compile (their sum is the network's cycles). Times on a shared machine are noisy:
the load average is printed with them. Every compile searches, unless `--warm`: then a first
compile of the model, not timed, fills a search cache (in a temporary folder) that the timed
ones read, as a compile of a model whose layer shapes were compiled before does.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import tempfile
import time
from collections import defaultdict

from vta.compiler import artifact, build, schedule
from vta.compiler.onnx_import import import_onnx
from vta.compiler.search_cache import SearchCache
from vta.isa import Config

#: (module, function name) -> phase: the functions timed, patched where their callers look them
#: up. Time inside a nested phase counts for that phase only.
PHASES = {
    (build, "partition"): "partition",
    (schedule, "shortlisted"): "tiling ranking",
    (schedule.CycleCost, "_rank"): "tiling ranking",
    (schedule.CycleCost, "_time"): "candidate timing",
    (schedule.CycleCost, "_collect"): "candidate timing",
    (build, "emit_layer"): "emission",
    (artifact, "to_bytes"): "serialization",
}


def model_path(name: str):
    if name == "resnet18":
        from vta.compiler.models.resnet18 import build_resnet18
        return build_resnet18(0)[1]
    if name == "efficientnet_lite0":
        from vta.compiler.models.efficientnet import build_efficientnet_lite0
        return build_efficientnet_lite0()[1]
    if name == "digits":
        from vta.compiler.models.digits import build_digits
        return build_digits()[1]
    raise SystemExit(f"compile_time: unknown model {name!r} (resnet18, efficientnet_lite0, "
                     "digits)")


class PhaseTimer:
    """Exclusive seconds (wall clock, and CPU of this process) per phase of the functions in
    `PHASES`, while `patched()` is active."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        #: per active phase: [start, nested seconds, start CPU, nested CPU seconds]
        self._stack: list[list[float]] = []

    def wrap(self, phase: str, function):
        def timed(*args, **kwargs):
            entry = [time.perf_counter(), 0.0, time.process_time(), 0.0]
            self._stack.append(entry)
            try:
                return function(*args, **kwargs)
            finally:
                self._stack.pop()
                spent = time.perf_counter() - entry[0]
                cpu = time.process_time() - entry[2]
                self.seconds[phase] += spent - entry[1]
                self.cpu[phase] += cpu - entry[3]
                if self._stack:
                    self._stack[-1][1] += spent
                    self._stack[-1][3] += cpu
        return timed

    @contextlib.contextmanager
    def patched(self):
        originals = {(owner, name): getattr(owner, name) for owner, name in PHASES}
        try:
            for (owner, name), phase in PHASES.items():
                setattr(owner, name, self.wrap(phase, originals[(owner, name)]))
            yield self
        finally:
            for (owner, name), function in originals.items():
                setattr(owner, name, function)


OTHER = "other (layout, planning, host steps)"


def compile_once(path, config: Config, shortlist: int = schedule.SHORTLIST,
                 cache: SearchCache | None = None
                 ) -> tuple[dict[str, tuple[float, float]], float, float, bytes, int]:
    """((wall, CPU) seconds per phase, total seconds, CPU seconds of this process, the .vtab
    bytes, the VTA layers' cycles) of one compile (reading and filling `cache` if given)."""
    timer = PhaseTimer()
    started, cpu = time.perf_counter(), time.process_time()
    with timer.patched(), schedule.CycleCost(config, shortlist=shortlist, cache=cache) as cost:
        if os.path.getsize(path) >= schedule.EARLY_POOL_BYTES \
                and schedule.PARALLEL_CYCLES < float("inf"):
            cost.start()                    # as `vta compile`: workers start during the import
        imported, imported_cpu = time.perf_counter(), time.process_time()
        graph = import_onnx(path, alu_mul=config.ALU_MUL, executor=cost.executor())
        timer.seconds["import"] += time.perf_counter() - imported
        timer.cpu["import"] += time.process_time() - imported_cpu
        model = build.compile_graph(graph, config, cost=cost)
        data = artifact.to_bytes(model)
    total = time.perf_counter() - started
    cpu = time.process_time() - cpu
    timer.seconds[OTHER] += total - sum(timer.seconds.values())
    timer.cpu[OTHER] += cpu - sum(timer.cpu.values())
    phases = {phase: (seconds, timer.cpu[phase]) for phase, seconds in timer.seconds.items()}
    cycles = sum(node.get("estimated_cycles") or 0 for node in model.nodes)
    return phases, total, cpu, data, cycles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["resnet18", "efficientnet_lite0"])
    parser.add_argument("--repeat", type=int, default=1, help="compiles per model (default 1)")
    parser.add_argument("--preset", default="pynq")
    parser.add_argument("--serial", action="store_true", help="time candidates in-process")
    parser.add_argument("--shortlist", type=int, default=schedule.SHORTLIST, metavar="N",
                        help="tilings timed per ranking (default %(default)s)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the N functions with the most own time (cProfile)")
    parser.add_argument("--warm", action="store_true",
                        help="time compiles that find the search in the search cache")
    args = parser.parse_args()
    if args.warm:
        with tempfile.TemporaryDirectory() as folder:
            os.environ["VTA_CACHE_DIR"], os.environ["VTA_COMPILE_CACHE"] = folder, "1"
            measure(args)
    else:
        measure(args)


def measure(args) -> None:
    config = Config.preset(args.preset)
    if args.serial:
        schedule.PARALLEL_CYCLES = schedule.PARALLEL_TILINGS = float("inf")
    for name in args.models:
        path = model_path(name)
        digests = set()
        if args.warm:
            compile_once(path, config, args.shortlist, SearchCache.load(config))
        for run in range(args.repeat):
            profile = cProfile.Profile() if args.profile else None
            cache = SearchCache.load(config) if args.warm else None
            with profile or contextlib.nullcontext():
                phases, total, cpu, data, cycles = compile_once(path, config, args.shortlist,
                                                                cache)
            digests.add(hash(data))
            load = os.getloadavg()[0]
            print(f"{name} run {run + 1}: {total:.2f} s, {cpu:.2f} CPU s in this process "
                  f"(load average {load:.1f}, {os.cpu_count()} cores); shortlist "
                  f"{args.shortlist}, VTA layers {cycles:,} cycles"
                  f"{', search cache read' if args.warm else ''}")
            print(f"  {'phase':38} {'wall':>9}  {'share':>7}  {'CPU here':>10}")
            for phase, (seconds, cpu_seconds) in sorted(phases.items(),
                                                        key=lambda item: -item[1][0]):
                print(f"  {phase:38} {seconds:7.2f} s  {100 * seconds / total:5.1f} %  "
                      f"{cpu_seconds:7.2f} s")
            if profile:
                pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile)
        if args.repeat > 1:
            print(f"{name}: the {args.repeat} .vtab files are "
                  f"{'byte-identical' if len(digests) == 1 else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
