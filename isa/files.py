"""Reading and writing a user's files safely, for every layer.

`cache_home` is where pyvta keeps what it builds (models, Verilog, simulator builds).
`write_atomically` writes through a temporary file in the same folder and a rename, with the
mode the umask gives a new file (never a half-written output, never a private 0600 one);
`check_writable` refuses before any work what it would refuse after.
`read_array` / `read_arrays` read ``.npy`` / ``.npz`` files after checking what they are: the
magic bytes (a ``.npz`` given for a ``.npy``, a text file), no pickled objects, and a header
whose shape and dtype match the bytes actually present, so a lying header cannot make numpy
allocate terabytes. Each failure is a one-line `VtaError` naming the file.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from vta.isa.errors import VtaError

NPY_MAGIC = b"\x93NUMPY"
#: Largest array a user file may hold.
MAX_ARRAY_BYTES = 1 << 31
ZIP_MAGIC = b"PK\x03\x04"


def cache_home() -> Path:
    """``$VTA_CACHE_DIR``, else ``$XDG_CACHE_HOME/pyvta``, else ``~/.cache/pyvta``."""
    if os.environ.get("VTA_CACHE_DIR"):
        return Path(os.environ["VTA_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pyvta"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename."""
    path = Path(path)
    if path.is_dir():
        raise VtaError(f"{path}: is a folder, not a file name")
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                             suffix=".tmp")
    except OSError as error:
        raise VtaError(f"{path}: cannot write: {error.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except OSError as error:
        raise VtaError(f"{path}: cannot write: {error.strerror or error}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def check_writable(path: str | Path) -> None:
    """Refuse now what `write_atomically(path, ...)` would refuse once the work is done: the
    name of a folder, or a file in a folder that does not exist or cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise VtaError(f"{path}: is a folder, not a file name")
    folder = path.parent
    if not folder.is_dir():
        problem = f"{folder} is not a folder" if folder.exists() else \
            f"folder {folder} does not exist"
        raise VtaError(f"{path}: cannot write: {problem}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise VtaError(f"{path}: cannot write: Permission denied")


def _checked_header(stream, available: int, where: str) -> None:
    """Check a .npy header read from `stream` against the `available` bytes after it."""
    try:
        version = np.lib.format.read_magic(stream)
        shape, _, dtype = (np.lib.format.read_array_header_1_0(stream) if version == (1, 0)
                           else np.lib.format.read_array_header_2_0(stream))
    except (ValueError, OSError, EOFError) as error:
        raise VtaError(f"{where}: damaged .npy header ({' '.join(str(error).split())[:120]})") from None
    if dtype.hasobject:
        raise VtaError(f"{where}: holds Python objects (pickled data), not numbers")
    needed = math.prod(shape) * dtype.itemsize
    left = available - stream.tell()
    if needed > MAX_ARRAY_BYTES:
        raise VtaError(f"{where}: an array of {needed} bytes, more than {MAX_ARRAY_BYTES >> 30} GiB")
    if needed > left:
        raise VtaError(f"{where}: its header declares a {dtype} array of shape {tuple(shape)} "
                       f"({needed} bytes), but only {left} bytes follow")


def read_array(path: str | Path) -> np.ndarray:
    """The array of a .npy file."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            head = file.read(len(NPY_MAGIC))
            size = os.fstat(file.fileno()).st_size
            if not head:
                raise VtaError(f"{path}: empty file, not a .npy array")
            if head.startswith(ZIP_MAGIC[:2]):
                raise VtaError(f"{path}: a .npz archive (or another zip file), not one .npy array")
            if head != NPY_MAGIC:
                raise VtaError(f"{path}: not a .npy file (it does not start with the .npy magic)")
            file.seek(0)
            _checked_header(file, size, str(path))
            file.seek(0)
            return np.load(file, allow_pickle=False)
    except IsADirectoryError:
        raise VtaError(f"{path}: a folder, not a .npy file") from None
    except OSError as error:
        raise VtaError(f"{path}: cannot read: {error.strerror or error}") from None
    except ValueError as error:
        raise VtaError(f"{path}: damaged .npy file ({' '.join(str(error).split())[:120]})") from None


def read_arrays(path: str | Path) -> list[np.ndarray]:
    """The arrays of a .npz archive (each member checked like a .npy), or of a .npy file."""
    return list(read_named_arrays(path).values())


def read_named_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a .npz archive by name (each member checked like a .npy), or of a .npy
    file (under the name "")."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            head = file.read(len(ZIP_MAGIC))
    except IsADirectoryError:
        raise VtaError(f"{path}: a folder, not a .npy file") from None
    except OSError as error:
        raise VtaError(f"{path}: cannot read: {error.strerror or error}") from None
    if not head.startswith(ZIP_MAGIC[:2]):     # an empty archive starts PK\x05\x06
        return {"": read_array(path)}
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                where = f"{path}: member {info.filename}"
                with archive.open(info) as member:
                    prefix = member.read(4096)
                stream = io.BytesIO(prefix)
                if not prefix.startswith(NPY_MAGIC):
                    raise VtaError(f"{where}: not a .npy array")
                _checked_header(stream, info.file_size, where)
                with archive.open(info) as member:
                    arrays[info.filename.removesuffix(".npy")] = np.load(
                        io.BytesIO(member.read()), allow_pickle=False)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as error:
        raise VtaError(f"{path}: damaged .npz archive ({' '.join(str(error).split())[:120]})") from None
    return arrays
