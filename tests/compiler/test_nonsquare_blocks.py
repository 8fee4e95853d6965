"""Configs whose BLOCK_IN ≠ BLOCK_OUT (compiler/subtiles.py): every layer kind compiled for
both orientations, run on the functional backend, bit-exact with the reference executor; the
layer's instructions move the config's own tiles (the activation block's tiles are 2 of them)."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend_graphs import (add_graph, chained_graph, channels_last_graph, conv_graph, conv_pool_graph,
                            conv_transpose_graph, dense_graph, downsample_graph, pool_graph,
                            random_feeds, residual_graph, run_both)
from vta.cli import main
from vta.compiler import reference
from vta.compiler.build import compile_graph
from vta.compiler.executor import Executor
from vta.compiler.evaluate import prepare, run_one
from vta.compiler.onnx_import import import_onnx
from vta.compiler.packing import ActLayout, dense_weight_tiles, pack_array
from vta.compiler.subtiles import SubTiles, activation_block
from vta.isa import Config, VtaError

PYNQ = Config.preset("pynq")
#: BLOCK_IN = 2 × BLOCK_OUT and BLOCK_OUT = 2 × BLOCK_IN (buffers halved where the depths
#: would not fit the 32-bit micro-op), and the same with small SRAMs (reduction chunks, column
#: tiles, per-tile weights).
IN16_OUT8 = PYNQ.replace(LOG_BLOCK_OUT=3, LOG_WGT_BUFF_SIZE=17, LOG_ACC_BUFF_SIZE=16)
IN8_OUT16 = PYNQ.replace(LOG_BLOCK_IN=3, LOG_INP_BUFF_SIZE=14, LOG_WGT_BUFF_SIZE=17)
TINY_IN16_OUT8 = IN16_OUT8.replace(LOG_INP_BUFF_SIZE=10, LOG_WGT_BUFF_SIZE=13,
                                   LOG_ACC_BUFF_SIZE=13)
TINY_IN8_OUT16 = IN8_OUT16.replace(LOG_INP_BUFF_SIZE=10, LOG_WGT_BUFF_SIZE=13,
                                   LOG_ACC_BUFF_SIZE=13)
#: int4 inputs and weights on the 16×8 tile (a 32-bit bus: an OUT tile is 32 bits).
INT4_IN16_OUT8 = IN16_OUT8.replace(LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2, LOG_INP_BUFF_SIZE=14,
                                   LOG_WGT_BUFF_SIZE=16, LOG_BUS_WIDTH=5)
CONFIGS = [IN16_OUT8, IN8_OUT16, TINY_IN16_OUT8, TINY_IN8_OUT16]
IDS = ["1x16x8", "1x8x16", "tiny-1x16x8", "tiny-1x8x16"]
SETTINGS = settings(max_examples=8, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check(graph, config, seed=0, im2col=True, backend="functional"):
    rng = np.random.default_rng(seed)
    got, expected, model, result = run_both(graph, random_feeds(rng, graph), config,
                                            im2col=im2col, backend=backend)
    for name in graph.outputs:
        np.testing.assert_array_equal(got[name], expected[name])
    assert all(node["placement"] in ("vta", "alias", "fused") for node in model.nodes)
    return model, result


def test_weight_operand_layout_holds_the_configs_weight_tiles():
    """A product's second operand (rows × channels, tiles of 16 rows) laid out in runs of
    BLOCK_IN = 8 lanes: each 16 × 16 tile's bytes are two 16 × 8 WGT tiles, input lanes 0–7
    then 8–15 — what `SubTiles.weight_tiles` makes of the same weight."""
    matrix = np.random.default_rng(1).integers(-128, 128, (32, 40)).astype(np.int8)
    layout = ActLayout((32, 40, 1, 1), 16, 16, lanes=8)
    packed = pack_array(matrix, layout)
    tiles = SubTiles.of(IN8_OUT16).weight_tiles(
        dense_weight_tiles(matrix.reshape(32, 40, 1, 1), 16), IN8_OUT16)
    np.testing.assert_array_equal(packed, tiles.ravel())
    scattered = np.zeros(packed.size, np.int8)
    scattered[layout.scatter_map()] = matrix.ravel()
    np.testing.assert_array_equal(scattered, packed)


def test_sub_tiles_of_the_activation_block():
    assert activation_block(IN16_OUT8) == activation_block(IN8_OUT16) == 16
    assert SubTiles.of(IN16_OUT8) == SubTiles(inp=1, acc=2)
    assert SubTiles.of(IN8_OUT16) == SubTiles(inp=2, acc=1)
    assert SubTiles.of(PYNQ).square


@pytest.mark.parametrize("config", [IN16_OUT8, IN8_OUT16], ids=IDS[:2])
def test_weight_tiles_split_into_the_configs_tiles(config):
    """Sub-tile (j, i) of a 16×16 weight tile holds output lanes of block j and input lanes of
    block i, in the config's BLOCK_OUT × BLOCK_IN."""
    weight = np.random.default_rng(0).integers(-128, 128, (32, 16, 1, 1)).astype(np.int8)
    tiles = SubTiles.of(config).weight_tiles(dense_weight_tiles(weight, 16), config)
    out, inp = config.block_out, config.block_in
    assert tiles.shape == (32 * 16 // (out * inp), out, inp)
    for index, tile in enumerate(tiles):
        o = (index // (16 // inp) // (16 // out) * 16 + index // (16 // inp) % (16 // out) * out)
        i = index % (16 // inp) * inp
        np.testing.assert_array_equal(tile, weight[o:o + out, i:i + inp, 0, 0])


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
    check(graph, draw(st.sampled_from(CONFIGS if reach <= 5 else CONFIGS[:2])),
          im2col=draw(st.booleans()))


@SETTINGS
@given(st.data())
def test_conv_transpose_matches_reference(data):
    draw = data.draw
    stride = draw(st.integers(1, 3))
    k = draw(st.integers(1, 5))
    pad = draw(st.integers(0, (k - 1) // 2))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    graph = conv_transpose_graph(np.random.default_rng(draw(st.integers(0, 99))),
                                 c=draw(st.integers(1, 40)), o=draw(st.integers(1, 40)), h=h, w=w,
                                 k=k, stride=stride, pad=pad,
                                 output_padding=(2 * pad - k) % stride,
                                 input_zero_point=draw(st.integers(-128, 127)),
                                 per_channel=draw(st.booleans()), relu=draw(st.booleans()))
    model, _ = check(graph, draw(st.sampled_from(CONFIGS)))
    assert [node["placement"] for node in model.nodes] == ["vta"]


@SETTINGS
@given(lead=st.sampled_from([(1,), (70,), (1, 65), (1, 3, 5)]), k=st.integers(1, 300),
       m=st.integers(1, 70), zero_point=st.integers(-128, 127), per_channel=st.booleans(),
       seed=st.integers(0, 99), config=st.sampled_from(CONFIGS))
def test_dense_matches_reference(lead, k, m, zero_point, per_channel, seed, config):
    graph = dense_graph(np.random.default_rng(seed), lead=lead if lead != (1,) else None, k=k,
                        m=m, input_zero_point=zero_point, per_channel=per_channel)
    check(graph, config)


@pytest.mark.parametrize("kind, k, stride, pad, ceil_mode, size, config", [
    ("max", 3, 2, 1, True, 8, IN16_OUT8), ("max", 3, 1, 1, False, 5, TINY_IN8_OUT16),
    ("avg", 7, 1, 0, False, 7, IN8_OUT16), ("avg", 2, 2, 0, True, 5, TINY_IN16_OUT8)])
def test_pooling_matches_reference(kind, k, stride, pad, ceil_mode, size, config):
    graph = pool_graph(np.random.default_rng(k), kind=kind, c=20, h=size, w=size, k=k,
                       stride=stride, pad=pad, ceil_mode=ceil_mode, input_zero_point=-128)
    check(graph, config)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
@pytest.mark.parametrize("c, size", [(20, 6), (40, 9)])
def test_residual_add_fused_into_its_conv(config, c, size):
    graph = residual_graph(np.random.default_rng(c), c=c, h=size, w=size)
    model, _ = check(graph, config)
    assert [(node["placement"], node.get("fused")) for node in model.nodes] == \
        [("vta", "residual add"), ("fused", None)]


@pytest.mark.parametrize("config", CONFIGS + [PYNQ.replace(LOG_BATCH=1)],
                         ids=IDS + ["batch2"])
def test_strided_shortcut_fused_with_the_residual_add(config):
    """The shortcut's input window, weights and GEMM in the config's tiles (and batch
    blocks), bit-exact. Compiled untimed: fused wherever it fits (the cycle model would keep
    it apart on some of these configs)."""
    graph = downsample_graph(np.random.default_rng(2), c=40, o=20, h=12, w=12)
    model = compile_graph(graph, config, timed=False)
    feeds = random_feeds(np.random.default_rng(0), graph)
    got = Executor(model, "functional").run(feeds).outputs["z"]
    np.testing.assert_array_equal(got, reference.run(graph, feeds)["z"])
    placements = {node["name"]: node["placement"] for node in model.nodes}
    assert placements["add"] == placements["downsample"] == "fused"


@pytest.mark.parametrize("shape, config", [
    (dict(), IN16_OUT8), (dict(), IN8_OUT16),
    (dict(c=3, k=7, stride=2, pad=3, h=20, w=18), IN16_OUT8),
    (dict(pool=3, pool_stride=2, pool_pad=0, ceil_mode=True, h=10, w=10), TINY_IN8_OUT16),
    (dict(c=40, o=40, relu=False, h=7, w=11), TINY_IN16_OUT8)],
    ids=["3x3-s2", "3x3-s2-1x8x16", "stem", "ceil-tiny", "wide-tiny"])
def test_max_pool_fused_into_its_conv(shape, config):
    model, _ = check(conv_pool_graph(np.random.default_rng(len(shape)), **shape), config)
    assert [node["placement"] for node in model.nodes] in (["vta", "fused"], ["vta", "vta"])


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_add_and_channels_last_match_reference(config):
    check(add_graph(np.random.default_rng(1), c=24, h=5, w=6), config)
    model, _ = check(channels_last_graph(np.random.default_rng(3)), config)
    assert [node["placement"] for node in model.nodes] == ["alias", "vta", "alias", "vta"]


@pytest.mark.parametrize("config", [IN16_OUT8, IN8_OUT16], ids=IDS[:2])
def test_cycle_backend_gives_the_functional_outputs_and_the_recorded_cycles(config):
    """The cycle backend runs the same image: the same outputs, and each layer's cycles are
    those the compiler recorded (it timed them on the cycle model)."""
    graph = chained_graph(np.random.default_rng(3))
    model, result = check(graph, config, backend="cycle")
    recorded = {node["name"]: node["estimated_cycles"] for node in model.nodes
                if node["placement"] == "vta"}
    assert recorded == {name: report.cycles for name, report in result.reports}


def test_batch_of_two_with_separate_blocks_is_refused():
    config = IN16_OUT8.replace(LOG_BATCH=1, LOG_INP_BUFF_SIZE=15, LOG_ACC_BUFF_SIZE=16)
    graph = conv_graph(np.random.default_rng(4), n=2)
    with pytest.raises(VtaError, match="needs BATCH = 1 where BLOCK_IN ≠ BLOCK_OUT"):
        check(graph, config)


def test_conv_on_a_32_by_16_config():
    """BLOCK_IN = 32, BLOCK_OUT = 16 (pynq's buffers): a block of 32 channels."""
    config = PYNQ.replace(LOG_BLOCK_IN=5)
    check(conv_graph(np.random.default_rng(9), c=40, o=50, h=7, w=7, groups=1), config)
    check(conv_graph(np.random.default_rng(9), c=40, o=40, h=7, w=7, groups=40), config)


@pytest.mark.parametrize("config", [IN16_OUT8, IN8_OUT16, INT4_IN16_OUT8],
                         ids=["1x16x8", "1x8x16", "1x16x8-int4"])
def test_digits_bit_exact_in_every_value(config, digits_models, digits_data):
    """The digits CNN whole on VTA (its convolutions with their max pools fused, the Dense
    layers), every value in device memory equal to the reference's."""
    inputs, _ = digits_data
    evaluation = prepare(digits_models[1], config)
    assert {node["placement"] for node in evaluation.model.nodes
            if node["operator"] not in ("Quantize", "Dequantize")} == {"vta", "fused", "alias"}
    for x in inputs[:3]:
        run_one(evaluation, x[None])
    assert evaluation.mismatched_values == []


def test_vta_compile_with_a_config_file_of_separate_blocks(digits_models, digits_data, tmp_path):
    """`vta compile --config FILE` with the keys `Config.to_dict` writes (LOG_BLOCK_IN = 3,
    LOG_BLOCK_OUT = 4), then `vta run`: the reference's output."""
    inputs, _ = digits_data
    config_path, vtab = tmp_path / "config.json", tmp_path / "digits.vtab"
    x, out = tmp_path / "x.npy", tmp_path / "out.npy"
    config_path.write_text(json.dumps(IN8_OUT16.to_dict()))
    np.save(x, inputs[5:6])
    assert main(["compile", str(digits_models[1]), "-o", str(vtab), "--quiet", "--no-cache",
                 "--config", str(config_path)]) == 0
    assert main(["run", str(vtab), "--input", str(x), "-o", str(out),
                 "--config", str(config_path)]) == 0
    graph = import_onnx(digits_models[1])
    expected = reference.run(graph, {graph.inputs[0]: inputs[5:6]})[graph.outputs[0]]
    np.testing.assert_array_equal(np.load(out), expected)


@pytest.mark.slow
@pytest.mark.parametrize("config", [IN16_OUT8, IN8_OUT16], ids=IDS[:2])
def test_chained_layers_on_rtl_are_bit_exact(config):
    """A conv with its max pool fused, then a conv reading the pooled buffer's halo, on the
    RTL backend (slow: the first run builds the Verilator harness of the config): the
    reference's outputs, each layer's cycles the compiler recorded."""
    rng = np.random.default_rng(5)
    graph = chained_graph(rng)
    model, result = check(graph, config, backend="rtl")
    recorded = {node["name"]: node["estimated_cycles"] for node in model.nodes
                if node["placement"] == "vta"}
    assert recorded == {name: report.cycles for name, report in result.reports}
