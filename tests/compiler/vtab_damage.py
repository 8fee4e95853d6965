"""Structurally damaged .vtab files whose checksum is recomputed (so only the validation past
the checksum can catch them): random byte flips in the header and payload, header fields
replaced by other types, extreme sizes or removed, unknown keys, sections and steps moved,
and compression bombs."""

from __future__ import annotations

import functools
import hashlib
import json
import struct
import zlib

import numpy as np

PREFIX = struct.Struct("<8sIQ")
BOMB_BYTES = 64 << 20
EXTREMES = [0, -1, 1, 2**31, 2**32 + 7, 2**40, 2**63, -(2**63), 10**30, 0.5, -0.0, 1e308,
            "", "x" * 300, None, True, False, [], {}, [1, 2, 3], {"a": 1}, 12.7]


def split(data: bytes) -> tuple[int, dict, bytes]:
    """(version, header, payload) of a valid .vtab."""
    _, version, length = PREFIX.unpack_from(data)
    header = json.loads(data[PREFIX.size:PREFIX.size + length])
    return version, header, data[PREFIX.size + length:-32]


def join(version: int, header_text: bytes, payload: bytes) -> bytes:
    body = PREFIX.pack(b"VTAB\r\n\x1a\n", version, len(header_text)) + header_text + payload
    return body + hashlib.sha256(body).digest()


def _paths(node, prefix=()):
    """Every (path) to a value inside the JSON document."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "host_kernels":
                yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


def _set(document, path, value):
    for part in path[:-1]:
        document = document[part]
    document[path[-1]] = value


def _delete(document, path):
    for part in path[:-1]:
        document = document[part]
    del document[path[-1]]


def damaged(data: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """One damaged copy of `data` (a valid .vtab) and what was done to it."""
    version, header, payload = split(data)
    header = json.loads(json.dumps(header))
    paths = [p for p in _paths(header) if p]
    how = rng.choice(["flip header", "flip payload", "replace", "scale", "delete", "unknown key",
                      "bomb", "swap sections", "move step", "duplicate"])
    if how == "flip header":
        text = bytearray(json.dumps(header).encode())
        for _ in range(rng.integers(1, 4)):
            text[rng.integers(len(text))] ^= 1 << int(rng.integers(8))
        return how, join(version, bytes(text), payload)
    if how == "flip payload" and payload:
        raw = bytearray(payload)
        for _ in range(rng.integers(1, 4)):
            raw[rng.integers(len(raw))] ^= 1 << int(rng.integers(8))
        return how, join(version, json.dumps(header).encode(), bytes(raw))
    path = paths[rng.integers(len(paths))]
    if how == "replace":
        value = EXTREMES[rng.integers(len(EXTREMES))]
        _set(header, path, value)
        how = f"replace {path} by {json.dumps(value)[:20]}"
    elif how == "scale":
        numeric = [p for p in paths if isinstance(_get(header, p), (int, float))
                   and not isinstance(_get(header, p), bool)]
        path = numeric[rng.integers(len(numeric))]
        factor = [0, -1, 2, 1 << 20, 1 << 40][rng.integers(5)]
        _set(header, path, _get(header, path) * factor)
        how = f"scale {path} by {factor}"
    elif how == "delete":
        _delete(header, path)
        how = f"delete {path}"
    elif how == "unknown key":
        containers = [p for p in paths if isinstance(_get(header, p), dict)] or [()]
        _set(header, containers[rng.integers(len(containers))] + ("surprise",), 1)
    elif how == "bomb":
        stored = [s for s in header["sections"] if "offset" in s]
        section = stored[rng.integers(len(stored))]
        bomb = compression_bomb()
        section["offset"], section["length"] = len(payload), len(bomb)
        payload += bomb
        how = f"bomb in section {section['name']!r} (declared {section['nbytes']} bytes)"
    elif how == "swap sections":
        sections = header["sections"]
        i, j = rng.integers(len(sections), size=2)
        for key in ("addr", "nbytes"):
            sections[i][key], sections[j][key] = sections[j][key], sections[i][key]
    elif how == "move step":
        steps = header["steps"]
        steps.insert(rng.integers(len(steps) + 1), steps.pop(rng.integers(len(steps))))
        if steps and steps[-1]["op"] == "vta":
            steps[-1]["insn_addr"] += 16 * int(rng.integers(-4, 5))
    elif how == "duplicate":
        group = ["sections", "steps", "inputs", "outputs"][rng.integers(4)]
        if header[group]:
            header[group].append(header[group][rng.integers(len(header[group]))])
    return how, join(version, json.dumps(header).encode(), payload)


@functools.cache
def compression_bomb() -> bytes:
    """64 MiB of zeros, deflated (about 64 KiB)."""
    return zlib.compress(bytes(BOMB_BYTES), 9)


def _get(document, path):
    for part in path:
        document = document[part]
    return document
