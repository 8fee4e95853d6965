"""Assemble a text program (docs/cli.md, "Assembly") into a binary instruction stream:
16 little-endian bytes per instruction, the format of a program image's stream."""

from pathlib import Path

from vta.cli.common import (Failure, about, add_config_options, check_outputs, config_from,
                            write_atomically)
from vta.isa.assembler import assemble

NAME = "asm"
HELP = "assemble a text program into a binary instruction stream"


def add_arguments(parser):
    parser.add_argument("source", metavar="FILE.s", type=Path, help="assembly text")
    parser.add_argument("-o", "--output", metavar="OUT.bin", type=Path,
                        help="output file (default: FILE.bin next to the source)")
    add_config_options(parser)


def run(args) -> int:
    output = args.output or args.source.with_suffix(".bin")
    check_outputs([output], [args.source, args.config])
    config = config_from(args)
    try:
        source = args.source.read_text()
    except UnicodeDecodeError as error:
        raise Failure(f"{args.source}: not a text file (byte {error.start} is not UTF-8)") from None
    with about(args.source):
        stream = assemble(source, config)
    write_atomically(output, stream)
    return 0
