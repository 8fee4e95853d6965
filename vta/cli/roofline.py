"""Plot program images, or the layers of a compiled model, against the roofline of the config:
its GEMM peak (MACs per cycle) and its DRAM bus (bytes per cycle). Runs each on a backend that
counts cycles (default: cycle). The output's suffix picks the format: .png, .svg or .pdf."""

from pathlib import Path

from vta.cli.common import (Failure, about, add_backend_options, add_config_options,
                            backend_options, check_outputs, config_from, load_image,
                            write_atomically)
from vta.cli.output import add_output_options, emit
from vta.isa import progress

NAME = "roofline"
HELP = "plot programs or a model's layers against the config's compute and bandwidth ceilings"


def add_arguments(parser):
    parser.add_argument("targets", nargs="+", metavar="IMAGE_DIR | MODEL.vtab", type=Path,
                        help="program-image folders, or one compiled model (with --input)")
    parser.add_argument("--input", metavar="X.npy", type=Path,
                        help="the input a compiled model runs on (its layers are plotted)")
    parser.add_argument("-o", "--output", metavar="PLOT.png", type=Path, required=True)
    add_backend_options(parser, default="cycle")
    add_config_options(parser)
    add_output_options(parser)


def run(args) -> int:
    from vta.runtime.roofline import format_report, plot_roofline

    if args.output.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise Failure(f"{args.output}: the plot is written as .png, .svg or .pdf")
    check_outputs([args.output, args.trace, args.waves], [*args.targets, args.input, args.config])
    if args.targets[0].suffix == ".vtab":
        config, points = _model_layers(args)
    else:
        config, points = _images(args)
    write_atomically(args.output, plot_roofline(config, points, args.output.suffix.lower()[1:]))
    emit(args, {"plot": args.output, "config": config.to_dict(),
                "points": [{"label": label, **figures} for label, figures in points]},
         "\n".join(f"{label}: {format_report(figures).splitlines()[1]}"
                   for label, figures in points))
    return 0


def _images(args):
    from vta.runtime.backends import get_backend
    from vta.runtime.roofline import roofline

    points, config = [], None
    with progress.step("running the images", total=len(args.targets)) as step:
        for directory in args.targets:
            step.update(description=f"running {directory.name} on the {args.backend} backend")
            image = load_image(directory, config_from(args))
            config = config or image.config
            with about(directory):
                backend = get_backend(args.backend, image.config, **backend_options(args))
                if not backend.counts_cycles:
                    raise Failure(f"the roofline needs a backend that counts cycles, not "
                                  f"{args.backend}")
                points.append((directory.name, roofline(image.config, backend.run(image))))
            step.advance()
    return config, points


def _model_layers(args):
    from vta.compiler import artifact
    from vta.compiler.executor import Executor
    from vta.isa.files import read_array
    from vta.runtime.roofline import roofline

    if len(args.targets) != 1 or args.input is None:
        raise Failure("a compiled model is plotted alone, with --input X.npy")
    model = artifact.load(args.targets[0])
    array = read_array(args.input)
    with about(args.targets[0]):
        result = Executor(model, args.backend, **backend_options(args)).run(
            {model.inputs[0]["onnx_name"]: array})
    if result.cycles is None:
        raise Failure(f"the roofline needs a backend that counts cycles, not {args.backend}")
    return model.config, [(name, roofline(model.config, report)) for name, report in result.reports]
