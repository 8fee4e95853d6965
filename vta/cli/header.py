"""Write the C header of a configuration: the original hw_spec_const.h constants and
hw_spec.h structs (VTAMemInsn, VTAGemInsn, VTAAluInsn, VTAUop, union VTAInsn), generated
from vta.isa."""

from pathlib import Path

from vta.cli.common import add_config_options, check_outputs, config_from, write_atomically
from vta.isa.c_header import c_header

NAME = "header"
HELP = "emit the C header (hw_spec.h) of a configuration"


def add_arguments(parser):
    add_config_options(parser)
    parser.add_argument("-o", "--output", metavar="FILE", type=Path,
                        help="write the header to FILE (default: standard output)")


def run(args) -> int:
    check_outputs([args.output], [args.config])
    text = c_header(config_from(args))
    if args.output is None:
        print(text, end="")
    else:
        write_atomically(args.output, text.encode())
    return 0
