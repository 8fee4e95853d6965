"""Layer-by-layer comparison of the integer graph with onnxruntime on the same ONNX model.

onnxruntime is not bit-exact for requantized int8 graphs (its optimisation levels differ among
themselves), so differences are measured in quantization steps, per IR value: `chained` runs the
reference on its own results from the graph input on, `isolated` feeds each node onnxruntime's
own inputs, which shows each node's rounding alone. `exact_values` evaluates the same QDQ graph
in float64 (ONNX's reference evaluator): the quantized tensors of an exact evaluation, against
which the integer graph and onnxruntime's float32 arithmetic can each be measured.
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


def onnxruntime_session(model: bytes | str, optimized: bool = True, threads: int | None = None):
    """An onnxruntime CPU session for a reference run (`model`: serialized bytes or a path),
    quiet, with exact integer products: on x86 CPUs with AVX2 but no VNNI onnxruntime's
    uint8 × int8 kernels add products in saturating 16-bit pairs (a model's outputs drift by
    tens of steps) unless ``session.x64quantprecision`` is on, which converts them to
    uint8 × uint8. Where onnxruntime then fails to make the session (it has no kernel for an
    int8 QLinearMatMul, or an internal error on some graphs: YOLO heads, ViTs), an optimized
    session falls back to the basic graph optimizations, which fuse no integer kernels.
    `optimized=False` disables graph optimizations (each operator as ONNX defines it)."""
    import onnxruntime
    levels = onnxruntime.GraphOptimizationLevel

    def made(level, precise: bool):
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = level
        if threads is not None:
            options.intra_op_num_threads = threads
        if precise:
            options.add_session_config_entry("session.x64quantprecision", "1")
        return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    level = levels.ORT_ENABLE_ALL if optimized else levels.ORT_DISABLE_ALL
    try:
        return made(level, precise=True)
    except Exception:  # noqa: BLE001 - onnxruntime's errors share no base but Exception
        return made(levels.ORT_ENABLE_BASIC if optimized else level, precise=False)


def onnxruntime_values(model: onnx.ModelProto | str | Path, graph: ir.Graph,
                       inputs: dict[str, np.ndarray], optimized: bool = True) -> dict[str, np.ndarray]:
    """onnxruntime's quantized tensors, by IR value name, converted to the IR's int8 domain.
    `inputs` are the model's float inputs by ONNX name. `optimized=False` disables onnxruntime's
    graph optimisations: every operator then runs as ONNX defines it (DequantizeLinear, the float
    operator, QuantizeLinear) instead of onnxruntime's fused integer kernels."""
    model = onnx.load(str(model)) if isinstance(model, (str, Path)) else model
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    existing = {output.name for output in exposed.graph.output}
    produced = _tensor_names(model)
    names = [name for name in graph.onnx_names if name not in existing and name in produced]
    for name in names:
        value = graph.values[graph.onnx_names[name]]
        element = TensorProto.UINT8 if value.onnx_dtype == "uint8" else TensorProto.INT8
        exposed.graph.output.append(helper.make_tensor_value_info(name, element, None))
    session = onnxruntime_session(exposed.SerializeToString(), optimized)
    results = session.run(names, inputs)
    return {graph.onnx_names[name]: graph.values[graph.onnx_names[name]].from_onnx(result)
            for name, result in zip(names, results)}


def exact_values(model: onnx.ModelProto | str | Path, graph: ir.Graph,
                 inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The quantized tensors of the ONNX model evaluated with every float tensor in float64 —
    DequantizeLinear, the float operators and QuantizeLinear (÷ scale, round half to even) as
    ONNX defines them, by `onnx.reference` —, by IR value name in the IR's int8 domain. Float64
    is exact for a convolution's products (int8 values times float32 scales) and within ~10^-16
    relative for its sums, so a tensor differs from the exact one only where a value lies within
    that of a rounding tie; float32 arithmetic (onnxruntime's unfused DequantizeLinear → Conv →
    QuantizeLinear) flips values within ~10^-7 of one."""
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.ops import op_dequantize_linear, op_quantize_linear

    class DequantizeLinear(op_dequantize_linear.DequantizeLinear_25):
        op_domain = ""                      # the same arithmetic at the opsets before 19

    class QuantizeLinear(op_quantize_linear.QuantizeLinear_25):
        op_domain = ""

        def _run(self, x, y_scale, *args, **kwargs):
            # the reference casts to int32 before it saturates: bring ±inf (x/0) into range first
            bound = 2.0 ** 20 * float(np.max(np.abs(y_scale)))
            return super()._run(np.clip(x, -bound, bound), y_scale, *args, **kwargs)

    model = onnx.load(str(model)) if isinstance(model, (str, Path)) else model
    wide = onnx.ModelProto()
    wide.CopyFrom(model)

    def widen(tensor: TensorProto) -> None:
        if tensor.data_type == TensorProto.FLOAT:
            tensor.CopyFrom(numpy_helper.from_array(
                numpy_helper.to_array(tensor).astype(np.float64), tensor.name))

    for tensor in wide.graph.initializer:
        widen(tensor)
    for node in wide.graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.TENSOR:
                widen(attribute.t)
            elif node.op_type == "Cast" and attribute.name == "to" \
                    and attribute.i == TensorProto.FLOAT:
                attribute.i = TensorProto.DOUBLE
    evaluator = ReferenceEvaluator(wide, new_ops=[DequantizeLinear, QuantizeLinear])
    produced = _tensor_names(model)
    names = [name for name in graph.onnx_names if name in produced]
    feeds = {name: array.astype(np.float64) if array.dtype == np.float32 else array
             for name, array in inputs.items()}
    results = evaluator.run(names, feeds)
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


def _tensor_names(model: onnx.ModelProto) -> set[str]:
    """The tensors the ONNX model holds (an imported graph also names tensors of its own, e.g.
    inside a decomposed GRU, which no runtime of the model can report)."""
    return ({name for node in model.graph.node for name in node.output}
            | {value.name for value in model.graph.input}
            | {tensor.name for tensor in model.graph.initializer})


def _steps(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int32) - b.astype(np.int32)).max())
