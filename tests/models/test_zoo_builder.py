"""The zoo builder: seeded and reproducible, and its onnxruntime reference self-consistent."""

import numpy as np
import pytest

import zoo
from zoo import inputs, measure, pipeline

SMALL = zoo.names(large=False)


def test_export_and_quantization_are_reproducible(tmp_path, torch_installed):
    """Same seed → byte-identical float and int8 ONNX (also identical to the cached build);
    another seed → other weights."""
    spec = zoo.get("dcgan")
    for seed, name in ((0, "a"), (0, "b"), (1, "c")):
        pipeline.export(spec, seed, tmp_path / f"{name}.onnx")
    calibration = inputs.feeds(spec.inputs, np.random.default_rng([0, 1]),
                               pipeline.CALIBRATION_SAMPLES)
    for name in ("a", "b"):
        pipeline.quantize(tmp_path / f"{name}.onnx", calibration, tmp_path / f"{name}_int8.onnx")
    read = {p.stem: p.read_bytes() for p in tmp_path.iterdir()}
    assert read["a"] == read["b"] != read["c"]
    assert read["a_int8"] == read["b_int8"] == zoo.build("dcgan").int8_path.read_bytes()


def test_inputs_are_seeded_and_of_their_kind():
    rng = lambda: np.random.default_rng(7)     # noqa: E731
    tokens = inputs.InputSpec("ids", (1, 32), "tokens", {"vocabulary": 100, "cls": 2})
    segments = inputs.InputSpec("types", (1, 32), "segments")
    image = inputs.InputSpec("image", (1, 3, 16, 16), "image")
    for spec in (tokens, segments, image):
        assert np.array_equal(inputs.samples(spec, rng(), 4), inputs.samples(spec, rng(), 4))
    ids = inputs.samples(tokens, rng(), 50)
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 100
    assert np.all(ids[:, 0] == 2) and len(np.unique(ids)) > 10
    pairs = inputs.samples(segments, rng(), 50)
    assert set(np.unique(pairs)) == {0, 1} and np.all(np.diff(pairs, axis=1) >= 0)
    photos = inputs.samples(image, rng(), 8)
    assert photos.dtype == np.float32 and abs(photos.mean()) < 1.5 and photos.std() > 0.3


@pytest.mark.parametrize("name", SMALL)
def test_reference_is_self_consistent(name, torch_installed):
    """The stored inputs are the seed's; onnxruntime reproduces the stored outputs at both
    levels; the int8 model follows the float model; the levels differ by a few steps at most."""
    built = zoo.build(name)
    reference = built.reference
    redrawn = pipeline.reference_inputs(built.spec, 0)
    assert len(reference.inputs) == pipeline.REFERENCE_SAMPLES
    for stored, fresh in zip(reference.inputs, redrawn):
        assert stored.keys() == fresh.keys()
        assert all(np.array_equal(stored[k], fresh[k]) and stored[k].dtype == fresh[k].dtype
                   for k in stored)
    for level in pipeline.LEVELS:
        again = pipeline.run(built.int8_path, reference.inputs, level)
        assert again.keys() == reference.outputs[level].keys()
        assert all(np.array_equal(again[k], reference.outputs[level][k]) for k in again)
    steps = measure.output_steps(measure_model(built))
    for output, step in steps.items():
        int8, floating = reference.outputs["enabled"][output], reference.outputs["float"][output]
        assert np.corrcoef(int8.ravel(), floating.ravel())[0, 1] > 0.9
        spread = measure.steps_apart(int8, reference.outputs["disabled"][output], step)
        assert spread <= 16


def measure_model(built):
    import onnx
    return onnx.load(str(built.int8_path))


def test_quantizing_leaves_the_root_logger_without_handlers(monkeypatch):
    """onnxruntime's quantizer calls `logging.info` (quantize_bias_tensor), which installs a
    stderr handler on a root logger that has none; after the zoo's quantization step the root
    logger has no handler (else `vta dse --models zoo:...` printed Dask's INFO records)."""
    import logging

    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    with pipeline._quiet():
        logging.info("advice")
    assert root.handlers == []
