"""The build cache: one folder per hash of (Verilog, simulator, harness), built once under a
file lock so parallel pytest workers and concurrent ``vta exec`` runs never race.

The cache may live in a shared folder (``VTA_CACHE_DIR``), so nothing in it is trusted for
being there: the root must not be writable by others unless it has the sticky bit (as /tmp),
and a build folder — every file and folder in it — must belong to the current user and be
writable by no one else, or it is built again (`trusted`). Lock files are opened without
following symbolic links. A finished build is made read-only for group and others.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from vta.isa import VtaError

STAMP = "built.ok"


def cache_root() -> Path:
    """``$VTA_CACHE_DIR/rtl``, or ``~/.cache/pyvta/rtl`` (``$XDG_CACHE_HOME`` honoured)."""
    if "VTA_CACHE_DIR" in os.environ:
        return Path(os.environ["VTA_CACHE_DIR"]) / "rtl"
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "pyvta" / "rtl"


def build_key(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()[:20]


def safe_root() -> Path:
    """The folder builds go to: `cache_root()` when it is the current user's, else (a shared
    cache) a folder of the user's own inside it, so that no one runs another user's build."""
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        if root.stat().st_uid == os.getuid():
            return root
        if root.stat().st_mode & 0o002 and not root.stat().st_mode & stat.S_ISVTX:
            raise VtaError(f"{root}: a shared build cache writable by everyone without the "
                           f"sticky bit; set VTA_CACHE_DIR to a folder of your own")
        own = root / f"user-{os.getuid()}"
        own.mkdir(mode=0o755, exist_ok=True)
    except OSError as error:
        raise VtaError(f"{root}: cannot use the build cache: {error.strerror or error}") from None
    if not owned(own):
        raise VtaError(f"{own}: belongs to someone else or is writable by others; set "
                       f"VTA_CACHE_DIR to a folder of your own")
    return own


def owned(path: Path) -> bool:
    """Whether `path` itself (not a symbolic link) belongs to the current user and is
    writable by no one else."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & 0o022 and not stat.S_ISLNK(info.st_mode)


def trusted(folder: Path) -> bool:
    """Whether `folder` and everything under it are `owned`."""
    try:
        return owned(folder) and all(owned(entry) for entry in folder.rglob("*"))
    except OSError:
        return False


def _seal(folder: Path) -> None:
    """Remove group and other write permission from everything in `folder`."""
    for entry in [folder, *folder.rglob("*")]:
        if not entry.is_symlink():
            entry.chmod(entry.stat().st_mode & ~0o022)


def cached_build(key: str, build: Callable[[Path], None]) -> Path:
    """The folder for `key`, calling ``build(folder)`` first unless an earlier build finished
    and is `trusted`. A failed build leaves no stamp, so the next call starts again from an
    empty folder."""
    root = safe_root()
    folder = root / key
    try:
        descriptor = os.open(root / f"{key}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        raise VtaError(f"{root / f'{key}.lock'}: cannot open the build lock: "
                       f"{error.strerror or error}") from None
    with os.fdopen(descriptor) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ((folder / STAMP).exists() and trusted(folder)):
            if folder.is_symlink():
                folder.unlink()
            shutil.rmtree(folder, ignore_errors=True)
            try:
                folder.mkdir(mode=0o755)
            except FileExistsError:
                raise VtaError(f"{folder}: a build folder of someone else; set VTA_CACHE_DIR to "
                               f"a folder of your own") from None
            build(folder)
            (folder / STAMP).write_text("ok\n")
            _seal(folder)
    return folder
