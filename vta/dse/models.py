"""The models a design-space exploration evaluates, and their accuracy.

A model is named on the command line as ``digits`` (the MNIST CNN on scikit-learn's digits),
``resnet18`` (benchmarks/build_resnet18.py's network), ``zoo:NAME`` (a model of the zoo in
benchmarks/zoo, when this is a source checkout) or the path of an int8 QDQ ``.onnx`` file.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from vta.isa import VtaError

BUILTIN = ("digits", "resnet18")
#: Inputs the fidelity of a model without labels is measured on (at most).
FIDELITY_INPUTS = 8


@dataclass(frozen=True)
class ModelSpec:
    """A model by name, its int8 ONNX file (and float one, if known) and a digest of the int8
    file's bytes (part of every store key: a rebuilt model is a new model)."""

    name: str
    int8_path: str
    float_path: str | None
    digest: str

    @property
    def key(self) -> str:
        return f"{self.name}@{self.digest}"


def resolve(name: str) -> ModelSpec:
    """Build (or find in the cache) the model called `name`."""
    float_path = None
    if name == "digits":
        from vta.compiler.models.digits import build_digits
        float_path, int8_path = build_digits()
    elif name == "resnet18":
        from vta.compiler.models.resnet18 import build_resnet18
        float_path, int8_path = build_resnet18()
    elif name.startswith("zoo:"):
        zoo = _zoo()
        if name[4:] not in zoo.names():
            raise VtaError(f"model {name!r}: the zoo has no such model (it has "
                           f"{', '.join(zoo.names())})")
        built = zoo.build(name[4:])
        float_path, int8_path = built.float_path, built.int8_path
    else:
        int8_path = Path(name)
        if int8_path.suffix == ".onnx" and not int8_path.is_file():
            raise VtaError(f"model {name!r}: no such file")
        if not int8_path.is_file():
            raise VtaError(f"model {name!r}: not {', '.join(BUILTIN)}, zoo:NAME or an .onnx "
                           f"file")
        from vta.compiler import onnx_model
        onnx_model.load(int8_path)   # an unreadable file is one error, not one per point
    digest = hashlib.sha256(Path(int8_path).read_bytes()).hexdigest()[:12]
    return ModelSpec(name, str(int8_path), str(float_path) if float_path else None, digest)


def _zoo():
    """The zoo package of this source checkout (benchmarks/zoo)."""
    benchmarks = Path(__file__).resolve().parents[2] / "benchmarks"
    if not (benchmarks / "zoo").is_dir():
        raise VtaError("zoo models need a source checkout of pyvta (benchmarks/zoo)")
    if sys.path[:1] != [str(benchmarks)]:     # first: another `zoo` (scripts/zoo.py) may be on it
        sys.path.insert(0, str(benchmarks))
    import zoo
    return zoo


@lru_cache(maxsize=16)
def graph(int8_path: str, alu_mul: bool, widths: tuple[int, int] = (8, 8)):
    """The imported integer graph, re-quantized for (input, weight) bit `widths` below 8
    (compiler/narrow.py); one import per worker process, model and widths."""
    from vta.compiler.onnx_import import import_onnx
    return import_onnx(Path(int8_path), alu_mul=alu_mul, widths=widths)


def accuracy(spec: ModelSpec, inp_width: int, wgt_width: int) -> dict:
    """The model's accuracy at these operand widths, from the integer reference (bit-exact with
    VTA): task accuracy on labelled data (digits: all 1797), else fidelity to the float model —
    top-1 agreement and signal-to-quantization-noise ratio (dB) over up to `FIDELITY_INPUTS`
    inputs. Below 8 bits the int8 model is re-quantized as the compiler does for such a
    config (compiler/narrow.py). A model given as a file has neither: its accuracy is None (not
    measured)."""
    if spec.name not in BUILTIN and not spec.name.startswith("zoo:"):
        return {"metric": "not measured (no labels or float model)", "accuracy": None}
    from vta.compiler import reference
    integer = graph(spec.int8_path, True, (inp_width, wgt_width))
    if spec.name == "digits":
        from vta.compiler.models.digits import digits_dataset
        inputs, labels = digits_dataset()
        logits = reference.run(integer, {integer.inputs[0]: inputs})[integer.outputs[0]]
        return {"metric": "accuracy", "accuracy": float(np.mean(logits.argmax(1) == labels)),
                "samples": int(len(labels))}
    feeds, floats = _fidelity_data(spec)
    ours = np.concatenate([reference.run(integer, feed)[integer.outputs[0]] for feed in feeds])
    theirs = floats.reshape(ours.shape).astype(np.float64)
    agreement = float(np.mean(ours.reshape(len(feeds), -1).argmax(1)
                              == theirs.reshape(len(feeds), -1).argmax(1)))
    noise = np.sum((ours - theirs) ** 2)
    sqnr = float(10 * np.log10(np.sum(theirs ** 2) / noise)) if noise else float("inf")
    return {"metric": "top-1 agreement", "accuracy": agreement, "sqnr_db": round(sqnr, 2),
            "samples": len(feeds)}


def _fidelity_data(spec: ModelSpec) -> tuple[list[dict], np.ndarray]:
    """Feeds (by ONNX input name) and the float model's first output on them."""
    if spec.name.startswith("zoo:"):
        reference = _zoo().build(spec.name[4:]).reference
        feeds = reference.inputs[:FIDELITY_INPUTS]
        first = next(iter(reference.outputs["float"].values()))
        return feeds, first[:len(feeds)]
    if spec.float_path is None:
        raise VtaError(f"model {spec.name}: no float model to measure fidelity against")
    import onnxruntime
    session = onnxruntime.InferenceSession(spec.float_path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    if spec.name == "resnet18":
        from vta.compiler.models.resnet18 import calibration_images
        images = calibration_images()[:FIDELITY_INPUTS]
    else:
        raise VtaError(f"model {spec.name}: no inputs to measure fidelity on")
    feeds = [{name: image[None]} for image in images]
    return feeds, np.concatenate([session.run(None, feed)[0] for feed in feeds])
