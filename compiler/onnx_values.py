"""What an ONNX tensor stands for while the importer walks the graph."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from vta.compiler.alu_program import wrap32
from vta.compiler.requantize import INT8_MAX, INT8_MIN


@dataclass
class Const:
    """A constant: an initializer, a Constant node's output, or a folded shape computation."""

    array: np.ndarray


@dataclass
class QConst:
    """The dequantization of an integer constant: real = scale × (q − zero_point) along `axis`
    (`real` as ONNX DequantizeLinear computes it)."""

    q: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int
    real: np.ndarray


@dataclass
class Host:
    """An ONNX tensor held exactly by the host value `value` (any element type)."""

    value: str


@dataclass
class Quantized:
    """An integer ONNX tensor: the IR value `value` (uint8 tensors shifted to int8)."""

    value: str


@dataclass
class Real:
    """A float ONNX tensor that is exactly the dequantization of the IR value `value`."""

    value: str


@dataclass
class Pending:
    """An integer accumulation whose requantization is not known yet: real = acc × acc_scale
    (broadcast against the output; None for an Add, whose accumulator's unit depends on the output
    scale), clamped to [lo, hi] by any ReLU/Clip seen since.

    `kind` is conv, convtranspose, dense, add, mul, matmul, avgpool, requant, activation, concat,
    resize or table (a chain of float functions of one tensor: `fields["functions"]`,
    `tables`); `fields` are the IR node's fields apart from the requantization (and the bias,
    kept as int64 in accumulator units). `nodes`
    are the ONNX nodes folded into it, in order: where the accumulation cannot stay integer,
    the host runs them as they are.
    """

    label: str
    kind: str
    node_type: type
    inputs: tuple[str, ...]
    shape: tuple[int, ...]
    acc_scale: np.ndarray | None
    fields: dict = field(default_factory=dict)
    bias: np.ndarray | None = None
    lo: float = -np.inf
    hi: float = np.inf
    input_range: int = 255
    nodes: tuple = ()

    def node_fields(self) -> dict:
        fields = dict(self.fields)
        if self.bias is not None:
            fields["bias"] = wrap32(self.bias)
        return fields

    def _weight_reach(self) -> np.ndarray:
        """Per output channel, the largest |Σ w · (x − zx)| any int8 input can give."""
        weight = np.abs(self.fields["weight"].astype(np.int64))
        if self.kind == "convtranspose":       # (C, O/groups, KH, KW): every tap may add up
            groups = self.fields["groups"]
            weight = weight.reshape(groups, -1, *weight.shape[1:]).sum(axis=1)
            weight = weight.reshape(-1, *weight.shape[2:])
        zero_point = self.fields["input_zero_point"]
        reach = max(INT8_MAX - zero_point, zero_point - INT8_MIN)
        return weight.reshape(weight.shape[0], -1).sum(axis=1) * reach

    def acc_bound(self) -> np.ndarray:
        """A bound on |acc|, broadcast like acc_scale (decides whether a pre-clamp is needed)."""
        if self.kind in ("conv", "convtranspose", "dense"):
            bound = self._weight_reach() + np.abs(self.bias)
            return bound.reshape(self.acc_scale.shape) if self.acc_scale.size > 1 else bound.max()
        return np.asarray(self.input_range, dtype=np.int64)

    def settle_constant_channels(self, output_scale: float, zero_point: int, lo: int, hi: int
                                 ) -> Pending:
        """This accumulation with every output channel whose output is one constant for every
        input (including saturation at lo or hi) rewritten as zero weights, the layer's typical
        multiplier and a bias giving that constant.

        Such channels come from weights quantized with tiny scales next to a bias that
        onnxruntime clipped to the int32 range; left alone, their huge bias and tiny multiplier
        would lengthen the whole layer's requantization. No output changes.
        """
        if self.kind not in ("conv", "dense") or self.acc_scale.size < 2:
            return self
        multiplier = self.acc_scale.ravel() / output_scale
        reach = self._weight_reach()
        highest = np.clip((self.bias + reach) * multiplier + zero_point, lo - 1, hi + 1)
        lowest = np.clip((self.bias - reach) * multiplier + zero_point, lo - 1, hi + 1)
        value = np.clip(np.floor(lowest + 0.5), lo, hi)
        margin = CONSTANT_MARGIN
        constant = (np.clip(np.floor(lowest + 0.5 - margin), lo, hi) == value) & \
                   (np.clip(np.floor(highest + 0.5 + margin), lo, hi) == value)
        if not constant.any() or constant.all():
            return self
        typical = float(np.median(multiplier[~constant]))

        def gives(bias):      # each channel's output for the bias alone (lo − 1: too near a tie)
            result = bias * typical + zero_point
            low = np.clip(np.floor(result + 0.5 - margin), lo, hi)
            return np.where(low == np.clip(np.floor(result + 0.5 + margin), lo, hi), low, lo - 1)
        # the nearest bias; where that misses the value (typical > 1), one saturating at lo or hi
        target = (value - zero_point) / typical
        nearest = np.rint(target)
        beyond = np.where(value >= hi, np.ceil(target), np.floor(target))
        rewritten = np.where(gives(nearest) == value, nearest, beyond).astype(np.int64)
        constant &= gives(rewritten) == value
        if not constant.any():
            return self
        bias = np.where(constant, rewritten, self.bias)
        weight = self.fields["weight"].copy()
        weight[constant] = 0
        acc_scale = np.where(constant, typical, multiplier) * output_scale
        return dataclasses.replace(self, bias=bias, acc_scale=acc_scale.reshape(self.acc_scale.shape),
                                   fields=self.fields | {"weight": weight})


#: How far (in output steps) a channel's extreme results must stay from a rounding boundary for
#: the channel to count as constant (covers the requantization's approximations).
CONSTANT_MARGIN = 0.03


def channel_shape(kind: str, channels: int) -> tuple[int, ...]:
    """Broadcast shape of a per-output-channel array: (O, 1, 1) against NCHW, (M,) against NC."""
    return (channels, 1, 1) if kind == "conv" else (channels,)
