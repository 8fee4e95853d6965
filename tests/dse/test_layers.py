"""A model's figures from the layer-by-layer evaluation (shared between points) are those of
`compile_graph`: cycles, MAC share and the counters of every emitted program."""

import numpy as np
import pytest

from vta.compiler.build import compile_graph
from vta.compiler.models.digits import build_digits
from vta.compiler.report import shares
from vta.dse import layers
from vta.dse.layers import evaluate_model, program_counters
from vta.dse.models import graph
from vta.isa import Config, VtaError
from vta.isa.program import decode_program

PYNQ = Config.preset("pynq")
#: pynq, then only smaller buffers (shares every cost with pynq), then a block of 8 on a 32-bit
#: bus, then int4 operands.
CONFIGS = [PYNQ, PYNQ.replace(LOG_INP_BUFF_SIZE=13, LOG_WGT_BUFF_SIZE=16, LOG_ACC_BUFF_SIZE=15),
           PYNQ.replace(LOG_BLOCK=3, LOG_BUS_WIDTH=5, LOG_INP_BUFF_SIZE=13,
                        LOG_WGT_BUFF_SIZE=15, LOG_ACC_BUFF_SIZE=15),
           PYNQ.replace(LOG_INP_WIDTH=2, LOG_WGT_WIDTH=2, LOG_INP_BUFF_SIZE=14,
                        LOG_WGT_BUFF_SIZE=17)]


def compiled(integer, config: Config, timed: bool) -> dict:
    model = compile_graph(integer, config, timed=timed, workers=1)
    counters = program_counters([], config)
    for step in model.steps:
        if step["op"] != "vta":
            continue
        section = next(s for s in model.sections if s.data is not None
                       and s.addr <= step["insn_addr"] < s.addr + s.nbytes)
        program = decode_program(config, np.frombuffer(section.data, np.uint8),
                                 step["insn_addr"] - section.addr, step["insn_count"])
        for name, value in program_counters(program, config).items():
            counters[name] += value
    share = shares(model.nodes)
    return {"cycles": sum(node.get("estimated_cycles", 0) for node in model.nodes),
            "vta_mac_share": share["vta_mac_share"], "macs": share["macs"],
            "counters": counters}


@pytest.mark.parametrize("model, timed", [
    ("small", False), ("small", True), ("digits", False),
    pytest.param("digits", True, marks=pytest.mark.slow)], ids=[
    "small-estimate", "small-cycle", "digits-estimate", "digits-cycle"])
def test_layer_by_layer_figures_are_the_compilers(model, timed, small_model):
    path = str(small_model) if model == "small" else str(build_digits()[1])
    layers._GROUPS.clear()
    for index, config in enumerate(CONFIGS):
        integer = graph(path, config.ALU_MUL, (config.inp_width, config.wgt_width))
        groups = len(layers._GROUPS)
        ours = evaluate_model(integer, config, timed)
        if index == 1:      # buffer sizes only: every layer's work came from pynq's
            assert len(layers._GROUPS) == groups
        assert ours == compiled(integer, config, timed), config.config_string
        assert ours["cycles"] > 0 and ours["counters"]["gemm_counter"] > 0


def test_a_model_nothing_of_which_runs_on_vta_is_refused(small_model):
    """A float model runs on the host alone: 0 cycles at every point, which no design point
    may report."""
    host_only = graph(str(small_model.parent / "float.onnx"), PYNQ.ALU_MUL, (8, 8))
    with pytest.raises(VtaError, match="nothing of the model runs on VTA"):
        evaluate_model(host_only, PYNQ, False)
