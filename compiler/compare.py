"""Layer-by-layer comparison of the integer graph with onnxruntime on the same ONNX model.

onnxruntime is not bit-exact for requantized int8 graphs (its optimisation levels differ among
themselves), so differences are measured in quantization steps, per IR value: `chained` runs the
reference on its own results from the graph input on, `isolated` feeds each node onnxruntime's
own inputs, which shows each node's rounding alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from vta.compiler import ir, reference


@dataclass(frozen=True)
class LayerDifference:
    value: str
    node: str
    chained: int
    isolated: int


def onnxruntime_values(model: onnx.ModelProto | str | Path, graph: ir.Graph,
                       inputs: dict[str, np.ndarray], optimized: bool = True) -> dict[str, np.ndarray]:
    """onnxruntime's quantized tensors, by IR value name, converted to the IR's int8 domain.
    `inputs` are the model's float inputs by ONNX name. `optimized=False` disables onnxruntime's
    graph optimisations: every operator then runs as ONNX defines it (DequantizeLinear, the float
    operator, QuantizeLinear) instead of onnxruntime's fused integer kernels."""
    import onnxruntime
    model = onnx.load(str(model)) if isinstance(model, (str, Path)) else model
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    existing = {output.name for output in exposed.graph.output}
    names = [name for name in graph.onnx_names if name not in existing]
    for name in names:
        value = graph.values[graph.onnx_names[name]]
        element = TensorProto.UINT8 if value.onnx_dtype == "uint8" else TensorProto.INT8
        exposed.graph.output.append(helper.make_tensor_value_info(name, element, None))
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if not optimized:
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = onnxruntime.InferenceSession(exposed.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    results = session.run(names, inputs)
    return {graph.onnx_names[name]: graph.values[graph.onnx_names[name]].from_onnx(result)
            for name, result in zip(names, results)}


def layer_differences(graph: ir.Graph, model, inputs: dict[str, np.ndarray],
                      optimized: bool = True) -> list[LayerDifference]:
    """Per node output the onnxruntime reproduces: max |reference − onnxruntime| in steps."""
    theirs = onnxruntime_values(model, graph, inputs, optimized)
    ours = reference.run(graph, inputs)
    differences = []
    for node in graph.nodes:
        if node.output not in theirs or any(name not in theirs for name in node.inputs):
            continue
        alone = reference.run_node(node, [theirs[name] for name in node.inputs])[0]
        differences.append(LayerDifference(
            node.output, node.name, _steps(ours[node.output], theirs[node.output]),
            _steps(alone, theirs[node.output])))
    return differences


def _steps(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int32) - b.astype(np.int32)).max())
