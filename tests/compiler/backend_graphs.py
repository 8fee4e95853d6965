"""Synthetic one- and few-node integer graphs for the back-end tests, and a helper that compiles
one, runs it on a backend and returns (VTA output, reference output) as int8 arrays."""

from __future__ import annotations

import numpy as np

from vta.compiler import ir, reference
from vta.compiler.build import compile_graph
from vta.compiler.executor import Executor
from vta.compiler.alu_program import AluStep
from vta.compiler.requantize import plan_requantization
from vta.isa import AluOp, Config


def requant(rng, channels, acc_bound, *, per_channel, alu_mul, relu=False, where="test",
            shape_tail=(1, 1)):
    """A requantization to int8 with a random multiplier around 1 / typical |acc|."""
    typical = max(float(np.mean(acc_bound)) / 8, 1.0)
    size = (channels,) + shape_tail if per_channel else ()
    multiplier = rng.uniform(0.3, 3.0, size=size) * 64 / typical
    if not alu_mul:
        multiplier = np.exp2(np.round(np.log2(multiplier)))
    zero_point = -128 if relu else int(rng.integers(-20, 20))
    bound = np.broadcast_to(acc_bound, np.shape(multiplier)) if size else int(np.max(acc_bound))
    return plan_requantization(multiplier, zero_point=zero_point,
                               lo=zero_point if relu else -128, hi=127, acc_bound=bound,
                               alu_mul=alu_mul, where=where)


def value(graph, name, shape, zero_point=0):
    return graph.add_value(ir.Value(name, tuple(shape), ir.Quant(0.05, zero_point)))


