"""Tools run by the RTL backend (Verilator and its make/compiler processes, the harness) never
outlive the command: an interrupted command kills their whole group, and after a SIGKILL —
which no process can catch — the next run kills the leftovers and removes the run folders."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from vta.runtime.backends.rtl import processes

from terminal import default_sigint

SCRIPT = """
import sys
from pathlib import Path
from vta.runtime.backends.rtl.processes import run_group
print("started", flush=True)
run_group(["sh", "-c", "sleep 300 & sleep 300"], record=Path(sys.argv[1]))
"""


def group_members(record: Path) -> list[int]:
    token = record.read_text().split()[1] if record.exists() else None
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and token:
            try:
                if f"{processes.TOKEN}={token}".encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie awaiting its reaper."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start(record: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, str(record)],
                               stdout=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    assert process.stdout.readline().strip() == "started"
    deadline = time.monotonic() + 30
    while len(group_members(record)) < 3:              # sh and its two sleeps
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return process


def test_an_interrupted_caller_kills_the_whole_group(tmp_path):
    record = tmp_path / "build.pgid"
    process = start(record)
    members = group_members(record)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    time.sleep(0.3)
    assert not any(running(pid) for pid in members)
    assert not record.exists()


def test_after_a_sigkill_the_next_run_kills_the_leftovers(tmp_path):
    record = tmp_path / "build.pgid"
    process = start(record)
    members = group_members(record)
    process.kill()                                      # no chance to clean up
    process.wait(timeout=30)
    time.sleep(0.3)
    assert any(running(pid) for pid in members)   # the background sleep
    processes.reap(record)                              # what the next build does first
    time.sleep(0.3)
    assert not any(running(pid) for pid in members)
    assert not record.exists()


def test_the_record_of_a_live_run_is_left_alone(tmp_path):
    record = tmp_path / "build.pgid"
    record.write_text(f"{os.getpid()} 0123456789abcdef\n")
    processes.reap(record)
    assert record.exists()


def test_run_folders_of_killed_runs_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.Popen(["true"])
    ended.wait()                                        # its process id is now free
    dead = ended.pid
    stale = tmp_path / f"{processes.RUN_PREFIX}{dead}-abc"
    stale.mkdir()
    mine = tmp_path / f"{processes.RUN_PREFIX}{os.getpid()}-keep"
    mine.mkdir()
    with processes.temporary_folder() as name:
        folder = Path(name)
        assert folder.name.startswith(f"{processes.RUN_PREFIX}{os.getpid()}-")
        assert not stale.exists() and mine.exists()
    assert not folder.exists()


@pytest.mark.parametrize("status", [0, 3])
def test_the_exit_status_is_returned(status, tmp_path):
    assert processes.run_group(["sh", "-c", f"exit {status}"], record=tmp_path / "r") == status
