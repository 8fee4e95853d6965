"""How a command talks to its user: its result on stdout (text, or one JSON document with
``--json``), progress of long steps on stderr while stdout is a terminal, nothing but the result
with ``--quiet``.

`session` wraps every command (`vta.cli.main` opens it). With ``--json`` it points both
``sys.stdout`` and file descriptor 1 at stderr while the command runs, so no message — of the
command, of a library or of a tool it starts — can reach stdout; the document the command gave
to `emit` is written to the real stdout when the command ends (also when it then fails, as
``vta fpga synth`` does for a design that does not fit).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from vta.isa import progress

def add_output_options(parser: argparse.ArgumentParser, *, json: bool = True,
                       quiet: bool = True) -> None:
    """Add ``--json`` (a command that reports) and ``--quiet`` (a command with long steps or a
    summary)."""
    if json:
        parser.add_argument("--json", action="store_true",
                            help="print the result as one JSON document on stdout (messages "
                                 "go to stderr; docs/cli.md gives its keys)")
    if quiet:
        parser.add_argument("--quiet", action="store_true",
                            help="no progress display and no summary (errors, --json and "
                                 "what an option asks to print still appear)")


def emit(args: argparse.Namespace, document: dict, text: str | None = None) -> None:
    """The command's result: `document` with ``--json``; otherwise `text` on stdout unless
    ``--quiet``."""
    if getattr(args, "json", False):
        args.json_document = document
    elif text is not None and not getattr(args, "quiet", False):
        print(text)


def show(args: argparse.Namespace, text: str) -> None:
    """Text an option explicitly asked for (``--top``, ``--report``): on stdout, or on stderr
    with ``--json``; printed even with ``--quiet``."""
    print(text, file=sys.stderr if getattr(args, "json", False) else sys.stdout)


def json_text(document: object) -> str:
    """`document` as strict JSON: numpy numbers as numbers, paths as strings, infinite or NaN
    floats as null (JSON has no such numbers)."""
    return json.dumps(_plain(document), indent=1, allow_nan=False)


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):   # numpy
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def progress_wanted(args: argparse.Namespace) -> bool:
    """Progress is drawn only for a person watching: stdout and stderr are terminals and
    ``--quiet`` is not given."""
    return not getattr(args, "quiet", False) and sys.stdout.isatty() and sys.stderr.isatty()


@contextlib.contextmanager
def session(args: argparse.Namespace) -> Iterator[None]:
    """Run a command inside: progress display, stdout guard for ``--json``, the document."""
    listener = RichListener() if progress_wanted(args) else None
    guard = _stdout_to_stderr() if getattr(args, "json", False) else contextlib.nullcontext()
    try:
        with progress.listening(listener), guard:
            yield
    finally:
        if listener is not None:
            listener.close()
        document = vars(args).pop("json_document", None)
        if document is not None:
            print(json_text(document), flush=True)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Point ``sys.stdout`` and file descriptor 1 at stderr inside."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    stdout, sys.stdout = sys.stdout, sys.stderr
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stdout = stdout
        os.dup2(saved, 1)
        os.close(saved)


class RichListener:
    """Draws the running `vta.isa.progress` steps as rich progress lines on stderr (a bar and
    a count for steps with a total, a spinner for open-ended ones, elapsed time for both);
    the display disappears when the last step ends."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import (BarColumn, Progress, SpinnerColumn, TextColumn,
                                   TimeElapsedColumn)

        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                  TextColumn("{task.fields[count]}"), TimeElapsedColumn(),
                                  console=Console(stderr=True), transient=True,
                                  redirect_stdout=False, redirect_stderr=False)
        self._tasks: dict[int, object] = {}

    @staticmethod
    def _count(step: progress.Step) -> str:
        return f"{step.completed}/{step.total}" if step.total is not None else ""

    def started(self, step: progress.Step) -> None:
        if not self._tasks:
            self._progress.start()
        self._tasks[id(step)] = self._progress.add_task(
            step.description, total=step.total, completed=step.completed, count=self._count(step))

    def changed(self, step: progress.Step) -> None:
        if id(step) in self._tasks:
            self._progress.update(self._tasks[id(step)], description=step.description,
                                  total=step.total, completed=step.completed,
                                  count=self._count(step))

    def finished(self, step: progress.Step) -> None:
        task = self._tasks.pop(id(step), None)
        if task is not None:
            self._progress.remove_task(task)
        if not self._tasks:
            self._progress.stop()

    def close(self) -> None:
        self._tasks.clear()
        self._progress.stop()