def conv_graph(rng, *, n=1, c=8, h=6, w=6, o=8, k=3, stride=1, pad=1, groups=1, dilation=1,
               input_zero_point=-3, per_channel=True, alu_mul=True, relu=False) -> ir.Graph:
    graph = ir.Graph("conv")
    value(graph, "x", (n, c, h, w), input_zero_point)
    graph.inputs.append("x")
    weight = rng.integers(-128, 128, size=(o, c // groups, k, k)).astype(np.int8)
    bias = rng.integers(-5000, 5000, size=o).astype(np.int32)
    bound = np.abs(weight.astype(np.int64)).sum(axis=(1, 2, 3)) * 256 + 5000
    pads = (pad, pad, pad, pad) if isinstance(pad, int) else pad
    oh = ir.window_output_size(h, k, stride, pads[0], pads[2], dilation)
    ow = ir.window_output_size(w, k, stride, pads[1], pads[3], dilation)
    rq = requant(rng, o, bound[:, None, None], per_channel=per_channel, alu_mul=alu_mul, relu=relu)
    node = ir.Conv2d("conv", ("x",), "y", weight=weight, bias=bias, strides=(stride, stride),
                     pads=pads, dilations=(dilation, dilation), groups=groups,
                     input_zero_point=input_zero_point, requant=rq)
    graph.add_node(node, ir.Value("y", (n, o, oh, ow), ir.Quant(0.1, rq.zero_point)))
    graph.outputs.append("y")
    return graph


def conv_transpose_graph(rng, *, n=1, c=8, h=5, w=5, o=8, k=2, stride=2, pad=0,
                         output_padding=0, input_zero_point=-3, per_channel=True,
                         relu=False) -> ir.Graph:
    """x → ConvTranspose (weights (C, O, k, k), as ONNX orders them) → y."""
    graph = ir.Graph("conv_transpose")
    value(graph, "x", (n, c, h, w), input_zero_point)
    graph.inputs.append("x")
    weight = rng.integers(-128, 128, size=(c, o, k, k)).astype(np.int8)
    bias = rng.integers(-5000, 5000, size=o).astype(np.int32)
    bound = np.abs(weight.astype(np.int64)).sum(axis=(0, 2, 3)) * 256 + 5000
    pads = (pad, pad, pad, pad) if isinstance(pad, int) else pad
    rq = requant(rng, o, bound[:, None, None], per_channel=per_channel, alu_mul=True, relu=relu)
    node = ir.ConvTranspose2d("up", ("x",), "y", weight=weight, bias=bias,
                              strides=(stride, stride), pads=pads, dilations=(1, 1),
                              output_padding=(output_padding, output_padding), groups=1,
                              input_zero_point=input_zero_point, requant=rq)
    oh, ow = node.output_size(h, w)
    graph.add_node(node, ir.Value("y", (n, o, oh, ow), ir.Quant(0.1, rq.zero_point)))
    graph.outputs.append("y")
    return graph


def dense_graph(rng, *, n=1, k=40, m=20, input_zero_point=5, per_channel=True, alu_mul=True,
                lead: tuple[int, ...] | None = None) -> ir.Graph:
    """x (n, k) — or (*lead, k): rows of a matrix, tokens — → Dense → y (…, m)."""
    graph = ir.Graph("dense")
    lead = (n,) if lead is None else tuple(lead)
    value(graph, "x", lead + (k,), input_zero_point)
    graph.inputs.append("x")
    add_dense(rng, graph, "x", "y", m, per_channel=per_channel, alu_mul=alu_mul)
    graph.outputs.append("y")
    return graph


def add_dense(rng, graph, source: str, output: str, m: int, *, per_channel=True, alu_mul=True,
              name: str = "fc") -> None:
    """Append a Dense of `source`'s last axis to m outputs."""
    x = graph.values[source]
    k = x.shape[-1]
    weight = rng.integers(-128, 128, size=(m, k)).astype(np.int8)
    bias = rng.integers(-5000, 5000, size=m).astype(np.int32)
    bound = np.abs(weight.astype(np.int64)).sum(axis=1) * 256 + 5000
    rq = requant(rng, m, bound, per_channel=per_channel, alu_mul=alu_mul, shape_tail=())
    node = ir.Dense(name, (source,), output, weight=weight, bias=bias,
                    input_zero_point=x.quant.zero_point, requant=rq)
    graph.add_node(node, ir.Value(output, x.shape[:-1] + (m,), ir.Quant(0.1, rq.zero_point)))


def channels_last_graph(rng, *, c=24, m=40, h=5, w=6) -> ir.Graph:
    """x (NCHW) → Transpose to NHWC → Dense over the channels (a ConvNeXt pointwise layer) →
    Transpose to NCHW → 3×3 convolution with padding: both transposes alias their input, the
    convolution's padding lies in the halo of the Dense's output."""
    graph = ir.Graph("channels_last")
    value(graph, "x", (1, c, h, w), -7)
    graph.inputs.append("x")
    graph.add_node(ir.Transpose("to_nhwc", ("x",), "t", perm=(0, 2, 3, 1)),
                   ir.Value("t", (1, h, w, c), graph.values["x"].quant))
    add_dense(rng, graph, "t", "d", m)
    graph.add_node(ir.Transpose("to_nchw", ("d",), "u", perm=(0, 3, 1, 2)),
                   ir.Value("u", (1, m, h, w), graph.values["d"].quant))
    conv = conv_graph(rng, c=m, o=17, h=h, w=w, input_zero_point=graph.values["u"].quant.zero_point
                      ).nodes[0]
    graph.add_node(ir.Conv2d("conv", ("u",), "y", weight=conv.weight, bias=conv.bias,
                             strides=(1, 1), pads=(1, 1, 1, 1), dilations=(1, 1), groups=1,
                             input_zero_point=conv.input_zero_point, requant=conv.requant),
                   ir.Value("y", (1, 17, h, w), ir.Quant(0.1, conv.requant.zero_point)))
    graph.outputs.append("y")
    return graph


def pool_graph(rng, *, kind="max", n=1, c=20, h=7, w=7, k=2, stride=2, pad=0,
               ceil_mode=False, input_zero_point=-128, alu_mul=True) -> ir.Graph:
    graph = ir.Graph("pool")
    value(graph, "x", (n, c, h, w), input_zero_point)
    graph.inputs.append("x")
    pads = (pad, pad, pad, pad)
    oh = ir.window_output_size(h, k, stride, pad, pad, 1, ceil_mode)
    ow = ir.window_output_size(w, k, stride, pad, pad, 1, ceil_mode)
    if kind == "max":
        node = ir.MaxPool("pool", ("x",), "y", kernel=(k, k), strides=(stride, stride),
                          pads=pads, dilations=(1, 1), ceil_mode=ceil_mode)
        zero_point = input_zero_point
    else:
        rq = plan_requantization(1.0 / (k * k), zero_point=-128, acc_bound=256 * k * k,
                                 alu_mul=alu_mul, where="avg")
        node = ir.AvgPool("pool", ("x",), "y", kernel=(k, k), strides=(stride, stride),
                          pads=pads, ceil_mode=ceil_mode, input_zero_point=input_zero_point,
                          requant=rq)
        zero_point = -128
    graph.add_node(node, ir.Value("y", (n, c, oh, ow), ir.Quant(0.05, zero_point)))
    graph.outputs.append("y")
    return graph


def conv_pool_graph(rng, *, n=1, c=8, o=20, h=9, w=9, k=3, stride=1, pad=1, pool=3,
                    pool_stride=2, pool_pad=1, ceil_mode=False, relu=True, per_channel=True,
                    input_zero_point=-3, alu_mul=True) -> ir.Graph:
    """x → conv → y → MaxPool → p: the pool fuses into the conv. `pool_pad`: one padding for
    every side, or (top, left, bottom, right)."""
    graph = conv_graph(rng, n=n, c=c, o=o, h=h, w=w, k=k, stride=stride, pad=pad, relu=relu,
                       per_channel=per_channel, input_zero_point=input_zero_point,
                       alu_mul=alu_mul)
    graph.outputs.clear()
    _, _, ch, cw = graph.values["y"].shape
    pads = (pool_pad,) * 4 if isinstance(pool_pad, int) else tuple(pool_pad)
    ph = ir.window_output_size(ch, pool, pool_stride, pads[0], pads[2], 1, ceil_mode)
    pw = ir.window_output_size(cw, pool, pool_stride, pads[1], pads[3], 1, ceil_mode)
    node = ir.MaxPool("pool", ("y",), "p", kernel=(pool, pool), strides=(pool_stride,) * 2,
                      pads=pads, dilations=(1, 1), ceil_mode=ceil_mode)
    graph.add_node(node, ir.Value("p", (n, o, ph, pw), graph.values["y"].quant))
    graph.outputs.append("p")
    return graph


def add_graph(rng, *, n=1, c=24, h=5, w=5, alu_mul=True) -> ir.Graph:
    graph = ir.Graph("add")
    value(graph, "a", (n, c, h, w), 3)
    value(graph, "b", (n, c, h, w), -7)
    graph.inputs += ["a", "b"]
    steps_a = (AluStep(AluOp.ADD, np.int64(-3)), AluStep(AluOp.SHR, np.int64(-4)))
    steps_b = (AluStep(AluOp.ADD, np.int64(7)), AluStep(AluOp.SHR, np.int64(-5)))
    rq = plan_requantization(1 / 40.0, zero_point=2, acc_bound=256 * 48, alu_mul=alu_mul,
                             where="add")
    node = ir.Add("add", ("a", "b"), "y", input_steps=(steps_a, steps_b), requant=rq)
    graph.add_node(node, ir.Value("y", (n, c, h, w), ir.Quant(0.1, 2)))
    graph.outputs.append("y")
    return graph


def residual_graph(rng, *, c=20, h=6, w=6, conv_first=True, relu=False) -> ir.Graph:
    """x → conv (3×3, padding 1) → y; z = y + x (or x + y): the Add fuses into the conv."""
    graph = conv_graph(rng, c=c, o=c, h=h, w=w, relu=relu)
    graph.outputs.clear()
    steps_a = (AluStep(AluOp.ADD, np.int64(-3)), AluStep(AluOp.MUL, np.int64(9000)))
    steps_b = (AluStep(AluOp.ADD, np.int64(5)), AluStep(AluOp.MUL, np.int64(16384)))
    rq = plan_requantization(1 / 40.0 / 2 ** 12, zero_point=-128, acc_bound=2 ** 23,
                             alu_mul=True, where="add")
    inputs = ("y", "x") if conv_first else ("x", "y")
    node = ir.Add("add", inputs, "z", input_steps=(steps_a, steps_b), requant=rq)
    graph.add_node(node, ir.Value("z", (1, c, h, w), ir.Quant(0.1, -128)))
    graph.outputs.append("z")
    return graph


def downsample_graph(rng, *, n=1, c=20, o=40, h=9, w=None, stride=2, downsample_first=False,
                     alu_mul=True) -> ir.Graph:
    """A residual block that shrinks the image (`add_downsample_block`) on input x."""
    graph = ir.Graph("downsample")
    value(graph, "x", (n, c, h, w or h), -3)
    graph.inputs.append("x")
    add_downsample_block(rng, graph, "x", "z", o=o, stride=stride,
                         downsample_first=downsample_first, alu_mul=alu_mul)
    graph.outputs.append("z")
    return graph


def add_downsample_block(rng, graph, source: str, output: str, *, o: int, stride=2,
                         downsample_first=False, alu_mul=True, prefix="") -> None:
    """Append a residual block that shrinks the image: `source` → conv1 (3×3, stride
    `stride`, ReLU) → y → conv2 (3×3) → u; a 1×1 stride-`stride` convolution of `source` → d
    (the shortcut); `output` = u + d. The Add fuses into conv2, the shortcut computes its
    operand in place. Without `alu_mul` the requantizations and the Add's operand scalings are
    shifts. `prefix` goes before the names of its nodes and inner values."""
    n, c, h, w = graph.values[source].shape
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    first, last = source, output

    def conv(name, source, output, channels, k, stride, relu):
        node = conv_graph(rng, c=channels, o=o, k=k, stride=stride, pad=k // 2, relu=relu,
                          alu_mul=alu_mul).nodes[0]
        zero_point = graph.values[source].quant.zero_point
        name, output = prefix + name, output if output == last else prefix + output
        source = source if source == first else prefix + source
        return (ir.Conv2d(name, (source,), output, weight=node.weight, bias=node.bias,
                          strides=(stride, stride), pads=(k // 2,) * 4, dilations=(1, 1),
                          groups=1, input_zero_point=zero_point, requant=node.requant),
                ir.Value(output, (n, o, oh, ow), ir.Quant(0.1, node.requant.zero_point)))

    downsample = conv("downsample", source, "d", c, 1, stride, False)
    if downsample_first:
        graph.add_node(*downsample)
    graph.add_node(*conv("conv1", source, "y", c, 3, stride, True))
    graph.add_node(*conv("conv2", "y", "u", o, 3, 1, False))
    if not downsample_first:
        graph.add_node(*downsample)
    if alu_mul:
        steps_a = (AluStep(AluOp.ADD, np.int64(-3)), AluStep(AluOp.MUL, np.int64(9000)))
        steps_b = (AluStep(AluOp.ADD, np.int64(5)), AluStep(AluOp.MUL, np.int64(16384)))
        scale = 1 / 40.0 / 2 ** 12
    else:
        steps_a = (AluStep(AluOp.ADD, np.int64(-3)), AluStep(AluOp.SHR, np.int64(-4)))
        steps_b = (AluStep(AluOp.ADD, np.int64(5)), AluStep(AluOp.SHR, np.int64(-5)))
        scale = 1 / 32.0
    rq = plan_requantization(scale, zero_point=-128, acc_bound=2 ** 23 if alu_mul else 256 * 48,
                             alu_mul=alu_mul, where="add")
    graph.add_node(ir.Add(prefix + "add", (prefix + "u", prefix + "d"), output,
                          input_steps=(steps_a, steps_b), requant=rq),
                   ir.Value(output, (n, o, oh, ow), ir.Quant(0.1, -128)))


def stem_block_graph(rng, *, o=32, block_channels=64, block_stride=2, downsample_first=False,
                     **stem) -> ir.Graph:
    """A small ResNet: a stem (`conv_pool_graph`'s conv → MaxPool, with `stem`'s parameters)
    whose pooled output p feeds a residual block with a strided shortcut
    (`add_downsample_block`) → z."""
    graph = conv_pool_graph(rng, o=o, **stem)
    graph.outputs.clear()
    add_downsample_block(rng, graph, "p", "z", o=block_channels, stride=block_stride,
                         downsample_first=downsample_first,
                         alu_mul=stem.get("alu_mul", True), prefix="block.")
    graph.outputs.append("z")
    return graph


def chained_graph(rng, *, pool_stride=2) -> ir.Graph:
    """conv (ReLU) → 2×2 maxpool → conv with padding: the second conv's padding comes from the
    halo the maxpool's output buffer was allocated with (filled with the zero point)."""
    graph = conv_graph(rng, c=3, o=20, h=8, w=8, relu=True)
    pool = ir.MaxPool("pool", ("y",), "p", kernel=(2, 2), strides=(pool_stride, pool_stride),
                      pads=(0, 0, 0, 0), dilations=(1, 1), ceil_mode=False)
    size = (8 - 2) // pool_stride + 1
    graph.add_node(pool, ir.Value("p", (1, 20, size, size), graph.values["y"].quant))
    node = conv_graph(rng, c=20, o=17, h=size, w=size).nodes[0]
    conv = ir.Conv2d("conv2", ("p",), "z", weight=node.weight, bias=node.bias, strides=(1, 1),
                     pads=(1, 1, 1, 1), dilations=(1, 1), groups=1,
                     input_zero_point=graph.values["y"].quant.zero_point, requant=node.requant)
    graph.add_node(conv, ir.Value("z", (1, 17, size, size),
                                  ir.Quant(0.1, node.requant.zero_point)))
    graph.outputs[:] = ["z"]
    return graph


def random_feeds(rng, graph: ir.Graph) -> dict[str, np.ndarray]:
    return {name: rng.integers(-128, 128, size=graph.values[name].shape).astype(np.int8)
            for name in graph.inputs}


def run_both(graph: ir.Graph, feeds, config: Config | None = None, backend="functional",
             im2col=True, **options):
    """(VTA outputs, reference outputs) by IR output name, int8, plus the compiled model."""
    config = config or Config.preset("pynq")
    model = compile_graph(graph, config, im2col=im2col)
    executor = Executor(model, backend, **options)
    result = executor.run(feeds)
    expected = reference.run(graph, feeds)
    return ({name: result.outputs[name] for name in graph.outputs},
            {name: expected[name] for name in graph.outputs}, model, result)
