"""Handlers of the element-wise ONNX operators: Relu, Clip, the activations (`activations`),
Add, Mul, Sub and Div, and the float functions of one tensor that become lookup tables
(`tables`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from vta.compiler import ir, tables
from vta.compiler.activations import ACTIVATIONS, Activation
from vta.compiler.onnx_attributes import NodeError, attributes
from vta.compiler.onnx_operators import operator, optional_input
from vta.compiler.onnx_values import Const, Pending, QConst, Real
from vta.compiler.requantize import INT8_MAX, INT8_MIN


def _requant_pending(label, x: ir.Value) -> Pending:
    """x − zero point as an accumulation (for a ReLU/Clip or a change of scale on its own)."""
    return Pending(label, "requant", ir.Requantization, (x.name,), x.shape,
                   np.asarray(x.quant.scale), dict(input_zero_point=x.quant.zero_point))


def _clamped(im, node, label, lo: float, hi: float):
    source = im.env.get(node.input[0])
    if isinstance(source, Pending) and source.kind == "table":
        return [_table_step(im, node, label)]
    pending = source if isinstance(source, Pending) else _requant_pending(label, im.real(node.input[0], label))
    if pending.kind == "concat":
        raise NodeError(label, "a clamp after Concat is not supported")
    return [dataclasses.replace(pending, lo=max(pending.lo, lo), hi=min(pending.hi, hi))]


@operator("Relu")
def relu(im, node, label):
    attributes(node, label, {})
    return _clamped(im, node, label, 0.0, np.inf)


@operator("Clip")
def clip(im, node, label):
    attrs = attributes(node, label, {"min": -np.inf, "max": np.inf})
    lo, hi = attrs["min"], attrs["max"]
    if optional_input(node, 1):
        lo = float(im.const(node.input[1], label, "min"))
    if optional_input(node, 2):
        hi = float(im.const(node.input[2], label, "max"))
    return _clamped(im, node, label, lo, hi)


@operator(*ACTIVATIONS)
def activation(im, node, label):
    """An element-wise activation of a dequantized tensor, planned as an ALU program once the
    QuantizeLinear after it fixes the output's quantization (`activations`)."""
    attrs = attributes(node, label, ACTIVATIONS[node.op_type])
    if _extends_table(im, node):
        return [_table_step(im, node, label)]
    x = im.real(node.input[0], label)
    channels = ()
    if node.op_type == "PRelu":
        slope = np.asarray(im.const(node.input[1], label, "slope"), dtype=np.float32)
        channels = _slope_channels(slope, x.shape, label)
        negative = slope.reshape(channels).astype(np.float64) if channels else \
            np.float64(slope.ravel()[0])
        slopes = (negative, np.ones_like(negative))
        slope = slope.reshape(channels) if channels else slope.ravel()[:1].reshape(())

        def table(real, slope=slope):
            return im.host.fold_arrays(node, label, [real, slope])[0]
    else:
        alpha = {"LeakyRelu": attrs.get("alpha"), "HardSigmoid": attrs.get("alpha")}.get(
            node.op_type)
        slopes = None if alpha is None else (
            (np.float64(alpha), np.float64(1.0)) if node.op_type == "LeakyRelu"
            else (np.float64(alpha), np.float64(alpha)))

        def table(real):
            return im.host.fold_arrays(node, label, [real])[0]
    spec = Activation(node.op_type, slopes, table)
    return [Pending(label, "activation", ir.Requantization, (x.name,), x.shape,
                    np.asarray(x.quant.scale),
                    dict(input_zero_point=x.quant.zero_point, activation=spec,
                         channels=channels))]


def _slope_channels(slope: np.ndarray, shape: tuple[int, ...], label: str) -> tuple[int, ...]:
    """() for one slope; (C, 1, 1) for a slope per channel of an NCHW tensor."""
    if slope.size == 1:
        return ()
    if len(shape) == 4 and slope.size == shape[1] and \
            slope.shape[-3:] == (shape[1], 1, 1)[-slope.ndim:] and slope.ndim <= 4 \
            and (slope.ndim < 4 or slope.shape[0] == 1):
        return (shape[1], 1, 1)
    raise NodeError(label, f"slopes of shape {slope.shape}: one slope, or one per channel of a "
                    "4-D tensor, on VTA")


