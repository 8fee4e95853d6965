"""ResNet-18 (torchvision's architecture) with seeded random weights, written directly as ONNX.

No pretrained weights can be had offline; the random network is the standard benchmark of the VTA
literature (its convolutions are layers C1–C12 of the original papers). Initialisation follows
torchvision: Kaiming-normal convolutions (fan-out, ReLU), batch norms at their initial identity
(and so left out), a uniform fully connected layer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from vta.compiler.models.cache import cached

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
#: (channels, stride of the first block) of the four stages.
STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))


class _Builder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.initializers = [], []

    def tensor(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def conv(self, name, x, in_ch, out_ch, kernel, stride, relu=True) -> str:
        std = np.sqrt(2.0 / (out_ch * kernel * kernel))
        weight = self.tensor(f"{name}.weight", self.rng.normal(0, std, (out_ch, in_ch, kernel, kernel)))
        bias = self.tensor(f"{name}.bias", np.zeros(out_ch))
        pad = kernel // 2
        self.nodes.append(helper.make_node("Conv", [x, weight, bias], [name], name=name,
                                           kernel_shape=[kernel, kernel], strides=[stride, stride],
                                           pads=[pad] * 4))
        return self.relu(name) if relu else name

    def relu(self, x: str) -> str:
        self.nodes.append(helper.make_node("Relu", [x], [f"{x}.relu"], name=f"{x}.relu"))
        return f"{x}.relu"

    def block(self, name, x, in_ch, out_ch, stride) -> str:
        y = self.conv(f"{name}.conv1", x, in_ch, out_ch, 3, stride)
        y = self.conv(f"{name}.conv2", y, out_ch, out_ch, 3, 1, relu=False)
        if stride != 1 or in_ch != out_ch:
            x = self.conv(f"{name}.downsample", x, in_ch, out_ch, 1, stride, relu=False)
        self.nodes.append(helper.make_node("Add", [y, x], [f"{name}.add"], name=f"{name}.add"))
        return self.relu(f"{name}.add")


def resnet18_model(seed: int = 0) -> onnx.ModelProto:
    """The float ResNet-18 (input "image" 1×3×224×224, output "logits" 1×1000)."""
    b = _Builder(seed)
    x = b.conv("conv1", "image", 3, 64, 7, 2)
    b.nodes.append(helper.make_node("MaxPool", [x], ["maxpool"], name="maxpool",
                                    kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    x, channels = "maxpool", 64
    for stage, (out_ch, stride) in enumerate(STAGES, start=1):
        for index in range(2):
            x = b.block(f"layer{stage}.{index}", x, channels, out_ch, stride if index == 0 else 1)
            channels = out_ch
    b.nodes += [helper.make_node("GlobalAveragePool", [x], ["avgpool"], name="avgpool"),
                helper.make_node("Flatten", ["avgpool"], ["flatten"], name="flatten", axis=1)]
    bound = 1 / np.sqrt(512)
    weight = b.tensor("fc.weight", b.rng.uniform(-bound, bound, (1000, 512)))
    bias = b.tensor("fc.bias", b.rng.uniform(-bound, bound, 1000))
    b.nodes.append(helper.make_node("Gemm", ["flatten", weight, bias], ["logits"], name="fc",
                                    transB=1))
    graph = helper.make_graph(
        b.nodes, "resnet18", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])], b.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="pyvta")
    onnx.checker.check_model(model)
    return model


def calibration_images() -> np.ndarray:
    """The EfficientNet photos, normalised the torchvision way, (N, 3, 224, 224)."""
    from vta.compiler.models.efficientnet import efficientnet_images
    images = np.concatenate(list(efficientnet_images().values()))
    rgb = images * 128.0 + 127.0                       # undo the Lite normalisation
    return ((rgb / 255.0 - IMAGENET_MEAN[:, None, None]) / IMAGENET_STD[:, None, None]).astype(np.float32)


def build_resnet18(seed: int = 0, rebuild: bool = False, *, per_channel: bool = True,
                   power_of_two: bool = False) -> tuple[Path, Path]:
    """(float ONNX, int8 QDQ ONNX) of the seeded ResNet-18, built once and cached; by default
    quantized as `vta quantize` does (per-channel weights), else per tensor and/or with
    power-of-two scales (the original VTA's scheme is both)."""
    from vta.compiler.quantize import quantize
    float_path = cached(f"resnet18_seed{seed}_float.onnx",
                        lambda path: onnx.save(resnet18_model(seed), str(path)), rebuild)
    variant = ("" if per_channel else "_per_tensor") + ("_pow2" if power_of_two else "")
    return float_path, cached(
        f"resnet18_seed{seed}{variant}_int8.onnx",
        lambda path: quantize(float_path, calibration_images(), path, per_channel=per_channel,
                              power_of_two=power_of_two), rebuild)
