"""Code generation, one layer at a time: synthetic integer layers of hypothesis-chosen small
shapes compiled for VTA, run on the backends under test, bit-exact with the numpy reference
executor (`vta.compiler.reference`, which shares nothing with the code generator)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend_graphs import (add_graph, chained_graph, channels_last_graph, conv_graph,
                            conv_pool_graph, conv_transpose_graph, dense_graph, downsample_graph,
                            pool_graph, random_feeds, requant, residual_graph, run_both, value)
from test_nonsquare_blocks import IN8_OUT16, IN16_OUT8
from vta.compiler import ir, reference
from vta.compiler.build import compile_graph
from vta.compiler.executor import Executor
from vta.compiler.report import shares
from vta.compiler.alu_program import registers
from vta.compiler.requantize import plan_requantization
from vta.isa import Config

PYNQ = Config.preset("pynq")
#: Small SRAMs (64 INP / 32 WGT / 128 ACC tiles): forces reduction chunks, column tiles and
#: per-tile weight loads.
TINY = PYNQ.replace(LOG_INP_BUFF_SIZE=10, LOG_WGT_BUFF_SIZE=13, LOG_ACC_BUFF_SIZE=13)
#: The corpus's 1x32 config (LOG_BLOCK = 5).
BLOCK32 = PYNQ.replace(LOG_BLOCK=5)
SETTINGS = settings(max_examples=12, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check(graph, config=PYNQ, seed=0, im2col=True):
    rng = np.random.default_rng(seed)
    got, expected, model, _ = run_both(graph, random_feeds(rng, graph), config, im2col=im2col)
    for name in graph.outputs:
        assert got[name].dtype == np.int8
        np.testing.assert_array_equal(got[name], expected[name])
    assert all(node["placement"] in ("vta", "alias", "fused") for node in model.nodes)
    return model


@SETTINGS
@given(st.data())
def test_conv_matches_reference(data):
    draw = data.draw
    groups_kind = draw(st.sampled_from(["dense", "depthwise", "grouped"]))
    c = draw(st.integers(1, 40))
    if groups_kind == "depthwise":
        o, groups = c, c
    elif groups_kind == "grouped":
        groups = draw(st.sampled_from([2, 4]))
        c, o = groups * draw(st.integers(1, 6)), groups * draw(st.integers(1, 6))
    else:
        o, groups = draw(st.integers(1, 40)), 1
    k = draw(st.sampled_from([1, 2, 3, 5]))
    stride = draw(st.integers(1, 2))
    dilation = draw(st.sampled_from([1, 1, 2]))
    reach = (k - 1) * dilation + 1
    h, w = draw(st.integers(reach, 9)), draw(st.integers(reach, 9))
    pad = tuple(draw(st.integers(0, k // 2)) for _ in range(4))
    graph = conv_graph(np.random.default_rng(draw(st.integers(0, 99))), c=c, o=o, h=h, w=w, k=k,
                       stride=stride, pad=pad, groups=groups, dilation=dilation,
                       input_zero_point=draw(st.integers(-128, 127)),
                       per_channel=draw(st.booleans()), relu=draw(st.booleans()))
    # TINY's 64 INP tiles hold the window of one output position only for small kernels.
    check(graph, draw(st.sampled_from([PYNQ, BLOCK32, TINY] if reach <= 5 else [PYNQ, BLOCK32])),
          im2col=draw(st.booleans()))


@pytest.mark.parametrize("im2col", [True, False])
def test_stem_conv_lowered_to_im2col(im2col):
    """ResNet's stem shape (3 channels, 7×7, stride 2, padding 3, input zero point −128):
    bit-exact either way; lowered, it is one 1×1 convolution over 147 channels (10 blocks)
    that the cycle model times at well under half the direct convolution's 49 taps."""
    graph = conv_graph(np.random.default_rng(7), c=3, o=32, h=30, w=30, k=7, stride=2, pad=3,
                       input_zero_point=-128)
    feeds = random_feeds(np.random.default_rng(8), graph)
    got, expected, model, result = run_both(graph, feeds, im2col=im2col, backend="cycle")
    np.testing.assert_array_equal(got[graph.outputs[0]], expected[graph.outputs[0]])
    (conv,) = [node for node in model.nodes if node["placement"] == "vta"]
    assert conv.get("lowering") == ("im2col" if im2col else None)
    if im2col:
        _, _, _, direct = run_both(graph, feeds, im2col=False, backend="cycle")
        assert result.cycles * 2 < direct.cycles


