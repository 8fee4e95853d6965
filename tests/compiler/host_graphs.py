"""A hand-built graph with VTA and host segments: a float input quantized on the host, a
convolution on VTA, its result dequantized for two ONNX operators on the host (Sigmoid, and a
Mul by a constant tensor large enough for the .vtab's constant section), quantized again for a
second convolution on VTA, and dequantized to the float output."""

from __future__ import annotations

import numpy as np

from backend_graphs import conv_graph
from vta.compiler import ir


def host_segment_graph(rng) -> ir.Graph:
    first = conv_graph(rng, c=4, o=8, h=6, w=6).nodes[0]
    second = conv_graph(rng, c=8, o=5, h=6, w=6).nodes[0]
    graph = ir.Graph("host segments")
    x = graph.add_value(ir.Value("x", (1, 4, 6, 6), None, "float32"))
    graph.inputs.append(x.name)
    quant_x, quant_y = ir.Quant(0.05, -3), ir.Quant(0.1, first.requant.zero_point)
    quant_z = ir.Quant(0.02, -128)
    graph.add_node(ir.Quantize("quantize_x", ("x",), "xq", quant=quant_x),
                   ir.Value("xq", x.shape, quant_x))
    graph.add_node(ir.Conv2d("conv", ("xq",), "y", weight=first.weight, bias=first.bias,
                             strides=(1, 1), pads=(1, 1, 1, 1), dilations=(1, 1), groups=1,
                             input_zero_point=-3, requant=first.requant),
                   ir.Value("y", (1, 8, 6, 6), quant_y))
    graph.add_node(ir.Dequantize("dequantize_y", ("y",), "yf", quant=quant_y),
                   ir.Value("yf", (1, 8, 6, 6), None, "float32"))
    graph.add_node(ir.HostOp("gate", ("yf",), "g", "Sigmoid", {}, 17),
                   ir.Value("g", (1, 8, 6, 6), None, "float32"))
    graph.add_constant("scale", rng.uniform(0.5, 2.0, (1, 8, 6, 6)).astype(np.float32))
    graph.add_node(ir.HostOp("scaled", ("g", "scale"), "s", "Mul", {}, 17),
                   ir.Value("s", (1, 8, 6, 6), None, "float32"))
    graph.add_node(ir.Quantize("quantize_s", ("s",), "sq", quant=quant_z),
                   ir.Value("sq", (1, 8, 6, 6), quant_z))
    graph.add_node(ir.Conv2d("conv2", ("sq",), "z", weight=second.weight, bias=second.bias,
                             strides=(1, 1), pads=(1, 1, 1, 1), dilations=(1, 1), groups=1,
                             input_zero_point=-128, requant=second.requant),
                   ir.Value("z", (1, 5, 6, 6), ir.Quant(0.1, second.requant.zero_point)))
    graph.add_node(ir.Dequantize("dequantize_z", ("z",), "out", quant=ir.Quant(
        0.1, second.requant.zero_point)), ir.Value("out", (1, 5, 6, 6), None, "float32"))
    graph.outputs.append("out")
    return graph
