"""ONNX models → the graph IR: integer nodes where the quantized model allows them, host nodes
with ONNX's semantics everywhere else.

Takes any model of ONNX's standard domain (`onnx_model.prepare`): QDQ models
(QuantizeLinear/DequantizeLinear around float operators, as onnxruntime's `quantize_static`
writes them), the standard quantized operators (QLinearConv, QLinearMatMul, ConvInteger,
MatMulInteger), integer graph inputs and outputs, and float operators of any kind.

The walk gives each ONNX tensor a meaning (`onnx_values`): a constant, an IR value (integers),
the dequantization of an IR value, a pending integer accumulation waiting for the QuantizeLinear
(or QLinear* output scale) that fixes its requantization, or a host tensor. Each node's handler
(`onnx_operators` and the modules it names) tries the integer path, the one VTA can run; where the
node is no such pattern (`NodeError`), it runs on the host as it is (`onnx_host`), its inputs
dequantized (or its pending accumulation replayed) and its float result quantized again by the
QuantizeLinear that follows. ReLU/Clip between an accumulation and its QuantizeLinear become the
clamp of the requantization (after `quantize_static` removed them, the clamp is the
QuantizeLinear's range itself: saturation at the output zero point is the ReLU).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from concurrent.futures import Executor
from pathlib import Path

import numpy as np
import onnx

from vta.compiler import ir, narrow, onnx_host, onnx_model, tables
# The handler modules register their operators in `OPERATORS` as they are imported.
from vta.compiler import onnx_accumulations, onnx_elementwise  # noqa: F401
from vta.compiler import onnx_layout_ops, onnx_recurrent  # noqa: F401
from vta.compiler.onnx_attributes import NodeError, check_node, node_label
from vta.compiler.onnx_operators import OPERATORS
from vta.compiler.onnx_values import Const, Host, Pending, QConst, Quantized, Real
from vta.compiler.activations import plan_activation
from vta.compiler.alu_program import AluStep, wrap32
from vta.compiler.requantize import plan_requantization
from vta.compiler.requantize_add import plan_add
from vta.isa import AluOp, VtaError

#: Operators that compute nothing of their own; evaluated at import when their inputs are
#: constants (everything else on constants is folded too, except the random generators).
NOT_FOLDED = {"QuantizeLinear", "DequantizeLinear", "RandomNormal", "RandomUniform",
              "RandomNormalLike", "RandomUniformLike", "Bernoulli", "Multinomial"}


def import_onnx(model: onnx.ModelProto | str | Path, *, alu_mul: bool = True,
                input_shapes: Mapping[str, tuple[int, ...]] | None = None,
                widths: tuple[int, int] = (8, 8), executor: Executor | None = None) -> ir.Graph:
    """Import an ONNX model. `alu_mul`: whether the target config has the ALU multiply
    (without it, requantizations by scales that are not powers of two run on the host);
    `input_shapes`: fixes the dimensions the model leaves dynamic, by graph input name;
    `widths`: the (activation, weight) bits of the target config — below 8 the int8 model is
    re-quantized for them (`narrow`, docs/compiler.md "Narrow operands"); `executor` (the
    schedule search's process pool, `schedule.CycleCost.executor`): the integer layers'
    requantization plans are computed there while the walk goes on — should one fail, the walk
    would have sent its layer to the host, so the model is imported again without it."""
    model, source = onnx_model.load(model)
    graph = None
    if executor is not None:
        graph = _walk(model, source, input_shapes, alu_mul, widths, executor)
    if graph is None:
        graph = _walk(model, source, input_shapes, alu_mul, widths, None)
    graph.labels = onnx_model.labels(model)
    return graph


def _walk(model: onnx.ModelProto, source: str, input_shapes, alu_mul: bool,
          widths: tuple[int, int], executor: Executor | None) -> ir.Graph | None:
    """`Importer.run` on the prepared model (None when a plan in `executor` failed)."""
    notices: list[str] = []
    prepared = onnx_model.prepare(model, source, input_shapes, notices)
    graph = Importer(prepared, source, alu_mul, widths, executor).run()
    if graph is not None:
        graph.notices[:0] = notices
    return graph


def exact_multiplier(acc_scale, scale) -> np.ndarray:
    """The requantization multiplier acc_scale / scale in float64: the exact quotient to 10^-16
    relative (`acc_scale`, a product of float32 scales, is exact in float64), as the QDQ graph
    defines it — DequantizeLinear, the float operator, QuantizeLinear. (onnxruntime's fused
    QLinearConv rounds it to float32, 6·10^-8 relative, which moves results that lie that
    close to a rounding tie; its unfused float32 convolutions do not use it.)"""
    return np.asarray(acc_scale, dtype=np.float64) / np.float64(scale)


class Importer:
    """One walk over a model's nodes in order, filling an `ir.Graph`."""

    def __init__(self, model: onnx.ModelProto, source: str, alu_mul: bool,
                 widths: tuple[int, int] = (8, 8), executor: Executor | None = None):
        self.model, self.source, self.alu_mul = model, source, alu_mul
        #: where the integer layers' requantization plans are computed (None: at once, here)
        self.executor = executor
        #: (node emitted without its plan, the accumulation, the plan's future), in order
        self.deferred: list[tuple] = []
        self.activation_bits, self.weight_bits = widths
        #: the values every quantized activation may take
        self.lo, self.hi = ir.Quant(1.0, 0, self.activation_bits).range
        self.opset = onnx_model.default_opset(model)
        self.graph = ir.Graph(name=model.graph.name or "graph")
        self.env: dict[str, object] = {}
        self.host = onnx_host.HostEmitter(self)
        #: names kept for the graph's inputs and outputs (their values carry the ONNX names)
        self.reserved = {value.name for value in model.graph.output}
        #: node name -> why it does not run as an integer (VTA) node
        self.reasons: dict[str, str] = {}
        self.node_names: set[str] = set()

    # -- driver -----------------------------------------------------------------------------
    def run(self) -> ir.Graph | None:
        """The graph; None when a requantization plan computed in `executor` failed."""
        for tensor in self.model.graph.initializer:
            self.env[tensor.name] = Const(onnx_model.tensor_array(tensor,
                                                                    f"{self.source}: initializer"))
        for value_info in self.model.graph.input:
            if value_info.name not in self.env:
                self.env[value_info.name] = Host(self.host.graph_input(value_info).name)
        quantized = False
        written = {name: "a graph input or initializer" for name in self.env}
        for index, node in enumerate(self.model.graph.node):
            label = node_label(node, index)
            for name in filter(None, node.output):
                if name in written:
                    raise NodeError(label, f"output {name!r} is already {written[name]}")
                written[name] = f"the output of node {label}"
            results = self._import_node(node, label)
            quantized |= any(isinstance(r, (Quantized, Real, Pending)) for r in results)
            for name, result in zip(node.output, results):
                if name:
                    if isinstance(result, Pending):
                        result = dataclasses.replace(result, nodes=result.nodes + (node,))
                    self.env[name] = result
        if not quantized:
            self.graph.notices.append(
                f"{self.source}: a float model (no quantized operators): everything runs on "
                "the host; quantize it first to use VTA (`vta quantize MODEL.onnx --calibrate "
                "DIR_OR_NPY -o MODEL_int8.onnx`)")
        for output in self.model.graph.output:
            self.graph.outputs.append(self.host.graph_output(output.name))
        return self.graph if self._settle_deferred() else None

    def _settle_deferred(self) -> bool:
        """Complete the nodes whose plans were sent to `executor` (those still in the graph);
        False when a plan failed. The plans no worker has taken yet are computed here, the
        last first, while the workers take the first (the workers start while the walk goes
        on, and a small model's walk may end before they take any)."""
        here = {}
        try:
            for index in reversed(range(len(self.deferred))):
                _, _, future, plan, args, options = self.deferred[index]
                if future.cancel():
                    here[index] = plan(*args, **options)
            plans = [here[index] if index in here else future.result()
                     for index, (_, _, future, *_) in enumerate(self.deferred)]
        except Exception:  # noqa: BLE001 - any failure: the plain walk decides what it means
            for _, _, future, *_ in self.deferred:
                future.cancel()
            return False
        positions = {id(node): index for index, node in enumerate(self.graph.nodes)}
        for (node, fields_of, *_), planned in zip(self.deferred, plans):
            index = positions.get(id(node))
            if index is not None:
                self.graph.nodes[index] = dataclasses.replace(node, **fields_of(planned))
        return True

    def _import_node(self, node: onnx.NodeProto, label: str) -> list:
        """The meanings of the node's outputs: the integer path's, or the host's (a node ONNX
        defines as invalid is refused first: `check_node`)."""
        meanings = [self.env.get(name) if name else None for name in node.input]
        check_node(node, label, self.opset, [self._shape(m) for m in meanings],
                   [m.array if isinstance(m, Const) else m.real if isinstance(m, QConst)
                    else None for m in meanings])
        inputs = [m for name, m in zip(node.input, meanings) if name]
        if node.op_type == "Constant" or (
                node.op_type not in NOT_FOLDED and inputs
                and all(isinstance(m, (Const, QConst)) for m in inputs)):
            return self.host.fold(node, label)
        handler = OPERATORS.get(node.op_type)
        if handler is None:
            return self.host.emit(node, label, f"{node.op_type} has no VTA layer")
        snapshot = self.snapshot()
        try:
            return handler(self, node, label)
        except NodeError as error:
            reason = error.reason
        except VtaError as error:
            reason = str(error)
        except (IndexError, KeyError, ValueError) as error:   # a node the integer path misreads
            reason = f"{type(error).__name__}: {error}"
        self.roll_back(snapshot)
        return self.host.emit(node, label, reason)

    def import_nested(self, node: onnx.NodeProto) -> list:
        """Import a node a handler made (a decomposition's: `onnx_recurrent`) as `run` imports
        the model's own."""
        results = self._import_node(node, node_label(node, 0))
        for name, result in zip(node.output, results):
            if name:
                if isinstance(result, Pending):
                    result = dataclasses.replace(result, nodes=result.nodes + (node,))
                self.env[name] = result
        return results

    def snapshot(self) -> tuple:
        return len(self.graph.nodes), set(self.graph.values), dict(self.graph.onnx_names)

    def roll_back(self, snapshot) -> None:
        """Forget what was emitted since `snapshot` (by an integer path that failed)."""
        count, values, onnx_names = snapshot
        for node in self.graph.nodes[count:]:
            self.node_names.discard(node.name)
        del self.graph.nodes[count:]
        for name in set(self.graph.values) - values:
            del self.graph.values[name]
        self.graph.onnx_names = onnx_names

    # -- looking up inputs ------------------------------------------------------------------
    def _shape(self, meaning) -> tuple[int, ...] | None:
        """The shape of the ONNX tensor that means `meaning` (None: an undefined tensor)."""
        if isinstance(meaning, Const):
            return meaning.array.shape
        if isinstance(meaning, QConst):
            return meaning.q.shape
        if isinstance(meaning, Pending):
            return meaning.shape
        if isinstance(meaning, (Real, Quantized, Host)):
            return self.graph.values[meaning.value].shape
        return None

    def real(self, name: str, label: str) -> ir.Value:
        """The IR value whose dequantization the float tensor `name` is."""
        meaning = self.env.get(name)
        if isinstance(meaning, Real):
            return self.graph.values[meaning.value]
        if isinstance(meaning, Host):
            raise NodeError(label, f"input {name!r} is a host tensor, not a dequantized one")
        if isinstance(meaning, Pending):
            raise NodeError(label, f"input {name!r} is an unquantized result of "
                                   f"{meaning.label} (no QuantizeLinear between them)")
        if isinstance(meaning, (Const, QConst)):
            raise NodeError(label, f"constant input {name!r} is not supported here")
        raise NodeError(label, f"input {name!r} is not a dequantized int8 tensor")

    def tensor(self, name: str, label: str) -> tuple[ir.Value, type]:
        """For operators that work on either: the IR value and whether the ONNX tensor is its
        dequantization (`Real`) or the integers themselves (`Quantized`, QOperator models)."""
        meaning = self.env.get(name)
        if isinstance(meaning, Quantized):
            return self.graph.values[meaning.value], Quantized
        return self.real(name, label), Real

    def quantized(self, name: str, label: str, quant: ir.Quant | None = None,
                  onnx_dtype: str | None = None) -> ir.Value:
        """The IR value an integer ONNX tensor is; a host int8/uint8 tensor becomes one with
        `quant` (the parameters its consumer reads it with)."""
        meaning = self.env.get(name)
        if isinstance(meaning, Quantized):
            return self.graph.values[meaning.value]
        if isinstance(meaning, Host) and quant is not None:
            value = self.graph.values[meaning.value]
            if quant.bits < 8:
                raise NodeError(label, f"input {name!r} holds the model's 8-bit integers, not "
                                       f"the {quant.bits}-bit operands of the config")
            if value.onnx_dtype == onnx_dtype:
                return self.host.to_quantized(value, quant)
        raise NodeError(label, f"input {name!r} is not a quantized int8/uint8 tensor")

    def const(self, name: str, label: str, what: str) -> np.ndarray:
        """A constant input (an initializer, a Constant, or a dequantized initializer)."""
        meaning = self.env.get(name)
        if isinstance(meaning, Const):
            return meaning.array
        if isinstance(meaning, QConst):
            return meaning.real
        raise NodeError(label, f"{what} {name!r} must be a constant")

    def qconst(self, name: str, label: str, what: str) -> QConst:
        """A quantized constant (a DequantizeLinear of an integer initializer)."""
        meaning = self.env.get(name)
        if isinstance(meaning, QConst):
            if not np.all(np.isfinite(meaning.scale)):
                raise NodeError(label, f"{what} {name!r} has scales that are not finite")
            return meaning
        if isinstance(meaning, Const) and meaning.array.dtype.kind == "f":
            raise NodeError(label, f"{what} {name!r} is float, not quantized")
        raise NodeError(label, f"{what} {name!r} must be a dequantized integer constant")

    def quant_params(self, scale_name: str, zero_point_name: str | None, label: str
                     ) -> tuple[ir.Quant, str]:
        """Per-tensor (scale, zero point) of an activation, in the IR's int8 domain, and the ONNX
        element type ("int8" or "uint8")."""
        scale = np.asarray(self.const(scale_name, label, "scale"))
        if zero_point_name:
            zero_point = np.asarray(self.const(zero_point_name, label, "zero point"))
        else:
            zero_point = np.zeros((), dtype=np.uint8)
        if scale.size != 1 or zero_point.size != 1:
            raise NodeError(label, "activations need one scale and zero point per tensor")
        if scale.dtype != np.float32:
            raise NodeError(label, f"{scale.dtype} scales are not float32")
        dtype = {np.dtype(np.int8): "int8", np.dtype(np.uint8): "uint8"}.get(zero_point.dtype)
        if dtype is None:
            raise NodeError(label, f"{zero_point.dtype} quantization is not supported "
                                   "(int8 and uint8 only)")
        if not 0 < scale.item() < np.inf:
            raise NodeError(label, f"scale {scale.item()} is not a positive finite number")
        shift = 128 if dtype == "uint8" else 0
        quant = ir.Quant(float(scale.item()), int(zero_point.item()) - shift)
        return narrow.activation(quant, self.activation_bits), dtype

    # -- producing values -------------------------------------------------------------------
    def new_value(self, name: str, shape, quant: ir.Quant | None, onnx_dtype: str = "int8",
                  exact: bool = False) -> ir.Value:
        """A value named `name`, or `name` with a suffix where that is taken (or kept for a
        graph output, unless `exact`)."""
        base, suffix = name, 1
        while name in self.graph.values or (name in self.reserved and not exact):
            name, suffix = f"{base}_{suffix}", suffix + 1
        return ir.Value(name, tuple(int(d) for d in shape), quant, onnx_dtype)

    def node_name(self, name: str) -> str:
        """A node name no other node has (the ONNX node's own where it can)."""
        base, suffix = name, 1
        while name in self.node_names:
            name, suffix = f"{base}_{suffix}", suffix + 1
        self.node_names.add(name)
        return name

    def emit(self, node_type, label: str, inputs, output: ir.Value, **fields) -> ir.Value:
        """Add a node; `label` is "NAME (OpType)" as errors show it, the IR keeps NAME."""
        name = self.node_name(label.rsplit(" (", 1)[0])
        return self.graph.add_node(node_type(name=name, inputs=tuple(inputs),
                                             output=output.name, **fields), output)

    def finalize(self, pending: Pending, quant: ir.Quant, output_name: str, onnx_dtype: str
                 ) -> ir.Value:
        """Emit a pending accumulation with the requantization to `quant`."""
        lo, hi = self.lo, self.hi
        if pending.lo > -np.inf:
            lo = max(lo, int(np.rint(pending.lo / quant.scale)) + quant.zero_point)
        if pending.hi < np.inf:
            hi = min(hi, int(np.rint(pending.hi / quant.scale)) + quant.zero_point)
        lo, hi = min(lo, self.hi), max(hi, self.lo)
        output = self.new_value(output_name, pending.shape, quant, onnx_dtype)
        if pending.kind == "concat":
            return self._finalize_concat(pending, output)
        if pending.kind == "matmul":
            return self._finalize_product(pending, output, lo, hi)
        if pending.kind == "activation":
            try:
                return self._finalize_activation(pending, output, lo, hi)
            except VtaError:            # no ALU program: exact on the host, as a table
                if pending.fields["channels"]:
                    raise
                pending = tables.as_table(pending)
        if pending.kind == "table":
            x = self.graph.values[pending.inputs[0]]
            table = tables.exact_table(pending.fields["functions"], x.quant, quant, lo, hi,
                                       f"node {pending.label}")
            return self.emit(ir.Table, pending.label, pending.inputs, output, table=table,
                             operators=tuple(node.op_type for node in pending.nodes))
        if pending.kind == "resize":
            return self._finalize_resize(pending, output, lo, hi)
        where = f"node {pending.label}"
        if pending.kind == "mul":
            a, b = (self.graph.values[name].quant for name in pending.inputs)
            requant = plan_requantization(
                exact_multiplier(pending.acc_scale, quant.scale), zero_point=quant.zero_point,
                lo=lo, hi=hi, acc_bound=pending.acc_bound(), alu_mul=self.alu_mul, where=where)
            steps = tuple(tuple([AluStep(AluOp.ADD, np.int64(-q.zero_point))] if q.zero_point
                                else []) for q in (a, b))
            return self.emit(ir.Add, pending.label, pending.inputs, output, input_steps=steps,
                             requant=requant, product=True)
        if pending.kind == "add":
            a, b = (self.graph.values[name].quant for name in pending.inputs)

            def added(planned) -> dict:
                steps_a, steps_b, requant = planned or (None, None, None)
                return {"input_steps": (steps_a, steps_b), "requant": requant}

            return self._planned(ir.Add, pending.label, pending.inputs, output, added, plan_add,
                                 (a.scale, b.scale), (a.zero_point, b.zero_point),
                                 scale=quant.scale, zero_point=quant.zero_point, lo=lo, hi=hi,
                                 alu_mul=self.alu_mul, where=where)
        pending = pending.settle_constant_channels(quant.scale, quant.zero_point, lo, hi)

        def requantized(requant) -> dict:
            if requant is None:
                return pending.node_fields() | {"requant": None}
            return self._requantized_fields(pending, requant)

        return self._planned(pending.node_type, pending.label, pending.inputs, output,
                             requantized, plan_requantization,
                             exact_multiplier(pending.acc_scale, quant.scale),
                             zero_point=quant.zero_point, lo=lo, hi=hi,
                             acc_bound=pending.acc_bound(), alu_mul=self.alu_mul, where=where,
                             absorb=pending.kind in ("conv", "convtranspose", "dense",
                                                     "requant"),
                             ties_to_even=pending.kind == "avgpool")

    def _planned(self, node_type, label: str, inputs, output: ir.Value, fields_of, plan,
                 *args, **options) -> ir.Value:
        """Emit the node whose fields `fields_of` makes of `plan(*args, **options)` (its
        requantization): planned here without an executor; else the plan sent to it and the
        node emitted with ``fields_of(None)``, completed when the walk ends
        (`_settle_deferred`)."""
        if self.executor is None:
            return self.emit(node_type, label, inputs, output,
                             **fields_of(plan(*args, **options)))
        future = self.executor.submit(plan, *args, **options)
        value = self.emit(node_type, label, inputs, output, **fields_of(None))
        self.deferred.append((self.graph.nodes[-1], fields_of, future, plan, args, options))
        return value

    @staticmethod
    def _requantized_fields(pending: Pending, requant) -> dict:
        """The node fields of `pending` requantized by the plan `requant`."""
        fields = pending.node_fields()
        if np.any(requant.offset):
            # The plan's leading constant costs nothing inside the bias or the zero point.
            offset = np.broadcast_to(requant.offset, pending.acc_scale.shape).ravel()
            if pending.kind == "requant":
                fields["input_zero_point"] -= int(offset[0])
            else:
                fields["bias"] = wrap32(pending.bias + offset)
            requant = dataclasses.replace(requant, offset=0)
        return fields | {"requant": requant}

    def _finalize_product(self, pending: Pending, output: ir.Value, lo: int, hi: int
                          ) -> ir.Value:
        """A product of two activations, head by head (`ir.MatMulOperand`, `ir.MatMul`): a
        single head is the node itself, several are concatenated along the heads' axis."""
        a, b = (self.graph.values[name] for name in pending.inputs)
        requant = plan_requantization(exact_multiplier(pending.acc_scale, output.quant.scale),
                                      zero_point=output.quant.zero_point, lo=lo, hi=hi,
                                      acc_bound=pending.acc_bound(), alu_mul=self.alu_mul,
                                      where=f"node {pending.label}", absorb=True)
        lead = a.shape[:-2]
        heads = int(np.prod(lead))
        zero_points = (a.quant.zero_point, b.quant.zero_point)
        contraction = pending.fields["contraction"]
        constant = contraction * zero_points[0] * zero_points[1] + int(
            np.asarray(requant.offset).ravel()[0])
        requant = dataclasses.replace(requant, offset=0)
        operand_quant = ir.Quant(1.0, 0)
        name = pending.label.rsplit(" (", 1)[0]
        products = []
        for head in range(heads):
            tag = f"{name}/head{head}" if heads > 1 else name
            operands = []
            for side, value in (("a", a), ("b", b)):
                probe = ir.MatMulOperand(name="", inputs=(), output="", side=side, head=head,
                                         zero_points=zero_points, bits=self.activation_bits)
                width = contraction * len(probe.segments())
                shape = ((1,) * len(lead) + (a.shape[-2], width) if side == "a"
                         else (b.shape[-1], width))
                operand = self.new_value(f"{tag}/{side}", shape, operand_quant)
                operands.append(self.emit(ir.MatMulOperand, f"{tag}/{side}", [value.name],
                                          operand, side=side, head=head,
                                          zero_points=zero_points,
                                          bits=self.activation_bits).name)
            target = output if heads == 1 else self.new_value(
                f"{tag}/product", (1,) * len(lead) + output.shape[-2:], output.quant)
            products.append(self.emit(ir.MatMul, tag if heads == 1 else pending.label.replace(
                name, tag, 1), operands, target, constant=constant, contraction=contraction,
                requant=requant).name)
        if heads == 1:
            return self.graph.values[products[0]]
        axis = next(index for index, size in enumerate(lead) if size > 1)
        return self.emit(ir.Concat, f"{name}/heads", products, output, axis=axis)

    def _finalize_activation(self, pending: Pending, output: ir.Value, lo: int, hi: int
                             ) -> ir.Value:
        """An activation as a `Requantization` whose ALU program gives ONNX's output for every
        int8 input (`activations.plan_activation`; a VtaError sends it to the host)."""
        fields = dict(pending.fields)
        spec, channels = fields.pop("activation"), fields.pop("channels")
        x = self.graph.values[pending.inputs[0]]
        requant = plan_activation(spec, x.quant, output.quant, lo, hi, (self.lo, self.hi),
                                  channels, f"node {pending.label}", alu_mul=self.alu_mul)
        return self.emit(ir.Requantization, pending.label, pending.inputs, output,
                         requant=requant, activation=spec.op, **fields)

    def _finalize_resize(self, pending: Pending, output: ir.Value, lo: int, hi: int
                         ) -> ir.Value:
        """An interpolating Resize and its QuantizeLinear on the host in float64
        (`onnx_accumulations._exact_resize`): the input's integers dequantized (exact), the
        ONNX Resize node itself (its kernel computes in the input's float type), divided by the
        output scale, rounded half to even, shifted by the zero point and clamped — each an ONNX
        node, the Resize's own inputs and attributes unchanged."""
        from vta.compiler.onnx_recurrent import Builder
        resize = pending.nodes[-1]
        x = self.graph.values[pending.inputs[0]]
        build = Builder(f"{pending.label.rsplit(' (', 1)[0]}/exact", self)
        shift = {name: 128 if value.onnx_dtype == "uint8" else 0
                 for name, value in (("x", x), ("y", output))}
        integers = f"{build.prefix}/integers"
        self.env[integers] = Quantized(x.name)
        double = onnx.TensorProto.DOUBLE
        real = build.add("Mul", [
            build.add("Sub", [build.add("Cast", [integers], "cast", to=double),
                              build.const("x_zero_point",
                                          np.float64(x.quant.zero_point + shift["x"]))], "sub"),
            build.const("x_scale", np.float64(x.quant.scale))], "dequantized")
        resized = build.add("Resize", [real] + list(resize.input[1:]), "resize",
                            **{a.name: onnx.helper.get_attribute_value(a)
                               for a in resize.attribute})
        steps = build.add("Round", [build.add("Div", [resized, build.const(
            "y_scale", np.float64(output.quant.scale))], "steps")], "round")
        offset = shift["y"]
        clamped = build.add("Clip", [
            build.add("Add", [steps, build.const("y_zero_point", np.float64(
                output.quant.zero_point + offset))], "shifted"),
            build.const("lo", np.float64(lo + offset)), build.const("hi", np.float64(hi + offset))],
            "clamped")
        integers_out = build.add("Cast", [clamped], "quantized",
                                 to=onnx.helper.np_dtype_to_tensor_dtype(
                                     np.dtype(output.onnx_dtype)))
        host = self.graph.values[self.host.value(integers_out, pending.label)]
        return self.emit(ir.Reinterpret, f"{build.prefix}/integers_out", [host.name], output,
                         onnx_dtype=output.onnx_dtype, to_host=False)

    def _finalize_concat(self, pending: Pending, output: ir.Value) -> ir.Value:
        """Concatenate after bringing every input to the output's quantization."""
        inputs = []
        for name in pending.inputs:
            value = self.graph.values[name]
            if value.quant != output.quant:
                value = self.requantize(value, output.quant, f"{name}/requantized (Concat)",
                                        self.lo, self.hi, f"{name}_to_{output.name}")
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
        multiplier = 1.0 if same_scale else exact_multiplier(value.quant.scale, quant.scale)
        requant = plan_requantization(multiplier, zero_point=zero_point, lo=lo, hi=hi,
                                      acc_bound=255, alu_mul=self.alu_mul, where=f"node {label}",
                                      absorb=True)
        return self.emit(ir.Requantization, label, [value.name], output,
                         input_zero_point=input_zero_point - int(requant.offset),
                         requant=dataclasses.replace(requant, offset=0))
