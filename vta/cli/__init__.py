"""The `vta` command line.

Every module of this package that defines ``NAME`` is a command (``vta NAME ...``) and provides

* ``NAME``: the command word; ``HELP``: one line for ``vta --help``;
* ``add_arguments(parser)``: declares its options (use `common.add_config_options` for
  ``--preset | --config``; add sub-parsers here for commands with sub-commands);
* ``run(args) -> int``: does the work and returns the exit status.

A command that reports gives its result to `output.emit` (text, or one JSON document with
``--json``: `output.add_output_options`) and marks long steps with `vta.isa.progress.step`;
`output.session` shows their progress while a person watches.

Commands report errors by raising `vta.isa.VtaError` or `common.Failure`; `main` prints them as
one line on stderr (``vta NAME: message``) and returns their exit status. A new command is a new
module: nothing here changes. Keep a module's top level light (import heavy layers in ``run``),
since ``vta --help`` imports every command.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys
import threading
import warnings
from types import ModuleType

import vta
from vta.cli import output
from vta.cli.common import Failure
from vta.isa import VtaError


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one-line Failures (exit status 1), not exit 2,
    which `vta exec` reserves for bounds errors."""

    def error(self, message):
        raise Failure(f"{message} (see '{self.prog} --help')")


def commands() -> dict[str, ModuleType]:
    """The command modules of this package, by command word."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "NAME"):
            found[module.NAME] = module
    return dict(sorted(found.items()))


def build_parser(available: dict[str, ModuleType] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="vta", description="pyvta: the VTA accelerator stack in Python.")
    parser.add_argument("--version", action="version", version=f"pyvta {vta.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module in (available or commands()).items():
        sub = subparsers.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


class Terminated(BaseException):
    """SIGTERM (or SIGHUP) arrived: unwind like Ctrl-C, so that temporary folders, child
    processes and worker clusters are cleaned up on the way out."""

    def __init__(self, signal_number: int):
        super().__init__(signal_number)
        self.exit_status = 128 + signal_number


def _terminate(signal_number, frame):
    raise Terminated(signal_number)


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit status. Errors are one line on stderr, never a
    traceback (a genuine bug still shows one). SIGTERM and SIGHUP unwind the command as
    SIGINT does (exit status 128 + the signal's number)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = "vta"
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGTERM, signal.SIGHUP):
            previous[number] = signal.signal(number, _terminate)
    try:
        available = commands()
        if argv and argv[0] in available:
            prog = f"vta {argv[0]}"
        parser = build_parser(available)
        args = parser.parse_args(argv)
        if args.command is None:
            raise Failure(f"give a command: {', '.join(available)} (see 'vta --help')")
        with output.session(args):
            return args.run(args)
    except (Failure, VtaError) as error:
        return _report(prog, str(error), error.exit_status)
    except BrokenPipeError:
        # The reader went away (e.g. `vta disasm ... | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        return _report(prog, f"{where}{error.strerror or error}", 1)
    except UnicodeDecodeError as error:  # a binary file where text (JSON) was expected
        return _report(prog, f"an input file is not UTF-8 text (byte {error.start})", 1)
    except KeyboardInterrupt:
        return _cut_short(prog, "interrupted", 130)
    except Terminated as terminated:
        return _cut_short(prog, "terminated", terminated.exit_status)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _cut_short(prog: str, message: str, status: int) -> int:
    """Report an interrupt; the warnings of what it left half-made (Amaranth warns about
    designs elaborated but never used) are not worth another line."""
    warnings.simplefilter("ignore")
    return _report(prog, message, status)


def _report(prog: str, message: str, status: int) -> int:
    print(f"{prog}: {' '.join(message.split())}", file=sys.stderr)
    return status
