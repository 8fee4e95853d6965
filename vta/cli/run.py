"""Run a compiled model (.vtab) on a backend: X.npy holds the model's input tensor as the ONNX
graph declares it; OUT.npy receives the first output in the dtype the graph declares. Prints
the cycles and the time at the config's clock where the backend models them."""

from pathlib import Path

from vta.cli.common import (Failure, about, add_backend_options, backend_options, config_from,
                            write_atomically)

NAME = "run"
HELP = "run a compiled model (.vtab) on a backend"


def add_arguments(parser):
    parser.add_argument("model", metavar="MODEL.vtab", type=Path, help="compiled model")
    parser.add_argument("--input", required=True, metavar="X.npy", type=Path,
                        help="the model's input tensor (shape and dtype as the ONNX graph)")
    add_backend_options(parser)
    parser.add_argument("-o", "--output", metavar="OUT.npy", type=Path,
                        help="write the first output here")
    parser.add_argument("--top", type=int, metavar="K",
                        help="print the K highest-scoring classes of the first output")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--preset", metavar="NAME",
                       help="refuse the model unless it was built for this preset's ISA")
    group.add_argument("--config", metavar="FILE", type=Path,
                       help="refuse the model unless it was built for this config's ISA")


def run(args) -> int:
    import io

    import numpy as np

    from vta.compiler import artifact
    from vta.compiler.executor import Executor
    from vta.compiler.report import top_classes
    from vta.isa.files import read_array

    if args.top is not None and args.top < 1:
        raise Failure(f"--top must be a positive number of classes, not {args.top}")
    expected = config_from(args) if (args.preset or args.config) else None
    model = artifact.load(args.model, expected)   # its errors name the file
    array = read_array(args.input)
    if len(model.inputs) != 1:
        raise Failure(f"{args.model}: the model has {len(model.inputs)} inputs; vta run feeds one")
    with about(args.model):
        executor = Executor(model, args.backend, **backend_options(args))
        result = executor.run({model.inputs[0]["onnx_name"]: array})
    name = model.outputs[0]["onnx_name"]
    output = result.outputs[name]
    if args.output is not None:
        buffer = io.BytesIO()
        np.save(buffer, output)
        write_atomically(args.output, buffer.getvalue())
    layers = len(result.reports)
    cycles = result.cycles
    if cycles is None:
        print(f"{args.model}: {layers} VTA layer runs on the {args.backend} backend "
              f"(cycles not modelled); output {name!r} {output.dtype} {tuple(output.shape)}")
    else:
        seconds = cycles / (model.config.CLOCK_MHZ * 1e6)
        print(f"{args.model}: {layers} VTA layer runs on the {args.backend} backend, "
              f"{cycles} cycles = {seconds * 1e3:.3f} ms at {model.config.CLOCK_MHZ:g} MHz; "
              f"output {name!r} {output.dtype} {tuple(output.shape)}")
    if args.top is not None:
        for index, score, label in top_classes(output, args.top, model.labels):
            print(f"  {index:5d}  {score:10.4f}  {label}".rstrip())
    return 0
