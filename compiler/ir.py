"""The graph IR: what a model computes, in the integers VTA works with where it can and as ONNX
tensors on the host elsewhere.

A *quantized* value is an int8 tensor (NCHW or NC) with a per-tensor `Quant` (real = scale ×
(q − zero_point)); uint8 tensors of the ONNX model are shifted to int8 (q − 128, zero point − 128),
which changes no real value. A *host* value (`quant` None) holds an ONNX tensor exactly, of any
element type (float32, int64, bool, int8…).

The integer nodes work on quantized values: weights are int8 with their zero point removed,
biases int32 in the accumulator's units; the ones that accumulate (`Conv2d`, `Dense`, `Add`,
`AvgPool`, `Requantization`) end in a `requantize.Requantize`, the ALU steps that bring their
int32 accumulators back to int8. `HostOp` is one ONNX node with exactly ONNX's semantics on host
values; `Quantize`, `Dequantize` and `Reinterpret` cross between the two kinds. Shapes are
static and checked when a node is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vta.compiler.host_ops import Call
from vta.compiler.alu_program import AluStep, wrap32
from vta.compiler.requantize import Requantize
from vta.isa import VtaError


def window_output_size(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int,
                       dilation: int = 1, ceil_mode: bool = False) -> int:
    """Output length of a sliding window (ONNX Conv/MaxPool/AveragePool); in ceil mode the last
    window must start inside the input or its leading padding."""
    span = size + pad_begin + pad_end - ((kernel - 1) * dilation + 1)
    if span < 0:
        raise VtaError(f"window of {kernel} (dilation {dilation}) is larger than the padded input")
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


@dataclass(frozen=True)
class Quant:
    """Per-tensor affine quantization: real = scale × (q − zero_point), q a signed `bits`-bit
    integer (8, or 4 and 2 for a config's narrow operands), held in int8."""

    scale: float
    zero_point: int
    bits: int = 8

    @property
    def range(self) -> tuple[int, int]:
        """(lowest, highest) value of q."""
        return -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1

    def quantize(self, real: np.ndarray) -> np.ndarray:
        """Round half to even and saturate, as ONNX QuantizeLinear does; a NaN quotient (of an
        infinite scale, which calibration gives a tensor holding −inf) becomes the lowest value,
        as in onnxruntime and ONNX's reference evaluator. The quotient is taken in float64 (of
        the float32 values): the exact quotient's rounding, which a float32 division misses for
        a quotient within 2^-24 relative of a tie (about 2 values in 10^6)."""
        q = np.rint(np.asarray(real, dtype=np.float32).astype(np.float64)
                    / np.float64(self.scale)) + self.zero_point
        lowest, highest = self.range
        return np.clip(np.nan_to_num(q, nan=lowest), lowest, highest).astype(np.int8)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        return (np.asarray(q, dtype=np.float32) - self.zero_point) * np.float32(self.scale)


@dataclass(frozen=True)
class Value:
    """A tensor of the graph: quantized (int8 storage with `quant`; `onnx_dtype` "int8" or
    "uint8", the type the ONNX model gave it — uint8 values are stored here minus 128) or a
    host tensor (`quant` None; `onnx_dtype` its numpy element type, e.g. "float32", "int64")."""

    name: str
    shape: tuple[int, ...]
    quant: Quant | None
    onnx_dtype: str = "int8"

    @property
    def quantized(self) -> bool:
        return self.quant is not None

    def from_onnx(self, array: np.ndarray) -> np.ndarray:
        """Convert a tensor of the ONNX model's type to this int8 value."""
        array = np.asarray(array)
        if self.onnx_dtype == "uint8":
            return (array.astype(np.int16) - 128).astype(np.int8)
        return array.astype(np.int8)

    def to_onnx(self, q: np.ndarray) -> np.ndarray:
        if self.onnx_dtype == "uint8":
            return (np.asarray(q, dtype=np.int16) + 128).astype(np.uint8)
        return np.asarray(q, dtype=np.int8)


@dataclass(frozen=True)
class Node:
    """Base of all operators: `name` is the ONNX node it came from, `inputs`/`output` value names."""

    name: str
    inputs: tuple[str, ...]
    output: str

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.output,)


