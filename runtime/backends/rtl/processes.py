"""Child processes and run folders that never outlive the command that made them.

`run_group` starts a tool (Verilator and the make/compiler processes under it, or a harness)
in a process group of its own that the kernel ends when its parent dies (``PR_SET_PDEATHSIG``),
and kills the whole group if the caller is interrupted (Ctrl-C, SIGTERM) or fails; it writes
the group's id to a file while it runs. `temporary_folder` makes a temporary folder named after
this process. Both leave traces a later run can act on after a SIGKILL, which no process can catch:
`reap` kills the leftovers of a recorded group whose owner is gone (found by a token in their
environment), and `temporary_folder` first removes the folders of processes that no longer exist.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

_PR_SET_PDEATHSIG = 1
RUN_PREFIX = "vta-rtl-"
#: The environment variable that marks the processes of one `run_group`.
TOKEN = "VTA_PROCESS_GROUP"


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the parent dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _kill_marked(token: str) -> None:
    """Kill every process of the user whose environment carries `token` (children inherit
    it, so this finds a group's leftovers even after their leader's id was reused)."""
    mark = f"{TOKEN}={token}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    os.kill(int(entry.name), signal.SIGKILL)


def reap(record: Path) -> None:
    """Kill what is left of the processes recorded in `record` by a run whose process is gone."""
    try:
        owner, token = record.read_text().split()
        owner = int(owner)
    except (OSError, ValueError):
        return
    if _alive(owner):
        return                                          # a run still going on
    _kill_marked(token)
    record.unlink(missing_ok=True)


def spawn(command: list[str], *, record: Path, env: dict | None = None,
          **options) -> subprocess.Popen:
    """Start `command` (``subprocess.Popen`` options) in a process group of its own that dies
    with this process, recorded in `record` until `end`."""
    reap(record)
    token = secrets.token_hex(8)
    environment = dict(os.environ if env is None else env, **{TOKEN: token})
    record.write_text(f"{os.getpid()} {token}\n")
    return subprocess.Popen(command, start_new_session=True, preexec_fn=_die_with_parent,
                            env=environment, **options)


def end(process: subprocess.Popen, record: Path) -> None:
    """Kill what is left of `process`'s group (make's compilers, ...) and forget the record."""
    _kill_group(process.pid)
    process.wait()
    record.unlink(missing_ok=True)


def run_group(command: list[str], *, record: Path, **options) -> int:
    """Run `command` to completion as `spawn` starts it; its exit status. An interrupt or
    error in the caller kills the whole group."""
    process = spawn(command, record=record, **options)
    try:
        return process.wait()
    finally:
        end(process, record)


def _remove_stale_folders(root: Path) -> None:
    for folder in root.glob(f"{RUN_PREFIX}*"):
        try:
            pid = int(folder.name[len(RUN_PREFIX):].split("-")[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _alive(pid) and folder.stat().st_uid == os.getuid():
            for record in folder.glob("*.pgid"):
                reap(record)
            shutil.rmtree(folder, ignore_errors=True)


def temporary_folder() -> tempfile.TemporaryDirectory:
    """A fresh temporary folder ``vta-rtl-<pid>-…`` (``cleanup()`` or ``with`` removes it);
    the folders of runs whose process was killed are removed first, their processes too."""
    root = Path(tempfile.gettempdir())
    _remove_stale_folders(root)
    return tempfile.TemporaryDirectory(prefix=f"{RUN_PREFIX}{os.getpid()}-", dir=root)
