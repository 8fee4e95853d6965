"""The build cache: one folder per hash of (Verilog, simulator, harness), built once under a
file lock so parallel pytest workers and concurrent ``vta exec`` runs never race, and kept
within a size cap by evicting the least recently used builds.

The cache may live in a shared folder (``VTA_CACHE_DIR``), so nothing in it is trusted for
being there: the root must not be writable by others unless it has the sticky bit (as /tmp),
and a build folder — every file and folder in it — must belong to the current user and be
writable by no one else, or it is built again (`trusted`). Lock files are opened without
following symbolic links. A finished build is made read-only for group and others.

Each build has two locks beside it: ``KEY.lock``, held exclusively while it is built, and
``KEY.use``, held shared by every process that uses it, until that process ends. Eviction
(`evict`, ``vta cache clean``) removes a build only when it can take both exclusively, so a
build being made or run is never removed; a lock is trusted only while its file is still the
one at its path (a remover deletes lock files too). The build's stamp file records its last
use (its modification time).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vta.isa import VtaError
from vta.runtime.backends.rtl import processes
from vta.isa.files import cache_home

STAMP = "built.ok"
VERILOG_FOLDER = "verilog"
#: Cap on the bytes of builds and Verilog kept, unless ``VTA_CACHE_MAX_SIZE`` says otherwise.
DEFAULT_MAX_BYTES = 5 << 30
#: Use locks this process holds (released when it exits), by lock path.
_IN_USE: dict[Path, int] = {}


def cache_root() -> Path:
    """``rtl`` in `vta.isa.files.cache_home` (``$VTA_CACHE_DIR``, ``$XDG_CACHE_HOME/pyvta`` or
    ``~/.cache/pyvta``)."""
    return cache_home() / "rtl"


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
    and is `trusted` (leftovers of builds whose process was killed are killed first). A failed
    build leaves no stamp, so the next call starts again from an
    empty folder. The build stays in use (safe from eviction) until this process ends; a new
    build makes older ones give way beyond the size cap (`max_bytes`)."""
    root = safe_root()
    for record in root.glob("*.pgid"):      # builds of runs that were SIGKILLed
        processes.reap(record)
    folder = root / key
    lock = _acquire(root / f"{key}.lock", fcntl.LOCK_EX)
    try:
        built = not ((folder / STAMP).exists() and trusted(folder))
        if built:
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
        if root / f"{key}.use" not in _IN_USE:
            _IN_USE[root / f"{key}.use"] = _acquire(root / f"{key}.use", fcntl.LOCK_SH)
        os.utime(folder / STAMP)
    finally:
        os.close(lock)
    if built:
        evict(max_bytes())
    return folder


def _acquire(path: Path, operation: int) -> int | None:
    """A descriptor of `path` locked with `operation` (``fcntl.LOCK_*``), opened without
    following links; None if ``LOCK_NB`` is in `operation` and someone else holds it. Retries
    when the file was removed or replaced while this process waited for it."""
    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as error:
            raise VtaError(f"{path}: cannot open the build lock: {error.strerror or error}") \
                from None
        try:
            fcntl.flock(descriptor, operation)
        except BlockingIOError:
            os.close(descriptor)
            return None
        try:
            current = os.stat(path, follow_symlinks=False).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            current = False
        if current:
            return descriptor
        os.close(descriptor)


# -- what the cache holds, and eviction ------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One build folder (``kind`` "rtl") or cached Verilog text ("verilog")."""

    kind: str
    path: Path
    bytes: int
    last_used: float            # seconds since the epoch

    @property
    def key(self) -> str:
        return self.path.name


def max_bytes() -> int | None:
    """The size cap: ``VTA_CACHE_MAX_SIZE`` (bytes, or with a K, M, G or T suffix, powers of
    1024; "unlimited" for none), default `DEFAULT_MAX_BYTES`."""
    text = os.environ.get("VTA_CACHE_MAX_SIZE", "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    if text.lower() == "unlimited":
        return None
    return parse_size(text, "VTA_CACHE_MAX_SIZE")


def parse_size(text: str, where: str) -> int:
    """Bytes of a size such as ``500M``, ``1.5G`` or ``4096``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if not match:
        raise VtaError(f"{where}: {text!r} is not a size (e.g. 500M, 2G, 1048576)")
    scale = 1 << (10 * " KMGT".index(match[2].upper() or " "))
    return int(float(match[1]) * scale)


def entries() -> list[Entry]:
    """Every build and Verilog text in the current user's cache, least recently used first."""
    root = safe_root()
    found = []
    for path in root.iterdir():
        if path.is_dir() and not path.is_symlink() and path.name != VERILOG_FOLDER \
                and not path.name.startswith("user-"):
            stamp = path / STAMP
            used = (stamp if stamp.exists() else path).stat().st_mtime
            found.append(Entry("rtl", path, _size(path), used))
    verilog = root / VERILOG_FOLDER
    if verilog.is_dir():
        for path in verilog.glob("vta_core-*.v"):
            info = path.stat()
            found.append(Entry("verilog", path, info.st_size, info.st_mtime))
    return sorted(found, key=lambda entry: entry.last_used)


def _size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            total += info.st_size
    return total


def remove(entry: Entry) -> bool:
    """Delete `entry` unless a process builds or uses it (or it is not the user's); whether it
    was deleted."""
    if not owned(entry.path):
        return False
    if entry.kind == "verilog":
        entry.path.unlink(missing_ok=True)
        return True
    locks = [entry.path.with_name(f"{entry.key}{suffix}") for suffix in (".lock", ".use")]
    held = []
    try:
        for path in locks:
            descriptor = _acquire(path, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if descriptor is None:
                return False
            held.append(descriptor)
        shutil.rmtree(entry.path)
        processes.reap(entry.path.with_name(f"{entry.key}.pgid"))   # a killed build's record
        for path in locks:
            path.unlink(missing_ok=True)
        return True
    finally:
        for descriptor in held:
            os.close(descriptor)


def evict(limit: int | None, kinds: tuple[str, ...] = ("rtl", "verilog")) -> dict:
    """Remove least recently used entries of `kinds` until the cache holds at most `limit`
    bytes (None: no limit, remove nothing; 0: everything not in use). Returns what was
    removed and what was kept because it is in use."""
    removed, busy = [], []
    if limit is None:
        return {"removed": removed, "in_use": busy}
    listed = entries()
    total = sum(entry.bytes for entry in listed)
    for entry in listed:
        if total <= limit:
            break
        if entry.kind not in kinds:
            continue
        if remove(entry):
            removed.append(entry)
            total -= entry.bytes
        else:
            busy.append(entry)
    _remove_stray_locks()
    return {"removed": removed, "in_use": busy}


def _remove_stray_locks() -> None:
    """Delete lock files whose build folder is gone and that no one holds."""
    root = safe_root()
    for path in [*root.glob("*.lock"), *root.glob("*.use")]:
        if (root / path.stem).exists() or path in _IN_USE:
            continue
        descriptor = _acquire(path, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if descriptor is not None:
            if not (root / path.stem).exists():
                path.unlink(missing_ok=True)
            os.close(descriptor)
