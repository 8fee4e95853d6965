"""A cache of compiled models: `vta compile` of an unchanged model for an unchanged config by
an unchanged compiler reads the `.vtab` it wrote before instead of compiling again.

An entry is keyed by a SHA-256 over the model file's bytes, the whole config
(`Config.fingerprint`: ISA keys, clock, latencies, machine description), the compile options
(input shapes, operand widths, shortlist length), the `.vtab` format version and the compiler
version: pyvta's version and a digest of the source of every package a compile runs
(`compiler`, `isa`, `runtime`, `simulator`), so that any change of the code misses. A model
whose tensors lie in external data files is never cached (those files are not hashed). Entries
live in ``cache_home() / "compiled"`` (``~/.cache/pyvta/compiled`` by default; `vta cache info`
lists them, `vta cache clean --kind compiled` removes them); `vta compile --no-cache` bypasses
the cache, and so does ``VTA_COMPILE_CACHE=0`` in the environment (the test suite sets it). An
entry is the `.vtab` and a JSON file of the importer's notices, written atomically.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from vta.isa import Config
from vta.isa.files import cache_home, write_atomically

#: Folder of the cache under `cache_home()`.
FOLDER = "compiled"
#: The packages whose source decides what a compile writes.
PACKAGES = ("compiler", "isa", "runtime", "simulator")


def folder() -> Path:
    return cache_home() / FOLDER


@functools.cache
def compiler_digest() -> str:
    """pyvta's version and a digest of the source of `PACKAGES` (files in sorted order)."""
    import vta

    digest = hashlib.sha256(vta.__version__.encode())
    for package in PACKAGES:
        module = __import__(f"vta.{package}", fromlist=["__path__"])
        for root in sorted(module.__path__):
            for path in sorted(Path(root).rglob("*.py")):
                digest.update(str(path.relative_to(root)).encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()


def enabled() -> bool:
    """Whether compiles may use the caches (``VTA_COMPILE_CACHE=0`` turns them off)."""
    return os.environ.get("VTA_COMPILE_CACHE", "1") != "0"


def key(model: Path, config: Config, options: dict) -> str | None:
    """The cache key of compiling the ONNX file `model` for `config` with compile `options`
    (JSON-serializable), or None where the model cannot be cached (unreadable, or with
    external data)."""
    from vta.compiler.artifact import FORMAT_VERSION

    if not enabled():
        return None
    try:
        data = model.read_bytes()
    except OSError:
        return None
    if _has_external_data(data):
        return None
    digest = hashlib.sha256()
    for part in (hashlib.sha256(data).hexdigest(), config.fingerprint,
                 json.dumps(options, sort_keys=True), str(FORMAT_VERSION), compiler_digest()):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def _has_external_data(data: bytes) -> bool:
    import onnx

    try:
        model = onnx.load_from_string(data)
    except Exception:       # noqa: BLE001 (not a model: the importer will say why)
        return True
    graphs, tensors = [model.graph], []
    while graphs:
        graph = graphs.pop()
        tensors += graph.initializer
        tensors += [attribute.t for node in graph.node for attribute in node.attribute
                    if attribute.HasField("t")]
        graphs += [attribute.g for node in graph.node for attribute in node.attribute
                   if attribute.HasField("g")]
        graphs += [g for node in graph.node for attribute in node.attribute
                   for g in attribute.graphs]
    return any(tensor.data_location == onnx.TensorProto.EXTERNAL for tensor in tensors)


def load(entry: str) -> tuple[bytes, list[str]] | None:
    """(the `.vtab` bytes, the importer's notices) of cache entry `entry`, or None."""
    base = folder() / entry
    try:
        notices = json.loads(base.with_suffix(".json").read_text())
        data = base.with_suffix(".vtab").read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(notices, list):
        return None
    base.with_suffix(".vtab").touch()      # last use, for `vta cache info`
    return data, [str(notice) for notice in notices]


def store(entry: str, data: bytes, notices: list[str]) -> None:
    """Keep `data` (a `.vtab`) and the importer's `notices` as cache entry `entry` (the notices
    last: an entry is complete when both are there)."""
    base = folder() / entry
    base.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(base.with_suffix(".vtab"), data)
    write_atomically(base.with_suffix(".json"), json.dumps(list(notices)).encode())
