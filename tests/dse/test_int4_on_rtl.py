"""An int4 point of the design space runs the digits CNN end to end on the RTL, every value
bit-exact with the functional simulator (and the integer reference); its accuracy is measured
beside int8's (`scripts/dse_benchmark.py int4` runs more digits and prints both)."""

import numpy as np
import pytest

from vta.compiler.evaluate import prepare, run_one
from vta.compiler.models.digits import build_digits, digits_dataset
from vta.dse.models import accuracy, resolve
from vta.isa import Config

#: The sweep's int4 point with a 16-wide block on a 64-bit bus (scripts/dse_benchmark.py).
INT4 = Config.preset("pynq").replace(LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2, LOG_BLOCK=4,
                                     LOG_BUS_WIDTH=6, LOG_INP_BUFF_SIZE=13,
                                     LOG_WGT_BUFF_SIZE=16, LOG_ACC_BUFF_SIZE=15)


@pytest.mark.slow
def test_int4_digits_on_rtl_bit_exact_with_functional():
    _, int8_path = build_digits()
    inputs, _ = digits_dataset()
    rtl, functional = prepare(int8_path, INT4, "rtl"), prepare(int8_path, INT4)
    for x in inputs[:3]:
        np.testing.assert_array_equal(run_one(rtl, x[None]), run_one(functional, x[None]))
    assert rtl.mismatched_values == [] and functional.mismatched_values == []


@pytest.mark.slow
def test_int4_accuracy_is_measured_beside_int8():
    spec = resolve("digits")
    int8, int4 = accuracy(spec, 8, 8), accuracy(spec, 4, 4)
    assert int8["samples"] == int4["samples"] == 1797
    # re-quantized from int8 with 16 levels instead of 256: some accuracy is lost, not all
    assert 0.5 < int4["accuracy"] < int8["accuracy"]