@pytest.mark.parametrize("input_zero_point, folded", [(-14, True), (-128, False)])
def test_stem_bias_rides_on_the_im2col_padding(input_zero_point, folded):
    """The stem's 147 im2col channels leave 13 of 160 lanes: the host writes 1 and twelve −128
    there and their weights add the bias (the input zero point folded in), so each output tile
    takes its 10 blocks' GEMMs and no bias GEMM; a bias beyond the lanes' reach (128 · 127 · 12,
    here with the input zero point −128) is added by the bias GEMM still. Bit-exact either way."""
    graph = conv_graph(np.random.default_rng(7), c=3, o=32, h=30, w=30, k=7, stride=2, pad=3,
                       input_zero_point=input_zero_point)
    assert (np.abs(graph.nodes[0].folded_bias()).max() <= 128 * 127 * 12) == folded
    feeds = random_feeds(np.random.default_rng(8), graph)
    got, expected, model, result = run_both(graph, feeds, backend="cycle")
    np.testing.assert_array_equal(got["y"], expected["y"])
    (step,) = [step for step in model.steps if step["op"] == "move"]
    assert step.get("constant_lanes") == ([1] + [-128] * 12 if folded else None)
    assert model.values[step["output"]]["shape"] == [1, 160 if folded else 147, 15, 15]
    assert any(section.name == "conv bias tiles" for section in model.sections) != folded
    (report,) = [report for _, report in result.reports]
    tiles = 2 * 15 * 15                       # output blocks × positions
    assert report.counters["gemm_counter"] == tiles * (10 if folded else 11)


@pytest.mark.parametrize("channels, kernel", [(3, 3), (1, 3)])
def test_bias_lanes_are_kept_only_where_faster(channels, kernel, monkeypatch):
    """A stem with few input blocks and its max pool fused (VGG's 27 channels: 2 blocks; the
    digits CNN's 9: 1) takes the faster of the bias on its padding lanes and the bias GEMM, as
    the cycle backend runs each alone, bit-exact either way."""
    from vta.compiler import partition as partitioning
    graph = conv_pool_graph(np.random.default_rng(4), c=channels, o=16, h=16, w=16, k=kernel,
                            stride=1, pad=1)
    feeds = random_feeds(np.random.default_rng(5), graph)

    def cycles():
        got, expected, model, result = run_both(graph, feeds, backend="cycle")
        np.testing.assert_array_equal(got["p"], expected["p"])
        (step,) = [step for step in model.steps if step["op"] == "move"]
        return result.cycles, "constant_lanes" in step

    chosen, _ = cycles()
    with monkeypatch.context() as patch:
        patch.setattr(partitioning, "_keep_bias_lanes_where_faster", lambda *args: None)
        with_lanes, lanes = cycles()
    with monkeypatch.context() as patch:
        patch.setattr(partitioning, "_bias_lanes", lambda *args: None)
        without, none = cycles()
    assert lanes and not none
    assert chosen == min(with_lanes, without)


