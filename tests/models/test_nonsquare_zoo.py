"""Zoo models compiled for configs whose BLOCK_IN ≠ BLOCK_OUT (compiler/subtiles.py): every value
VTA stores equal to the integer reference's, the outputs within issue 11's tolerance of
onnxruntime, the cycle backend's outputs the functional backend's."""

import numpy as np
import pytest

import zoo
from vta.compiler import reference
from vta.compiler.executor import Executor
from vta.compiler.onnx_import import import_onnx
from vta.isa import Config
from zoo import evaluate

PYNQ = Config.preset("pynq")
IN16_OUT8 = PYNQ.replace(LOG_BLOCK_OUT=3, LOG_WGT_BUFF_SIZE=17, LOG_ACC_BUFF_SIZE=16)
IN8_OUT16 = PYNQ.replace(LOG_BLOCK_IN=3, LOG_INP_BUFF_SIZE=14, LOG_WGT_BUFF_SIZE=17)
CONFIGS = {"1x16x8": IN16_OUT8, "1x8x16": IN8_OUT16}


def bit_exact_values(built, config, samples=2) -> list[str]:
    """The values (stored or computed on the host) that differ from the reference's."""
    compiled = evaluate.compile_model(built, config)
    graph = import_onnx(built.int8_path, alu_mul=config.ALU_MUL)
    executor = Executor(compiled, "functional")
    different = []
    for feed in built.reference.inputs[:samples]:
        executor.run(feed)
        expected = reference.run(graph, feed)
        for name, info in compiled.values.items():
            if name in graph.values and (info["addr"] is not None
                                         or name in executor.host_values):
                if not np.array_equal(executor.read(name), expected[name]):
                    different.append(name)
    return different


@pytest.mark.parametrize("name, config", [
    ("resnet_small", "1x16x8"), ("mobilenet_v3_opset13", "1x8x16"),
    pytest.param("resnet_small", "1x8x16", marks=pytest.mark.slow),
    pytest.param("yolo_tiny", "1x16x8", marks=pytest.mark.slow),
    pytest.param("mobilenet_v3_opset13", "1x16x8", marks=pytest.mark.slow),
    pytest.param("yolo_tiny", "1x8x16", marks=pytest.mark.slow),
    pytest.param("unet_k3", "1x16x8", marks=pytest.mark.slow),
    pytest.param("unet_k3", "1x8x16", marks=pytest.mark.slow)])
def test_zoo_model_on_separate_blocks(name, config, torch_installed):
    """Residual Adds and strided shortcuts (resnet_small), depthwise 3×3/5×5 and squeeze-excite
    gates (mobilenet_v3_opset13), Concat, stride-1 MaxPool, nearest Resize (yolo_tiny),
    transposed convolutions and skip Concats (unet_k3)."""
    built, config = zoo.build(name), CONFIGS[config]
    result = evaluate.evaluate(built, config, samples=2)
    assert result.compiled and result.error is None, result
    assert result.backends_agree and result.passed, result.failures
    assert result.vta_mac_share == 1.0
    assert bit_exact_values(built, config) == []


@pytest.mark.parametrize("config", ["1x8x16", pytest.param("1x16x8", marks=pytest.mark.slow)])
def test_products_of_activations_on_separate_blocks(config, torch_installed):
    """vit_tiny's attention products (the second operand's buffer read as weight tiles; where
    BLOCK_OUT > BLOCK_IN its tiles are runs of BLOCK_IN lanes) on VTA, bit-exact, within the
    tolerance of onnxruntime."""
    built, config_ = zoo.build("vit_tiny"), CONFIGS[config]
    result = evaluate.evaluate(built, config_, samples=1)
    assert result.compiled and result.backends_agree and result.passed, result
    assert result.vta_mac_share == 1.0
    assert bit_exact_values(built, config_, samples=1) == []
