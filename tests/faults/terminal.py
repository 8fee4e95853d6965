"""Start a child as a terminal starts a command."""

import signal


def default_sigint() -> None:
    """SIGINT at its default in the child (a test run started in the background of a script
    inherits SIGINT ignored, and so would every command it starts)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