@operator("Add")
def add(im, node, label):
    attributes(node, label, {})
    meanings = [im.env.get(name) for name in node.input]
    pending = next((m for m in meanings if isinstance(m, Pending)), None)
    constant = next((name for name in node.input if isinstance(im.env.get(name), (Const, QConst))), None)
    if pending is not None and constant is not None and pending.kind in ("conv", "convtranspose", "dense"):
        channels = pending.bias.size
        real = np.asarray(im.const(constant, label, "addend"), dtype=np.float64)
        per_channel = _channel_vector(real, pending, label)
        bias = pending.bias + np.rint(per_channel / pending.acc_scale.ravel()).astype(np.int64)
        return [dataclasses.replace(pending, bias=bias.reshape(channels))]
    if constant is not None and pending is None:
        return [_constant_affine(im, node, label)]
    if constant is not None and tables.chainable(pending):
        return [_table_step(im, node, label)]
    if constant is not None:
        raise NodeError(label, f"adding a constant is only supported as the bias of a "
                        "Conv/Gemm/MatMul result before its QuantizeLinear")
    a, b = (im.real(name, label) for name in node.input)
    if a.shape != b.shape:
        raise NodeError(label, f"only same-shape Add is supported ({a.shape} + {b.shape})")
    return [Pending(label, "add", ir.Add, (a.name, b.name), a.shape, None)]


def _channel_vector(real: np.ndarray, pending: Pending, label: str) -> np.ndarray:
    """A constant that varies at most along the output channels, as one value per channel."""
    channels = pending.bias.size
    full = np.broadcast_to(real, pending.shape) if real.ndim <= len(pending.shape) else None
    if full is None:
        raise NodeError(label, f"addend of shape {real.shape} does not fit {pending.shape}")
    moved = np.moveaxis(full, -1 if pending.kind == "dense" else 1, 0).reshape(channels, -1)
    if not np.all(moved == moved[:, :1]):
        raise NodeError(label, f"only a per-channel constant can be added to {pending.label}")
    return moved[:, 0]


@operator("Mul")
def mul(im, node, label):
    attributes(node, label, {})
    pending = next((im.env[n] for n in node.input if isinstance(im.env.get(n), Pending)), None)
    constant = next((n for n in node.input if isinstance(im.env.get(n), (Const, QConst))), None)
    if all(isinstance(im.env.get(n), Real) for n in node.input):
        return [_activation_product(im, node, label)]
    if pending is None and constant is not None:
        return [_constant_affine(im, node, label)]
    if constant is not None and pending is not None and tables.chainable(pending):
        return [_table_step(im, node, label)]
    if pending is None or constant is None or pending.kind not in ("conv", "convtranspose",
                                                                   "dense"):
        raise NodeError(label, f"Mul is only supported as the rescaling of a ConvInteger "
                        "or MatMulInteger result by a constant")
    factor = _channel_vector(np.asarray(im.const(constant, label, "factor"), np.float64), pending, label)
    if np.any(factor <= 0):
        raise NodeError(label, "rescaling factors must be positive")
    return [dataclasses.replace(pending, acc_scale=pending.acc_scale * factor.reshape(pending.acc_scale.shape))]


def _activation_product(im, node, label) -> Pending:
    """The elementwise product of two dequantized tensors of one shape (a gated unit, x·σ(x),
    HardSwish as x·HardSigmoid(x)): (a − za)(b − zb) by the ALU's vector MUL, requantized."""
    a, b = (im.real(name, label) for name in node.input)
    if a.shape != b.shape and _gate_shape(a.shape, b.shape):
        a, b = b, a                     # the full tensor first, the gate second
    if a.shape != b.shape and not _gate_shape(b.shape, a.shape):
        raise NodeError(label, f"only a Mul of two activations of one shape, or of an N×C×H×W "
                        f"tensor by an N×C×1×1 gate, runs on VTA ({a.shape} × {b.shape})")
    if not im.alu_mul:
        raise NodeError(label, "a product of two activations needs the ALU multiply (ALU_MUL)")
    reach = [max(INT8_MAX - v.quant.zero_point, v.quant.zero_point - INT8_MIN) for v in (a, b)]
    return Pending(label, "mul", ir.Add, (a.name, b.name), a.shape,
                   np.asarray(np.float64(a.quant.scale) * np.float64(b.quant.scale)),
                   input_range=reach[0] * reach[1])


@operator("Sub", "Div")
def sub_div(im, node, label):
    attributes(node, label, {})
    if _extends_table(im, node):
        return [_table_step(im, node, label)]
    return [_constant_affine(im, node, label)]


@operator(*tables.OPERATORS)
def table_operator(im, node, label):
    """A float function of a dequantized tensor or of a chain of them: a step of a lookup
    table (`tables`), once a QuantizeLinear ends the chain."""
    return [_table_step(im, node, label)]


def _extends_table(im, node) -> bool:
    """Whether one of the node's inputs is a pending chain it may extend (`tables.chainable`)."""
    return any(isinstance(m, Pending) and tables.chainable(m)
               for m in (im.env.get(name) for name in node.input if name))