@SETTINGS
@given(st.data())
def test_conv_transpose_matches_reference(data):
    """Transposed convolutions (the up-sampling of U-Net and DCGAN generators: stride 2 with
    kernel 2, 3 or 4, and others) as one stride-1 GEMM per output phase."""
    draw = data.draw
    stride = draw(st.integers(1, 3))
    k = draw(st.integers(1, 5))
    pad = draw(st.integers(0, (k - 1) // 2))
    output_padding = (2 * pad - k) % stride        # an output of whole strides
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    graph = conv_transpose_graph(np.random.default_rng(draw(st.integers(0, 99))),
                                 c=draw(st.integers(1, 40)), o=draw(st.integers(1, 40)), h=h, w=w,
                                 k=k, stride=stride, pad=pad, output_padding=output_padding,
                                 input_zero_point=draw(st.integers(-128, 127)),
                                 per_channel=draw(st.booleans()), relu=draw(st.booleans()))
    model = check(graph, draw(st.sampled_from([PYNQ, BLOCK32, TINY, PYNQ.replace(LOG_BATCH=1)])))
    assert [node["placement"] for node in model.nodes] == ["vta"]


@SETTINGS
@given(k=st.integers(1, 300), m=st.integers(1, 70), zero_point=st.integers(-128, 127),
       per_channel=st.booleans(), seed=st.integers(0, 99))
def test_dense_matches_reference(k, m, zero_point, per_channel, seed):
    graph = dense_graph(np.random.default_rng(seed), k=k, m=m, input_zero_point=zero_point,
                        per_channel=per_channel)
    check(graph)


@SETTINGS
@given(lead=st.sampled_from([(70,), (1, 65), (2, 17), (1, 3, 5), (2, 4, 4)]),
       k=st.integers(1, 80), m=st.integers(1, 60), zero_point=st.integers(-128, 127),
       per_channel=st.booleans(), seed=st.integers(0, 99),
       config=st.sampled_from([PYNQ, TINY, BLOCK32, PYNQ.replace(LOG_BATCH=1)]))
def test_dense_on_rows_and_tokens_matches_reference(lead, k, m, zero_point, per_channel, seed,
                                                    config):
    """Dense over the last axis of a matrix of many rows, of (batch, tokens, features) and of
    a channels-last image: the channels in the lanes, every other axis a position of a 1×1
    convolution."""
    graph = dense_graph(np.random.default_rng(seed), lead=lead, k=k, m=m,
                        input_zero_point=zero_point, per_channel=per_channel)
    model = check(graph, config)
    assert model.values["x"]["layout"].get("channels_last") is True


@pytest.mark.parametrize("config", [PYNQ, TINY], ids=["pynq", "tiny"])
def test_transposes_between_nchw_and_channels_last_are_free(config):
    """NCHW → NHWC → Dense → NCHW → padded convolution (a ConvNeXt pointwise layer between
    convolutions): both transposes alias their input, the convolution's padding comes from the
    halo of the Dense's output buffer."""
    model = check(channels_last_graph(np.random.default_rng(3)), config)
    assert [node["placement"] for node in model.nodes] == ["alias", "vta", "alias", "vta"]
    assert model.values["u"]["addr"] == model.values["d"]["addr"]


@pytest.mark.parametrize("kind, k, stride, pad, ceil_mode, size", [
    ("max", 2, 2, 0, False, 7), ("max", 3, 2, 1, True, 8), ("max", 3, 1, 1, False, 5),
    ("avg", 7, 1, 0, False, 7), ("avg", 3, 1, 1, False, 6), ("avg", 2, 2, 0, True, 5)])
@pytest.mark.parametrize("config", [PYNQ, TINY, BLOCK32], ids=["pynq", "tiny", "1x32"])
def test_pooling_matches_reference(kind, k, stride, pad, ceil_mode, size, config):
    graph = pool_graph(np.random.default_rng(k), kind=kind, c=20, h=size, w=size, k=k,
                       stride=stride, pad=pad, ceil_mode=ceil_mode, input_zero_point=-128)
    check(graph, config)


@pytest.mark.parametrize("config", [PYNQ, TINY, BLOCK32], ids=["pynq", "tiny", "1x32"])
@pytest.mark.parametrize("conv_first", [True, False])
@pytest.mark.parametrize("c, size", [(20, 6), (40, 9), (3, 4)])
def test_residual_add_fused_into_its_conv(config, conv_first, c, size):
    """conv → Add with the conv's input: one layer, the conv's result never stored; TINY forces
    column tiles and reduction chunks, c = 3 also the im2col lowering."""
    graph = residual_graph(np.random.default_rng(c), c=c, h=size, w=size, conv_first=conv_first)
    model = check(graph, config)
    assert [(node["placement"], node.get("fused")) for node in model.nodes] == \
        [("vta", "residual add"), ("fused", None)]
    assert model.values["y"]["addr"] is None


@pytest.mark.parametrize("config", [PYNQ, TINY, BLOCK32], ids=["pynq", "tiny", "1x32"])
@pytest.mark.parametrize("c, o, size, downsample_first", [
    (20, 40, 9, False), (40, 20, 12, True), (16, 64, 16, False), (3, 8, 5, True),
    (20, 8, 3, False)])
def test_strided_shortcut_fused_with_the_residual_add(config, c, o, size, downsample_first):
    """A residual block's 1×1 stride-2 shortcut computes the fused Add's operand in place in
    conv2's layer: neither its output nor conv2's is stored, the result is bit-exact with the
    reference. Compiled untimed, so fused wherever it fits (whether it pays is the cycle
    model's call: test_codegen_rtl); TINY forces column tiles and reduction chunks (the
    shortcut's input blocks spread over them), the 2×2 output partial accumulators."""
    graph = downsample_graph(np.random.default_rng(c + size), c=c, o=o, h=size, w=size,
                             downsample_first=downsample_first)
    model = compile_graph(graph, config, timed=False)
    feeds = random_feeds(np.random.default_rng(0), graph)
    got = Executor(model, "functional").run(feeds).outputs["z"]
    np.testing.assert_array_equal(got, reference.run(graph, feeds)["z"])
    nodes = {node["name"]: node for node in model.nodes}
    assert nodes["add"]["into"] == nodes["downsample"]["into"] == "conv2"
    assert nodes["conv2"]["fused"] == "residual add, shortcut downsample"
    assert model.values["d"]["addr"] is None and model.values["u"]["addr"] is None
    assert shares(model.nodes)["vta_mac_share"] == 1.0   # the shortcut's MACs run on VTA too


@pytest.mark.parametrize("config", [PYNQ, TINY, BLOCK32], ids=["pynq", "tiny", "1x32"])
@pytest.mark.parametrize("shape", [
    dict(), dict(c=3, k=7, stride=2, pad=3, h=20, w=18),
    dict(pool=2, pool_stride=2, pool_pad=0, h=8, w=8),
    dict(pool=3, pool_stride=2, pool_pad=0, ceil_mode=True, h=10, w=10),
    dict(c=40, o=40, relu=False, h=7, w=11), dict(pool=3, pool_stride=1, per_channel=False)],
    ids=["3x3-s2", "stem", "2x2", "ceil", "wide", "s1"])
def test_max_pool_fused_into_its_conv(config, shape):
    """conv → MaxPool: pooled on the accumulators before the requantization, bit-exact with
    the reference (which requantizes first). Where whole rows of windows do not fit (the wide
    case on TINY) or the fused layer is slower, the two stay separate layers; on pynq the
    3×3/2 pool after a 3×3 convolution is fused."""
    graph = conv_pool_graph(np.random.default_rng(len(shape)), **shape)
    model = check(graph, config)
    placements = [node["placement"] for node in model.nodes]
    assert placements in (["vta", "fused"], ["vta", "vta"])
    assert (model.values["y"]["addr"] is None) == (placements[1] == "fused")
    if config is PYNQ and not shape:
        assert placements == ["vta", "fused"]


@pytest.mark.parametrize("config", [PYNQ, TINY], ids=["pynq", "tiny"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [
    dict(h=13, w=11), dict(c=3, o=64, k=7, stride=2, pad=3, h=28, w=26),
    dict(pool=3, pool_stride=2, pool_pad=0, ceil_mode=True, h=12, w=12)],
    ids=["3x3-s2", "stem", "ceil"])
def test_fused_pool_tiles_carrying_their_first_row(monkeypatch, config, threads, shape):
    """Tilings whose tiles take their first convolution row from the tile above
    (`tiling.carries`: each thread walks down its own column chunks), three of those that fit
    with `threads` (the fewest, a middle and the most pooled rows: with one, the first tile's
    accumulators hold fewer real rows than the next one's, in the same ACC slot with one
    thread): bit-exact with the reference."""
    from vta.compiler import build, sram_plan, tiling as tilings
    graph = conv_pool_graph(np.random.default_rng(3), **shape)
    feeds = random_feeds(np.random.default_rng(0), graph)
    expected = reference.run(graph, feeds)["p"]
    chosen = []
    original = build.choose

    def carrying(layer, config, cost=None):
        if getattr(layer, "pool", None) is None:
            return original(layer, config, cost)
        plans = sorted((plan for plan in sram_plan.fitting_plans(layer, config)
                        if plan.tiling.threads == threads
                        and tilings.carries(layer, plan.tiling)),
                       key=lambda plan: plan.tiling.rows)
        assert plans
        chosen.append(plans[len(chosen) * (len(plans) - 1) // 2])
        return chosen[-1], 0

    monkeypatch.setattr(build, "choose", carrying)
    for _ in range(3):
        model = compile_graph(graph, config, timed=False)
        assert [node["placement"] for node in model.nodes] == ["vta", "fused"]
        got = Executor(model, "functional").run(feeds).outputs["p"]
        np.testing.assert_array_equal(got, expected)
    assert any(tile.carried_rows for plan in chosen for tile in
               tilings.tiles(plan.layer, plan.tiling))


@pytest.mark.parametrize("threads", [1, 2])
def test_fused_pool_without_the_alu_multiply(monkeypatch, threads):
    """On a core without the ALU multiply (ALU_MUL = False) a fused max pool starts its lanes
    at the int32 minimum, and zeroes the rows a tile carries into the next, with MIN and MAX
    (the runtime refuses ``MUL 0`` there): a tiling that carries rows, bit-exact on the cycle
    backend, which counts the cycles the compiler recorded."""
    from vta.compiler import build, sram_plan, tiling as tilings
    from vta.compiler.schedule import time_tiling
    config = PYNQ.replace(ALU_MUL=False)
    graph = conv_pool_graph(np.random.default_rng(3), h=13, w=11, alu_mul=False)
    original = build.choose

    def carrying(layer, config, cost=None):
        if getattr(layer, "pool", None) is None:
            return original(layer, config, cost)
        plan = next(plan for plan in sram_plan.fitting_plans(layer, config)
                    if plan.tiling.threads == threads and tilings.carries(layer, plan.tiling))
        return plan, time_tiling(config, layer, plan.tiling)

    monkeypatch.setattr(build, "choose", carrying)
    got, expected, model, result = run_both(graph, random_feeds(np.random.default_rng(0), graph),
                                            config, backend="cycle")
    np.testing.assert_array_equal(got["p"], expected["p"])
    assert [node["placement"] for node in model.nodes] == ["vta", "fused"]
    assert result.cycles == sum(node.get("estimated_cycles", 0) for node in model.nodes)


@pytest.mark.parametrize("config", [PYNQ, TINY, BLOCK32], ids=["pynq", "tiny", "1x32"])
def test_residual_add_matches_reference(config):
    check(add_graph(np.random.default_rng(1), c=24, h=5, w=6), config)


def test_requantization_node_matches_reference():
    graph = ir.Graph("requant")
    graph.add_value(ir.Value("x", (1, 20, 3, 4), ir.Quant(0.1, 9)))
    graph.inputs.append("x")
    rq = plan_requantization(0.37, zero_point=-5, acc_bound=256, alu_mul=True, where="rq")
    graph.add_node(ir.Requantization("rq", ("x",), "y", input_zero_point=9, requant=rq),
                   ir.Value("y", (1, 20, 3, 4), ir.Quant(0.27, -5)))
    graph.outputs.append("y")
    check(graph)


def test_shift_only_requantization_without_alu_mul():
    config = PYNQ.replace(ALU_MUL=False)
    model = check(conv_graph(np.random.default_rng(2), alu_mul=False), config)
    assert model.config.ALU_MUL is False


def test_conv_with_weights_narrower_than_inputs():
    """int8 inputs and int4 weights (LOG_WGT_WIDTH = 2): the bias lanes' weights fit int4 (or
    the bias goes to the ALU); they used to wrap, and the outputs differ from the reference."""
    graph = conv_graph(np.random.default_rng(1), c=3, h=8, w=3, o=4, k=1, pad=0,
                       input_zero_point=-8)
    node = graph.nodes[0]
    graph.nodes[0] = dataclasses.replace(node, weight=np.clip(node.weight, -7, 7))
    check(graph, PYNQ.replace(LOG_WGT_WIDTH=2, LOG_WGT_BUFF_SIZE=17), seed=1)


def test_batch_of_two_config():
    """LOG_BATCH = 1: two samples per tile; an odd batch is padded."""
    check(conv_graph(np.random.default_rng(4), n=3, c=5, o=18), PYNQ.replace(LOG_BATCH=1))


def test_chained_layers_share_halo_buffers():
    check(chained_graph(np.random.default_rng(5)))


def _conv(rng, graph, name, source, channels, out_channels, pad, output_quant):
    weight = rng.integers(-128, 128, size=(out_channels, channels, 3, 3)).astype(np.int8)
    bound = np.abs(weight.astype(np.int64)).sum(axis=(1, 2, 3)) * 256
    rq = requant(rng, out_channels, bound[:, None, None], per_channel=True, alu_mul=True)
    _, _, h, w = graph.values[source].shape
    graph.add_node(ir.Conv2d(name, (source,), name, weight=weight,
                             bias=np.zeros(out_channels, np.int32), strides=(1, 1),
                             pads=(pad,) * 4, dilations=(1, 1), groups=1,
                             input_zero_point=graph.values[source].quant.zero_point, requant=rq),
                   ir.Value(name, (1, out_channels, h, w), output_quant))


def _requantization(graph, name, source, multiplier, zero_point, quant):
    """An int8 → int8 Requantization as the importer plans one before a Concat."""
    rq = plan_requantization(multiplier, zero_point=zero_point, acc_bound=255, alu_mul=True,
                             where=name, absorb=True)
    izp = graph.values[source].quant.zero_point
    graph.add_node(ir.Requantization(name, (source,), name, input_zero_point=izp - int(rq.offset),
                                     requant=dataclasses.replace(rq, offset=0)),
                   ir.Value(name, graph.values[source].shape, quant))


def partial_block_concat_graph(rng, channels=(5, 8, 19), h=5, w=7, rescale=False) -> ir.Graph:
    """Two convolutions (5 and 8 channels) and a graph input (19) concatenated along the
    channels — inputs ending inside a channel block —, read by a padded convolution; with
    `rescale`, the convolutions' results are first brought to the Concat's scale by
    Requantizations (as the importer inserts them; multipliers of unet_k3's)."""
    graph = ir.Graph("concat")
    quant = ir.Quant(0.1, 4)
    value(graph, "x", (1, 6, h, w), -3)
    value(graph, "c", (1, channels[2], h, w), 4)
    graph.inputs += ["x", "c"]
    _conv(rng, graph, "a", "x", 6, channels[0], 1, ir.Quant(0.12, -128))
    _conv(rng, graph, "b", "x", 6, channels[1], 1, ir.Quant(0.05, -11))
    inputs = ("a", "b", "c")
    if rescale:
        _requantization(graph, "a/requantized", "a", 0.8038527447988104, 4, quant)
        _requantization(graph, "b/requantized", "b", 0.42851979507079857, 4, quant)
        inputs = ("a/requantized", "b/requantized", "c")
    graph.add_node(ir.Concat("cat", inputs, "cat", axis=1),
                   ir.Value("cat", (1, sum(channels), h, w), quant))
    _conv(rng, graph, "y", "cat", sum(channels), 8, 1, ir.Quant(0.2, 0))
    graph.outputs.append("y")
    return graph


@pytest.mark.parametrize("config,rescale", [
    (PYNQ, False), (PYNQ, True), (TINY, False), (TINY, True), (IN16_OUT8, True),
    (IN8_OUT16, True)], ids=["pynq", "pynq-requantized", "tiny", "tiny-requantized",
                             "1x16x8-requantized", "1x8x16-requantized"])
def test_partial_block_concat_runs_on_vta(config, rescale):
    """Inputs ending inside a channel block are written into blocks of their own of a staging
    buffer, which one VTA layer gathers into the output's channels — with the Requantizations
    before it folded in, lane by lane —: bit-exact with the reference (numpy's concatenation
    of the requantized branches), the Concat on VTA."""
    graph = partial_block_concat_graph(np.random.default_rng(6), rescale=rescale)
    rng = np.random.default_rng(7)
    feeds = random_feeds(rng, graph)
    model = compile_graph(graph, config)
    executor = Executor(model, "functional")
    executor.run(feeds)
    expected = reference.run(graph, feeds)
    inputs = next(node.inputs for node in graph.nodes if node.name == "cat")
    np.testing.assert_array_equal(expected["cat"], np.concatenate(
        [expected[name] for name in inputs[:2]] + [feeds["c"]], axis=1))
    for name in ("a", "b", "cat", "y"):
        np.testing.assert_array_equal(executor.read(name), expected[name], name)
    placement = {node["name"]: node["placement"] for node in model.nodes}
    folded = {"a/requantized": "fused", "b/requantized": "fused"} if rescale else {}
    assert placement == {"a": "vta", "b": "vta", "cat": "vta", "y": "vta"} | folded
    addresses = [model.values[name]["addr"] for name in ("a", "b", "c")]
    assert addresses[0] < addresses[1] < addresses[2]


def test_concat_of_tokens_runs_on_the_host_with_a_layout_move():
    """A Concat along a channels-last value's tokens (no channel axis of VTA's) is a host move."""
    graph = ir.Graph("concat")
    for name in ("a", "b"):
        graph.add_value(ir.Value(name, (1, 3, 8), ir.Quant(0.1, 4)))
        graph.inputs.append(name)
    graph.add_node(ir.Concat("cat", ("a", "b"), "y", axis=1),
                   ir.Value("y", (1, 6, 8), ir.Quant(0.1, 4)))
    graph.outputs.append("y")
    rng = np.random.default_rng(6)
    got, expected, model, _ = run_both(graph, random_feeds(rng, graph))
    np.testing.assert_array_equal(got["y"], expected["y"])
    assert [node["placement"] for node in model.nodes] == ["host"]


@pytest.mark.parametrize("config", [PYNQ, TINY], ids=["pynq", "tiny"])
@pytest.mark.parametrize("shape", [dict(), dict(pool=3, pool_stride=2, pool_pad=1)],
                         ids=["conv", "pooled"])
def test_requantization_with_a_scratch_register(config, shape):
    """A per-channel requantization of wide accumulators computes its correction in a scratch
    ACC region (register 1; see test_requantize for its accuracy): bit-exact with the
    reference, also after a fused max pool and in TINY's column tiles."""
    rng = np.random.default_rng(7)
    graph = conv_pool_graph(rng, c=24, o=20, **shape) if shape else conv_graph(rng, c=24, o=20)
    conv = next(node for node in graph.nodes if isinstance(node, ir.Conv2d))
    assert registers(conv.requant.steps) == 2
    check(graph, config)


def test_carried_epilogue_is_spread_over_every_gemm_part_the_last_included():
    """After each GEMM part come the carried epilogue's kernels due (at least an even share);
    after the last part, the rest (`middle(last=True)`), so that it runs beside that part."""
    from vta.compiler.layer_emitter import LayerEmitter
    calls = []
    LayerEmitter.over_last([("a",), ("b",), ("c",)],
                           lambda last, share: calls.append(("middle", last, share)),
                           lambda part: calls.append(("gemm", part)))
    assert calls == [("gemm", "a"), ("middle", False, 1 / 3), ("gemm", "b"),
                     ("middle", False, 2 / 3), ("gemm", "c"), ("middle", True, 1.0)]


@pytest.mark.parametrize("residual", [False, True], ids=["conv", "residual"])
@pytest.mark.parametrize("tiling, halves", [((2, 3, 8, 4), True), ((4, 8, 8, 1), True),
                                            ((1, 4, 8, 2), False)],
                         ids=["input-parts", "output-parts", "small"])
def test_reduction_steps_in_parts_match_reference(monkeypatch, residual, tiling, halves):
    """A dense convolution with streamed weights loads and computes its first reduction steps
    in parts (input blocks, or output blocks where a step has one input block) and runs its
    last tile in two halves: bit-exact, the layer's first step split, the last tile halved
    where the half's loads do not exceed its GEMM."""
    from vta.compiler import build, conv_emitter
    from vta.compiler.sram_plan import plan_sram
    from vta.compiler.tiling import Tiling
    out_blocks, rows, cols, in_blocks = tiling
    chosen = Tiling(out_blocks, rows, cols, in_blocks, 2, False)
    monkeypatch.setattr(build, "choose", lambda layer, config, cost: (
        plan_sram(layer, chosen, config), 0))
    split = []
    parts = conv_emitter.ConvEmitter.parts

    def recorded(self, placed, chunk):
        found = parts(self, placed, chunk)
        split.append(found != [None])
        return found

    monkeypatch.setattr(conv_emitter.ConvEmitter, "parts", recorded)
    run = []
    run_tiles = conv_emitter.ConvEmitter.run_tiles
    monkeypatch.setattr(conv_emitter.ConvEmitter, "run_tiles",
                        lambda self: run.extend(run_tiles(self)) or run)
    rng = np.random.default_rng(sum(tiling) + residual)
    graph = residual_graph(rng, c=64, h=8, w=8) if residual else \
        conv_graph(rng, c=64, o=64, h=8, w=8)
    check(graph)
    assert split[0]
    # the last tile in two halves (`ConvEmitter.run_tiles`), except where the second half
    # (1 block, 2 rows of 8) would load more than it computes: its weights (18 tiles of 256
    # bytes) and window (2 × 4 × 10 tiles of 16) take 736 bus cycles, its GEMM 288
    assert (run[-1].blocks * run[-1].rows < out_blocks * rows) == halves
