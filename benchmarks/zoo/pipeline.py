"""How a zoo model is built: seeded torch network → ONNX (`torch.onnx.export`, TorchScript
exporter) → onnxruntime's `quant_pre_process` → `quantize_static` (QDQ, int8 activations,
symmetric per-channel int8 weights, MinMax calibration on seeded synthetic inputs) → reference
outputs of onnxruntime at ORT_DISABLE_ALL and ORT_ENABLE_ALL (and of the float model) on a fixed
set of inputs. Everything is cached in the project's model cache under a name that carries a
digest of the builder's source, the recipe and the library versions, so a changed recipe never
reuses a stale file."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from vta.compiler.models.cache import cached

from zoo import inputs as zoo_inputs

#: Samples that calibrate the quantizer, and samples the reference outputs are computed on.
CALIBRATION_SAMPLES = 16
REFERENCE_SAMPLES = 8
#: Samples the batch-norm statistics are measured on.
STATISTICS_SAMPLES = 32
#: onnxruntime's two optimization levels the reference is computed at.
LEVELS = ("disabled", "enabled")
#: The package holding the torch networks.
FAMILIES = "zoo.families"
#: How the zoo quantizes (`quantize_static`'s keywords and extra options; an entry's
#: `quantization` overrides them): QDQ, int8 activations (asymmetric), symmetric per-channel
#: int8 weights, MinMax calibration.
QUANTIZATION = {"quant_format": "QDQ", "activation_type": "QInt8", "weight_type": "QInt8",
                "per_channel": True, "reduce_range": False, "calibrate_method": "MinMax",
                "WeightSymmetric": True, "ActivationSymmetric": False}


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


@dataclass(frozen=True)
class ZooModel:
    """One model of the zoo.

    Either `network` ("module.Class" of a torch module in `zoo.families`, built with keyword
    `arguments` under `torch.manual_seed(seed)` and exported at `opset`; named, not imported, so
    that reading cached models needs no torch) or `prebuilt` (one of the project's own builders
    returning (float, int8) ONNX paths) says where the ONNX model comes from.
    `min_vta_mac_share` is the acceptance's share of MACs that must run on VTA.
    """

    name: str
    family: str
    inputs: tuple[zoo_inputs.InputSpec, ...]
    classifier: bool
    min_vta_mac_share: float
    network: str = ""
    arguments: dict = field(default_factory=dict)
    opset: int = 13
    preprocess: bool = True
    prebuilt: Callable[[], tuple[Path, Path]] | None = None
    large: bool = False
    description: str = ""
    #: `quantize_static` settings that differ from the zoo's (`QUANTIZATION`): its keyword
    #: arguments and `extra_options` keys, enum members by name ("QUInt8", "QOperator").
    quantization: dict = field(default_factory=dict)

    def recipe(self) -> str:
        """Every input of the build, as text: the source of the modules involved, the entry's
        fields and the library versions."""
        packages = ("onnx", "onnxruntime") + (("torch",) if self.network else ())
        parts = [inspect.getsource(sys.modules[__name__]), inspect.getsource(zoo_inputs),
                 " ".join(f"{p} {_version(p)}" for p in packages),
                 repr((self.name, self.opset, self.preprocess,
                       [(s.name, s.shape, s.kind, sorted(s.options.items()))
                        for s in self.inputs], sorted(self.quantization.items())))]
        if self.network:
            module, _ = self.network.rsplit(".", 1)
            source = importlib.util.find_spec(f"{FAMILIES}.{module}").origin
            parts += [Path(source).read_text(), self.network, repr(sorted(self.arguments.items()))]
        else:
            parts.append(inspect.getsource(self.prebuilt))
        return "\n".join(parts)

    def network_class(self) -> type:
        module, name = self.network.rsplit(".", 1)
        return getattr(importlib.import_module(f"{FAMILIES}.{module}"), name)


@dataclass(frozen=True)
class Reference:
    """onnxruntime's outputs on the reference inputs: `inputs[i]` is one feed (batch 1 arrays by
    input name); `outputs[level][name]` stacks the samples' outputs (level: "disabled",
    "enabled", or "float" for the float model)."""

    inputs: list[dict[str, np.ndarray]]
    outputs: dict[str, dict[str, np.ndarray]]


@dataclass(frozen=True)
class BuiltModel:
    spec: ZooModel
    float_path: Path
    int8_path: Path
    reference_path: Path

    @cached_property
    def reference(self) -> Reference:
        with np.load(self.reference_path) as archive:
            arrays = {key: archive[key] for key in archive.files}
        stacked = {key.split("/", 1)[1]: value for key, value in arrays.items()
                   if key.startswith("input/")}
        count = len(next(iter(stacked.values())))
        feeds = [{name: array[i:i + 1] for name, array in stacked.items()} for i in range(count)]
        outputs = {}
        for key, value in arrays.items():
            level, _, name = key.partition("/")
            if level != "input":
                outputs.setdefault(level, {})[name] = value
        return Reference(feeds, outputs)


def digest(spec: ZooModel, seed: int, extra: bytes = b"") -> str:
    text = f"{spec.recipe()}\nseed {seed}\n".encode()
    return hashlib.sha256(text + extra).hexdigest()[:12]


def build(spec: ZooModel, seed: int = 0, rebuild: bool = False) -> BuiltModel:
    """Build (or find in the cache) the float and int8 ONNX models and their reference. A
    prebuilt model's reference is keyed by its int8 file's content as well."""
    if spec.prebuilt is not None:
        float_path, int8_path = spec.prebuilt()
        stem = f"zoo_{spec.name}_s{seed}_{digest(spec, seed, int8_path.read_bytes())}"
    else:
        stem = f"zoo_{spec.name}_s{seed}_{digest(spec, seed)}"
        float_path = cached(f"{stem}_float.onnx", lambda path: export(spec, seed, path), rebuild)
        calibration = zoo_inputs.feeds(spec.inputs, np.random.default_rng([seed, 1]),
                                       CALIBRATION_SAMPLES)
        int8_path = cached(f"{stem}_int8.onnx",
                           lambda path: quantize(float_path, calibration, path, spec.preprocess,
                                                 spec.quantization),
                           rebuild)
    reference_path = cached(f"{stem}_reference.npz",
                            lambda path: write_reference(spec, seed, float_path, int8_path, path),
                            rebuild)
    return BuiltModel(spec, float_path, int8_path, reference_path)


def network(spec: ZooModel, seed: int = 0):
    """The seeded torch network in eval mode: the class's own initialisation under
    `torch.manual_seed(seed)`, norms' affine parameters drawn at random, and batch-norm
    statistics measured on a batch of the model's kind of input (as training would leave them:
    a network at its initial identity norms lets the signal fade layer by layer, and its output
    hardly depends on its input)."""
    import torch
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = spec.network_class()(**spec.arguments)
        norms = [layer for layer in module.modules() if isinstance(layer, torch.nn.BatchNorm2d)]
        with torch.no_grad():
            for layer in module.modules():
                if isinstance(layer, (torch.nn.BatchNorm2d, torch.nn.LayerNorm)):
                    layer.weight.uniform_(0.5, 1.5)
                    layer.bias.normal_(0.0, 0.1)
            if norms:
                batch = [torch.from_numpy(zoo_inputs.samples(s, np.random.default_rng([seed, 0]),
                                                             STATISTICS_SAMPLES))
                         for s in spec.inputs]
                for layer in norms:
                    layer.reset_running_stats()
                    layer.momentum = None                  # a plain average over the batch
                    layer.train()
                module(*batch)
    return module.eval()


def export(spec: ZooModel, seed: int, path: Path) -> None:
    """The float ONNX model (batch 1, static shapes), as `torch.onnx.export` writes it."""
    import torch
    module = network(spec, seed)
    example = tuple(torch.from_numpy(zoo_inputs.samples(s, np.random.default_rng(0), 1))
                    for s in spec.inputs)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")                # tracer notes on Python-level shapes
        torch.onnx.export(module, example, str(path), dynamo=False, opset_version=spec.opset,
                          input_names=[s.name for s in spec.inputs], output_names=["output"])


def quantize(float_path: Path, calibration: list[dict[str, np.ndarray]], int8_path: Path,
             preprocess: bool = True, options: dict | None = None) -> None:
    """onnxruntime's static quantization, configured as the zoo's models are (`QUANTIZATION`,
    updated by `options`)."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter(calibration)

        def get_next(self):
            return next(self.feeds, None)

    settings = dict(QUANTIZATION, **(options or {}))
    enums = {"quant_format": QuantFormat, "activation_type": QuantType, "weight_type": QuantType,
             "calibrate_method": CalibrationMethod}
    keywords = {key: enums[key][value] if key in enums else value
                for key, value in settings.items() if key[0].islower()}
    extra = {key: value for key, value in settings.items() if not key[0].islower()}
    with tempfile.TemporaryDirectory() as scratch, _quiet():
        source = float_path
        if preprocess:
            source = Path(scratch) / "preprocessed.onnx"
            quant_pre_process(str(float_path), str(source), skip_symbolic_shape=False)
        quantize_static(str(source), str(int8_path), Reader(), extra_options=extra, **keywords)


