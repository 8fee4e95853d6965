"""Real models end to end on VTA (slow; `scripts/model_accuracy.py` prints the figures):
EfficientNet-Lite0 on chelsea is a cat with every value bit-exact and its depthwise convolutions
and residual adds on VTA; ResNet-18 runs on VTA from its input's quantization to its output's
dequantization (those two float crossings are the host's), bit-exact."""

import numpy as np
import pytest

from vta.compiler import ir
from vta.compiler.evaluate import prepare, run_one
from vta.isa import Config

PYNQ = Config.preset("pynq")
pytestmark = pytest.mark.slow


def test_efficientnet_lite0_chelsea_is_a_cat():
    pytest.importorskip("torch", reason="the `models` extra builds EfficientNet-Lite0")
    from vta.compiler.models import build_efficientnet_lite0, efficientnet_images
    from vta.compiler.models.efficientnet import CAT_CLASSES
    evaluation = prepare(build_efficientnet_lite0()[1], PYNQ)
    nodes = evaluation.model.nodes
    assert all(n["placement"] == "vta" for n in nodes if n["operator"] in ("Conv2d", "AvgPool",
                                                                           "Dense"))
    assert all(n["placement"] in ("vta", "fused") for n in nodes if n["operator"] == "Add")
    assert sum(n.get("mode") == "diag" for n in nodes) == 16          # depthwise convolutions
    out = run_one(evaluation, efficientnet_images()["chelsea"])
    assert int(np.argmax(out)) in CAT_CLASSES
    assert evaluation.mismatched_values == []


def test_resnet18_whole_network_on_vta():
    from vta.compiler.models import build_resnet18
    evaluation = prepare(build_resnet18()[1], PYNQ)
    graph, nodes = evaluation.graph, evaluation.model.nodes
    on_host = {n["name"] for n in nodes if n["placement"] == "host"}
    crossings = {node.name for node in graph.nodes
                 if (isinstance(node, ir.Quantize) and set(node.inputs) <= set(graph.inputs))
                 or (isinstance(node, ir.Dequantize) and node.output in graph.outputs)}
    assert on_host == crossings and len(crossings) == 2
    assert {n["placement"] for n in nodes if n["name"] not in on_host} <= {"vta", "alias",
                                                                           "fused"}
    run_one(evaluation, np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32))
    assert evaluation.mismatched_values == []
