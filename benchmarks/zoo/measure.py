"""What the zoo runner measures, computed from the ONNX model itself (independent of the
compiler): the output quantization step, every node's multiply-accumulates, and distances in
output steps."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

#: Operators whose multiply-accumulates count (the MACs a VTA GEMM core could take; average
#: pooling counts its window, as the compiler's report does).
MAC_OPERATORS = ("Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "MatMul", "Gemm",
                 "MatMulInteger", "QLinearMatMul", "GRU", "LSTM", "RNN", "AveragePool",
                 "GlobalAveragePool")


def output_steps(model: onnx.ModelProto) -> dict[str, float]:
    """Per graph output, its quantization step: the scale of the DequantizeLinear of an
    activation that produces it, or — where float operators follow — the last one before them
    (searched backwards, breadth first, from the output). Integer outputs have step 1."""
    producers = {name: node for node in model.graph.node for name in node.output}
    constants = {tensor.name: tensor for tensor in model.graph.initializer}
    constants.update({node.output[0]: node.attribute[0].t for node in model.graph.node
                      if node.op_type == "Constant" and node.attribute[0].name == "value"})
    steps = {}
    for output in model.graph.output:
        if output.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
            steps[output.name] = 1.0
            continue
        queue, seen = [output.name], set()
        while queue:
            name = queue.pop(0)
            node = producers.get(name)
            if name in seen or node is None:
                continue
            seen.add(name)
            if node.op_type == "DequantizeLinear" and node.input[0] not in constants:
                steps[output.name] = float(numpy_helper.to_array(constants[node.input[1]]).max())
                break
            queue += [i for i in node.input if i and i not in constants]
        else:
            raise ValueError(f"output {output.name!r} has no DequantizeLinear before it")
    return steps


def value_shapes(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> dict[str, tuple]:
    """The shape of every value, from one onnxruntime run (ORT_DISABLE_ALL) with every node
    output exposed (static shape inference cannot follow every shape sub-graph)."""
    import onnxruntime
    inferred = shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type
             for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    existing = {o.name for o in exposed.graph.output}
    names = [n for node in model.graph.node for n in node.output
             if n and n not in existing and types.get(n)]
    exposed.graph.output.extend(helper.make_tensor_value_info(n, types[n], None) for n in names)
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(exposed.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    shapes = {name: value.shape for name, value in zip(outputs, session.run(outputs, feed))}
    shapes.update({t.name: tuple(t.dims) for t in model.graph.initializer})
    shapes.update({name: array.shape for name, array in feed.items()})
    return shapes


def node_macs(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> dict[str, int]:
    """Multiply-accumulates of each node of `MAC_OPERATORS` (by node name) for one inference."""
    shapes = value_shapes(model, feed)
    macs = {}
    for node in model.graph.node:
        if node.op_type in MAC_OPERATORS:
            macs[node.name] = _macs(node, shapes)
    return macs


def _macs(node: onnx.NodeProto, shapes: dict[str, tuple]) -> int:
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    out = int(np.prod(shapes[node.output[0]])) if node.output[0] in shapes else 0
    kind = node.op_type
    if kind in ("Conv", "ConvInteger"):
        return out * int(np.prod(shapes[node.input[1]][1:]))
    if kind == "QLinearConv":
        return out * int(np.prod(shapes[node.input[3]][1:]))
    if kind == "ConvTranspose":                    # each input element meets C_out/g × kernel
        weight = shapes[node.input[1]]
        return int(np.prod(shapes[node.input[0]])) * int(np.prod(weight[1:]))
    if kind in ("MatMul", "MatMulInteger"):
        return out * int(shapes[node.input[0]][-1])
    if kind == "QLinearMatMul":
        return out * int(shapes[node.input[0]][-1])
    if kind == "Gemm":
        a = shapes[node.input[0]]
        return out * int(a[0] if attributes.get("transA", 0) else a[1])
    if kind in ("GRU", "LSTM", "RNN"):
        directions, gates, hidden = shapes[node.input[2]]
        steps = shapes[node.input[0]][0 if attributes.get("layout", 0) == 0 else 1]
        batch = shapes[node.input[0]][1 if attributes.get("layout", 0) == 0 else 0]
        features = shapes[node.input[1]][2]
        return directions * steps * batch * gates * (features + hidden)
    if kind == "AveragePool":
        return out * int(np.prod(attributes["kernel_shape"]))
    if kind == "GlobalAveragePool":
        return int(np.prod(shapes[node.input[0]]))
    raise AssertionError(kind)


def steps_apart(ours: np.ndarray, theirs: np.ndarray, step: float) -> float:
    """max |ours − theirs| in steps (shapes must match)."""
    if ours.shape != theirs.shape:
        raise ValueError(f"output shape {ours.shape} differs from onnxruntime's {theirs.shape}")
    difference = np.abs(ours.astype(np.float64) - theirs.astype(np.float64)).max(initial=0.0)
    return round(float(difference / step), 3)        # DQ products are not exact multiples
