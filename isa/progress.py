"""Progress of long steps (Verilog generation, simulator builds, synthesis, simulation runs),
reported to whoever shows it.

Any layer marks a step that may take more than a moment::

    from vta.isa import progress

    with progress.step("building the Verilator harness"):          # open-ended
        ...
    with progress.step("running layers", total=len(layers)) as step:
        for layer in layers:
            step.update(description=f"layer {layer.name}")
            ...
            step.advance()

Nothing is shown unless a `Listener` is installed with `listening` (the ``vta`` command installs
one that draws rich progress bars on stderr); without one a step costs next to nothing. The
listener belongs to the current context (`contextvars`), so concurrent callers, such as tests
running commands in one process, do not see each other's steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Protocol


class Step:
    """One step in progress: a description, how much of `total` is done (`total` None: an
    open-ended step)."""

    def __init__(self, description: str, total: int | None, listener: Listener | None):
        self.description = description
        self.total = total
        self.completed = 0
        self._listener = listener

    def advance(self, amount: int = 1) -> None:
        self.update(completed=self.completed + amount)

    def update(self, *, completed: int | None = None, description: str | None = None) -> None:
        if completed is not None:
            self.completed = completed
        if description is not None:
            self.description = description
        if self._listener is not None:
            self._listener.changed(self)


class Listener(Protocol):
    """Whoever shows steps: told when one starts, changes and finishes."""

    def started(self, step: Step) -> None: ...

    def changed(self, step: Step) -> None: ...

    def finished(self, step: Step) -> None: ...


_listener: ContextVar[Listener | None] = ContextVar("vta_progress_listener", default=None)


@contextlib.contextmanager
def step(description: str, total: int | None = None) -> Iterator[Step]:
    """A step of the work inside the ``with`` block, shown by the current listener."""
    listener = _listener.get()
    current = Step(description, total, listener)
    if listener is None:
        yield current
        return
    listener.started(current)
    try:
        yield current
    finally:
        listener.finished(current)


@contextlib.contextmanager
def listening(listener: Listener | None) -> Iterator[None]:
    """Show the steps started inside the ``with`` block with `listener` (None: show none)."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)
