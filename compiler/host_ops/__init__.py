"""Host kernels of ONNX operators: exactly ONNX's float and integer semantics, vectorised with
numpy (and llvmlite where numpy lacks a function), for the nodes VTA does not run.

`run(call, inputs)` executes one node: `call` says which operator, its attributes and the
model's opset; `inputs` are numpy arrays (None for an omitted optional input). Operators
without a kernel of their own fall back to `onnx.reference` when onnx is installed
(`fallback`). Nothing here imports onnx, onnxruntime or amaranth: a `.vtab` runs without them.
"""

from vta.compiler.host_ops import elementwise, nn, quantized, reduction, resize, shape  # noqa: F401
from vta.compiler.host_ops.registry import (KERNELS, Call, HostOpError, element_type, has_kernel,
                                            run)

__all__ = ["KERNELS", "Call", "HostOpError", "element_type", "has_kernel", "run"]
