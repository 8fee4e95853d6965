"""What every `vta` command shares: the config options, one-line failures, atomic output."""

from __future__ import annotations

import argparse
import contextlib
import math
from pathlib import Path

from vta.isa import Config, VtaError
from vta.isa.files import check_writable
from vta.isa.files import write_atomically  # noqa: F401 - the one way commands write files
from vta.isa.image import META_FILE, ProgramImage


class Failure(Exception):
    """A one-line error a command reports on stderr, with its exit status (docs/contracts.md §4)."""

    def __init__(self, message: str, exit_status: int = 1):
        super().__init__(message)
        self.exit_status = exit_status


@contextlib.contextmanager
def about(subject: str | Path):
    """Prefix the message of a VtaError raised inside with `subject` (a file or folder name),
    keeping its exit status."""
    try:
        yield
    except VtaError as error:
        raise Failure(f"{subject}: {error}", error.exit_status) from None


def add_backend_options(parser: argparse.ArgumentParser, default: str = "functional") -> None:
    """Add ``--backend NAME`` and the options of the backends that take some (RTL, board)."""
    parser.add_argument("--backend", default=default,
                        help="the backend to run on (default: %(default)s; an unknown name "
                             "lists the known ones)")
    group = parser.add_argument_group("RTL co-simulation options (--backend rtl or board)")
    group.add_argument("--simulator", choices=("verilator", "icarus"),
                       help="HDL simulator (default: verilator)")
    group.add_argument("--harness", choices=("fast", "cocotb"),
                       help="fast C++ harness or the cocotb testbench (default: fast on "
                            "Verilator, cocotb on Icarus)")
    group.add_argument("--max-cycles", type=int, metavar="N",
                       help="watchdog: report a deadlock after N cycles (default: derived "
                            "from the program)")
    group.add_argument("--waves", metavar="FILE.fst|FILE.vcd",
                       help="dump the core's signals (named as in the Amaranth source) to an "
                            "FST or VCD file (--backend rtl; vta run: one file per layer run, "
                            "FILE.2.fst, ...)")
    group.add_argument("--waves-window", metavar="FIRST:LAST", type=cycle_window,
                       help="dump only cycles FIRST to LAST of each run (counted from the end "
                            "of reset; default: every cycle)")
    parser.add_argument("--trace", metavar="TRACE.json",
                        help="write a Perfetto/Chrome trace (open it in ui.perfetto.dev): vta "
                             "exec, the instructions of a cycle-backend run; vta run, every layer "
                             "and host step of the model on one timeline")


def cycle_window(text: str) -> tuple[int, int]:
    """``FIRST:LAST`` as two cycle numbers, FIRST <= LAST."""
    first, _, last = text.partition(":")
    try:
        window = int(first), int(last)
    except ValueError:
        window = (-1, -1)
    if min(window) < 0 or window[0] > window[1]:
        raise argparse.ArgumentTypeError(f"{text!r} is not FIRST:LAST with 0 <= FIRST <= LAST "
                                         "(cycles)")
    return window


def seconds(text: str) -> float:
    """A time limit in seconds: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def backend_options(args: argparse.Namespace) -> dict:
    """The backend options given on the command line (a backend refuses those it lacks)."""
    options = {"simulator": args.simulator, "harness": args.harness,
               "max_cycles": args.max_cycles, "trace": args.trace, "waves": args.waves,
               "waves_window": args.waves_window}
    return {name: value for name, value in options.items() if value is not None}


def add_config_options(parser: argparse.ArgumentParser, default: str = "pynq") -> None:
    """Add the mutually exclusive ``--preset NAME | --config FILE`` options; `default` says
    which config applies when neither is given."""
    from vta.isa.config import PRESETS

    group = parser.add_mutually_exclusive_group()
    group.add_argument("--preset", metavar="NAME",
                       help=f"a named configuration: {', '.join(PRESETS)} (default: {default})")
    group.add_argument("--config", metavar="FILE", type=Path,
                       help=f"a JSON file of config keys, pyvta's or a TVM vta_config.json "
                            f"(keys it does not give come from its TARGET's preset, else "
                            f"{default})")


def config_from(args: argparse.Namespace) -> Config:
    """The config the ``--preset``/``--config`` options name (default: the pynq preset)."""
    if args.config is not None:
        return Config.from_file(args.config)
    return Config.preset("pynq" if args.preset is None else args.preset)


def check_outputs(outputs, inputs=()) -> None:
    """Refuse, before any work, output files (None: not asked for) that could not be written
    (`check_writable`), that two options name, or that are one of the command's `inputs`:
    written once the work succeeds, they would replace the input (a model, a source, a
    program image's DRAM) with the output."""
    given = [Path(path) for path in outputs if path is not None]
    for index, path in enumerate(given):
        check_writable(path)
        if any(_same_file(path, other) for other in given[:index]):
            raise Failure(f"{path}: named for two outputs")
        source = next((Path(p) for p in inputs if p is not None and _same_file(path, p)), None)
        if source is not None:
            also = "" if source == path else f" (as {source})"
            raise Failure(f"{path}: is also an input of the command{also}; write the output "
                          "elsewhere")


def _same_file(path: Path, other) -> bool:
    """Whether `path` and `other` name one file (which need not exist yet)."""
    try:
        return path.resolve() == Path(other).resolve() or path.samefile(other)
    except OSError:
        return False


def load_image(directory: Path, base: Config) -> ProgramImage:
    """`ProgramImage.load` (kept as the one place the CLI loads images)."""
    return ProgramImage.load(directory, base)
