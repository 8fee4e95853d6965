"""FPGA flows for the Zynq boards (docs/fpga.md): `boards` lists them; `synth` synthesizes the
core with Yosys for a board's part and reports LUT, FF, block RAM and DSP use against its
capacity (exit 0 if it fits, 1 if not); `project` writes the Vivado project script that builds
the bitstream and the .hwh of a PYNQ overlay; `timing` estimates fmax with nextpnr on an ECP5.
The config defaults to the board's preset; a --config file's missing keys come from it too."""

from __future__ import annotations

from pathlib import Path

from vta.cli.common import Failure, add_config_options, seconds
from vta.cli.output import add_output_options, emit

NAME = "fpga"
HELP = "FPGA flows: resource estimates, Vivado projects, timing estimates"


def add_arguments(parser):
    commands = parser.add_subparsers(dest="fpga_command", metavar="SUBCOMMAND", required=True,
                                     parser_class=type(parser))
    boards = commands.add_parser("boards", help="list the supported boards")
    add_output_options(boards, quiet=False)

    synth = commands.add_parser("synth", help="synthesize the core with Yosys and report its "
                                              "resource use against the board's FPGA")
    _add_board_option(synth)
    add_config_options(synth, default="the board's preset")
    add_output_options(synth)
    synth.add_argument("--keep", metavar="DIR", type=Path,
                       help="keep Yosys' work folder (design, script, log, statistics) in DIR")
    synth.add_argument("--timeout", metavar="SECONDS", type=seconds,
                       help="give up on synthesis after this long (default: no limit)")

    project = commands.add_parser("project", help="write a Vivado project script (block design, "
                                                  "bitstream, .hwh) for the board")
    _add_board_option(project)
    add_config_options(project, default="the board's preset")
    add_output_options(project)
    project.add_argument("-o", "--output", metavar="DIR", type=Path, required=True,
                         help="folder for vta_core.v, vta_top.v and vta_project.tcl")

    timing = commands.add_parser("timing", help="estimate fmax with Yosys and nextpnr on an ECP5 "
                                                "(an estimate, not Zynq timing)")
    add_config_options(timing)
    add_output_options(timing)
    timing.add_argument("--keep", metavar="DIR", type=Path, help="keep the work folder in DIR")
    timing.add_argument("--timeout", metavar="SECONDS", type=seconds,
                        help="give up on each tool after this long (default: no limit)")


def _add_board_option(parser) -> None:
    from vta.fpga.boards import BOARDS

    parser.add_argument("--board", required=True, choices=sorted(BOARDS), metavar="BOARD",
                        help=f"one of {', '.join(BOARDS)}")


def _board_config(args):
    from vta.fpga.boards import board
    from vta.isa import Config

    target = board(args.board)
    if args.config is not None:
        return target, Config.from_file(args.config, base=target.default_config())
    if args.preset is not None:
        return target, Config.preset(args.preset)
    return target, target.default_config()


def run(args) -> int:
    return {"boards": _boards, "synth": _synth, "project": _project,
            "timing": _timing}[args.fpga_command](args)


def _boards(args) -> int:
    from vta.fpga.boards import BOARDS

    lines = []
    for board in BOARDS.values():
        capacity = ", ".join(f"{name} {value:,}" for name, value in board.capacity.items())
        lines.append(f"{board.name:<11} {board.title:<18} {board.part:<21} preset "
                     f"{board.preset:<8} {capacity}")
    emit(args, {"boards": [{"name": board.name, "title": board.title, "part": board.part,
                            "preset": board.preset, "capacity": board.capacity}
                           for board in BOARDS.values()]}, "\n".join(lines))
    return 0


def _synth(args) -> int:
    from vta.fpga.synth import synthesize_board

    board, config = _board_config(args)
    report = synthesize_board(board, config, workdir=args.keep, timeout=args.timeout)
    emit(args, report.to_json(), report.table())
    if not report.fits:
        overflow = ", ".join(f"{name} {report.used[name]:,} > {board.capacity[name]:,}"
                             for name in report.overflows)
        raise Failure(f"config {config.config_string} does not fit the {board.part} of the "
                      f"{board.title}: {overflow}")
    return 0


def _project(args) -> int:
    from vta.fpga.vivado import SCRIPT, write_project

    from vta.runtime.backends.rtl.verilog import core_verilog

    board, config = _board_config(args)
    written = write_project(board, config, args.output, verilog=core_verilog(config, sv=False))
    command = f"cd {args.output} && vivado -mode batch -source {SCRIPT}"
    emit(args, {"board": board.name, "config": config.to_dict(), "files": written,
                "command": command},
         "\n".join([*map(str, written), f"run: {command}"]))
    return 0


def _timing(args) -> int:
    from vta.cli.common import config_from
    from vta.fpga.timing import estimate_fmax

    estimate = estimate_fmax(config_from(args), workdir=args.keep, timeout=args.timeout)
    emit(args, estimate.to_json(), estimate.summary())
    return 0
