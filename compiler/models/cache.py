"""Where built models are cached: ``models`` in `vta.isa.files.cache_home` (``$VTA_CACHE_DIR``,
``$XDG_CACHE_HOME/pyvta`` or ``~/.cache/pyvta``)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from vta.isa.files import cache_home


def cache_dir() -> Path:
    """The model cache folder (created on demand)."""
    folder = cache_home() / "models"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cached(name: str, build: Callable[[Path], None], rebuild: bool = False) -> Path:
    """`cache_dir()/name`, made by `build(path)` into a temporary file and renamed when missing
    (so an interrupted build never leaves a truncated model behind)."""
    path = cache_dir() / name
    if path.exists() and not rebuild:
        return path
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.", suffix=".onnx")
    os.close(handle)
    try:
        build(Path(temporary))
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    return path
