"""`vta quantize`: float ONNX → int8 QDQ ONNX with onnxruntime's static quantizer, set up for VTA.

Settings: int8 activations, symmetric per-channel int8 weights, QDQ format, MinMax calibration,
after onnxruntime's `quant_pre_process` (shape inference and graph optimisation, which folds the
padding sub-graphs of TF-style exports). With `power_of_two=True` every scale is then rounded up
to a power of two (weights and biases re-quantized to the new scales), so that every
requantization is a shift: the original VTA's scheme, for configs without the ALU multiply.
Rounding weight scales *up* never clips a weight; rounding to the nearest would.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from vta.isa import VtaError
from vta.isa.files import read_arrays, write_atomically

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


def model_input(model: onnx.ModelProto, where: str = "the model") -> tuple[str, tuple[int, ...]]:
    """Name and static shape (batch 1) of the model's one float input (`where` names the model
    in errors)."""
    initializers = {tensor.name for tensor in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise VtaError(f"{where}: {len(inputs)} graph inputs; `vta quantize` takes models with one")
    dims = inputs[0].type.tensor_type.shape.dim
    shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in dims)
    return inputs[0].name, shape


def load_calibration(source: str | Path, shape: tuple[int, ...], *, mean=0.0, std=1.0
                     ) -> np.ndarray:
    """Calibration samples (N, *shape[1:]) float32 from a .npy/.npz file or a folder of .npy
    files and images. Images are resized (short side, then centre crop) to the input's H×W,
    scaled to [0, 1] and normalised as (x − mean) / std (channel-wise if given per channel)."""
    source = Path(source)
    _check_normalisation(mean, std, shape)
    if source.is_dir():
        files = sorted(p for p in source.iterdir()
                       if p.suffix.lower() in (".npy", ".npz") + IMAGE_SUFFIXES)
        if not files:
            raise VtaError(f"{source}: no .npy, .npz or image files to calibrate with")
        arrays = [_load_one(path, shape, mean, std) for path in files]
    elif source.is_file():
        arrays = [_load_one(source, shape, mean, std)]
    else:
        raise VtaError(f"{source}: calibration data not found")
    return np.concatenate(arrays).astype(np.float32)


def _check_normalisation(mean, std, shape) -> None:
    """Image normalisation: finite means, finite non-zero deviations, one value or one per
    channel of an image input (C, H, W)."""
    channels = shape[1] if len(shape) == 4 else 1
    for name, values in (("--mean", mean), ("--std", std)):
        values = np.atleast_1d(np.asarray(values, np.float64))
        if values.size not in (1, channels) or not np.isfinite(values).all() or (
                name == "--std" and (values == 0).any()):
            raise VtaError(f"{name} {' '.join(f'{v:g}' for v in values)}: give one finite "
                           f"value or one per channel ({channels}){', none 0' * (name == '--std')}")


def _load_one(path: Path, shape, mean, std) -> np.ndarray:
    sample_shape = tuple(shape[1:])
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _image_sample(path, sample_shape, mean, std)[None]
    arrays = read_arrays(path)
    if not arrays:
        raise VtaError(f"{path}: an empty .npz archive")
    if any(not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array)
           for array in arrays):
        kinds = ", ".join(sorted({str(array.dtype) for array in arrays}))
        raise VtaError(f"{path}: calibration data of type {kinds}, not real numbers")
    try:
        with np.errstate(over="ignore"):             # beyond float32: refused just below
            data = np.concatenate(arrays).astype(np.float32)
    except (ValueError, TypeError) as error:
        raise VtaError(f"{path}: calibration arrays that do not stack ({error})") from None
    if not np.isfinite(data).all():
        raise VtaError(f"{path}: calibration data holds {_non_finite(data)}, which no scale "
                       "can quantize")
    if data.shape == sample_shape:
        return data[None]
    if data.shape[1:] == sample_shape:
        return data
    raise VtaError(f"{path}: calibration array of shape {data.shape} does not match the model "
                   f"input {shape}")


def _image_sample(path: Path, sample_shape, mean, std) -> np.ndarray:
    from skimage import io, transform
    if len(sample_shape) != 3:
        raise VtaError(f"{path}: images calibrate only models with an image input (C, H, W)")
    channels, height, width = sample_shape
    image = io.imread(path).astype(np.float32)
    image = image[..., None] if image.ndim == 2 else image[..., :3]
    scale = max(height / image.shape[0], width / image.shape[1])
    size = (max(height, round(image.shape[0] * scale)), max(width, round(image.shape[1] * scale)))
    image = transform.resize(image, size, order=1, preserve_range=True, anti_aliasing=True)
    top, left = (size[0] - height) // 2, (size[1] - width) // 2
    image = image[top:top + height, left:left + width] / 255.0
    if image.shape[2] != channels:
        image = np.repeat(image.mean(axis=2, keepdims=True), channels, axis=2)
    image = (image - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return image.transpose(2, 0, 1).astype(np.float32)


def quantize(model_path: str | Path, calibration: np.ndarray | Iterable[np.ndarray],
             output_path: str | Path, *, power_of_two: bool = False, per_channel: bool = True,
             preprocess: bool = True) -> Path:
    """Quantize a float model for VTA; `calibration` holds input samples (N, ...) (or batches)."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model_path, output_path = Path(model_path), Path(output_path)
    model = _load(model_path)
    name, shape = model_input(model, str(model_path))
    samples = [np.asarray(s, dtype=np.float32).reshape((-1,) + tuple(shape[1:]))
               for s in (calibration if not isinstance(calibration, np.ndarray) else [calibration])]
    feeds = [{name: sample[None]} for batch in samples for sample in batch]
    if not feeds:
        raise VtaError(f"{model_path}: no calibration samples")

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter(feeds)

        def get_next(self):
            return next(self.feeds, None)

    # in the scratch folder: onnxruntime's shape inference leaves sym_shape_infer_temp.onnx
    # in the working folder when it fails
    source = model_path.resolve()
    with tempfile.TemporaryDirectory() as scratch, _onnxruntime_quietly(model_path), \
            contextlib.chdir(scratch):
        target = Path(scratch) / "quantized.onnx"
        if preprocess:
            original, source = source, Path(scratch) / "preprocessed.onnx"
            quant_pre_process(str(original), str(source), skip_symbolic_shape=False)
        quantize_static(str(source), str(target), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        per_channel=per_channel, calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"WeightSymmetric": True, "ActivationSymmetric": False})
        quantized = onnx.load(str(target))
    if power_of_two:
        round_scales_to_powers_of_two(quantized)
    write_atomically(output_path, quantized.SerializeToString())
    return output_path


