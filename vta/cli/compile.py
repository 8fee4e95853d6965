"""Compile an ONNX model (int8 QDQ, standard quantized operators, or float) into a .vtab for one
VTA config: every operator VTA can run becomes a VTA layer (instructions, micro-kernels, packed
weights), every other one a host step with ONNX's semantics. Prints the share of operators and
MACs on VTA; `--report` lists every node (where it runs, why not on VTA, MACs, cycles, host
time), `--json` prints that report as one JSON document on stdout."""

import contextlib
import sys
from pathlib import Path

from vta.cli.common import Failure, add_config_options, check_outputs, config_from, write_atomically
from vta.cli.output import add_output_options, emit

NAME = "compile"
HELP = "compile an ONNX model to a .vtab"


def add_arguments(parser):
    parser.add_argument("model", metavar="MODEL.onnx", type=Path, help="ONNX model (int8 QDQ)")
    parser.add_argument("-o", "--output", required=True, metavar="MODEL.vtab", type=Path,
                        help="where to write the compiled model")
    add_config_options(parser)
    parser.add_argument("--input-shape", action="append", default=[], metavar="NAME=DIMS",
                        help="fix a graph input's dynamic dimensions, e.g. image=1,3,224,224 "
                             "(repeatable)")
    parser.add_argument("--report", action="store_true",
                        help="list every node: where it runs, why not on VTA, MACs, cycles, "
                             "host time (one inference on the functional backend measures it; "
                             "--json prints this report)")
    parser.add_argument("--shortlist", type=int, default=None, metavar="N",
                        help="tilings the cycle model times per layer from each of the analytic "
                             "model's two rankings (default 8; fewer compile faster and may "
                             "choose slower tilings)")
    parser.add_argument("--no-cache", action="store_true",
                        help="compile even when the compile cache holds this model for this "
                             "config and compiler, and search every layer's tiling again "
                             "(store neither the result nor the search's in the cache)")
    add_output_options(parser)


def input_shapes(specs: list[str]) -> dict[str, tuple[int, ...]]:
    """NAME=D1,D2,... options as {name: dims}."""
    shapes = {}
    for spec in specs:
        name, _, dims = spec.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.split(","))
        except ValueError:
            shape = ()
        if not name or not shape or min(shape) < 1:
            raise Failure(f"--input-shape {spec!r}: give NAME=DIMS with positive dimensions, "
                          "e.g. image=1,3,224,224")
        shapes[name] = shape
    return shapes


def run(args) -> int:
    from vta.compiler import artifact, compile_cache
    from vta.compiler.build import compile_graph
    from vta.compiler.onnx_import import import_onnx
    from vta.compiler.schedule import EARLY_POOL_BYTES, SHORTLIST, CycleCost
    from vta.compiler.search_cache import SearchCache
    from vta.compiler.report import (format_report, measured_host_times, placement_report,
                                     share_summary)
    from vta.isa import VtaError, progress

    check_outputs([args.output], [args.model, args.config])
    config = config_from(args)
    shapes = input_shapes(args.input_shape)
    widths = (config.inp_width, config.wgt_width)
    shortlist = SHORTLIST if args.shortlist is None else args.shortlist
    if shortlist < 1:
        raise Failure(f"--shortlist {shortlist}: time at least one tiling per ranking (N ≥ 1)")
    entry = None if args.no_cache else compile_cache.key(
        args.model, config, {"input_shapes": {name: list(dims) for name, dims in shapes.items()},
                             "widths": list(widths), "shortlist": shortlist})
    cached = compile_cache.load(entry) if entry is not None else None
    if cached is not None:
        try:
            model = artifact.from_bytes(cached[0], where=str(args.model))
        except VtaError:
            cached = None                   # a damaged entry: compile again (and replace it)
    if cached is not None:
        data, notices = cached
        for notice in notices:
            print(f"vta compile: {notice}", file=sys.stderr)
    else:
        searched = None if args.no_cache else SearchCache.load(config)
        with _about(args.model), CycleCost(config, cache=searched, shortlist=shortlist) as cost:
            if args.model.is_file() and args.model.stat().st_size >= EARLY_POOL_BYTES:
                cost.start()        # the schedule search's workers start during the import
            with progress.step(f"importing {args.model.name}"):
                graph = import_onnx(args.model, alu_mul=config.ALU_MUL, input_shapes=shapes,
                                    widths=widths, executor=cost.executor())
            for notice in graph.notices:
                print(f"vta compile: {notice}", file=sys.stderr)
            with progress.step("compiling", total=len(graph.nodes)) as step:
                def advance(name, done, total):
                    step.update(completed=done, description=f"compiling {name[-40:]}")

                model = compile_graph(graph, config, progress=advance, cost=cost)
        data = artifact.to_bytes(model)
        if entry is not None:
            with contextlib.suppress(OSError, VtaError):     # the cache is only a shortcut
                compile_cache.store(entry, data, graph.notices)
    write_atomically(args.output, data)
    if args.report or args.json:
        with _about(args.output), progress.step("measuring the host steps"):
            report = placement_report(model, measured_host_times(model))
        emit(args, report, format_report(report))
    elif not args.quiet:
        how = ("read from the compile cache (--no-cache compiles again)" if cached is not None
               else f"compiled in {model.compile_seconds:.1f} s" + _searched(cost))
        print(f"{args.output}: {len(model.nodes)} operators for {config.model_string} "
              f"(fingerprint {config.isa_fingerprint}) {how}")
        print(share_summary(model.nodes))
    return 0


def _searched(cost) -> str:
    """What the search cache gave a compile, if anything."""
    if not cost.cached_shapes:
        return ""
    return f" ({cost.cached_shapes} layer shapes searched before, from the search cache)"


@contextlib.contextmanager
def _about(path: Path):
    """Name the model in an error (once: the importer's messages may name it already)."""
    from vta.isa import VtaError
    try:
        yield
    except VtaError as error:
        message = str(error)
        if not message.startswith(str(path)):
            message = f"{path}: {message}"
        raise Failure(message, error.exit_status) from None
