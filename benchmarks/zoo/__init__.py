"""The model zoo: small seeded models of the architectures quantized ONNX users bring (see
docs/zoo.md). `build(name)` returns the cached float and int8 ONNX files and onnxruntime's
reference outputs; `MODELS` lists the entries."""

from __future__ import annotations

from zoo.catalog import MODELS, get, names
from zoo.pipeline import BuiltModel, Reference, ZooModel
from zoo.pipeline import build as _build


def build(name: str, seed: int = 0, rebuild: bool = False) -> BuiltModel:
    """The zoo model `name` (float and int8 ONNX paths, reference outputs), built on first use."""
    return _build(get(name), seed, rebuild)


__all__ = ["MODELS", "BuiltModel", "Reference", "ZooModel", "build", "get", "names"]
