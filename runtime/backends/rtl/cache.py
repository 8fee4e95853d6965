"""The build cache: one folder per hash of (Verilog, simulator, harness), built once under a
file lock so parallel pytest workers and concurrent ``vta exec`` runs never race."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

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


def cached_build(key: str, build: Callable[[Path], None]) -> Path:
    """The folder for `key`, calling ``build(folder)`` first unless an earlier build finished.
    A failed build leaves no stamp, so the next call starts again from an empty folder."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = root / key
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / STAMP).exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / STAMP).write_text("ok\n")
    return folder
