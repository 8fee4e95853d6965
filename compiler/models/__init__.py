"""Builders of the real workloads (docs/compiler.md): float ONNX export and int8 quantization,
cached under the user's cache folder. Building needs the `models` extra (torch and the model
packages); the built ONNX files need only onnx/onnxruntime."""

from vta.compiler.models.cache import cache_dir
from vta.compiler.models.digits import build_digits, digits_dataset
from vta.compiler.models.efficientnet import build_efficientnet_lite0, efficientnet_images
from vta.compiler.models.resnet18 import build_resnet18

__all__ = ["cache_dir", "build_digits", "digits_dataset", "build_efficientnet_lite0",
           "efficientnet_images", "build_resnet18"]
