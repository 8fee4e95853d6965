"""Disassemble an instruction stream: a program-image folder's stream (with its config from
case.json), or a raw binary file (`--offset`/`--count` select a part of it). The output is
assembly text that `vta asm` turns back into the same bytes."""

from pathlib import Path

from vta.cli.common import Failure, about, add_config_options, config_from, load_image
from vta.isa import INSN_BYTES
from vta.isa.assembler import disassemble

NAME = "disasm"
HELP = "print an instruction stream (raw file or program-image folder) as assembly"


def add_arguments(parser):
    parser.add_argument("path", metavar="FILE.bin|IMAGE_DIR", type=Path,
                        help="a raw instruction stream, or a program-image folder")
    parser.add_argument("--offset", type=lambda text: int(text, 0), default=0,
                        help="raw files: byte offset of the first instruction (default 0)")
    parser.add_argument("--count", type=lambda text: int(text, 0),
                        help="raw files: number of instructions (default: to the end)")
    parser.add_argument("--no-index", dest="indexed", action="store_false",
                        help="omit the instruction index at the start of each line")
    add_config_options(parser)


def run(args) -> int:
    config = config_from(args)
    if args.path.is_dir():
        if args.offset or args.count is not None:
            raise Failure("--offset/--count apply to raw stream files; an image folder "
                          "gives its own stream")
        image = load_image(args.path, config)
        title = (f"# {args.path}: config {image.config.config_string}, "
                 f"insn_addr {image.insn_addr:#x}, {image.insn_count} instructions\n")
        stream, config = image.instruction_bytes.tobytes(), image.config
    else:
        title, stream = "", _raw_stream(args.path, args.offset, args.count)
    with about(args.path):
        text = disassemble(stream, config, indexed=args.indexed)
    print(title + text, end="")
    return 0


def _raw_stream(path: Path, offset: int, count: int | None) -> bytes:
    data = path.read_bytes()
    if offset < 0 or offset > len(data) or (count is not None and count < 0):
        raise Failure(f"{path}: --offset {offset} / --count {count} outside the file "
                      f"of {len(data)} bytes")
    end = len(data) if count is None else offset + INSN_BYTES * count
    if end > len(data):
        raise Failure(f"{path}: {count} instructions at offset {offset} run past the end of "
                      f"the file ({len(data)} bytes)")
    if (end - offset) % INSN_BYTES:
        raise Failure(f"{path}: {end - offset} bytes after offset {offset} are not a whole "
                      f"number of {INSN_BYTES}-byte instructions")
    return data[offset:end]