@dataclass(frozen=True)
class Conv2d(Node):
    """acc[n,o] = bias[o] + Σ weight[o,c,i,j] · (x − input_zero_point)[n, g·C/G + c, ...] over the
    window (padding contributes 0, i.e. pads hold the input zero point), then `requant`.

    weight: int8 (O, C/groups, KH, KW), or int16 within ±255 where the model's weights minus
    their zero point do not fit int8 (VTA sums int8 parts: `packing.weight_parts`); bias: int32
    (O,) (holding the requantization's offset
    too: its rounding and output zero point, see `Requantize.offset`); pads: (top, left, bottom,
    right).
    """

    weight: np.ndarray = field(repr=False)
    bias: np.ndarray = field(repr=False)
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    dilations: tuple[int, int]
    groups: int
    input_zero_point: int
    requant: Requantize = field(repr=False)

    @property
    def depthwise(self) -> bool:
        return self.groups > 1 and self.weight.shape[1] == 1

    def folded_bias(self) -> np.ndarray:
        """int32 bias absorbing the input zero point: acc = folded_bias + Σ weight · x, valid when
        padding holds the input zero point (int64 sums wrapped like the accumulator)."""
        sums = self.weight.astype(np.int64).sum(axis=(1, 2, 3))
        return wrap32(self.bias.astype(np.int64) - self.input_zero_point * sums)


@dataclass(frozen=True)
class Dense(Node):
    """acc[n,m] = bias[m] + Σ_k weight[m,k] · (x[n,k] − input_zero_point), then `requant`.
    weight: int8 (M, K) (output-major, as VTA's weight tiles; int16 as `Conv2d.weight`); bias: int32 (M,) (holding the
    requantization's offset, as `Conv2d.bias`). `copies` > 1: the weight holds the model's
    product that many times over (a recurrent product's rows twice, each copy stored its own
    way, and its input as two digits: `onnx_recurrent`); the model's MACs count one."""

    weight: np.ndarray = field(repr=False)
    bias: np.ndarray = field(repr=False)
    input_zero_point: int
    requant: Requantize = field(repr=False)
    copies: int = 1

    def folded_bias(self) -> np.ndarray:
        sums = self.weight.astype(np.int64).sum(axis=1)
        return wrap32(self.bias.astype(np.int64) - self.input_zero_point * sums)


@dataclass(frozen=True)
class Add(Node):
    """Same-shape addition: acc = steps_a(a) + steps_b(b), then `requant`. The int32 ALU steps
    bring both operands to a common unit and may add part of the constant (zero points, rounding)
    that `requant` adds otherwise (`requantize_add.plan_add`).

    With `product`, the elementwise product of two activations instead (a gated unit's Mul):
    acc = steps_a(a) × steps_b(b) as the ALU's vector MUL computes it (the low 16 bits of the
    second, sign-extended; the steps remove the zero points, so |b − zb| ≤ 255). b has a's
    shape, or is an N×C×1×1 gate broadcast over a's N×C×H×W (squeeze-excite)."""

    input_steps: tuple[tuple[AluStep, ...], tuple[AluStep, ...]] = field(repr=False)
    requant: Requantize = field(repr=False)
    product: bool = False


@dataclass(frozen=True)
class MaxPool(Node):
    """Window maximum on int8 (padding never wins: it holds −128). pads: (top, left, bottom, right)."""

    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    dilations: tuple[int, int]
    ceil_mode: bool


@dataclass(frozen=True)
class AvgPool(Node):
    """acc = Σ over the window of (x − input_zero_point) (padding contributes 0), then `requant`,
    whose multiplier holds 1/divisor: per position (1, OH, OW) when the divisor varies."""

    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    ceil_mode: bool
    input_zero_point: int
    requant: Requantize = field(repr=False)


@dataclass(frozen=True)
class Requantization(Node):
    """int8 → int8 with another scale, zero point or clamp: acc = x − input_zero_point, then
    `requant` (a pure clamp when only the range changes). `input_zero_point` is the input's zero
    point minus the requantization's offset (`Requantize.offset`)."""

    input_zero_point: int
    requant: Requantize = field(repr=False)
    #: the ONNX activation the program computes (LeakyRelu, HardSwish…; `compiler/activations`)
    activation: str | None = None


@dataclass(frozen=True)
class Reshape(Node):
    """Same values in row-major order, another shape (Flatten and Reshape)."""

    shape: tuple[int, ...]


@dataclass(frozen=True)
class Transpose(Node):
    """The input with its axes permuted (ONNX Transpose): output axis i is input axis perm[i]."""

    perm: tuple[int, ...]


@dataclass(frozen=True)
class Concat(Node):
    """Concatenation of int8 tensors that share one quantization, along `axis`."""

    axis: int


