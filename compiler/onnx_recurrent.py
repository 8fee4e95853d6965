"""GRU, LSTM and RNN decomposed at import, so that their matrix products run on VTA
(docs/host.md, "Recurrent operators").

onnxruntime's `quantize_static` leaves recurrent nodes in float, so each one becomes, per
direction, the ONNX nodes of its definition:

- the **input projection** of every time step at once: one product over the (steps, batch,
  features) input for all gates — a Dense over the token axis;
- per time step the **recurrent projection** of the previous state: one product for all gates
  (GRU with `linear_before_reset` 0: z and r, then n on the reset state);
- the gates (Sigmoid, Tanh, Mul, Add, Sub) on the host, in float, and the hidden (and cell)
  state carried in float, as onnxruntime carries it.

The float weights are quantized per output row, symmetric int8, when the model is compiled.
A product's input is int8: the layer's input itself where it is the dequantization of an int8
tensor; a state (every state of these cells lies in [−1, 1]: a convex combination of tanh
outputs, a tanh, or o·tanh(c)) as two int8 digits (`Builder.quantized_state`); a float input
or a given initial state divided by its largest magnitude first (computed on the host, per
inference), the product multiplied back by it (dynamic quantization). Each product is one VTA
Dense whose result leaves VTA at 16 bits (`wide_product`).

`decompose` makes the nodes; with an importer (`recurrent`, the handler) each is imported as
it is made. A node it does not decompose (other activations, `sequence_lens` shorter than the
sequence, an integer input) runs on the host whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from vta.compiler import ir
from vta.compiler.alu_program import ACC_LIMIT, half, shifts, wrap32
from vta.compiler.onnx_attributes import CELLS, NodeError
from vta.compiler.onnx_host import python_attributes
from vta.compiler.onnx_operators import operator
from vta.compiler.onnx_values import Const, Host, Pending, Quantized, Real
from vta.compiler.requantize import INT8_MAX, INT8_MIN, Requantize

#: The scale of a quantized hidden state (|h| ≤ 1) and of a dynamically quantized input.
STATE_SCALE = np.float32(1 / 127)
#: A state's second int8 digit holds its rounding remainder times this (1: no second digit).
RESIDUAL = 16


def quantize_rows(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 weight, float32 scale per row): symmetric, the largest magnitude of each row at
    ±127 (a zero row gets scale 1)."""
    weight = np.asarray(weight, np.float32)
    peak = np.abs(weight).max(axis=1)
    scale = np.where(peak > 0, peak / np.float32(127), np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(weight / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


class Builder:
    """ONNX nodes and constants of one decomposed node, named `<prefix>/<part>`.

    Without an importer it only collects them (an ONNX graph whose products are float MatMuls
    with the int8 weights dequantized: the decomposition's structure, as tests check it against
    onnxruntime). With one, every node is imported as it is made and every product is a wide
    VTA Dense (`wide_product`)."""

    def __init__(self, prefix: str, importer=None):
        self.prefix, self.im = prefix, importer
        self.nodes: list[onnx.NodeProto] = []
        self.constants: dict[str, np.ndarray] = {}
        #: tensors holding a state as two digits (`quantized_state`)
        self.fine: set[str] = set()

    def const(self, name: str, array) -> str:
        name = f"{self.prefix}/{name}_const"
        self.constants[name] = np.asarray(array)
        if self.im is not None:
            self.im.env[name] = Const(np.asarray(array))
        return name

    def add(self, op_type: str, inputs, name: str, outputs: int = 1, output: str | None = None,
            **attributes) -> str:
        names = [output or f"{self.prefix}/{name}"] + [f"{self.prefix}/{name}:{i}"
                                                        for i in range(1, outputs)]
        node = helper.make_node(op_type, list(inputs), names, name=f"{self.prefix}/{name}",
                                **attributes)
        self.nodes.append(node)
        if self.im is not None:
            self.im.import_nested(node)
        return names[0]

    def split(self, x: str, sizes: list[int], name: str, axis: int = -1) -> list[str]:
        first = self.add("Split", [x, self.const("sizes_" + "_".join(map(str, sizes)),
                                                  np.asarray(sizes, np.int64))],
                         name, outputs=len(sizes), axis=axis)
        return [first] + [f"{self.prefix}/{name}:{i}" for i in range(1, len(sizes))]

    def product(self, x: str, weights: list[np.ndarray], biases: list, tag: str,
                peak: str | None = None, digits: bool = False) -> list[str]:
        """Float results of x·Wᵀ + b for each (W, b) of `weights` and `biases` (b None for
        none; one product over their stacked rows), or of peak·(x·Wᵀ) + b for an x normalized
        by `peak`: int8 weights per row (with `digits`, two int8 digits: `weight_digits`); a
        wide VTA Dense where the importer has x as the dequantization of an int8 tensor."""
        weight = np.concatenate(weights)
        bias = np.concatenate([np.zeros(len(w)) if b is None else np.asarray(b, np.float64)
                               for w, b in zip(weights, biases)])
        inner = bias if peak is None else np.zeros_like(bias)
        columns = 1
        if x in self.fine:       # digits at 1/127 and 1/(127·RESIDUAL)
            weight = np.concatenate([weight, weight / RESIDUAL], axis=1) / 127
            columns = 2
        q, scale = quantize_rows(weight)
        meaning = None if self.im is None else self.im.env.get(x)
        if isinstance(meaning, Real):
            parts = weight_digits(weight) if digits else [(q, scale.astype(np.float64))]
            y = wide_product(self, self.im.graph.values[meaning.value], parts, inner, tag,
                             copies=2 * len(parts) * columns)
        else:
            w = self.const(f"{tag}/weight", (q.astype(np.float32) * scale[:, None]).T)
            y = self.add("MatMul", [x, w], tag)
            if inner.any():
                y = self.add("Add", [y, self.const(f"{tag}/bias", inner.astype(np.float32))],
                             f"{tag}/bias")
        if peak is not None:
            y = self.add("Mul", [y, peak], f"{tag}/rescaled")
            if bias.any():
                y = self.add("Add", [y, self.const(f"{tag}/bias", bias.astype(np.float32))],
                             f"{tag}/bias")
        if len(weights) == 1:
            return [y]
        return self.split(y, [len(w) for w in weights], f"{tag}/gates")

    def normalized(self, x: str, tag: str) -> tuple[str, str]:
        """(x / max|x| quantized at 1/127, max|x|): dynamic quantization of a tensor of
        unknown range, per inference."""
        peak = self.add("ReduceMax", [self.add("Abs", [x], f"{tag}/abs")], f"{tag}/peak",
                        keepdims=0)
        peak = self.add("Max", [peak, self.const("tiny", np.float32(1e-30))],
                        f"{tag}/peak_positive")
        return self.quantized_state(self.add("Div", [x, peak], f"{tag}/normalized"), tag), peak

    def quantized_state(self, h: str, tag: str) -> str:
        """The state (|h| ≤ 1) as int8 for a product (without an importer, the state itself:
        the structure alone): with `RESIDUAL` > 1, two int8 digits per element, r = round(127·h)
        and round(RESIDUAL·(127·h − r)), as one tensor (…, 2H) at scale 1 (`fine`); else
        round(127·h) at 1/127."""
        if self.im is None:
            return h
        if RESIDUAL > 1:
            scaled = self.add("Mul", [h, self.const("state_steps", np.float32(127))],
                              f"{tag}/steps")
            digit = self.add("Round", [scaled], f"{tag}/digit")
            residual = self.add("Mul", [self.add("Sub", [scaled, digit], f"{tag}/remainder"),
                                        self.const("residual", np.float32(RESIDUAL))],
                                f"{tag}/residual")
            h = self.add("Concat", [digit, residual], f"{tag}/digits", axis=-1)
            scale = self.const("unit_scale", np.float32(1))
        else:
            scale = self.const("state_scale", STATE_SCALE)
        zero = self.const("state_zero_point", np.int8(0))
        q = self.add("QuantizeLinear", [h, scale, zero], f"{tag}/quantized")
        y = self.add("DequantizeLinear", [q, scale, zero], f"{tag}/dequantized")
        if RESIDUAL > 1:
            self.fine.add(y)
        return y


#: A wide result F is held below this in magnitude, so that ⌊(F + 128) / 256⌋ fits int8.
WIDE_LIMIT = (INT8_MAX - 1) * 256


def weight_digits(weight: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The weight as two int8 digits per element, [(q, scale), (remainder, scale / 256)]:
    q·scale + remainder·scale/256 is the weight to about 15 bits."""
    q, scale = quantize_rows(weight)
    remainder = np.clip(np.rint((weight / scale[:, None] - q) * 256), -127, 127)
    return [(q, scale.astype(np.float64)), (remainder.astype(np.int8), scale / 256.0)]


def wide_product(build: Builder, x: ir.Value, parts: list[tuple[np.ndarray, np.ndarray]],
                 bias: np.ndarray, tag: str, copies: int) -> str:
    """Σ over `parts` (q, scale) of x·(q·scale)ᵀ, + bias, to 16 bits each: one VTA Dense
    over the rows of every part twice, interleaved per output row.

    With F = ⌊(acc + 2^(j−1)) / 2^j⌋ — a part's accumulator rounded to units of 2^j, j per row
    the least shift that keeps |F| < `WIDE_LIMIT` for every input — the first copy stores F's
    low byte (its requantization has no clamp: the store keeps the low byte, wrapping) and the
    second ⌊(F + 128) / 256⌋ (a truncating shift by j + 8 after the offset 2^(j−1) + 2^(j+7)),
    so that F = low + 256·high with both signed int8. The host reads them as (…, M, 2·parts)
    and sums low·u + high·256u, u = 2^j accumulator units of the part."""
    im = build.im
    rows = len(parts[0][0])
    zero_point = x.quant.zero_point
    reach = max(INT8_MAX - zero_point, zero_point - INT8_MIN)
    weights, biases, shift, units = [], [], [], []
    remaining = np.asarray(bias, np.float64)
    for q, scale in parts:
        acc_scale = np.float64(x.quant.scale) * scale
        bias_acc = np.rint(remaining / acc_scale).astype(np.int64)
        remaining = remaining - bias_acc * acc_scale     # the next part holds what is left
        bound = np.abs(q.astype(np.int64)).sum(axis=1) * reach + np.abs(bias_acc)
        low = np.maximum(0, np.ceil(np.log2(np.maximum(bound, 1) / WIDE_LIMIT))).astype(np.int64)
        if np.any(bound + np.abs(bias_acc) + np.left_shift(1, low + 8) >= ACC_LIMIT):
            raise NodeError(tag, "the accumulator of a recurrent product could exceed 32 bits")
        weights += [q, q]
        biases += [bias_acc + half(low), bias_acc + half(low) + np.left_shift(1, low + 7)]
        shift += [low, low + 8]
        units += [acc_scale * np.exp2(low), acc_scale * np.exp2(low + 8)]
    order = lambda arrays: np.stack(arrays, axis=1).reshape((rows * len(arrays),)  # noqa: E731
                                                             + arrays[0].shape[1:])
    shift = order(shift)
    requant = Requantize(np.exp2(-shift.astype(np.float64)), 0, INT8_MIN, INT8_MAX,
                         tuple(shifts(shift)))
    lead = x.shape[:-1]
    width = 2 * len(parts)
    output = im.new_value(f"{build.prefix}/{tag}/wide", lead + (width * rows,), ir.Quant(1.0, 0))
    value = im.emit(ir.Dense, f"{build.prefix}/{tag} (MatMul)", [x.name], output,
                    weight=order(weights), bias=wrap32(order(biases)),
                    input_zero_point=zero_point, requant=requant, copies=copies)
    wide = f"{build.prefix}/{tag}/wide"
    im.env[wide] = Quantized(value.name)
    pairs = build.add("Reshape", [build.add("Cast", [wide], f"{tag}/cast",
                                            to=onnx.TensorProto.FLOAT),
                                  build.const(f"{tag}/pairs_shape",
                                              np.asarray(lead + (rows, width), np.int64))],
                      f"{tag}/pairs")
    scaled = build.add("Mul", [pairs, build.const(f"{tag}/units",
                                                  np.stack(units, axis=1).astype(np.float32))],
                       f"{tag}/scaled")
    return build.add("ReduceSum", [scaled, build.const("last_axis", np.asarray([-1], np.int64))],
                     f"{tag}/real", keepdims=0)


@dataclass
class Layer:
    """What `decompose` needs to know of the node and its inputs."""

    op_type: str
    x_shape: tuple[int, ...]
    #: whether the input is quantized per inference (it is no dequantized int8 tensor)
    dynamic: bool
    w: np.ndarray
    r: np.ndarray
    b: np.ndarray | None
    initial_h: str | None
    initial_c: str | None
    peepholes: np.ndarray | None
    attributes: dict


def check(op_type: str, label: str, attributes: dict, lengths: np.ndarray | None,
          steps: int) -> None:
    """Refuse (NodeError: the node then runs on the host whole) what is not decomposed."""
    defaults = CELLS[op_type][1]
    directions = 2 if attributes.get("direction") == "bidirectional" else 1
    activations = tuple(attributes.get("activations", defaults * directions))
    if activations != defaults * directions:
        raise NodeError(label, f"activations {list(activations)} are not decomposed (only "
                               f"{list(defaults)}, whose states stay within [-1, 1])")
    if attributes.get("activation_alpha") or attributes.get("activation_beta"):
        raise NodeError(label, "activation_alpha/beta are not decomposed")
    if lengths is not None and np.any(np.asarray(lengths) != steps):
        raise NodeError(label, "sequence_lens shorter than the sequence are not decomposed")


def decompose(layer: Layer, node: onnx.NodeProto, build: Builder,
              outputs: tuple[str, ...] | None = None) -> Builder:
    """The node's ONNX definition, its products run as VTA Dense layers; its outputs keep
    their names (only those of `outputs`, by default all the node names)."""
    names = list(node.output if outputs is None else outputs) + ["", "", ""]
    attrs = layer.attributes
    layout = attrs.get("layout", 0)
    steps = layer.x_shape[1] if layout else layer.x_shape[0]
    direction = attrs.get("direction", "forward")
    reverses = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}[direction]
    x, peak = node.input[0], None
    if layer.dynamic:
        x, peak = build.normalized(x, "input")
    time_axis = 1 if layout else 0
    results = ([], [], [])
    for d, reverse in enumerate(reverses):
        # states keep the time axis: (1, batch, H), or (batch, 1, H) batch first
        cell = Cell(build, layer, d, f"d{d}", time_axis, steps)
        cell.project_input(x, peak)
        index = build.const(f"d{d}/index", np.asarray([d], np.int64))
        h = layer.initial_h and build.add("Gather", [layer.initial_h, index], f"d{d}/initial_h",
                                          axis=time_axis)
        c = layer.initial_c and build.add("Gather", [layer.initial_c, index], f"d{d}/initial_c",
                                          axis=time_axis)
        states = {}
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            h, c = cell.step(t, h, c)
            states[t] = h
        if names[0]:
            y = build.add("Concat", [states[t] for t in range(steps)], f"d{d}/y",
                          axis=time_axis)
            results[0].append(build.add("Unsqueeze", [y, build.const(
                "direction_axis", np.asarray([time_axis + 1], np.int64))], f"d{d}/y_directions"))
        results[1].append(h)
        if c is not None and names[2]:
            results[2].append(c)
    for index, parts in enumerate(results):
        name = names[index]
        if name and parts:
            build.add("Concat", parts, f"output{index}", output=name,
                      axis=time_axis + 1 if index == 0 else time_axis)
    return build


class Cell:
    """One direction of a recurrent layer: its input projection, then step by step. Gates
    that share an activation and have no terms of their own are computed together (`groups`:
    GRU z and r; LSTM i, o and f without peepholes)."""

    def __init__(self, build: Builder, layer: Layer, d: int, tag: str, time_axis: int,
                 steps: int):
        self.build, self.tag, self.time_axis, self.steps = build, tag, time_axis, steps
        self.op_type = layer.op_type
        gates = CELLS[self.op_type][0]
        hidden = layer.r.shape[-1]
        self.w = np.split(layer.w[d].astype(np.float64), gates)
        self.r = np.split(layer.r[d].astype(np.float64), gates)
        b = (np.zeros(2 * gates * hidden) if layer.b is None else layer.b[d].astype(np.float64))
        self.wb, self.rb = np.split(b[:gates * hidden], gates), np.split(b[gates * hidden:], gates)
        self.clip = layer.attributes.get("clip")
        self.lbr = layer.attributes.get("linear_before_reset", 0) if self.op_type == "GRU" else 0
        self.input_forget = layer.attributes.get("input_forget", 0)
        self.first = True
        self.peepholes = (None if layer.peepholes is None
                          else np.split(layer.peepholes[d].astype(np.float64), 3))
        # activation of each gate: GRU z r n; LSTM i o f c; RNN h
        self.activation = {"GRU": ("Sigmoid", "Sigmoid", "Tanh"),
                           "LSTM": ("Sigmoid", "Sigmoid", "Sigmoid", "Tanh"),
                           "RNN": ("Tanh",)}[self.op_type]
        if self.op_type == "GRU":
            self.groups = [[0, 1], [2]]
        elif self.op_type == "LSTM" and self.peepholes is None:
            self.groups = [[0, 1, 2], [3]]
        else:
            self.groups = [[g] for g in range(gates)]

    def _stack(self, parts: list, group: list[int]) -> np.ndarray:
        return np.concatenate([parts[g] for g in group])

    def project_input(self, x: str, peak: str | None) -> None:
        """Per group of gates, the input projection of every step at once, split into steps;
        R's bias joins W's wherever it adds outside the product (all but GRU's n gate when
        `linear_before_reset`). W is held as two int8 digits: one layer for every step, so the
        doubled weight costs little (R's, loaded at every step, stays one digit)."""
        build = self.build
        biases = [self.wb[g] + (0 if self.lbr and g == 2 else self.rb[g])
                  for g in range(len(self.w))]
        projections = build.product(x, [self._stack(self.w, group) for group in self.groups],
                                    [self._stack(biases, group) for group in self.groups],
                                    f"{self.tag}/input", peak, digits=True)
        self.inputs = [build.split(y, [1] * self.steps, f"{self.tag}/input/steps{i}",
                                   axis=self.time_axis)
                       for i, y in enumerate(projections)]

    def _activate(self, index: int, pre: str, t: int) -> list[str]:
        """The activation of group `index`'s pre-activation, split into its gates."""
        build, group = self.build, self.groups[index]
        if self.clip is not None:
            pre = build.add("Clip", [pre, build.const("clip_lo", np.float32(-self.clip)),
                                     build.const("clip_hi", np.float32(self.clip))],
                            f"{self.tag}/t{t}/clip{index}")
        y = build.add(self.activation[group[0]], [pre], f"{self.tag}/t{t}/gate{index}")
        if len(group) == 1:
            return [y]
        size = len(self.r[0])
        return build.split(y, [size] * len(group), f"{self.tag}/t{t}/gates{index}")

    def _gate(self, index: int, t: int, recurrent: str | None, extra: str | None = None
              ) -> list[str]:
        """The gates of group `index`: activation(x part + recurrent part (+ extra))."""
        pre = self.inputs[index][t]
        for name, part in (("sum", recurrent), ("extra", extra)):
            if part is not None:
                pre = self.build.add("Add", [pre, part], f"{self.tag}/t{t}/{name}{index}")
        return self._activate(index, pre, t)

    def step(self, t: int, h: str | None, c: str | None) -> tuple[str, str | None]:
        """(new hidden state, new cell state) after step t; None is a zero state."""
        build, tag = self.build, f"{self.tag}/t{t}"
        hq = peak = None
        if h is not None and self.first:
            # an initial state given: of any range, normalized like an unquantized input
            hq, peak = build.normalized(h, f"{tag}/state")
        elif h is not None:
            hq = build.quantized_state(h, f"{tag}/state")
        self.first = False
        # the recurrent products: every group but GRU's n when the reset comes first
        products = [i for i, group in enumerate(self.groups)
                    if not (self.op_type == "GRU" and group == [2] and not self.lbr)]
        rec = [None] * len(self.groups)
        if hq is not None:
            found = build.product(
                hq, [self._stack(self.r, self.groups[i]) for i in products],
                [np.concatenate([self.rb[g] if self.lbr and g == 2 else np.zeros(len(self.r[g]))
                                 for g in self.groups[i]]) for i in products],
                f"{tag}/recurrent", peak)
            for i, y in zip(products, found):
                rec[i] = y
        if self.op_type == "RNN":
            return self._gate(0, t, rec[0])[0], c
        if self.op_type == "GRU":
            z, reset = self._gate(0, t, rec[0])
            if self.lbr:
                hn = rec[1] if hq is not None else build.const(
                    f"{self.tag}/recurrent_bias", self.rb[2].astype(np.float32))
                n = self._gate(1, t, build.add("Mul", [reset, hn], f"{tag}/reset"))[0]
            elif h is None:
                n = self._gate(1, t, None)[0]
            else:
                gated = build.add("Mul", [reset, h], f"{tag}/reset")
                gated, gated_peak = ((build.quantized_state(gated, f"{tag}/reset_state"), None)
                                     if peak is None else
                                     build.normalized(gated, f"{tag}/reset_state"))
                n = self._gate(1, t, build.product(gated, [self.r[2]], [None],
                                                   f"{tag}/recurrent_reset", gated_peak)[0])[0]
            # h' = (1 − z)·n + z·h = n + z·(h − n)
            if h is None:
                return build.add("Sub", [n, build.add("Mul", [z, n], f"{tag}/keep")],
                                 f"{tag}/h"), c
            keep = build.add("Mul", [z, build.add("Sub", [h, n], f"{tag}/delta")], f"{tag}/keep")
            return build.add("Add", [n, keep], f"{tag}/h"), c
        # LSTM: gates i o f c
        if self.peepholes is None:
            i, o, f = self._gate(0, t, rec[0])
            candidate = self._gate(1, t, rec[1])[0]
        else:
            def peep(index: int, state: str | None):
                if state is None:
                    return None
                return build.add("Mul", [state, build.const(
                    f"{self.tag}/peephole{index}", self.peepholes[index].astype(np.float32))],
                    f"{tag}/peephole{index}")
            i = self._gate(0, t, rec[0], peep(0, c))[0]
            f = self._gate(2, t, rec[2], peep(2, c))[0]
            candidate = self._gate(3, t, rec[3])[0]
        if self.input_forget:
            f = build.add("Sub", [build.const("one", np.float32(1)), i], f"{tag}/forget")
        new_c = build.add("Mul", [i, candidate], f"{tag}/input")
        if c is not None:
            new_c = build.add("Add", [build.add("Mul", [f, c], f"{tag}/kept"), new_c],
                              f"{tag}/c")
        if self.peepholes is not None:
            o = self._gate(1, t, rec[1], peep(1, new_c))[0]
        return build.add("Mul", [o, build.add("Tanh", [new_c], f"{tag}/c_tanh")], f"{tag}/h"), \
            new_c


@operator("GRU", "LSTM", "RNN")
def recurrent(im, node, label):
    """A recurrent node decomposed (`decompose`), its products on VTA."""
    attrs = python_attributes(node, label)

    def given(index: int) -> str | None:
        return node.input[index] if len(node.input) > index and node.input[index] else None

    meaning = im.env.get(node.input[0])
    if isinstance(meaning, (Real, Quantized, Host)):
        x_shape = im.graph.values[meaning.value].shape
    elif isinstance(meaning, Pending):
        x_shape = meaning.shape
    else:
        raise NodeError(label, f"input {node.input[0]!r} is not a tensor of the model")
    if isinstance(meaning, Quantized):
        raise NodeError(label, "an integer input of a recurrent layer is not decomposed")
    if (im.activation_bits, im.weight_bits) != (8, 8):    # its products' digits are int8
        raise NodeError(label, "only QDQ Conv/Gemm/MatMul are re-quantized for narrow operands")
    w = np.asarray(im.const(node.input[1], label, "W"), np.float32)
    r = np.asarray(im.const(node.input[2], label, "R"), np.float32)
    b = np.asarray(im.const(given(3), label, "B"), np.float32) if given(3) else None
    lengths = im.const(given(4), label, "sequence_lens") if given(4) else None
    steps = x_shape[1] if attrs.get("layout", 0) else x_shape[0]
    check(node.op_type, label, attrs, lengths, steps)
    initial = []
    for index in (5, 6):
        name = given(index) if node.op_type == "LSTM" or index == 5 else None
        state = im.env.get(name) if name else None
        zero = isinstance(state, Const) and not np.asarray(state.array).any()
        initial.append(None if name is None or zero else name)
    peepholes = (np.asarray(im.const(given(7), label, "P"), np.float32)
                 if node.op_type == "LSTM" and given(7) else None)
    consumed = {name for other in im.model.graph.node for name in other.input} | {
        output.name for output in im.model.graph.output}
    outputs = tuple(name if name in consumed else "" for name in node.output)
    layer = Layer(node.op_type, tuple(x_shape), not isinstance(meaning, Real), w, r, b,
                  initial[0], initial[1], peepholes, attrs)
    decompose(layer, node, Builder(label.rsplit(" (", 1)[0], im), outputs)
    return [im.env.get(name) if name else None for name in node.output]
