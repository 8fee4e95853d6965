"""A small quantized model (two convolutions, all on VTA) and small space files."""

import logging

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(14)


@pytest.fixture(scope="session")
def small_model(tmp_path_factory):
    init = {"a.w": RNG.normal(0, 0.3, (16, 8, 3, 3)).astype(np.float32),
            "b.w": RNG.normal(0, 0.2, (16, 16, 1, 1)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "a.w"], ["a"], name="conv_a", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "b.w"], ["y"], name="conv_b")]
    graph = helper.make_graph(
        nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(value, name) for name, value in init.items()])
    folder = tmp_path_factory.mktemp("small")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              folder / "float.onnx")
    return quantized(folder, RNG.normal(size=(8, 1, 8, 8, 8)).astype(np.float32))


def quantized(folder, samples):
    """onnxruntime's int8 QDQ quantization of folder/float.onnx (MinMax on `samples`)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter([{"x": sample} for sample in samples])

        def get_next(self):
            return next(self.feeds, None)

    logging.getLogger().setLevel(logging.ERROR)
    quantize_static(str(folder / "float.onnx"), str(folder / "int8.onnx"), Reader(),
                    quant_format=QuantFormat.QDQ, per_channel=True)
    return folder / "int8.onnx"


@pytest.fixture
def write_space():
    """write_space(folder, text, name="space.toml") -> the path of a new space file."""
    def write(folder, text: str, name="space.toml"):
        path = folder / name
        path.write_text(text)
        return path
    return write
