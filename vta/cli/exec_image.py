"""Run a program image (a folder with dram.bin and case.json) on a backend. The ISA keys come
from case.json, the others from --preset/--config. Exit status: 0 success, 3 deadlock,
2 bounds error, 1 any other error."""

from pathlib import Path

from vta.cli.common import (Failure, about, add_backend_options, add_config_options, backend_options,
                            check_outputs, config_from, load_image, write_atomically)
from vta.cli.output import add_output_options, emit, show
from vta.isa import progress
from vta.isa.image import DRAM_FILE, META_FILE, ProgramImage

NAME = "exec"
HELP = "run a program image on a backend"


def add_arguments(parser):
    parser.add_argument("image", metavar="IMAGE_DIR", type=Path, help="program-image folder")
    add_backend_options(parser)
    add_config_options(parser)
    parser.add_argument("-o", "--output", metavar="OUT.bin", type=Path,
                        help="write the final DRAM image to OUT.bin")
    add_output_options(parser)
    parser.add_argument("--report", action="store_true",
                        help="add busy/stall shares, GEMM utilization, DRAM traffic and "
                             "bandwidth (backends that count cycles: cycle, rtl, board; with "
                             "--json as the key \"roofline\")")


def run(args) -> int:
    from vta.runtime.backends import get_backend  # imports only what the backend needs

    check_outputs([args.output, args.trace, args.waves],
                  [args.image / DRAM_FILE, args.image / META_FILE, args.config])
    image = load_image(args.image, config_from(args))
    backend = get_backend(args.backend, image.config, **backend_options(args))
    if args.report and not backend.counts_cycles:
        raise Failure(f"--report needs a backend that counts cycles, not {args.backend}")
    with about(args.image), progress.step(f"running {args.image.name} on the {args.backend} "
                                          f"backend"):
        report = backend.run(image)
    if args.output is not None:
        write_atomically(args.output, image.dram.tobytes())
    document = report.to_json()
    if args.report:
        from vta.runtime.roofline import format_report, roofline
        figures = roofline(image.config, report)
        document["roofline"] = figures
    emit(args, document, _summary(args.image, image, report))
    if args.report and not args.json:
        show(args, format_report(figures))
    return 0


def _summary(directory: Path, image: ProgramImage, report) -> str:
    cycles = "cycles not modelled" if report.cycles is None else f"{report.cycles} cycles"
    counters = ", ".join(f"{name} {value}" for name, value in report.counters.items())
    return (f"{directory}: {image.insn_count} instructions ran to FINISH on the "
            f"{report.backend} backend ({image.config.config_string}), {cycles}\n"
            f"counters: {counters}")
