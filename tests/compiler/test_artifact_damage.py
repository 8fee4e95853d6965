"""The .vtab loader fuzzed structurally: damaged files whose checksum is recomputed, so only
the validation past the checksum (`vta.compiler.artifact_schema`) stands between them and the
executor. Each is a one-line error (exit status 1, 2 or 3) or a run, never a traceback, and a
compression bomb never inflates past its section's declared size."""

import tracemalloc

import numpy as np
import pytest
from vtab_damage import BOMB_BYTES, compression_bomb, damaged, join, split

from backend_graphs import conv_graph
from host_graphs import host_segment_graph
from vta.cli import main
from vta.compiler import artifact
from vta.compiler.build import compile_graph
from vta.isa import Config

FILES_PER_SEED = 130
SEEDS = range(4)          # 520 damaged files in all


def _saved(folder, graph, x):
    path = folder / "model.vtab"
    artifact.save(compile_graph(graph, Config.preset("pynq")), path)
    np.save(folder / "x.npy", x)
    return path.read_bytes(), folder / "x.npy"


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    graph = conv_graph(np.random.default_rng(7), c=5, o=20, h=6, w=5)
    x = np.random.default_rng(8).integers(-128, 128, (1, 5, 6, 5)).astype(np.int8)
    return _saved(tmp_path_factory.mktemp("vtab"), graph, x)


@pytest.fixture(scope="module")
def with_host_steps(tmp_path_factory):
    """A model with host steps (ONNX operators, quantization crossings, a host constant)."""
    graph = host_segment_graph(np.random.default_rng(9))
    x = np.random.default_rng(10).normal(0, 2, (1, 4, 6, 6)).astype(np.float32)
    return _saved(tmp_path_factory.mktemp("vtab_host"), graph, x)


@pytest.mark.parametrize("model, seed", [("original", seed) for seed in SEEDS]
                         + [("with_host_steps", seed) for seed in range(2)])
def test_damaged_vtab_is_an_error_or_a_run(model, seed, request, tmp_path, capsys):
    data, x = request.getfixturevalue(model)
    rng = np.random.default_rng(seed)
    outcomes = {}
    for index in range(FILES_PER_SEED):
        how, bad = damaged(data, rng)
        path = tmp_path / f"damaged_{index}.vtab"
        path.write_bytes(bad)
        capsys.readouterr()
        status = main(["run", str(path), "--input", str(x), "-o", str(tmp_path / "y.npy")])
        err = capsys.readouterr().err
        lines = err.splitlines()
        if status == 0:
            assert err == "", (how, err)
        else:
            assert status in (1, 2, 3) and len(lines) == 1, (how, status, err)
            assert lines[0].startswith(f"vta run: {path}: "), (how, err)
        outcomes[status == 0] = outcomes.get(status == 0, 0) + 1
        path.unlink()
    assert outcomes.get(False, 0) > FILES_PER_SEED // 2     # most damage is caught


def test_compression_bomb_is_not_inflated(original):
    """A section whose deflated data inflates to 64 MiB is refused having inflated at most
    its declared size (the allocation peak stays far below the bomb)."""
    version, header, payload = split(original[0])
    section = next(s for s in header["sections"] if "offset" in s)
    bomb = compression_bomb()
    section["offset"], section["length"] = len(payload), len(bomb)
    import json
    data = join(version, json.dumps(header).encode(), payload + bomb)
    tracemalloc.start()
    try:
        with pytest.raises(artifact.ArtifactError, match="does not inflate to its declared"):
            artifact.from_bytes(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < BOMB_BYTES // 16, peak


@pytest.mark.parametrize("field, value, message", [
    ("scale", 0, "scale: 0 is below the minimum 1e-30"),
    ("scale", -0.5, "scale: -0.5 is below the minimum"),
    ("zero_point", 300, "zero_point: 300 is above the maximum 127"),
    ("addr", 2**40, "addr: 1099511627776 is above the maximum 2147483648"),
])
def test_a_value_out_of_range_is_named(field, value, message, original):
    import json
    version, header, payload = split(original[0])
    header["values"]["x"][field] = value
    with pytest.raises(artifact.ArtifactError, match=f"values.x.{message}"):
        artifact.from_bytes(join(version, json.dumps(header).encode(), payload))


@pytest.mark.parametrize("lanes, message", [
    ([1, -128], r"im2col output \[1, 48, 6, 5\] is not \(1, 47, \.\.\.\)"),
    ([1, -128, -128, 5], r"im2col output \[1, 48, 6, 5\] is not \(1, 49, \.\.\.\)"),
    ([1, -128, 128], r"steps\[0\].constant_lanes\[2\]: 128 is above the maximum 127"),
    ([], r"steps\[0\].constant_lanes: has 0 items, at least 1 expected"),
])
def test_im2col_constant_lanes_are_checked(lanes, message, original):
    """The constant lanes an im2col writes after its windows (the bias of the lowered
    convolution: 45 window channels, 3 lanes) are int8 and fill the output's channels."""
    import json
    version, header, payload = split(original[0])
    (step,) = [step for step in header["steps"] if step.get("kind") == "im2col"]
    assert step["constant_lanes"] == [1, -128, -128]
    step["constant_lanes"] = lanes
    with pytest.raises(artifact.ArtifactError, match=message):
        artifact.from_bytes(join(version, json.dumps(header).encode(), payload))


@pytest.mark.parametrize("scale", [None, "x"])
def test_a_host_step_scale_of_another_type_is_one_line(scale, with_host_steps, tmp_path, capsys):
    """A quantization scale that is no number reaches a compiled host kernel through ctypes:
    its ArgumentError is the one-line 'cannot run' of any other malformed host node (it was
    a traceback)."""
    import json
    data, x = with_host_steps
    version, header, payload = split(data)
    step = next(step for step in header["steps"] if step["op"] == "host"
                and "quant" in step["ir"]["fields"])
    step["ir"]["fields"]["quant"]["fields"]["scale"] = scale
    path = tmp_path / "damaged.vtab"
    path.write_bytes(join(version, json.dumps(header).encode(), payload))
    status = main(["run", str(path), "--input", str(x), "-o", str(tmp_path / "y.npy")])
    err = capsys.readouterr().err
    assert status == 1 and len(err.splitlines()) == 1, err
    assert err.startswith(f"vta run: {path}: host node {step['node']!r} cannot run "
                          "(ArgumentError"), err
    assert not (tmp_path / "y.npy").exists()


def test_an_instruction_stream_the_file_does_not_hold_is_refused(original):
    """A VTA step's instructions lie in a stored section: a count reaching into a fill or
    unwritten memory (all of a 2 GiB model's memory: 134 million instructions decoded from a
    10 KB file, a MemoryError) is refused when the file is read."""
    import json
    version, header, payload = split(original[0])
    header["memory_bytes"] = 1 << 31
    index, step = next((i, step) for i, step in enumerate(header["steps"]) if step["op"] == "vta")
    step["insn_count"] = ((1 << 31) - step["insn_addr"]) // 16
    with pytest.raises(artifact.ArtifactError,
                       match=rf"steps\[{index}\]: instructions \[0x[0-9a-f]+, 0x80000000\) lie "
                             "outside every stored section"):
        artifact.from_bytes(join(version, json.dumps(header).encode(), payload))