@contextlib.contextmanager
def _onnxruntime_quietly(model_path: Path):
    """Run onnxruntime's quantization tools without their logs — pre-processing advice, and
    errors they go on past or raise as well, from Python's logging and from onnxruntime's own
    logger (restored to its default, warnings) — and turn what they raise (a model they cannot
    run or infer shapes of) into a one-line VtaError naming the model."""
    import onnxruntime

    logger = logging.getLogger()
    # `logging.info`, which the quantizer calls, gives a root logger without handlers one on
    # stderr for good (every library's INFO records, Dask's for one, printed from then on)
    level, stand_in = logger.level, logging.NullHandler()
    logger.setLevel(logging.CRITICAL)
    logger.addHandler(stand_in)
    onnxruntime.set_default_logger_severity(4)              # fatal only
    try:
        yield
    except VtaError:
        raise
    except Exception as error:  # noqa: BLE001 - onnxruntime raises every kind
        reason = " ".join(str(error).split()) or type(error).__name__
        raise VtaError(f"{model_path}: onnxruntime cannot quantize the model "
                       f"({reason[:300]})") from None
    finally:
        logger.removeHandler(stand_in)
        logger.setLevel(level)
        onnxruntime.set_default_logger_severity(2)


def _non_finite(data: np.ndarray) -> str:
    """What non-finite values `data` holds, for a message: 'NaN', 'infinity' or both."""
    found = [name for name, present in (("NaN", np.isnan(data).any()),
                                        ("infinity", np.isinf(data).any())) if present]
    return " and ".join(found)


