"""The importer's host side: ONNX nodes emitted as `ir.HostOp`s with exactly ONNX's semantics,
and every ONNX tensor materialized as a host value on demand — a constant, the dequantization of
an IR value, the integers of one, or a pending accumulation replayed node by node.

A host node's output shapes and types come from running its kernel once on its constant inputs
and zeros of the right shapes (a "probe"), which is also how every operator's attributes are
checked against the kernel. Shapes are static: an input that decides an output's shape (a
Reshape's shape, a Slice's starts…) must be a constant after constant folding.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from vta.compiler import host_ops, ir, onnx_model, tables
from vta.compiler.onnx_attributes import NodeError, node_label
from vta.compiler.onnx_values import Const, Host, Pending, QConst, Quantized, Real
from vta.isa import VtaError

#: Inputs (by position) that decide an operator's output shape: they must be constants.
SHAPE_INPUTS = {
    "Reshape": (1,), "Expand": (1,), "Tile": (1,), "Slice": (1, 2, 3, 4), "Pad": (1, 3),
    "Resize": (1, 2, 3), "Upsample": (1,), "ConstantOfShape": (0,), "Range": (0, 1, 2),
    "TopK": (1,), "OneHot": (1,), "Split": (1,), "Squeeze": (1,), "Unsqueeze": (1,),
    "ReduceSum": (1,), "ReduceMean": (1,), "ReduceMax": (1,), "ReduceMin": (1,),
    "ReduceProd": (1,), "ReduceL1": (1,), "ReduceL2": (1,), "ReduceLogSum": (1,),
    "ReduceLogSumExp": (1,), "ReduceSumSquare": (1,), "CenterCropPad": (1,), "Col2Im": (1, 2),
    "MaxUnpool": (2,), "Compress": (1,), "DFT": (1,), "STFT": (3,),
}
#: Operators whose output shape depends on their input data.
DATA_DEPENDENT = {"NonZero", "Unique", "NonMaxSuppression", "Loop", "If", "Scan",
                  "StringSplit", "SplitToSequence", "Compress"}



def python_attributes(node: onnx.NodeProto, label: str) -> dict:
    """The attributes as the host kernels take them (sub-graphs left to onnx.reference);
    `label` names the node in errors."""
    values = {}
    for attribute in node.attribute:
        if attribute.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            continue
        value = helper.get_attribute_value(attribute)
        if isinstance(value, onnx.TensorProto):
            value = onnx_model.tensor_array(value, f"node {label}: attribute "
                                                   f"{attribute.name}: tensor")
        elif isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list):
            value = [v.decode() if isinstance(v, bytes) else v for v in value]
        values[attribute.name] = value
    return values


class HostEmitter:
    """Host nodes and host values for one `Importer`."""

    def __init__(self, importer):
        self.im = importer
        self.graph: ir.Graph = importer.graph
        #: ONNX tensor -> its host value
        self.tensors: dict[str, str] = {}
        #: (host value, quant) -> the quantized value reinterpreting it
        self.views: dict[tuple, str] = {}

    # -- graph inputs and outputs -----------------------------------------------------------
    def graph_input(self, value_info: onnx.ValueInfoProto) -> ir.Value:
        tensor_type = value_info.type.tensor_type
        try:
            dtype = helper.tensor_dtype_to_np_dtype(tensor_type.elem_type).name
        except (KeyError, ValueError):
            dtype = "object"
        if dtype in ("object", "complex64", "complex128"):
            raise VtaError(f"{self.im.source}: graph input {value_info.name!r} has element type "
                           f"{onnx.TensorProto.DataType.Name(tensor_type.elem_type)}, which "
                           "the host does not compute with")
        shape = tuple(d.dim_value for d in tensor_type.shape.dim)
        value = self.graph.add_value(ir.Value(value_info.name, shape, None, dtype))
        self.graph.inputs.append(value.name)
        self.tensors[value.name] = value.name
        return value

    def graph_output(self, name: str) -> str:
        """The host value of graph output `name`, named `name`."""
        value = self.value(name, f"graph output {name!r}")
        if value != name:
            output = self.im.new_value(name, self.graph.values[value].shape, None,
                                       self.graph.values[value].onnx_dtype, exact=True)
            self.graph.add_node(ir.HostOp(self.im.node_name(f"{name}/identity"), (value,),
                                          output.name, "Identity", {}, self.im.opset), output)
            value = output.name
        return value

    # -- host values of ONNX tensors --------------------------------------------------------
    def value(self, name: str, label: str, reason: str | None = None) -> str:
        """The host value holding ONNX tensor `name` exactly (materialized on first use; a
        pending accumulation's nodes then run on the host, for `reason`)."""
        cached = self.tensors.get(name)
        if cached in self.graph.values:
            return cached
        meaning = self.im.env.get(name)
        exact = name in self.im.reserved
        if isinstance(meaning, Host):
            result = meaning.value
        elif isinstance(meaning, (Const, QConst)):
            array = meaning.array if isinstance(meaning, Const) else meaning.real
            result = self.graph.add_constant(
                self.im.new_value(name, array.shape, None, array.dtype.name, exact).name,
                array).name
        elif isinstance(meaning, Real):
            result = self._crossing(ir.Dequantize, meaning.value, name, "float32", exact,
                                    quant=self.graph.values[meaning.value].quant)
        elif isinstance(meaning, Quantized):
            source = self.graph.values[meaning.value]
            result = self._crossing(ir.Reinterpret, source.name, name, source.onnx_dtype, exact,
                                    onnx_dtype=source.onnx_dtype, to_host=True)
        elif isinstance(meaning, Pending):
            self._replay(meaning, reason, label)
            result = self.tensors[name]
        else:
            raise NodeError(label, f"input {name!r} is not defined before it is used")
        self.tensors[name] = result
        return result

    def _crossing(self, node_type, source: str, name: str, dtype: str, exact: bool, **fields):
        value = self.graph.values[source]
        output = self.im.new_value(name, value.shape, None, dtype, exact)
        kind = "dequantized" if node_type is ir.Dequantize else "integers"
        self.graph.add_node(node_type(name=self.im.node_name(f"{source}/{kind}"),
                                      inputs=(source,), output=output.name, **fields), output)
        return output.name

    def _replay(self, pending: Pending, reason: str | None, label: str) -> None:
        """Run the ONNX nodes of a pending accumulation on the host, as they are: for `reason`,
        or because `label` uses its result as a float tensor (a table's own operators: because
        VTA has none)."""
        for index, node in enumerate(pending.nodes):
            if all(name in self.tensors for name in node.output if name):
                continue
            why = reason or (f"{node.op_type} has no VTA layer"
                             if pending.kind == "table" and node.op_type in tables.OPERATORS
                             else f"its result is used as a float tensor (by {label})")
            self.emit(node, node_label(node, index), why)

    def quantize(self, name: str, quant: ir.Quant, onnx_dtype: str, label: str,
                 output_name: str, reason: str | None = None) -> ir.Value:
        """An `ir.Quantize` of ONNX float tensor `name`: the output of a QuantizeLinear."""
        source = self.graph.values[self.value(name, label, reason)]
        if source.onnx_dtype != "float32":
            raise NodeError(label, f"input {name!r} is {source.onnx_dtype}, not float32")
        output = self.im.new_value(output_name, source.shape, quant, onnx_dtype)
        return self.im.emit(ir.Quantize, label, [source.name], output, quant=quant)

    def to_quantized(self, value: ir.Value, quant: ir.Quant) -> ir.Value:
        """A host int8/uint8 tensor as a quantized value with `quant`."""
        key = (value.name, quant)
        if self.views.get(key) in self.graph.values:
            return self.graph.values[self.views[key]]
        output = self.im.new_value(f"{value.name}_quantized", value.shape, quant,
                                   value.onnx_dtype)
        self.graph.add_node(ir.Reinterpret(self.im.node_name(f"{value.name}/quantized"),
                                           (value.name,), output.name,
                                           onnx_dtype=value.onnx_dtype, to_host=False), output)
        self.views[key] = output.name
        return output

    # -- nodes ------------------------------------------------------------------------------
    def fold(self, node: onnx.NodeProto, label: str) -> list:
        """Evaluate a node whose inputs are all constants."""
        inputs = []
        for name in node.input:
            meaning = self.im.env.get(name) if name else None
            inputs.append(None if meaning is None else
                          meaning.array if isinstance(meaning, Const) else meaning.real)
        return [Const(result) for result in self.fold_arrays(node, label, inputs)]

    def fold_arrays(self, node: onnx.NodeProto, label: str, inputs: list) -> list[np.ndarray]:
        """The node's outputs on these constant inputs."""
        try:
            return host_ops.run(self._call(node, label), inputs)
        except VtaError as error:
            raise NodeError(label, f"cannot evaluate on constants ({error})") from None

    def emit(self, node: onnx.NodeProto, label: str, reason: str) -> list:
        """The node as an `ir.HostOp`; returns the meanings of its outputs."""
        call = self._call(node, label)
        if node.op_type in DATA_DEPENDENT:
            raise NodeError(label, f"the output shape of {node.op_type} depends on the input "
                                   "data; the compiler needs static shapes")
        inputs = [self.value(name, label) if name else "" for name in node.input]
        for index in SHAPE_INPUTS.get(node.op_type, ()):
            if index < len(inputs) and inputs[index] and inputs[index] not in self.graph.constants:
                raise NodeError(label, f"input {node.input[index]!r} decides the output shape "
                                       "and is computed at run time (a dynamic shape)")
        results = self._probe(call, inputs, label)
        outputs = []
        for index, name in enumerate(node.output):
            array = results[index] if index < len(results) else np.zeros(0, np.float32)
            base = name or f"{label.rsplit(' (', 1)[0]}/unused{index}"
            outputs.append(self.im.new_value(base, array.shape, None, array.dtype.name,
                                             exact=name in self.im.reserved))
        host = ir.HostOp(self.im.node_name(label.rsplit(" (", 1)[0]), tuple(inputs),
                         outputs[0].name, node.op_type, call.attributes, call.opset,
                         tuple(v.name for v in outputs[1:]), call.onnx_node)
        self.graph.add_node(host, *outputs)
        self.graph.host_reasons[host.name] = reason
        for name, value in zip(node.output, outputs):
            if name:
                self.tensors[name] = value.name
        return [Host(value.name) for value in outputs]

    def _call(self, node: onnx.NodeProto, label: str) -> host_ops.Call:
        """The node as the host kernels take it (the importer checked it against ONNX's
        schema: `onnx_attributes.check_node`)."""
        attributes = python_attributes(node, label)
        # The NodeProto goes along for onnx.reference, which runs what no kernel of ours does
        # (an operator without one, or element types numpy lacks).
        return host_ops.Call(node.op_type, attributes, self.im.opset, len(node.output),
                             node.SerializeToString())

    def _probe(self, call: host_ops.Call, inputs: list[str], label: str) -> list[np.ndarray]:
        """Run the kernel on the constant inputs and zeros elsewhere: its output shapes and
        types, and the check of its attributes."""
        arrays = []
        for name in inputs:
            if not name:
                arrays.append(None)
            elif name in self.graph.constants:
                arrays.append(self.graph.constants[name])
            else:
                value = self.graph.values[name]
                arrays.append(np.zeros(value.shape, np.int8 if value.quantized
                                       else host_ops.element_type(value.onnx_dtype)))
        try:
            return host_ops.run(call, arrays)
        except VtaError as error:
            raise NodeError(label, str(error)) from None

