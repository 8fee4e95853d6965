"""The `.vtab` artifact (docs/contracts.md §6): a versioned, self-describing container of a
compiled model.

Layout (all integers little-endian)::

    magic    8 bytes  b"VTAB\\r\\n\\x1a\\n"
    version  u32      FORMAT_VERSION
    length   u64      bytes of the JSON header
    header   JSON     config (keys and fingerprint), memory size, sections (name, address,
                      size, fill or payload offset/length), host constants (name, dtype,
                      shape, payload offset/length), values, inputs/outputs, steps (VTA
                      programs, device moves, host nodes), per-node placement, host-kernel IR
    payload  bytes    the data sections and host constants, one zlib stream each (stored
                      uncompressed where they barely compress: `_packed`)
    digest   32 bytes SHA-256 of everything before it

Loading checks, in order, the magic (not a .vtab), the length and the digest (truncated or
corrupted), the version, then everything in the header and the sections
(`vta.compiler.artifact_schema`), then — when the caller names a config — the config
fingerprint (ISA keys and ALU_MUL). Every failure is a one-line `ArtifactError`.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path

import numpy as np

from vta.compiler import host_ops, host_steps
from vta.compiler.artifact_schema import ArtifactError, inflate, validated_header
from vta.compiler.host_kernels import KERNEL_IR
from vta.compiler.model import CompiledModel, Section
from vta.isa import Config, VtaError
from vta.isa.files import write_atomically

MAGIC = b"VTAB\r\n\x1a\n"
#: 2: im2col host steps and values not stored in DRAM (fused layers).
#: 3: host nodes (ONNX operators, quantization crossings, integer nodes VTA does not run), host
#:    constant tensors, values the host holds (no layout), inputs/outputs as the ONNX tensors.
FORMAT_VERSION = 3
_PREFIX = struct.Struct("<8sIQ")
_DIGEST_BYTES = 32
#: The bytes at the start of a section or constant that decide whether to compress it.
SAMPLE_BYTES = 1 << 16


def _packed(data: bytes) -> bytes:
    """`data` as a zlib stream: compressed (level 6) where its first `SAMPLE_BYTES` shrink by a
    tenth at least, else stored (level 0). Quantized weights barely compress (ResNet-18's 12.4 MB
    by 13 %), and compressing them took most of the serialization."""
    sample = data[:SAMPLE_BYTES]
    if len(zlib.compress(sample, 1)) > 0.9 * len(sample):
        return zlib.compress(data, 0)
    return zlib.compress(data, 6)


def to_bytes(model: CompiledModel) -> bytes:
    payload = bytearray()
    sections = []
    for section in model.sections:
        entry = {"name": section.name, "addr": section.addr, "nbytes": section.nbytes}
        if section.data is None:
            entry["fill"] = section.fill
        else:
            packed = _packed(section.data)
            entry["offset"], entry["length"] = len(payload), len(packed)
            payload += packed
        sections.append(entry)
    constants = []
    for name, array in model.constants.items():
        packed = _packed(np.ascontiguousarray(array).tobytes())   # 1-D for a scalar: bytes only
        constants.append({"name": name, "dtype": array.dtype.name, "shape": list(array.shape),
                          "offset": len(payload), "length": len(packed)})
        payload += packed
    header = {
        "format": "pyvta compiled model", "version": FORMAT_VERSION, "name": model.name,
        "config": model.config.to_dict(), "fingerprint": model.config.isa_fingerprint,
        "memory_bytes": model.memory_bytes, "sections": sections, "constants": constants,
        "values": model.values,
        "inputs": model.inputs, "outputs": model.outputs, "steps": model.steps,
        "nodes": model.nodes, "labels": model.labels, "host_kernels": KERNEL_IR,
    }
    try:
        text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:          # what the loader would refuse: refused before it is written
        raise VtaError(f"{model.name}: {_non_finite(header, 'the header')} is not a finite "
                       "number, which a .vtab cannot hold") from None
    body = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(text)) + text + bytes(payload)
    return body + hashlib.sha256(body).digest()


def _non_finite(value, path: str) -> str | None:
    """Where in `value` (JSON-like) the first infinity or NaN is, or None."""
    if isinstance(value, float):
        return None if np.isfinite(value) else f"{path} ({value})"
    items = (value.items() if isinstance(value, dict) else
             enumerate(value) if isinstance(value, (list, tuple)) else ())
    for key, item in items:
        found = _non_finite(item, f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]")
        if found:
            return found
    return None


def save(model: CompiledModel, path: Path) -> None:
    """Write the .vtab through a temporary file and a rename (never a half-written file)."""
    write_atomically(path, to_bytes(model))


def load(path: Path, expected: Config | None = None) -> CompiledModel:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ArtifactError(f"{path}: cannot read: {error.strerror}") from None
    return from_bytes(data, expected, str(path))


def from_bytes(data: bytes, expected: Config | None = None, where: str = "artifact") -> CompiledModel:
    if len(data) < _PREFIX.size or data[:len(MAGIC)] != MAGIC:
        raise ArtifactError(f"{where}: not a .vtab file (bad magic)")
    _, version, length = _PREFIX.unpack_from(data)
    if len(data) < _PREFIX.size + length + _DIGEST_BYTES:
        raise ArtifactError(f"{where}: truncated .vtab ({len(data)} bytes)")
    body, digest = data[:-_DIGEST_BYTES], data[-_DIGEST_BYTES:]
    if hashlib.sha256(body).digest() != digest:
        raise ArtifactError(f"{where}: corrupted or truncated .vtab (checksum mismatch)")
    if version != FORMAT_VERSION:
        raise ArtifactError(f"{where}: .vtab format version {version}, this pyvta reads "
                            f"version {FORMAT_VERSION}; recompile the model")
    payload = body[_PREFIX.size + length:]
    header, config = validated_header(body[_PREFIX.size:_PREFIX.size + length], len(payload), where)
    if expected is not None and expected.isa_fingerprint != config.isa_fingerprint:
        raise ArtifactError(f"{where}: built for config {config.config_string} "
                            f"(ALU_MUL={config.ALU_MUL}, fingerprint {config.isa_fingerprint}), not "
                            f"{expected.config_string} (ALU_MUL={expected.ALU_MUL}, fingerprint "
                            f"{expected.isa_fingerprint}); recompile for this config")
    sections = [Section(entry["name"], entry["addr"], entry["nbytes"], fill=entry["fill"])
                if "fill" in entry else
                Section(entry["name"], entry["addr"], entry["nbytes"], data=inflate(entry, payload, where))
                for entry in header["sections"]]
    constants = {}
    for entry in header["constants"]:
        dtype = host_ops.element_type(entry["dtype"])
        sized = dict(entry, nbytes=dtype.itemsize * int(np.prod(entry["shape"])))
        constants[entry["name"]] = np.frombuffer(inflate(sized, payload, where),
                                                 dtype).reshape(entry["shape"])
    model = CompiledModel(header["name"], config, header["memory_bytes"], sections,
                          header["values"], header["inputs"], header["outputs"],
                          header["steps"], header["nodes"], constants, header.get("labels"))
    for step in model.steps:
        if step["op"] == "host":
            try:
                host_steps.decode(step, constants)
            except VtaError as error:
                raise ArtifactError(f"{where}: {error}") from None
    return model
