"""Compile a quantized (int8 QDQ) ONNX model into a .vtab artifact for one VTA config: every
operator VTA can run becomes a VTA layer (instructions, micro-kernels, packed weights), the rest
host kernels. Prints where each operator runs and the share of MACs on VTA."""

from pathlib import Path

import contextlib

from vta.cli.common import Failure, add_config_options, config_from, write_atomically

NAME = "compile"
HELP = "compile a quantized ONNX model to a .vtab"


def add_arguments(parser):
    parser.add_argument("model", metavar="MODEL.onnx", type=Path, help="int8 QDQ ONNX model")
    parser.add_argument("-o", "--output", required=True, metavar="MODEL.vtab", type=Path,
                        help="where to write the compiled model")
    add_config_options(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def run(args) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from vta.compiler import artifact
    from vta.compiler.build import compile_graph
    from vta.compiler.onnx_import import import_onnx
    from vta.compiler.report import model_labels
    from vta.compiler.report import share_summary

    config = config_from(args)
    with _about(args.model):
        graph = import_onnx(args.model, alu_mul=config.ALU_MUL)
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} nodes"), TimeElapsedColumn(),
                      disable=args.quiet, transient=True) as progress:
            task = progress.add_task("compiling", total=len(graph.nodes))

            def advance(name, done, total):
                progress.update(task, completed=done, description=f"compiling {name[-40:]}")

            model = compile_graph(graph, config, progress=advance)
        model.labels = model_labels(args.model)
    write_atomically(args.output, artifact.to_bytes(model))
    if not args.quiet:
        print(f"{args.output}: {len(graph.nodes)} operators for {config.model_string} "
              f"(fingerprint {config.fingerprint}) compiled in {model.compile_seconds:.1f} s")
        print(share_summary(model.nodes))
    return 0


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
