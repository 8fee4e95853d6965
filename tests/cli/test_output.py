"""What commands print: one JSON document and nothing else on stdout with --json (whatever the
command, a library or a tool it starts writes), progress only for a person at a terminal."""

import argparse
import json
import os
import pty
import select
import subprocess
import sys

import numpy as np
import pytest
from cli_helpers import REPO, case

from vta.cli import output
from vta.isa import progress

SMALL_CASE = case("vta-1x16/p_gemm_default")


def chatty_command(args):
    """Writes to stdout every way a command's code or its tools can."""
    print("a message from the command")
    os.write(1, b"a message written to file descriptor 1\n")
    subprocess.run(["echo", "a message from a child process"], check=True)
    output.emit(args, {"answer": 42}, "the text form")


def test_with_json_stdout_holds_only_the_document(capfd):
    args = argparse.Namespace(json=True, quiet=False)
    with output.session(args):
        chatty_command(args)
    captured = capfd.readouterr()
    assert json.loads(captured.out) == {"answer": 42}
    for message in ("from the command", "file descriptor 1", "from a child process"):
        assert message in captured.err


def test_without_json_the_text_is_printed(capfd):
    args = argparse.Namespace(json=False, quiet=False)
    with output.session(args):
        output.emit(args, {"answer": 42}, "the text form")
    assert capfd.readouterr().out == "the text form\n"
    args = argparse.Namespace(json=False, quiet=True)
    with output.session(args):
        output.emit(args, {"answer": 42}, "the text form")
    assert capfd.readouterr().out == ""


def test_a_document_given_before_a_failure_is_still_printed(capfd):
    args = argparse.Namespace(json=True, quiet=False)
    with pytest.raises(RuntimeError):
        with output.session(args):
            output.emit(args, {"fits": False}, None)
            raise RuntimeError("does not fit")
    assert json.loads(capfd.readouterr().out) == {"fits": False}


def test_json_is_strict():
    text = output.json_text({"ratio": float("inf"), "nan": float("nan"),
                             "count": np.int64(3), "values": np.arange(2), "path": REPO})
    assert json.loads(text) == {"ratio": None, "nan": None, "count": 3, "values": [0, 1],
                                "path": str(REPO)}


SCRIPT = """
import sys
from vta.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_on_terminal(*argv, stdout_terminal=True) -> str:
    """Run ``vta ARGV`` with stderr (and stdout unless told otherwise) on a pseudo-terminal;
    everything written to the terminal."""
    leader, follower = pty.openpty()
    stdout = follower if stdout_terminal else subprocess.DEVNULL
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, *map(str, argv)], stdout=stdout,
                               stderr=follower, cwd=REPO, env={**os.environ, "TERM": "xterm",
                                                               "COLUMNS": "120"})
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:       # the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=120) == 0, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode(errors="replace")


def test_progress_is_shown_on_a_terminal_only():
    step = "running p_gemm_default on the cycle backend"
    assert step in run_on_terminal("exec", SMALL_CASE, "--backend", "cycle")
    assert step not in run_on_terminal("exec", SMALL_CASE, "--backend", "cycle", "--quiet")
    assert step not in run_on_terminal("exec", SMALL_CASE, "--backend", "cycle",
                                       stdout_terminal=False)


class Recorder:
    """A progress listener that keeps what it was told."""

    def __init__(self):
        self.events = []

    def started(self, step):
        self.events.append(("started", step.description, step.total))

    def changed(self, step):
        self.events.append(("changed", step.description, step.completed))

    def finished(self, step):
        self.events.append(("finished", step.description, step.completed))


def test_steps_reach_the_listener_of_their_context():
    recorder = Recorder()
    with progress.listening(recorder):
        with progress.step("layers", total=2) as step:
            step.advance()
            step.update(description="layer 2")
            step.advance()
    with progress.step("unheard"):
        pass
    assert recorder.events == [("started", "layers", 2), ("changed", "layers", 1),
                               ("changed", "layer 2", 1), ("changed", "layer 2", 2),
                               ("finished", "layer 2", 2)]
