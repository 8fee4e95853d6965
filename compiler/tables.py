"""Element-wise float functions of one int8 tensor as lookup tables, exact.

A chain of single-input element-wise ONNX operators between a DequantizeLinear of an int8
(or uint8) tensor and a QuantizeLinear — `DequantizeLinear → Sigmoid → QuantizeLinear`, a
SiLU's gate; `Div → Erf → Add`; `Mul → Pow` —, its other inputs scalar constants, maps each
of the 256 input integers to one output integer. The importer collects the chain as a pending
node (kind "table": the float function of each operator) and, at the QuantizeLinear, evaluates
it here once for all 256 inputs in float64 with ONNX's semantics: the dequantization
(q − zero point)·scale (exact in float64), each operator's host kernel on float64 values (the
constants widened from float32, exactly), the division by the output scale, rounding half to
even and saturation. That is the exact evaluation of the QDQ graph (`compare.exact_values`),
where the host's float32 arithmetic flips values that lie within a float32 ulp of a rounding
tie (a SiLU's Sigmoid: docs/zoo.md). The result is an `ir.Table`; the host runs it as one
gather (`reference`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vta.compiler import ir
from vta.compiler.onnx_values import Pending
from vta.isa import VtaError

#: Element-wise float operators of one tensor (other inputs scalar constants) that a table may
#: hold and that have no integer handler of their own. Relu, Clip, the activations VTA plans
#: (`activations.ACTIVATIONS`) and Add/Sub/Mul/Div by a constant join a chain through theirs.
OPERATORS = (
    "Sigmoid", "Tanh", "Erf", "Exp", "Log", "Sqrt", "Abs", "Neg", "Reciprocal", "Sin", "Cos",
    "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Elu", "Celu",
    "Selu", "Softplus", "Softsign", "Mish", "Gelu", "ThresholdedRelu", "Shrink", "Pow", "Max",
    "Min",
)


def chainable(pending: Pending) -> bool:
    """Whether an element-wise operator may extend `pending` into a table: a table, or an
    activation with one set of parameters (not per channel), neither clamped yet."""
    if pending.lo > -np.inf or pending.hi < np.inf:
        return False
    return pending.kind == "table" or (pending.kind == "activation"
                                       and not pending.fields["channels"])


def as_table(pending: Pending) -> Pending:
    """A pending activation with one set of parameters as a table of its float function (any
    clamp it has stays the table's)."""
    if pending.kind == "table":
        return pending
    return dataclasses.replace(pending, kind="table", node_type=ir.Table,
                               fields={"functions": (pending.fields["activation"].table,)})


def exact_table(functions, x_quant: ir.Quant, out_quant: ir.Quant, lo: int, hi: int,
                where: str) -> np.ndarray:
    """The int8 output for each int8 input −128…127 (index q + 128): DequantizeLinear, the
    `functions` (float64 in, float64 out) and QuantizeLinear, clamped to [lo, hi], all in
    float64 (`quantized_exactly`)."""
    def chain(real):
        for function in functions:
            real = np.asarray(function(real))
        if real.dtype != np.float64 or real.shape != (256,):
            raise VtaError(f"{where}: the chain gives {real.dtype} {real.shape}, not one float64 "
                           "value per input")
        return real
    steps = quantized_exactly(np.arange(-128, 128), x_quant, out_quant, chain)
    return np.clip(steps, lo, hi).astype(np.int8)


def quantized_exactly(inputs: np.ndarray, x_quant: ir.Quant, out_quant: ir.Quant,
                      function) -> np.ndarray:
    """QuantizeLinear(function(DequantizeLinear(inputs))) in float64 — the exact evaluation of
    the QDQ graph —, unclamped: rounded half to even, the zero point added; a NaN (Log or Sqrt
    of a negative input) is the lowest value, as `ir.Quant.quantize` and onnxruntime give it.
    `function` maps the dequantized inputs (float64) to float64 outputs."""
    real = (inputs.astype(np.float64) - x_quant.zero_point) * np.float64(x_quant.scale)
    with np.errstate(all="ignore"):
        steps = np.rint(function(real) / np.float64(out_quant.scale)) + out_quant.zero_point
    return np.nan_to_num(steps, nan=out_quant.range[0])
