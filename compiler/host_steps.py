"""The JSON form of the graph nodes a `.vtab` runs on the host.

A host step carries its node whole — `ir.HostOp` (an ONNX node), `ir.Quantize`,
`ir.Dequantize`, `ir.Reinterpret`, or an integer node VTA does not run — encoded field by
field, so that the executor rebuilds the very node and runs it with the reference executor's
kernel (`reference.run_node`): a host node computes exactly what the reference computes.
Arrays of more than `INLINE_ELEMENTS` elements go to the model's constant tensors (a section of
their own in the file) under the name "step:NODE:FIELD/…", smaller ones stay in the JSON.
"""

from __future__ import annotations

import base64
import dataclasses

import numpy as np

from vta.compiler import ir
from vta.compiler.alu_program import AluStep, Register
from vta.compiler.requantize import Requantize
from vta.isa import AluOp, VtaError

#: Arrays up to this many elements are written into the JSON itself.
INLINE_ELEMENTS = 16
#: The classes a host step may hold, by name.
TYPES = {cls.__name__: cls for cls in (
    ir.HostOp, ir.Quantize, ir.Dequantize, ir.Reinterpret, ir.Conv2d, ir.Dense, ir.Add,
    ir.MaxPool, ir.AvgPool, ir.Requantization, ir.Reshape, ir.Concat, ir.ConvTranspose2d,
    ir.Transpose, ir.MatMulOperand, ir.MatMul, ir.Table,
    ir.Quant, Requantize, AluStep, Register)}


def encode(node: ir.Node, constants: dict[str, np.ndarray]) -> dict:
    """The host step of `node`; its large arrays are added to `constants`."""
    return {"op": "host", "node": node.name, "inputs": list(node.inputs),
            "outputs": list(node.outputs), "ir": _encode(node, constants, f"step:{node.name}:")}


def _encode(value, constants: dict, path: str):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if type(value).__name__ not in TYPES:
            raise VtaError(f"{path}: {type(value).__name__} cannot be a host step")
        return {"type": type(value).__name__,
                "fields": {f.name: _encode(getattr(value, f.name), constants, f"{path}/{f.name}".replace(":/", ":"))
                           for f in dataclasses.fields(value)}}
    if isinstance(value, float) and not np.isfinite(value):
        value = np.float64(value)        # JSON has no infinities: a constant holds it
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        finite = array.dtype.kind in "iub" or (array.dtype.kind == "f"
                                                and bool(np.isfinite(array).all()))
        if array.size <= INLINE_ELEMENTS and finite:
            return {"array": array.ravel().tolist(), "dtype": array.dtype.name,
                    "shape": list(array.shape)}
        constants[path] = array
        return {"constant": path}
    if isinstance(value, AluOp):
        return {"alu": value.name}
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, constants, f"{path}/{i}") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, constants, f"{path}/{i}") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {"dict": {str(k): _encode(v, constants, f"{path}/{k}") for k, v in value.items()}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise VtaError(f"{path}: a {type(value).__name__} cannot be written into a .vtab")


def decode(step: dict, constants: dict[str, np.ndarray]) -> ir.Node:
    """The node of a host step (a one-line VtaError for anything that is not one)."""
    where = f"host step {str(step.get('node'))[:80]!r}"
    try:
        node = _decode(step["ir"], constants)
        if not isinstance(node, ir.Node) or list(node.inputs) != list(step["inputs"]) \
                or list(node.outputs) != list(step["outputs"]):
            raise VtaError("it holds no graph node with the step's inputs and outputs")
    except VtaError as error:
        raise VtaError(f"{where}: {error}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise VtaError(f"{where}: unreadable ({type(error).__name__}: "
                       f"{' '.join(str(error).split())[:120]})") from None
    return node


def _decode(value, constants: dict):
    if isinstance(value, list):
        return [_decode(v, constants) for v in value]
    if not isinstance(value, dict):
        return value
    if "type" in value:
        cls = TYPES.get(value["type"])
        if cls is None:
            raise VtaError(f"host step type {value['type']!r} is unknown")
        return cls(**{name: _decode(v, constants) for name, v in value["fields"].items()})
    if "array" in value:
        return np.asarray(value["array"], dtype=value["dtype"]).reshape(value["shape"])
    if "constant" in value:
        if value["constant"] not in constants:
            raise VtaError(f"host constant {value['constant']!r} is missing")
        return constants[value["constant"]]
    if "alu" in value:
        return AluOp[value["alu"]]
    if "bytes" in value:
        return base64.b64decode(value["bytes"])
    if "tuple" in value:
        return tuple(_decode(v, constants) for v in value["tuple"])
    if "dict" in value:
        return {k: _decode(v, constants) for k, v in value["dict"].items()}
    raise VtaError(f"unreadable host step field {sorted(value)}")