def _table_step(im, node, label) -> Pending:
    """The node applied to its one tensor input — a dequantized int8 tensor, or a chain
    (`tables.chainable`) — as the next float function of a table: its host kernel on float64
    values, its other inputs scalar constants (widened from float32, exactly)."""
    meanings = [im.env.get(name) if name else None for name in node.input]
    tensors = [index for index, (name, meaning) in enumerate(zip(node.input, meanings))
               if name and not isinstance(meaning, (Const, QConst))]
    source = meanings[tensors[0]] if len(tensors) == 1 and len(node.output) == 1 else None
    if isinstance(source, Real):
        x = im.graph.values[source.value]
        chain = Pending(label, "table", ir.Table, (x.name,), x.shape, np.asarray(x.quant.scale),
                        {"functions": ()})
    elif isinstance(source, Pending) and tables.chainable(source):
        chain = tables.as_table(source)
    else:
        raise NodeError(label, f"{node.op_type} has no VTA layer")
    operands = []
    for name, meaning in zip(node.input, meanings):
        if not name or not isinstance(meaning, (Const, QConst)):
            operands.append(None)
            continue
        constant = np.asarray(im.const(name, label, "operand"))
        if constant.size != 1 or constant.ndim > len(chain.shape):
            raise NodeError(label, f"{node.op_type} has no VTA layer (a table takes scalar "
                            f"constants, not {constant.shape})")
        if isinstance(meaning, QConst):     # dequantized in float64, as the exact evaluation
            constant = (meaning.q.astype(np.float64) - meaning.zero_point) * \
                meaning.scale.astype(np.float64)
        operands.append(constant.reshape(()).astype(np.float64) if constant.dtype.kind == "f"
                        else constant.reshape(()))
    index = tensors[0]

    def function(real):
        return im.host.fold_arrays(node, label, operands[:index] + [real] + operands[index + 1:])[0]
    return dataclasses.replace(chain, fields={"functions": chain.fields["functions"] + (function,)})


def _constant_affine(im, node, label) -> Pending:
    """x + c, x − c, c − x, x·c, x / c of a dequantized x and a constant c (one value, or one per
    channel): an affine function of x, planned on the ALU like an activation (`activations`:
    exact for all 256 inputs, else the host) once the QuantizeLinear after it is known."""
    meanings = [im.env.get(name) for name in node.input]
    if len(meanings) != 2 or sum(isinstance(m, Real) for m in meanings) != 1 \
            or not any(isinstance(m, (Const, QConst)) for m in meanings):
        raise NodeError(label, f"{node.op_type} runs on VTA only between a dequantized tensor "
                        "and a constant")
    index = 0 if isinstance(meanings[0], Real) else 1
    if node.op_type == "Div" and index == 1:
        raise NodeError(label, "a constant divided by a tensor is no affine function")
    x = im.real(node.input[index], label)
    constant = np.asarray(im.const(node.input[1 - index], label, "operand"))
    if constant.dtype != np.float32:
        raise NodeError(label, f"a {constant.dtype} operand of a float tensor")
    channels, constant = _constant_channels(constant, x.shape, label)
    slope = {"Add": np.ones(channels), "Sub": np.full(channels, -1.0 if index else 1.0),
             "Mul": constant.astype(np.float64),
             "Div": np.divide(1, constant.astype(np.float64), where=constant != 0,
                              out=np.full(constant.shape, np.inf))}[node.op_type]
    if not np.all(np.isfinite(slope)):
        raise NodeError(label, "division by zero")

    def table(real):
        operands = [real, constant.astype(real.dtype)] if index == 0 else \
            [constant.astype(real.dtype), real]
        return im.host.fold_arrays(node, label, operands)[0]
    spec = Activation(node.op_type, (slope, slope), table)
    return Pending(label, "activation", ir.Requantization, (x.name,), x.shape,
                   np.asarray(x.quant.scale),
                   dict(input_zero_point=x.quant.zero_point, activation=spec,
                        channels=channels))


def _constant_channels(constant: np.ndarray, shape: tuple[int, ...], label: str
                       ) -> tuple[tuple[int, ...], np.ndarray]:
    """(broadcast shape, constant in it) of a constant applied to a tensor of `shape`: () for
    one value; (C, 1, 1) or (C,) for one per channel (axis 1 or the last of a 4-D tensor, the
    last axis of a 2-D or 3-D one)."""
    if constant.size == 1:
        return (), constant.reshape(())
    if constant.ndim > len(shape):
        raise NodeError(label, f"a constant of shape {constant.shape} widens {shape}")
    full = np.broadcast_to(constant, shape)
    for axis in ((1, 3) if len(shape) == 4 else (len(shape) - 1,)):
        moved = np.moveaxis(full, axis, 0).reshape(shape[axis], -1)
        if np.all(moved == moved[:, :1]):
            channels = (shape[axis],) + (1,) * (len(shape) - 1 - axis)
            return channels, np.ascontiguousarray(moved[:, 0].reshape(channels))
    raise NodeError(label, f"a constant of shape {constant.shape} that varies along other "
                    "axes than the channels")


def _gate_shape(gate: tuple[int, ...], full: tuple[int, ...]) -> bool:
    """Whether `gate` is a squeeze-excite gate of `full`: N×C×1×1 against N×C×H×W."""
    return len(gate) == len(full) == 4 and gate[:2] == full[:2] and gate[2:] == (1, 1) \
        and full[2:] != (1, 1)
