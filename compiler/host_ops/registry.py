"""The registry of host kernels and the one entry point that runs a node."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vta.isa import VtaError

#: op_type -> kernel(call, *inputs) returning an array or a tuple of arrays
KERNELS: dict[str, Callable] = {}


class HostOpError(VtaError):
    """A node the host cannot execute (bad inputs or attributes, or no kernel)."""


class NotMine(Exception):
    """Raised by a kernel for a case it leaves to `onnx.reference` (exotic types or modes)."""


@dataclass(frozen=True)
class Call:
    """One ONNX node as the host runs it: operator, attributes (Python values, tensors as numpy
    arrays), the model's default-domain opset, how many outputs the node asks for, and — for
    operators without a kernel of their own — the serialized NodeProto `onnx.reference` runs."""

    op_type: str
    attributes: dict = field(default_factory=dict)
    opset: int = 21
    outputs: int = 1
    onnx_node: bytes | None = None

    def attr(self, name: str, default=None):
        value = self.attributes.get(name)
        return default if value is None else value


def element_type(name: str) -> np.dtype:
    """The numpy dtype of an element type name: numpy's own, or ml_dtypes' (float8, bfloat16,
    int4… — only models with such tensors need ml_dtypes, which onnx brings)."""
    try:
        return np.dtype(name)
    except TypeError:
        try:
            import ml_dtypes  # noqa: F401  (registers its types with numpy)
        except ImportError:
            raise HostOpError(f"element type {name} needs the ml_dtypes package "
                              "(pip install ml_dtypes)") from None
        try:
            return np.dtype(name)
        except TypeError:
            raise HostOpError(f"element type {name!r} is unknown") from None


def numpy_type(dtype: np.dtype) -> bool:
    """True for numpy's own element types (not strings, nor ml_dtypes' float8/bfloat16/int4)."""
    return dtype.kind not in "OUSV" and dtype.type.__module__ == "numpy"


def kernel(*names: str):
    """Register the decorated function as the kernel of the operators `names`."""
    def register(function):
        for name in names:
            KERNELS[name] = function
        return function
    return register


def has_kernel(op_type: str) -> bool:
    return op_type in KERNELS


def run(call: Call, inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """Execute one node; returns its outputs (as many as `call.outputs`)."""
    function = KERNELS.get(call.op_type)
    with np.errstate(all="ignore"):      # inf/nan results are ONNX's, not errors
        try:
            if function is None:
                raise NotMine(call.op_type)
            if not all(x is None or numpy_type(np.asarray(x).dtype) for x in inputs):
                raise NotMine("element types numpy does not compute with")
            results = function(call, *inputs)
        except NotMine:
            from vta.compiler.host_ops.fallback import run_reference
            return run_reference(call, inputs)
        except HostOpError:
            raise
        except (ValueError, IndexError, TypeError, KeyError) as error:
            raise HostOpError(f"{call.op_type}: {error}") from None
    results = list(results) if isinstance(results, (tuple, list)) else [results]
    return [np.asarray(r) for r in results[:call.outputs]]
