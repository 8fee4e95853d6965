"""The schedule search's results kept across compiles: for one config and one compiler, each
layer shape's shortlists (`schedule.shortlisted`, per shortlist length: the tilings the cycle
model times, with their analytic estimates) and the cycles of every tiling timed.

A layer's entry is keyed by its `schedule.timing_key` (its shapes, kinds and ALU steps, not its
name nor its data), so a model whose layers another compile has seen — the same network
retrained, fine-tuned or quantized again, or another sharing its layer shapes — skips their
ranking and timing and gets the same tilings, byte for byte the same `.vtab`. Everything a
layer's timing depends on besides its key is in the file's name: the whole config
(`Config.fingerprint`) and the compiler (`compile_cache.compiler_digest`), so a changed config
or compiler starts afresh. `vta compile` uses it (not with `--no-cache`, nor with
``VTA_COMPILE_CACHE=0``); files live in ``cache_home() / "search"`` (`vta cache info` lists
them, `vta cache clean --kind search` removes them). A file that cannot be read is ignored and
written again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from pathlib import Path

from vta.compiler import compile_cache
from vta.compiler.tiling import Tiling
from vta.isa import Config, VtaError
from vta.isa.files import cache_home, write_atomically

#: Folder of the search cache under `cache_home()`.
FOLDER = "search"


def folder() -> Path:
    return cache_home() / FOLDER


def _tiling_name(tiling: Tiling) -> str:
    return ",".join(str(int(value)) for value in dataclasses.astuple(tiling))


def _tiling(name: str) -> Tiling:
    if not isinstance(name, str):
        raise ValueError(f"tiling {name!r}")
    values = [int(value) for value in name.split(",")]
    fields = dataclasses.fields(Tiling)
    if len(values) != len(fields):
        raise ValueError(f"tiling {name!r}")
    return Tiling(*(bool(value) if field.type in (bool, "bool") else value
                    for field, value in zip(fields, values)))


def _items(value) -> list:
    return list(value.items()) if isinstance(value, dict) else []


def _read(path: Path) -> tuple[dict, dict]:
    """(shortlists, cycles) per layer digest of the file at `path` (empty where there is
    none), without what cannot be read in it."""
    try:
        layers = json.loads(path.read_text())["layers"]
    except (OSError, ValueError, KeyError, TypeError):
        layers = {}
    entries = {digest: _entry(entry) for digest, entry in _items(layers)}
    return ({digest: entry[0] for digest, entry in entries.items()},
            {digest: entry[1] for digest, entry in entries.items()})


def _entry(entry) -> tuple[dict, dict]:
    """(shortlists by length, cycles by tiling) of a layer's entry in a file, without what
    cannot be read in it."""
    shortlists, cycles = {}, {}
    for length, shortlist in _items(entry.get("shortlists") if isinstance(entry, dict) else None):
        with contextlib.suppress(TypeError, ValueError):
            shortlists[int(length)] = [(_tiling(name), float(value))
                                       for name, value in shortlist]
    for name, value in _items(entry.get("cycles") if isinstance(entry, dict) else None):
        with contextlib.suppress(ValueError):
            if type(value) is int:
                cycles[_tiling(name)] = value
    return shortlists, cycles


class SearchCache:
    """The shortlists and cycles of the layers one config's compiles have timed (`load`), and
    those found since (`save` writes them all)."""

    def __init__(self, path: Path, shortlists: dict, cycles: dict):
        self.path = path
        #: per layer digest and shortlist length: [(tiling, analytic estimate), …]
        self._shortlists: dict[str, dict[int, list[tuple[Tiling, float]]]] = shortlists
        #: per layer digest: {tiling: cycles}
        self._cycles: dict[str, dict[Tiling, int]] = cycles
        self._changed = False
        self._digests: dict[tuple, str] = {}

    @classmethod
    def load(cls, config: Config) -> SearchCache | None:
        """The cache of `config` under this compiler (empty if none was saved; what cannot be
        read in it is left out), or None where compile caching is off
        (``VTA_COMPILE_CACHE=0``)."""
        if not compile_cache.enabled():
            return None
        name = hashlib.sha256(
            f"{config.fingerprint}\0{compile_cache.compiler_digest()}".encode()).hexdigest()
        path = folder() / f"{name}.json"
        return cls(path, *_read(path))

    def layer_digest(self, timing_key: tuple) -> str:
        """The name of a layer's entry: a digest of its `timing_key`."""
        digest = self._digests.get(timing_key)
        if digest is None:
            digest = self._digests[timing_key] = hashlib.sha256(
                repr(timing_key).encode()).hexdigest()
        return digest

    def shortlist(self, layer_digest: str, length: int) -> list[tuple[Tiling, float]] | None:
        """The shortlist of `length` kept for a layer (tilings and analytic estimates), or
        None."""
        return self._shortlists.get(layer_digest, {}).get(length)

    def cycles(self, layer_digest: str, tiling: Tiling) -> int | None:
        """The cycles kept for a layer under `tiling`, or None."""
        return self._cycles.get(layer_digest, {}).get(tiling)

    def keep_shortlist(self, layer_digest: str, length: int,
                       shortlist: list[tuple[Tiling, float]]) -> None:
        self._shortlists.setdefault(layer_digest, {})[length] = list(shortlist)
        self._changed = True

    def keep_cycles(self, layer_digest: str, tiling: Tiling, cycles: int) -> None:
        self._cycles.setdefault(layer_digest, {})[tiling] = int(cycles)
        self._changed = True

    def save(self) -> None:
        """Write the file if anything was added, with what other compiles saved there since
        `load` (atomically; a cache that cannot be written is left as it was)."""
        if not self._changed:
            return
        shortlists, cycles = _read(self.path)
        for digest, kept in self._shortlists.items():
            shortlists.setdefault(digest, {}).update(kept)
        for digest, kept in self._cycles.items():
            cycles.setdefault(digest, {}).update(kept)
        layers = {}
        for digest in sorted(shortlists.keys() | cycles.keys()):
            layers[digest] = {
                "shortlists": {str(length): [[_tiling_name(tiling), value]
                                             for tiling, value in shortlist]
                               for length, shortlist in shortlists.get(digest, {}).items()},
                "cycles": {_tiling_name(tiling): count
                           for tiling, count in cycles.get(digest, {}).items()}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, json.dumps({"layers": layers}).encode())
        except (OSError, VtaError):
            return
        self._changed = False
