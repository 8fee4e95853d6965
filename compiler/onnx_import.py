"""ONNX int8 models → the integer graph IR.

Takes QDQ models (QuantizeLinear/DequantizeLinear around float operators, as onnxruntime's
`quantize_static` writes them, opset ≥ 13) and the standard quantized operators QLinearConv,
QLinearMatMul, ConvInteger and MatMulInteger. The walk gives each ONNX tensor a meaning
(`onnx_values`): a constant, an IR value (integers), the dequantization of an IR value, or a
pending integer accumulation waiting for the QuantizeLinear (or QLinear* output scale) that fixes
its requantization. ReLU/Clip between an accumulation and its QuantizeLinear become the clamp of
the requantization (after `quantize_static` removed them, the clamp is the QuantizeLinear's range
itself: saturation at the output zero point is the ReLU).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from vta.compiler import ir
from vta.compiler.onnx_attributes import NodeError, node_label
from vta.compiler.onnx_layout_ops import OPERATORS
from vta.compiler.onnx_values import Const, FloatInput, Pending, QConst, Quantized, Real
from vta.compiler.requantize import (INT8_MAX, INT8_MIN, plan_add, plan_requantization,
                                     wrap32)
from vta.isa import VtaError

#: Operators whose presence marks a quantized model.
QUANTIZED_OPERATORS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul",
                       "ConvInteger", "MatMulInteger"}
MIN_OPSET = 13


def import_onnx(model: onnx.ModelProto | str | Path, *, alu_mul: bool = True) -> ir.Graph:
    """Import a quantized ONNX model. `alu_mul`: whether the target config has the ALU multiply
    (without it, every requantization scale must be a power of two)."""
    source = str(model) if isinstance(model, (str, Path)) else (model.graph.name or "model")
    if isinstance(model, (str, Path)):
        try:
            model = onnx.load(str(model))
        except Exception as error:  # noqa: BLE001 - protobuf and OS errors alike
            reason = " ".join(str(error).split())
            raise VtaError(f"{source}: not a readable ONNX model ({reason})") from None
    return Importer(model, source, alu_mul).run()


class Importer:
    """One walk over a model's nodes in order, filling an `ir.Graph`."""

    def __init__(self, model: onnx.ModelProto, source: str, alu_mul: bool):
        self.model, self.source, self.alu_mul = model, source, alu_mul
        self.graph = ir.Graph(name=model.graph.name or "graph")
        self.env: dict[str, object] = {}

    # -- driver -----------------------------------------------------------------------------
    def run(self) -> ir.Graph:
        self._check_model()
        for tensor in self.model.graph.initializer:
            self.env[tensor.name] = Const(numpy_helper.to_array(tensor))
        initializers = set(self.env)
        for value_info in self.model.graph.input:
            if value_info.name not in initializers:
                self.env[value_info.name] = FloatInput(value_info.name, self._input_shape(value_info))
        for index, node in enumerate(self.model.graph.node):
            label = node_label(node, index)
            if node.domain not in ("", "ai.onnx"):
                raise NodeError(f"node {label}: operator {node.domain}.{node.op_type} is not supported")
            handler = OPERATORS.get(node.op_type)
            if node.input and all(isinstance(self.env.get(n), Const) for n in node.input if n) \
                    and node.op_type not in ("DequantizeLinear", "QuantizeLinear"):
                handler = OPERATORS["constant folding"]
            if handler is None:
                raise NodeError(f"node {label}: operator {node.op_type} is not supported")
            try:
                results = handler(self, node, label)
            except VtaError as error:
                if str(error).startswith("node "):
                    raise
                raise NodeError(f"node {label}: {error}") from None
            except (IndexError, KeyError, ValueError) as error:     # a malformed node
                raise NodeError(f"node {label}: malformed ({type(error).__name__}: {error})") from None
            for name, result in zip(node.output, results):
                if name:
                    self.env[name] = result
        self._collect_outputs()
        return self.graph

    def _check_model(self) -> None:
        graph = self.model.graph
        opset = next((o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")), 0)
        if opset < MIN_OPSET:
            raise VtaError(f"{self.source}: opset {opset} is older than {MIN_OPSET}; convert it with "
                           "onnx.version_converter first")
        if not any(node.op_type in QUANTIZED_OPERATORS for node in graph.node):
            raise VtaError(f"{self.source}: a float model (no quantized operators): quantize it first "
                           "with `vta quantize MODEL.onnx --calibrate DIR_OR_NPY -o MODEL_int8.onnx`")

    def _input_shape(self, value_info) -> tuple[int, ...]:
        dims = value_info.type.tensor_type.shape.dim
        shape = []
        for axis, dim in enumerate(dims):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                shape.append(dim.dim_value)
            elif axis == 0:
                shape.append(1)          # a symbolic batch: one sample at a time
            else:
                raise VtaError(f"{self.source}: graph input {value_info.name!r} has a symbolic "
                               f"dimension {axis}")
        return tuple(shape)

    def _collect_outputs(self) -> None:
        for output in self.model.graph.output:
            meaning = self.env.get(output.name)
            if isinstance(meaning, (Real, Quantized)):
                self.graph.outputs.append(meaning.value)
                self.graph.float_outputs[meaning.value] = output.name
            else:
                raise VtaError(f"{self.source}: graph output {output.name!r} is not a quantized "
                               "tensor (it must come from a DequantizeLinear or a quantized operator)")

    # -- looking up inputs ------------------------------------------------------------------
    def real(self, name: str, label: str) -> ir.Value:
        """The IR value whose dequantization the float tensor `name` is."""
        meaning = self.env.get(name)
        if isinstance(meaning, Real):
            return self.graph.values[meaning.value]
        if isinstance(meaning, FloatInput):
            raise NodeError(f"node {label}: graph input {name!r} is used unquantized")
        if isinstance(meaning, Pending):
            raise NodeError(f"node {label}: input {name!r} is an unquantized result of "
                            f"{meaning.label} (no QuantizeLinear between them)")
        if isinstance(meaning, (Const, QConst)):
            raise NodeError(f"node {label}: constant input {name!r} is not supported here")
        raise NodeError(f"node {label}: input {name!r} is not a dequantized int8 tensor")

    def tensor(self, name: str, label: str) -> tuple[ir.Value, type]:
        """For operators that work on either: the IR value and whether the ONNX tensor is its
        dequantization (`Real`) or the integers themselves (`Quantized`, QOperator models)."""
        meaning = self.env.get(name)
        if isinstance(meaning, Quantized):
            return self.graph.values[meaning.value], Quantized
        return self.real(name, label), Real

    def quantized(self, name: str, label: str) -> ir.Value:
        """The IR value an integer ONNX tensor is."""
        meaning = self.env.get(name)
        if isinstance(meaning, Quantized):
            return self.graph.values[meaning.value]
        raise NodeError(f"node {label}: input {name!r} is not a quantized int8/uint8 tensor")

    def const(self, name: str, label: str, what: str) -> np.ndarray:
        """A constant input (an initializer, a Constant, or a dequantized initializer)."""
        meaning = self.env.get(name)
        if isinstance(meaning, Const):
            return meaning.array
        if isinstance(meaning, QConst):
            return meaning.real
        raise NodeError(f"node {label}: {what} {name!r} must be a constant")

    def qconst(self, name: str, label: str, what: str) -> QConst:
        """A quantized constant (a DequantizeLinear of an integer initializer)."""
        meaning = self.env.get(name)
        if isinstance(meaning, QConst):
            return meaning
        if isinstance(meaning, Const) and meaning.array.dtype.kind == "f":
            raise NodeError(f"node {label}: {what} {name!r} is float: the model is not quantized "
                            "(use `vta quantize`)")
        raise NodeError(f"node {label}: {what} {name!r} must be a dequantized integer constant")

    def quant_params(self, scale_name: str, zero_point_name: str | None, label: str
                     ) -> tuple[ir.Quant, str]:
        """Per-tensor (scale, zero point) of an activation, in the IR's int8 domain, and the ONNX
        element type ("int8" or "uint8")."""
        scale = np.asarray(self.const(scale_name, label, "scale"), dtype=np.float64)
        if zero_point_name:
            zero_point = np.asarray(self.const(zero_point_name, label, "zero point"))
        else:
            zero_point = np.zeros((), dtype=np.uint8)
        if scale.size != 1 or zero_point.size != 1:
            raise NodeError(f"node {label}: activations need one scale and zero point per tensor")
        dtype = {np.dtype(np.int8): "int8", np.dtype(np.uint8): "uint8"}.get(zero_point.dtype)
        if dtype is None:
            raise NodeError(f"node {label}: {zero_point.dtype} quantization is not supported "
                            "(int8 and uint8 only)")
        if not scale.item() > 0:
            raise NodeError(f"node {label}: scale {scale.item()} is not positive")
        shift = 128 if dtype == "uint8" else 0
        return ir.Quant(float(np.float32(scale.item())), int(zero_point.item()) - shift), dtype

    # -- producing values -------------------------------------------------------------------
    def new_value(self, name: str, shape, quant: ir.Quant, onnx_dtype: str = "int8") -> ir.Value:
        base, suffix = name, 1
        while name in self.graph.values:
            name, suffix = f"{base}_{suffix}", suffix + 1
        return ir.Value(name, tuple(int(d) for d in shape), quant, onnx_dtype)

    def emit(self, node_type, label: str, inputs, output: ir.Value, **fields) -> ir.Value:
        """Add a node; `label` is "NAME (OpType)" as errors show it, the IR keeps NAME."""
        name = label.rsplit(" (", 1)[0]
        return self.graph.add_node(node_type(name=name, inputs=tuple(inputs),
                                             output=output.name, **fields), output)

    def finalize(self, pending: Pending, quant: ir.Quant, output_name: str, onnx_dtype: str
                 ) -> ir.Value:
        """Emit a pending accumulation with the requantization to `quant`."""
        lo, hi = INT8_MIN, INT8_MAX
        if pending.lo > -np.inf:
            lo = max(lo, int(np.rint(pending.lo / quant.scale)) + quant.zero_point)
        if pending.hi < np.inf:
            hi = min(hi, int(np.rint(pending.hi / quant.scale)) + quant.zero_point)
        lo, hi = min(lo, INT8_MAX), max(hi, INT8_MIN)
        output = self.new_value(output_name, pending.shape, quant, onnx_dtype)
        if pending.kind == "concat":
            return self._finalize_concat(pending, output)
        where = f"node {pending.label}"
        if pending.kind == "add":
            a, b = (self.graph.values[name].quant for name in pending.inputs)
            steps_a, steps_b, requant = plan_add(
                (a.scale, b.scale), (a.zero_point, b.zero_point), scale=quant.scale,
                zero_point=quant.zero_point, lo=lo, hi=hi, alu_mul=self.alu_mul, where=where)
            return self.emit(ir.Add, pending.label, pending.inputs, output,
                             input_steps=(steps_a, steps_b), requant=requant)
        pending = pending.settle_constant_channels(quant.scale, quant.zero_point, lo, hi)
        multiplier = pending.acc_scale / quant.scale
        requant = plan_requantization(multiplier, zero_point=quant.zero_point, lo=lo, hi=hi,
                                      acc_bound=pending.acc_bound(), alu_mul=self.alu_mul,
                                      where=where,
                                      absorb=pending.kind in ("conv", "dense", "requant"))
        fields = pending.node_fields()
        if np.any(requant.offset):
            # The plan's leading constant costs nothing inside the bias or the zero point.
            offset = np.broadcast_to(requant.offset, pending.acc_scale.shape).ravel()
            if pending.kind == "requant":
                fields["input_zero_point"] -= int(offset[0])
            else:
                fields["bias"] = wrap32(pending.bias + offset)
            requant = dataclasses.replace(requant, offset=0)
        return self.emit(pending.node_type, pending.label, pending.inputs, output,
                         requant=requant, **fields)

    def _finalize_concat(self, pending: Pending, output: ir.Value) -> ir.Value:
        """Concatenate after bringing every input to the output's quantization."""
        inputs = []
        for name in pending.inputs:
            value = self.graph.values[name]
            if value.quant != output.quant:
                value = self.requantize(value, output.quant, pending.label, INT8_MIN, INT8_MAX,
                                        f"{name}_to_{output.name}")
            inputs.append(value.name)
        return self.emit(ir.Concat, pending.label, inputs, output, axis=pending.fields["axis"])

    def requantize(self, value: ir.Value, quant: ir.Quant, label: str, lo: int, hi: int,
                   output_name: str, onnx_dtype: str = "int8") -> ir.Value:
        """Emit an int8 → int8 Requantization of `value` to `quant` with clamp [lo, hi]."""
        output = self.new_value(output_name, value.shape, quant, onnx_dtype)
        same_scale = np.isclose(value.quant.scale, quant.scale, rtol=1e-7, atol=0)
        if same_scale and value.quant.zero_point == quant.zero_point:
            input_zero_point, zero_point = 0, 0      # only the clamp changes
        else:
            input_zero_point, zero_point = value.quant.zero_point, quant.zero_point
        multiplier = 1.0 if same_scale else value.quant.scale / quant.scale
        requant = plan_requantization(multiplier, zero_point=zero_point, lo=lo, hi=hi,
                                      acc_bound=255, alu_mul=self.alu_mul, where=f"node {label}",
                                      absorb=True)
        return self.emit(ir.Requantization, label, [value.name], output,
                         input_zero_point=input_zero_point - int(requant.offset),
                         requant=dataclasses.replace(requant, offset=0))
