"""Run a compiled model (.vtab) on a backend. Inputs are the model's graph inputs as the ONNX
graph declares them (shape and dtype): `--input X.npy` for a model with one input, or
`--input NAME=X.npy` per input, or one `--input INPUTS.npz` holding them by name. `-o OUT.npy`
receives the first output, `-o OUT.npz` every output by name. Prints the cycles and the time at
the config's clock where the backend models them, and the host's time; `--json` the same as one
document, `--trace` a Perfetto trace of every layer and host step, `--report` an HTML page of
the run (per-layer cycles and utilization, roofline, placement, config)."""

from pathlib import Path

from vta.cli.common import (Failure, about, add_backend_options, backend_options, check_outputs,
                            config_from, write_atomically)
from vta.cli.output import add_output_options, emit, show

NAME = "run"
HELP = "run a compiled model (.vtab) on a backend"


def add_arguments(parser):
    parser.add_argument("model", metavar="MODEL.vtab", type=Path, help="compiled model")
    parser.add_argument("--input", required=True, action="append", metavar="[NAME=]X.npy|X.npz",
                        help="an input tensor (shape and dtype as the ONNX graph; repeatable, "
                             "NAME= for models with several inputs, or one .npz of them all)")
    add_backend_options(parser)
    parser.add_argument("-o", "--output", metavar="OUT.npy|OUT.npz", type=Path,
                        help="write the first output (.npy) or every output by name (.npz)")
    parser.add_argument("--top", type=int, metavar="K",
                        help="print the K highest-scoring classes of the first output")
    parser.add_argument("--report", metavar="REPORT.html", type=Path,
                        help="write a self-contained HTML report of the run: per-layer cycles "
                             "and utilization, roofline plot, placement table, config (a "
                             "backend that counts cycles: cycle, rtl, board)")
    add_output_options(parser)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--preset", metavar="NAME",
                       help="refuse the model unless it was built for this preset's ISA")
    group.add_argument("--config", metavar="FILE", type=Path,
                       help="refuse the model unless it was built for this config's ISA")


def feeds_from(specs: list[str], names: list[str], model: Path) -> dict:
    """The arrays of `--input` options, by graph input name (`model` names the .vtab in
    errors)."""
    from vta.isa.files import read_named_arrays
    feeds = {}
    for spec in specs:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        arrays = read_named_arrays(path)
        if "" not in arrays:                                # an .npz of inputs by name
            feeds.update(arrays)
            continue
        if not name:
            if len(names) != 1:
                raise Failure(f"{model}: the model has inputs {', '.join(names)}: give each "
                              "as --input NAME=X.npy (or one .npz)")
            name = names[0]
        feeds[name] = arrays[""]
    unknown = sorted(set(feeds) - set(names))
    if unknown:
        raise Failure(f"{model}: {unknown[0]!r} is not an input of the model (its inputs: "
                      f"{', '.join(names)})")
    return feeds


def run(args) -> int:
    import io

    import numpy as np

    from vta.compiler import artifact
    from vta.compiler.executor import Executor
    from vta.compiler.report import top_classes

    if args.top is not None and args.top < 1:
        raise Failure(f"--top must be a positive number of classes, not {args.top}")
    if args.report is not None and args.report.suffix.lower() not in (".html", ".htm"):
        raise Failure(f"{args.report}: the report is an HTML file (.html)")
    check_outputs([args.output, args.trace, args.report, args.waves],
                  [args.model, args.config, *(spec.rpartition("=")[2] for spec in args.input)])
    expected = None if args.preset is None and args.config is None else config_from(args)
    model = artifact.load(args.model, expected)   # its errors name the file
    feeds = feeds_from(args.input, [entry["onnx_name"] for entry in model.inputs], args.model)
    options = backend_options(args)
    trace = options.pop("trace", None)
    if trace is not None and args.backend == "cycle":
        options["timeline"] = True
    with about(args.model):
        executor = Executor(model, args.backend, **options)
        if args.report is not None and not executor.device.backend.counts_cycles:
            raise Failure(f"--report needs a backend that counts cycles, not {args.backend}")
        result = executor.run(feeds)
    name = model.outputs[0]["onnx_name"]
    output = result.outputs[name]
    if args.output is not None:
        buffer = io.BytesIO()
        if args.output.suffix == ".npz":
            np.savez(buffer, **result.outputs)
        else:
            np.save(buffer, output)
        write_atomically(args.output, buffer.getvalue())
    if trace is not None:
        from vta.compiler.model_trace import trace_text
        write_atomically(Path(trace), trace_text(model, result, args.backend).encode())
    if args.report is not None:
        from vta.compiler.html_report import html_report
        write_atomically(args.report, html_report(model, result, args.backend).encode())
    top = [] if args.top is None else top_classes(output, args.top, model.labels)
    document = _document(args, model, result, top)
    text = _summary(args, model, result, name)
    if args.waves is not None:
        files = executor.device.backend.waves_files
        document["waves"] = [{"layer": layer, "path": str(path)}
                             for (layer, _), path in zip(result.reports, files)]
        text += "".join(f"\nwaves of {entry['layer']}: {entry['path']}"
                        for entry in document["waves"])
    emit(args, document, text)
    if top and not args.json:
        show(args, "\n".join(f"  {index:5d}  {score:10.4f}  {label}".rstrip()
                             for index, score, label in top))
    return 0


def _document(args, model, result, top) -> dict:
    """The `--json` document (docs/cli.md, "vta run --json")."""
    cycles = result.cycles
    return {
        "model": str(args.model), "backend": args.backend, "config": model.config.model_string,
        "clock_mhz": model.config.CLOCK_MHZ, "cycles": cycles,
        "seconds": None if cycles is None else cycles / (model.config.CLOCK_MHZ * 1e6),
        "host_seconds": result.host_seconds,
        "layers": [{"name": layer, **report.to_json()} for layer, report in result.reports],
        "host": result.host_times,
        "outputs": {name: {"dtype": str(array.dtype), "shape": list(array.shape)}
                    for name, array in result.outputs.items()},
        "top": [{"index": index, "score": score, "label": label} for index, score, label in top],
    }


def _summary(args, model, result, name) -> str:
    output = result.outputs[name]
    layers = len(result.reports)
    cycles = result.cycles
    host = f"host {result.host_seconds * 1e3:.2f} ms"
    if cycles is None:
        return (f"{args.model}: {layers} VTA layer runs on the {args.backend} backend "
                f"(cycles not modelled), {host}; output {name!r} {output.dtype} "
                f"{tuple(output.shape)}")
    seconds = cycles / (model.config.CLOCK_MHZ * 1e6)
    return (f"{args.model}: {layers} VTA layer runs on the {args.backend} backend, "
            f"{cycles} cycles = {seconds * 1e3:.3f} ms at {model.config.CLOCK_MHZ:g} MHz, "
            f"{host}; output {name!r} {output.dtype} {tuple(output.shape)}")
