"""Operators without a kernel of their own run on `onnx.reference`, when onnx is installed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vta.compiler.host_ops.registry import Call, HostOpError


def run_reference(call: Call, inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """Run one node (its serialized NodeProto, `call.onnx_node`) on onnx.reference."""
    try:
        import onnx
        from onnx import helper, numpy_helper
        from onnx.reference import ReferenceEvaluator
    except ImportError:
        raise HostOpError(f"operator {call.op_type} has no host kernel of its own and needs "
                          "onnx.reference: install the onnx package (pip install onnx)") from None
    if call.onnx_node is None:
        raise HostOpError(f"operator {call.op_type} has no host kernel of its own")
    node = onnx.NodeProto()
    node.ParseFromString(call.onnx_node)
    names = [f"input{i}" if value is not None else "" for i, value in enumerate(inputs)]
    outputs = [f"output{i}" if name else "" for i, name in enumerate(node.output)]
    node.ClearField("input")
    node.input.extend(names)
    node.ClearField("output")
    node.output.extend(outputs)
    graph = helper.make_graph(
        [node], "host", [],
        [helper.make_tensor_value_info(name, onnx.TensorProto.UNDEFINED, None)
         for name in outputs if name],
        [numpy_helper.from_array(np.asarray(value), name)
         for name, value in zip(names, inputs) if name])
    opsets = [helper.make_opsetid("", call.opset)]
    if node.domain not in ("", "ai.onnx"):
        opsets.append(helper.make_opsetid(node.domain, 1))
    model = helper.make_model(graph, opset_imports=opsets)
    try:
        results = ReferenceEvaluator(model).run(None, {})
    except Exception as error:  # noqa: BLE001 - any failure of the reference is this node's
        reason = " ".join(str(error).split())[:200]
        raise HostOpError(f"{call.op_type} on onnx.reference: {reason}") from None
    return [np.asarray(r) for r in results][:call.outputs]