def zero_point_pieces(zero_point: int, bits: int = 8) -> tuple[int, ...]:
    """−zero_point as `bits`-bit pieces, as few and as even as may be, that add up to it (none
    for 0; −(−128) = 128 as 64 + 64 at 8 bits, −(−8) = 8 as 4 + 4 at 4 bits)."""
    negated = -int(zero_point)
    limit = (1 << (bits - 1)) - 1
    count = -(-abs(negated) // limit)
    base, extra = divmod(negated, count) if count else (0, 0)
    return (base + 1,) * extra + (base,) * (count - extra)


@dataclass(frozen=True)
class MatMulOperand(Node):
    """One head of an operand of a product of two activations, rewritten so that a plain int8
    product of the two operands computes Σ (a − za)·(b − zb) but its constant part
    (`MatMul.constant`): along the contraction axis, segment (x, y) for every x in [a, pieces of
    −za] and y in [b, pieces of −zb] but the (piece, piece) ones, each a copy of the operand or a
    constant piece (`zero_point_pieces`).

    side "a": input (..., I, K) → output (1, ..., I, K') — head `head` of the leading axes;
    side "b": input (..., K, J) → output (J, K'), transposed (output-major, as VTA's weights).
    """

    side: str
    head: int
    zero_points: tuple[int, int]
    #: the operands' width in VTA's memories: each zero point piece fits it
    bits: int = 8

    def segments(self) -> list[tuple[int | None, int | None]]:
        """(a piece or None for a itself, b piece or None for b itself) of each segment."""
        a_pieces, b_pieces = (zero_point_pieces(z, self.bits) for z in self.zero_points)
        return [(None, None)] + [(None, p) for p in b_pieces] + [(p, None) for p in a_pieces]


@dataclass(frozen=True)
class MatMul(Node):
    """The int8 product of two `MatMulOperand`s: acc[..., i, j] = constant + Σ_e a[..., i, e] ·
    b[j, e] (b output-major), then `requant`; `contraction` is the original product's K (its
    MACs are I·J·K)."""

    constant: int
    contraction: int
    requant: Requantize = field(repr=False)


@dataclass(frozen=True)
class ConvTranspose2d(Node):
    """ONNX ConvTranspose: acc[n,o,y,x] = bias[o] + Σ weight[c,o',ky,kx] · (x − input_zero_point)
    [n,c,iy,ix] over every input position (iy, ix) and tap with y = iy·stride − pad_top +
    ky·dilation (x likewise), c in o's group and o' = o mod O/groups; then `requant`. Only input
    positions contribute (there is no padding of the input).

    weight: int8 (C, O/groups, KH, KW), as ONNX orders it; bias: int32 (O,) (holding the
    requantization's offset, as `Conv2d.bias`); pads: (top, left, bottom, right), the output
    positions cropped at each border; output_padding: (rows, columns) added at the bottom and
    right.
    """

    weight: np.ndarray = field(repr=False)
    bias: np.ndarray = field(repr=False)
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    dilations: tuple[int, int]
    output_padding: tuple[int, int]
    groups: int
    input_zero_point: int
    requant: Requantize = field(repr=False)
    #: a nearest Resize by the strides (identity taps: it multiplies nothing, 0 MACs)
    upsample: bool = False

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(rows, columns) of the output for an input of `height` × `width`."""
        kh, kw = self.weight.shape[2:]
        return tuple(int((size - 1) * stride + (kernel - 1) * dilation + 1 - begin - end + extra)
                     for size, kernel, stride, dilation, begin, end, extra in zip(
                         (height, width), (kh, kw), self.strides, self.dilations,
                         self.pads[:2], self.pads[2:], self.output_padding))


@dataclass(frozen=True)
class Table(Node):
    """y = table[x + 128]: an element-wise function of an int8 tensor, given by its output at
    each of the 256 inputs — a chain of ONNX float operators between a DequantizeLinear and a
    QuantizeLinear, evaluated once in float64 with ONNX's semantics (`tables`). `operators`
    are the ONNX operators it stands for, in order. VTA has no gather: it runs on the host."""

    table: np.ndarray = field(repr=False)
    operators: tuple[str, ...]

    def __post_init__(self):
        table = self.table
        if not (isinstance(table, np.ndarray) and table.dtype == np.int8
                and table.shape == (256,)):
            found = (f"{table.dtype} {table.shape}" if isinstance(table, np.ndarray)
                     else type(table).__name__)
            raise VtaError(f"node {self.name}: a table holds 256 int8 outputs, not {found}")
        if not (isinstance(self.operators, tuple) and self.operators
                and all(isinstance(op, str) for op in self.operators)):
            raise VtaError(f"node {self.name}: a table names the operators it stands for")

    @property
    def operator(self) -> str:
        """How the placement report names it: "Sigmoid (table)", "Div+Erf+Add (table)"."""
        return f"{'+'.join(self.operators)} (table)"


@dataclass(frozen=True)
class HostOp(Node):
    """One ONNX node run on the host with exactly ONNX's semantics, on host values.

    `inputs` may hold "" for an omitted optional input, `extra_outputs` the node's outputs
    after the first ("" for an unused one). `attributes` are Python values (tensors as numpy
    arrays); `opset` is the model's default-domain opset. `onnx_node` is the serialized
    NodeProto, for what onnx.reference runs (operators without a host kernel of their own,
    element types numpy lacks)."""

    op_type: str
    attributes: dict = field(repr=False)
    opset: int
    extra_outputs: tuple[str, ...] = ()
    onnx_node: bytes | None = field(default=None, repr=False)

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.output,) + self.extra_outputs

    def call(self) -> Call:
        """The node as the host kernels take it."""
        return Call(self.op_type, self.attributes, self.opset, len(self.outputs), self.onnx_node)


@dataclass(frozen=True)
class Quantize(Node):
    """float32 host value → quantized value, exactly as ONNX QuantizeLinear (round half to
    even, saturate), to `quant`."""

    quant: Quant


@dataclass(frozen=True)
class Dequantize(Node):
    """Quantized value → float32 host value: (q − zero_point) × scale in float32, exactly as
    ONNX DequantizeLinear."""

    quant: Quant


@dataclass(frozen=True)
class Reinterpret(Node):
    """The same integers seen from the other side: a quantized value as the ONNX int8/uint8
    tensor it stands for (`to_host`), or such a host tensor as a quantized value."""

    onnx_dtype: str
    to_host: bool


@dataclass
class Graph:
    """Values, nodes in execution order, graph inputs and outputs.

    Graph inputs and outputs are named as the ONNX model names them; an imported model's are
    host values (the tensors as the model declares them), a graph built by hand may have
    quantized ones (fed and read as int8). `constants` hold the values of constant host values.
    `onnx_names` maps every quantized tensor of the ONNX model that the graph reproduces (the
    outputs of QuantizeLinear and QLinear*) to its value's name here. `host_reasons` says, per
    host node, why the importer did not make it an integer node; `notices` are what the
    importer changed on its own (a dynamic batch fixed to 1, an opset converted); `labels` the
    class names an imported model's metadata gives.
    """

    name: str = "graph"
    values: dict[str, Value] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    onnx_names: dict[str, str] = field(default_factory=dict)
    host_reasons: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    labels: list[str] | None = None

    def add_value(self, value: Value) -> Value:
        if value.name in self.values:
            raise VtaError(f"value {value.name!r} defined twice")
        if value.quantized and any(d <= 0 for d in value.shape):
            raise VtaError(f"value {value.name!r} has an empty shape {value.shape}")
        self.values[value.name] = value
        return value

    def add_constant(self, name: str, array: np.ndarray) -> Value:
        array = np.asarray(array)
        value = self.add_value(Value(name, tuple(array.shape), None, array.dtype.name))
        self.constants[name] = array
        return value

    def add_node(self, node: Node, *outputs: Value) -> Value:
        """Add `node` and its output values (in the order of `node.outputs`, unused ones
        skipped); returns the first."""
        for name in node.inputs:
            if name and name not in self.values:
                raise VtaError(f"node {node.name}: input {name!r} is not defined")
        for output in outputs:
            self.add_value(output)
        self.nodes.append(node)
        return outputs[0]

    def producer(self, value_name: str) -> Node | None:
        return next((node for node in self.nodes if value_name in node.outputs), None)

    def consumers(self, value_name: str) -> list[Node]:
        return [node for node in self.nodes if value_name in node.inputs]

    def summary(self) -> str:
        """One line per node: operator, name, output shape and quantization."""
        lines = []
        for node in self.nodes:
            out = self.values[node.output]
            kind = node.op_type if isinstance(node, HostOp) else type(node).__name__
            quant = (f"scale={out.quant.scale:.6g} zp={out.quant.zero_point}" if out.quantized
                     else out.onnx_dtype)
            lines.append(f"{kind:14} {node.name:40} -> {out.shape} {quant}")
        return "\n".join(lines)
