"""Synthetic QDQ models for the compiler tests: float models built with onnx.helper,
quantized by onnxruntime, and their distance from the reference executor in quantization steps."""

from __future__ import annotations

import logging

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from vta.compiler import reference
from vta.compiler.compare import onnxruntime_values


def float_model(nodes, initializers: dict, input_shape, output_name="y", opset=13):
    """A float ONNX model with input "x" of `input_shape` and one float output."""
    graph = helper.make_graph(
        nodes, "synthetic", [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def quantize_with_onnxruntime(model, tmp_path, samples, *, per_channel=True, activation="int8",
                              weight="int8", weight_symmetric=True, quant_format="QDQ"):
    """Quantize with onnxruntime's quantize_static directly (MinMax calibration on `samples`)."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    types = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
    source, target = tmp_path / "float.onnx", tmp_path / "int8.onnx"
    onnx.save(model, source)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter([{"x": s[None]} for s in samples])

        def get_next(self):
            return next(self.feeds, None)

    logging.getLogger().setLevel(logging.ERROR)
    quantize_static(str(source), str(target), Reader(),
                    quant_format=getattr(QuantFormat, quant_format),
                    activation_type=types[activation], weight_type=types[weight],
                    per_channel=per_channel,
                    extra_options={"WeightSymmetric": weight_symmetric})
    return target


def gated_model(folder, rng) -> tuple:
    """Conv → Sigmoid → Conv on a 1×3×8×8 input, quantized by onnxruntime: two VTA layers
    around a host segment. Returns (the int8 model's path, the 8 calibration samples)."""
    init = {"a.w": rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32),
            "b.w": rng.normal(0, 0.2, (4, 8, 3, 3)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "a.w"], ["a"], name="conv_a", pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["a"], ["g"], name="gate"),
             helper.make_node("Conv", ["g", "b.w"], ["y"], name="conv_b", pads=[1, 1, 1, 1])]
    samples = rng.normal(size=(8, 3, 8, 8)).astype(np.float32)
    return quantize_with_onnxruntime(float_model(nodes, init, [1, 3, 8, 8]), folder, samples), samples


def steps_apart(graph, model_path, x, optimized=False) -> dict[str, tuple[int, int]]:
    """Per IR value: (chained, isolated) max difference from onnxruntime in quantization steps;
    by default against onnxruntime running each operator as ONNX defines it (its fused kernels
    deviate: e.g. its quantized AveragePool divides ceil-mode border windows differently)."""
    from vta.compiler.compare import layer_differences
    return {d.value: (d.chained, d.isolated)
            for d in layer_differences(graph, model_path, {"x": x}, optimized)}


def output_steps(graph, model_path, x) -> int:
    """Max difference of the graph output from onnxruntime's, in output quantization steps (of
    the quantized value whose dequantization the output is)."""
    theirs = onnxruntime_values(model_path, graph, {"x": x})
    ours = reference.run(graph, {"x": x})
    name = graph.producer(graph.outputs[0]).inputs[0]
    return int(np.abs(ours[name].astype(int) - theirs[name].astype(int)).max())
