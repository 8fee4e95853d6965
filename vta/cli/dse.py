"""Design-space exploration: evaluate the hardware points of a space file on models (cycles,
latency, resources and fit, fmax, energy estimate, accuracy, share of MACs on VTA), keep every
result in DIR/results.sqlite and write the Pareto front (table, DIR/front.png|svg,
DIR/front.json). Evaluations run on a local Dask cluster of worker processes, or on the cluster
of --scheduler. `vta dse best -o DIR --board B --objective O` prints the best point's config
file. docs/dse.md describes space files, the models and the store."""

import json
import sys
from pathlib import Path

from vta.cli.common import Failure, write_atomically
from vta.cli.output import add_output_options, emit
from vta.isa import progress

NAME = "dse"
HELP = "design-space exploration of the hardware against models"
OBJECTIVE_NAMES = ("latency", "energy", "utilization", "accuracy")


def add_arguments(parser):
    parser.add_argument("space", metavar="SPACE|best",
                        help="space file (.toml or .json), or 'best' to print the best "
                             "point of DIR's front")
    parser.add_argument("-o", "--output", type=Path, default=Path("dse"), metavar="DIR",
                        help="results folder (default ./dse): results.sqlite, front.*")
    parser.add_argument("--models", default="digits", metavar="NAMES",
                        help="comma-separated models: digits, resnet18, zoo:NAME or .onnx "
                             "files (default digits)")
    parser.add_argument("--fidelity", choices=("estimate", "cycle"), default="estimate",
                        help="layer cycles from the compiler's cost model (estimate) or timed "
                             "on the cycle model (cycle) (default: %(default)s)")
    parser.add_argument("--board", metavar="NAME",
                        help="board of the front (default: the space's first 'fits' board, "
                             "else pynq-z1)")
    parser.add_argument("--objective", choices=OBJECTIVE_NAMES, default="latency",
                        help="with 'best': the objective to optimize (default latency)")
    parser.add_argument("--verify", action="store_true",
                        help="verify every front point: Yosys, fuzzer, corpus, cycle model "
                             "against the RTL")
    parser.add_argument("--programs", type=int, default=50, metavar="N",
                        help="fuzz programs per front point with --verify (default 50)")
    where = parser.add_mutually_exclusive_group()      # where the evaluations run
    where.add_argument("--workers", type=int, metavar="W",
                       help="worker processes of the local cluster (default: one per core)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on the Dask cluster of this scheduler (e.g. tcp://host:8786)")
    where.add_argument("--synchronous", action="store_true",
                       help="evaluate in this process with Dask's synchronous scheduler")
    add_output_options(parser)


