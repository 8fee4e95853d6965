"""The real workloads through the importer and the reference executor, against onnxruntime on
the same int8 models."""

import numpy as np

from vta.compiler import ir, reference
from vta.compiler.alu_program import IMM_MAX, Register
from vta.compiler.compare import layer_differences, onnxruntime_session
from vta.compiler.onnx_import import import_onnx


def onnxruntime_logits(path, x):
    session = onnxruntime_session(str(path))
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: sample[None]})[0] for sample in x])


def test_digits_accuracy_matches_onnxruntime(digits_models, digits_data):
    _, int8_path = digits_models
    x, labels = digits_data
    graph = import_onnx(int8_path)
    ours = reference.run(graph, {"image": x})["logits"].argmax(axis=1)
    theirs = onnxruntime_logits(int8_path, x).argmax(axis=1)
    assert len(labels) == 1797
    ours_accuracy, theirs_accuracy = np.mean(ours == labels), np.mean(theirs == labels)
    assert abs(ours_accuracy - theirs_accuracy) <= 0.005
    assert ours_accuracy > 0.85


def test_digits_layers_within_one_step(digits_models, digits_data):
    _, int8_path = digits_models
    x, _ = digits_data
    graph = import_onnx(int8_path)
    for index in range(0, 1797, 180):
        differences = layer_differences(graph, int8_path, {"image": x[index:index + 1]})
        integer = [n for n in graph.nodes if not isinstance(n, (ir.Quantize, ir.Dequantize))]
        assert len(differences) == len(integer)
        assert max(d.isolated for d in differences) <= 1


def test_batched_reference_equals_one_sample_at_a_time(digits_models, digits_data):
    graph = import_onnx(digits_models[1])
    feeds = digits_data[0][:40]
    batch = reference.run(graph, {graph.inputs[0]: feeds})[graph.outputs[0]]
    single = [reference.run(graph, {graph.inputs[0]: feeds[i:i + 1]})[graph.outputs[0]][0]
              for i in range(40)]
    assert np.array_equal(batch, np.stack(single))


def test_efficientnet_lite0_classifies_chelsea_as_a_cat(efficientnet_models):
    from vta.compiler.models.efficientnet import CAT_CLASSES, efficientnet_images
    _, int8_path = efficientnet_models
    graph = import_onnx(int8_path)
    image = efficientnet_images()["chelsea"]
    ours = reference.run(graph, {"image": image})["logits"][0]
    theirs = onnxruntime_logits(int8_path, image)[0]
    step = graph.producer(graph.outputs[0]).quant.scale
    assert ours.argmax() in CAT_CLASSES and theirs.argmax() in CAT_CLASSES
    assert np.abs(ours - theirs).max() <= 4 * step * 1.0001
    differences = layer_differences(graph, int8_path, {"image": image})
    assert max(d.isolated for d in differences) <= 1


def test_efficientnet_lite0_graph_is_what_vta_can_execute(efficientnet_models):
    """49 convolutions (16 depthwise), 9 residual Adds; int8 weights, int32 biases, and every
    requantization step a valid ALU instruction operand."""
    graph = import_onnx(efficientnet_models[1])
    convolutions = [n for n in graph.nodes if isinstance(n, ir.Conv2d)]
    assert len(convolutions) == 49 and sum(n.depthwise for n in convolutions) == 16
    assert sum(isinstance(n, ir.Add) for n in graph.nodes) == 9
    for node in graph.nodes:
        if isinstance(node, (ir.Conv2d, ir.Dense)):
            assert node.weight.dtype == np.int8 and node.bias.dtype == np.int32
        steps = list(getattr(node, "requant", None).steps if hasattr(node, "requant") else [])
        steps += [s for chain in getattr(node, "input_steps", ()) for s in chain]
        for step in steps:
            if isinstance(step.operand, Register):
                continue
            assert np.all(np.abs(step.operand) < 2**31)
            if step.op.name == "SHR":
                assert np.all(np.abs(step.operand) <= 15)
            if step.op.name == "MUL":
                assert np.all(np.abs(step.operand) <= IMM_MAX)


def test_resnet18_matches_onnxruntime(resnet18_models):
    from vta.compiler.models.resnet18 import calibration_images
    _, int8_path = resnet18_models
    graph = import_onnx(int8_path)
    convolutions = [n for n in graph.nodes if isinstance(n, ir.Conv2d)]
    assert len(convolutions) == 20 and sum(isinstance(n, ir.Add) for n in graph.nodes) == 8
    image = calibration_images()[:1]
    ours = reference.run(graph, {"image": image})["logits"][0]
    theirs = onnxruntime_logits(int8_path, image)[0]
    step = graph.producer(graph.outputs[0]).quant.scale
    assert np.abs(ours - theirs).max() <= 4 * step * 1.0001
    differences = layer_differences(graph, int8_path, {"image": image}, optimized=False)
    assert max(d.isolated for d in differences) <= 1
