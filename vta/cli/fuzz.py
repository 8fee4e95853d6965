"""Differential fuzzing: random valid programs (and, with --invalid-every, invalid ones) run on
several backends, which must agree on the verdict, the final DRAM, the counters and (cycle and
rtl) the cycles; an invalid program must get its documented exit status everywhere. A
divergence is shrunk to a small program and saved under --save as a program-image folder.
Batches run on a local cluster of worker processes, or on the Dask scheduler at --scheduler.
Exit status 0 when every backend agreed, 1 otherwise."""

import sys
from pathlib import Path

from vta.cli.common import Failure
from vta.cli.output import add_output_options, emit
from vta.isa import progress

NAME = "fuzz"
HELP = "differential fuzzing of the backends on random programs"


def add_arguments(parser):
    parser.add_argument("--programs", type=int, default=100, metavar="N",
                        help="programs per config (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    parser.add_argument("--configs", default="pynq,1x32,2x16,tiny", metavar="NAMES",
                        help="comma-separated fuzz configs (default pynq,1x32,2x16,tiny; "
                             "'all' for every one; an unknown name lists them)")
    parser.add_argument("--config", type=Path, action="append", default=[], metavar="FILE",
                        help="also fuzz this JSON config (repeatable)")
    parser.add_argument("--backends", default="functional,cycle", metavar="NAMES",
                        help="backends to compare (default functional,cycle; add rtl)")
    parser.add_argument("--invalid-every", type=int, default=10, metavar="K",
                        help="make every K-th program invalid (0: none; default 10)")
    parser.add_argument("--batch-size", type=int, default=25, metavar="B",
                        help="programs per Dask task (default 25)")
    parser.add_argument("--shrink-budget", type=int, default=300, metavar="N",
                        help="candidate runs allowed to shrink one divergence (default 300)")
    where = parser.add_mutually_exclusive_group()      # where the batches run
    where.add_argument("--workers", type=int, metavar="W",
                       help="worker processes of the local cluster (default: one per core)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on the Dask cluster of this scheduler (e.g. tcp://host:8786)")
    parser.add_argument("--save", type=Path, metavar="DIR",
                        help="save each shrunk divergence here as a program-image folder")
    add_output_options(parser)


def _configs(args) -> dict:
    from vta.fuzz.configs import CONFIGS
    from vta.isa import Config

    names = list(CONFIGS) if args.configs == "all" else \
        [name for name in args.configs.split(",") if name]
    unknown = [name for name in names if name not in CONFIGS]
    if unknown:
        raise Failure(f"unknown fuzz config {unknown[0]!r} (known: {', '.join(CONFIGS)})")
    configs = {name: CONFIGS[name] for name in names}
    for path in args.config:
        configs[path.stem] = Config.from_file(path)
    if not configs:
        raise Failure("no config to fuzz")
    return configs


def run(args) -> int:
    from vta.fuzz.campaign import Campaign, batches, save_finding, summary
    from vta.fuzz.compare import BACKENDS

    backends = tuple(dict.fromkeys(name for name in args.backends.split(",") if name))
    unknown = [name for name in backends if name not in BACKENDS]
    if unknown or len(backends) < 2:
        raise Failure(f"--backends needs two or more of {', '.join(BACKENDS)}, not "
                      f"{args.backends!r}")
    for option, value, least in (("--programs", args.programs, 1),
                                 ("--batch-size", args.batch_size, 1),
                                 ("--shrink-budget", args.shrink_budget, 1),
                                 ("--workers", args.workers, 1),
                                 ("--invalid-every", args.invalid_every, 0),
                                 ("--seed", args.seed, 0)):
        if value is not None and value < least:
            raise Failure(f"{option} must be {'positive' if least else 'at least 0'}, "
                          f"not {value}")
    configs = _configs(args)
    if any(name != "functional" for name in backends):
        for config in configs.values():
            config.check_bus()
    work = batches(configs, args.programs, args.seed, backends, args.batch_size,
                   args.invalid_every, shrink_budget=args.shrink_budget)
    findings = []

    def finished(result):
        step.advance()
        print(f"{result.name}: {result.programs} programs in {result.seconds:.1f} s, "
              f"{len(result.findings)} divergences", file=sys.stderr, flush=True)
        for finding in result.findings:
            where = save_finding(finding, args.save) if args.save else None
            findings.append(finding)
            print(f"divergence: {finding.name} seed {finding.seed} program {finding.index}: "
                  f"{finding.divergences[0]} (shrunk {finding.original_instructions} -> "
                  f"{len(finding.program.instructions)} instructions"
                  f"{f', saved in {where}' if where else ''})", flush=True)

    with progress.step("fuzzing (batches done)", total=len(work)) as step:
        results = Campaign(args.scheduler, args.workers).run(work, finished)
    totals = summary(results)
    lines = []
    for name, entry in totals.items():
        invalid = ", ".join(f"{n} {kind}" for kind, n in sorted(entry["invalid"].items()))
        lines.append(f"{name}: {entry['programs']} programs (invalid: {invalid or 'none'}), "
                     f"{entry['findings']} divergences, {entry['seconds']:.0f} s of worker time")
    lines.append(f"seed {args.seed}, backends {', '.join(backends)}: "
                 f"{sum(e['programs'] for e in totals.values())} programs, "
                 f"{len(findings)} divergences")
    emit(args, {"seed": args.seed, "backends": list(backends), "configs": totals,
                "findings": len(findings)}, "\n".join(lines))
    return 1 if findings else 0