def run(args) -> int:
    if args.space == "best":
        return _best(args)
    from vta.dse.engine import Engine
    from vta.dse.models import resolve
    from vta.dse.report import plot, table
    from vta.dse.space import load
    from vta.dse.store import Store
    from vta.dse.sweep import Explorer, pareto_front

    if args.workers is not None and args.workers < 1:
        raise Failure("--workers must be positive")
    space = load(args.space)
    board = _board(args, space)
    points, rejected = space.valid_points()
    if not points:
        space.check_feasible()   # the SpaceError naming the constraint
    specs = [resolve(name) for name in dict.fromkeys(args.models.split(",")) if name]  # once each
    if not specs:
        raise Failure("--models names no model")
    args.output.mkdir(parents=True, exist_ok=True)
    with Store(args.output / "results.sqlite") as store, \
            progress.step("dse: evaluations (tasks done)") as step, \
            Engine(args.scheduler, args.workers, args.synchronous) as engine:
        explorer = Explorer(space, specs, args.fidelity, store, engine, _advance(step),
                            board=board)
        results = explorer.evaluate(points) if space.method == "exhaustive" else \
            explorer.nsga2(board)
        front = pareto_front(results, board)
        verified = {}
        if args.verify:
            from vta.dse.verify import verify_front
            step.update(description="dse: verifying the front (tasks done)", completed=0)
            verified = verify_front(front, board, store, engine, args.programs, _advance(step))
    document = {"space": str(args.space), "board": board, "method": space.method,
                "fidelity": args.fidelity, "models": [s.key for s in specs],
                "points": len(results), "evaluated": explorer.evaluated,
                "rejected": rejected,
                "failed": [{"config": r.config.config_string, "errors": r.errors}
                           for r in results if r.errors],
                "unfit": [r.config.config_string for r in results
                          if not r.errors and not r.resources[board]["fits"]],
                "front": [r.to_json(board) | ({"verification": verified[r.fingerprint]}
                                              if r.fingerprint in verified else {})
                          for r in front]}
    write_atomically(args.output / "front.json", json.dumps(document, indent=1).encode())
    if all(r.errors for r in results):
        for stale in ("front.png", "front.svg"):
            (args.output / stale).unlink(missing_ok=True)
        first = document["failed"][0]["errors"][0] if document["failed"] else "none was built"
        raise Failure(f"no point of the space was evaluated without an error (first: {first}); "
                      f"{args.output / 'front.json'} lists them")
    plot(results, front, board, args.output)
    left_out = [f"{count} left out: {reason}" for reason, count in rejected.items()]
    if document["unfit"]:
        left_out.append(f"{len(document['unfit'])} not on the front: they do not fit {board}"
                        + ("" if front else " (--board names another board)"))
    lines = [f"{len(results)} points ({space.method}, {args.fidelity}), {explorer.evaluated} "
             f"evaluations run, {len(document['failed'])} failed; Pareto front on {board} "
             f"({len(front)} points):", *left_out, table(front, board)]
    lines += [f"verify {fingerprint}: {'pass' if outcome['passed'] else 'FAIL'} "
              f"({outcome['summary']})" for fingerprint, outcome in verified.items()]
    lines.append(f"results: {args.output / 'results.sqlite'}, {args.output / 'front.json'}, "
                 f"{args.output / 'front.png'}")
    emit(args, document, "\n".join(lines))
    failed = [fingerprint for fingerprint, outcome in verified.items() if not outcome["passed"]]
    if failed and args.quiet:
        print(f"vta dse: front points failed verification: {', '.join(failed)}",
              file=sys.stderr)
    return 1 if failed else 0


def _advance(step):
    """An Explorer progress callback moving `step` (a `vta.isa.progress` step)."""
    def advance(done: int, total: int) -> None:
        step.total = total
        step.update(completed=done)
    return advance


def _board(args, space) -> str:
    from vta.fpga.boards import board
    name = args.board or (space.fits[0] if space.fits else "pynq-z1")
    return board(name).name


def _best(args) -> int:
    """Print the config file of the front point best in --objective on --board."""
    from vta.isa import Config
    path = args.output / "front.json"
    if not path.is_file():
        raise Failure(f"{path}: no front here (run 'vta dse SPACE -o {args.output}' first)")
    from vta.isa.schema import parse_json
    document = parse_json(path.read_bytes(), str(path), Failure)
    key = {"latency": "latency_ms", "energy": "energy_uj"}.get(args.objective, args.objective)
    sign = -1 if args.objective == "accuracy" else 1
    try:
        front_board, front = document["board"], document["front"]
        objective = {point["fingerprint"]: sign * point["objectives"][key] for point in front}
    except (KeyError, TypeError):
        raise Failure(f"{path}: not a front as 'vta dse' writes it") from None
    board = args.board or front_board
    if board != front_board:
        raise Failure(f"{path}: the front is on {front_board}, not {board} "
                      f"(re-run with --board {board})")
    if not front:
        raise Failure(f"{path}: the front is empty")
    best = min(objective, key=objective.get)
    store_path = args.output / "results.sqlite"
    if not store_path.is_file():
        raise Failure(f"{store_path}: no results store beside {path}")
    from vta.dse.store import Store
    with Store(store_path) as store:
        keys = store.config(best)
    if keys is None:
        raise Failure(f"{store_path}: no config {best}")
    keys = Config(**keys).to_dict()
    print(json.dumps(keys, indent=1))
    return 0
