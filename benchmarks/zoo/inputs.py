"""Seeded synthetic inputs of the right kind for each model input: photos (random crops of the
photos that ship with scikit-image), sklearn's digits, token ids, smooth sequences, latent
vectors. Everything is drawn from one `numpy.random.Generator`, so a seed fixes the data."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

#: scikit-image photos the image inputs are cropped from (CC0 / public domain).
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "camera", "immunohistochemistry",
          "hubble_deep_field")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputSpec:
    """One model input: its ONNX name, its shape (batch 1) and the kind of data it takes.

    kinds: ``image`` (float NCHW photo crops normalised by `options` "mean" and "std" of
    [0, 1] pixels, ImageNet's by default; one channel = grey, normalised (x − 0.5) / 0.25),
    ``digit`` (sklearn digits as the digits CNN reads them), ``tokens`` (int64 ids in
    [0, vocabulary); `options["cls"]` puts that id first), ``segments`` (int64 0/1 sentence-pair
    ids), ``sequence`` (float (1, T, F) sums of random sinusoids), ``latent`` (float N(0, 1)).
    """

    name: str
    shape: tuple[int, ...]
    kind: str
    options: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.int64 if self.kind in ("tokens", "segments") else np.float32)


def samples(spec: InputSpec, rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` samples of `spec`, stacked along the batch axis: (count, *shape[1:])."""
    draw = {"image": _images, "digit": _digits, "tokens": _tokens, "segments": _segments,
            "sequence": _sequences, "latent": _latent}.get(spec.kind)
    if draw is None:
        raise ValueError(f"input {spec.name!r}: unknown kind {spec.kind!r}")
    array = draw(spec, rng, count)
    assert array.shape == (count,) + tuple(spec.shape[1:]) and array.dtype == spec.dtype
    return array


def feeds(specs, rng: np.random.Generator, count: int) -> list[dict[str, np.ndarray]]:
    """`count` feeds (one dict of batch-1 arrays by input name each)."""
    stacked = {spec.name: samples(spec, rng, count) for spec in specs}
    return [{name: array[index:index + 1] for name, array in stacked.items()}
            for index in range(count)]


@cache
def _photos() -> list[np.ndarray]:
    from skimage import data
    photos = []
    for name in PHOTOS:
        photo = getattr(data, name)().astype(np.float32) / 255.0
        photos.append(np.repeat(photo[..., None], 3, axis=2) if photo.ndim == 2 else photo[..., :3])
    return photos


def _images(spec: InputSpec, rng: np.random.Generator, count: int) -> np.ndarray:
    """Random square crops (a quarter to all of the short side) of random photos, possibly
    mirrored, resized to H×W and normalised."""
    from skimage.transform import resize
    _, channels, height, width = spec.shape
    photos = _photos()
    images = []
    for _ in range(count):
        photo = photos[rng.integers(len(photos))]
        side = int(rng.uniform(0.25, 1.0) * min(photo.shape[:2]))
        top = rng.integers(photo.shape[0] - side + 1)
        left = rng.integers(photo.shape[1] - side + 1)
        crop = photo[top:top + side, left:left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        image = resize(crop, (height, width), order=1, anti_aliasing=True)
        if channels == 1:
            image = (image.mean(axis=2, keepdims=True) - 0.5) / 0.25
        else:
            mean = spec.options.get("mean", IMAGENET_MEAN)
            image = (image - np.array(mean)) / np.array(spec.options.get("std", IMAGENET_STD))
        images.append(image.transpose(2, 0, 1))
    return np.stack(images).astype(np.float32)


def _digits(spec: InputSpec, rng: np.random.Generator, count: int) -> np.ndarray:
    from vta.compiler.models import digits_dataset
    inputs, _ = digits_dataset()
    return inputs[rng.choice(len(inputs), count, replace=False)]


def _tokens(spec: InputSpec, rng: np.random.Generator, count: int) -> np.ndarray:
    """Zipf-distributed ids (frequent words are frequent), clipped to the vocabulary."""
    vocabulary = spec.options["vocabulary"]
    ids = np.minimum(rng.zipf(1.3, size=(count,) + tuple(spec.shape[1:])), vocabulary - 1)
    if "cls" in spec.options:
        ids[:, 0] = spec.options["cls"]
    return ids.astype(np.int64)


def _segments(spec: InputSpec, rng: np.random.Generator, count: int) -> np.ndarray:
    """Sentence-pair ids: 0 up to a random split, 1 after it."""
    length = spec.shape[-1]
    split = rng.integers(1, length, size=(count, 1))
    return (np.arange(length)[None] >= split).astype(np.int64)


def _sequences(spec: InputSpec, rng: np.random.Generator, count: int) -> np.ndarray:
    """(count, T, F): per feature a sum of three sinusoids of random frequency and phase,
    plus a little noise."""
    _, steps, features = spec.shape
    t = np.arange(steps)[None, :, None, None]
    frequency = rng.uniform(0.05, 0.5, (count, 1, features, 3))
    phase = rng.uniform(0, 2 * np.pi, (count, 1, features, 3))
    amplitude = rng.uniform(0.2, 1.0, (count, 1, features, 3))
    signal = (amplitude * np.sin(2 * np.pi * frequency * t + phase)).sum(axis=3)
    return (signal + rng.normal(0, 0.05, signal.shape)).astype(np.float32)


def _latent(spec: InputSpec, rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.standard_normal((count,) + tuple(spec.shape[1:])).astype(np.float32)