def session(path: Path, level: str = "enabled"):
    """A one-thread onnxruntime session at optimization level `level` ("disabled", "enabled"),
    as the compiler's comparisons make them (`compare.onnxruntime_session`)."""
    from vta.compiler.compare import onnxruntime_session
    return onnxruntime_session(str(path), optimized={"disabled": False, "enabled": True}[level],
                               threads=1)


def run(path: Path, feeds: list[dict[str, np.ndarray]], level: str = "enabled"
        ) -> dict[str, np.ndarray]:
    """Each output of the model over `feeds`, one sample at a time, stacked along the batch."""
    runner = session(path, level)
    names = [output.name for output in runner.get_outputs()]
    results = [runner.run(names, feed) for feed in feeds]
    return {name: np.concatenate([r[i] for r in results]) for i, name in enumerate(names)}


def reference_inputs(spec: ZooModel, seed: int) -> list[dict[str, np.ndarray]]:
    return zoo_inputs.feeds(spec.inputs, np.random.default_rng([seed, 2]), REFERENCE_SAMPLES)


def write_reference(spec: ZooModel, seed: int, float_path: Path, int8_path: Path,
                    path: Path) -> None:
    feeds = reference_inputs(spec, seed)
    arrays = {f"input/{name}": np.concatenate([feed[name] for feed in feeds])
              for name in feeds[0]}
    for level in LEVELS:
        arrays.update({f"{level}/{k}": v for k, v in run(int8_path, feeds, level).items()})
    arrays.update({f"float/{k}": v for k, v in run(float_path, feeds).items()})
    with open(path, "wb") as file:
        np.savez(file, **arrays)


@contextlib.contextmanager
def _quiet():
    """onnxruntime's quantizer logs advice as warnings on the root logger, through
    `logging.info`, which gives a root logger without handlers one on stderr: a handler that
    does nothing stands in while it runs, so the process's logging is as it was (else every
    INFO record of a library, Dask's scheduler for one, is printed from then on)."""
    logger = logging.getLogger()
    level, stand_in = logger.level, logging.NullHandler()
    logger.setLevel(logging.ERROR)
    logger.addHandler(stand_in)
    try:
        yield
    finally:
        logger.removeHandler(stand_in)
        logger.setLevel(level)