def _load(path: Path) -> onnx.ModelProto:
    try:
        model = onnx.load(str(path))
    except Exception as error:  # noqa: BLE001 - protobuf raises several kinds
        raise VtaError(f"{path}: not a readable ONNX model ({error})") from None
    if not model.graph.node:                 # an empty file parses as an empty model
        raise VtaError(f"{path}: not an ONNX model (no graph nodes: the file is empty or holds "
                       "something else)")
    return model


def _power_of_two_above(scale: np.ndarray) -> np.ndarray:
    return np.exp2(np.ceil(np.log2(scale.astype(np.float64)))).astype(np.float32)


def round_scales_to_powers_of_two(model: onnx.ModelProto) -> None:
    """Round every QDQ scale up to a power of two in place, re-quantizing weights and biases."""
    initializers = {t.name: t for t in model.graph.initializer}
    producers = {out: node for node in model.graph.node for out in node.output}
    old = {name: numpy_helper.to_array(t).copy() for name, t in initializers.items()}

    def set_array(name, array):
        initializers[name].CopyFrom(numpy_helper.from_array(array, name))

    dequantized_constants = []
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and node.input[1] in initializers:
            set_array(node.input[1], _power_of_two_above(old[node.input[1]]))
            if node.op_type == "DequantizeLinear" and node.input[0] in initializers:
                dequantized_constants.append(node)
    new_scale = {name: numpy_helper.to_array(initializers[name]) for name in old}
    for node in dequantized_constants:
        q = old[node.input[0]]
        if q.dtype == np.int32:
            continue                                     # biases: below, from their operator
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        ratio = _along(old[node.input[1]] / new_scale[node.input[1]], q.ndim, axis)
        zero_point = _along(old[node.input[2]].astype(np.float64), q.ndim, axis) \
            if len(node.input) > 2 and node.input[2] else 0
        info = np.iinfo(q.dtype)
        requantized = np.rint((q - zero_point) * ratio) + zero_point
        set_array(node.input[0], np.clip(requantized, info.min, info.max).astype(q.dtype))
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm") and len(node.input) > 2 and node.input[2]:
            _requantize_bias(node, producers, old, new_scale, set_array)


def _along(values: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.size == 1:
        return values.reshape(())
    shape = [1] * ndim
    shape[axis % ndim] = values.size
    return values.reshape(shape)


def _requantize_bias(node, producers, old, new_scale, set_array) -> None:
    dequantizers = [producers.get(name) for name in node.input[:3]]
    if any(d is None or d.op_type != "DequantizeLinear" for d in dequantizers):
        return
    bias_node = dequantizers[2]
    q = old.get(bias_node.input[0])
    if q is None or q.dtype != np.int32:
        return
    real = q.astype(np.float64) * old[bias_node.input[1]].astype(np.float64)
    scale = (new_scale[dequantizers[0].input[1]].astype(np.float64)
             * new_scale[dequantizers[1].input[1]].astype(np.float64)).ravel()
    set_array(bias_node.input[0], np.rint(real / scale).astype(np.int32))
    set_array(bias_node.input[1], scale.astype(np.float32).reshape(old[bias_node.input[1]].shape))


def quantize_file(model_path: str | Path, calibration_source: str | Path, output_path: str | Path,
                  *, mean=0.0, std=1.0, **options) -> int:
    """`vta quantize`: calibrate on a file or folder (`load_calibration`), quantize, return the
    number of calibration samples. `options` as for `quantize`."""
    _, shape = model_input(_load(Path(model_path)), str(model_path))
    samples = load_calibration(calibration_source, shape, mean=mean, std=std)
    quantize(model_path, samples, output_path, **options)
    return len(samples)
