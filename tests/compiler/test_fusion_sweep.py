"""A few cases of the randomized sweep of the fused layers (scripts/fusion_sweep.py): the max
pool fused into its convolution, the strided shortcut fused into conv2, the bias on the im2col
padding lanes, on several configs, compiled with the compiler's timed choice or with random
tilings; every stored value bit-exact with the reference executor on the functional and the
cycle backend, each layer's cycles the recorded ones."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from fusion_sweep import draw_case, run_case  # noqa: E402

#: (seed, family, config, mode) of each case: one per family, the configs without the ALU
#: multiply, with one compute unit, small SRAMs, batch 2 and BLOCK_IN ≠ BLOCK_OUT; 60 and 390
#: failed before their fixes (a fused pool's MUL 0 without the ALU multiply; a 2×2 stride-1
#: pool's output with the next convolution's padding, larger than the convolution's).
CASES = [(60, "stem", "no-mul", "forced"), (21, "block", "one-unit", "timed"),
         (69, "block", "tiny", "forced"), (86, "net", "batch2", "forced"),
         (390, "net", "1x8x16", "timed"), (27, "onnx", "tiny", "timed")]


@pytest.mark.parametrize("seed, family, config, mode", CASES, ids=[
    f"{seed}-{family}-{config}-{mode}" for seed, family, config, mode in CASES])
def test_sweep_case(seed, family, config, mode):
    case = draw_case(seed)
    assert (case.family, case.config, case.mode) == (family, config, mode)
    problems, _ = run_case(case)
    assert problems == []
