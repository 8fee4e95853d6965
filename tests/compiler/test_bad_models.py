"""Malformed ONNX models given to `vta compile`: each a one-line error naming the file and the
input, initializer or node at fault, exit status 1, and no output file (issue 13's list).
A dynamic batch alone is not an error: test_cli_compile checks its notice."""

import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from vta.cli import main


def relu_model(opset=17, shape=(1, 4), element_type=TensorProto.FLOAT):
    x = helper.make_tensor_value_info("x", element_type, list(shape))
    y = helper.make_tensor_value_info("y", element_type, None)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def short_initializer_model():
    """x + w where w declares 4 floats and holds the bytes of 2."""
    model = relu_model()
    model.graph.node[0].CopyFrom(helper.make_node("Add", ["x", "w"], ["y"], name="add"))
    model.graph.initializer.append(TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4],
                                               raw_data=bytes(8)))
    return model


def constant_with_short_tensor_model():
    model = short_initializer_model()
    tensor = model.graph.initializer.pop()
    model.graph.node.insert(0, helper.make_node("Constant", [], ["w"], name="weights",
                                                value=tensor))
    return model


def one_node_model(op_type, input_shape, init=None, **attributes):
    """A float model of the one node `n` (inputs: x, then the initializers `init`)."""
    init = init or {}
    graph = helper.make_graph(
        [helper.make_node(op_type, ["x", *init], ["y"], name="n", **attributes)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(value, name) for name, value in init.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def duplicate_output_model():
    model = relu_model()
    model.graph.node.append(helper.make_node("Neg", ["x"], ["y"], name="neg"))
    return model


WEIGHTS = {"w": np.full((5, 3, 3, 3), 0.1, np.float32)}
CASES = {
    "opset99": (relu_model(opset=99),
                r"opset 99 of ONNX's default domain does not exist yet \(the newest this onnx "
                r"[\d.]+ knows is \d+\)"),
    "opset10000": (relu_model(opset=10000), r"opset 10000 of ONNX's default domain"),
    "no_opset": (helper.make_model(relu_model().graph, opset_imports=[]),
                 r"declares no opset for ONNX's default domain"),
    "empty": (None, r"not an ONNX model \(no graph: the file is empty"),
    "dimension_zero": (relu_model(shape=(1, 0)),
                       r"graph input 'x' declares size 0 in dimension 1 \(an empty tensor\)"),
    "dimension_negative": (relu_model(shape=(1, -5)),
                           r"graph input 'x' declares size -5 in dimension 1 \(a negative size\)"),
    "string_input": (relu_model(element_type=TensorProto.STRING),
                     r"graph input 'x' has element type STRING"),
    "short_initializer": (short_initializer_model(),
                          r"initializer 'w' of shape \(4,\) has data that does not fit it"),
    "short_constant": (constant_with_short_tensor_model(),
                       r"node weights \(Constant\): attribute value: tensor 'w' of shape \(4,\) "
                       r"has data that does not fit it"),
    # attributes ONNX defines as invalid (onnxruntime refuses each: test_import_errors)
    "conv_strides_zero": (one_node_model("Conv", (1, 3, 7, 5), WEIGHTS, strides=[0, 1]),
                          r"node n \(Conv\): attribute strides \[0, 1\]: its values must be "
                          r"positive$"),
    "conv_float_strides": (one_node_model("Conv", (1, 3, 7, 5), WEIGHTS, strides=[1.0, 1.0]),
                           r"node n \(Conv\): attribute strides is of type FLOATS; Conv defines "
                           r"it as INTS$"),
    "maxpool_pads_kernel": (one_node_model("MaxPool", (1, 3, 7, 5), kernel_shape=[3, 3],
                                           pads=[3, 3, 3, 3]),
                            r"node n \(MaxPool\): attribute pads \[3, 3, 3, 3\]: each pad must "
                            r"be smaller than the kernel \[3, 3\]$"),
    "depth_to_space_blocksize_zero": (one_node_model("DepthToSpace", (1, 8, 3, 5), blocksize=0),
                                      r"node n \(DepthToSpace\): attribute blocksize 0 must be "
                                      r"positive$"),
    "duplicate_output": (duplicate_output_model(),
                         r"node neg \(Neg\): output 'y' is already the output of node relu "
                         r"\(Relu\)$"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_model_is_one_line_error_without_output(case, tmp_path, capsys):
    model, message = CASES[case]
    path = tmp_path / f"{case}.onnx"
    if model is None:
        path.write_bytes(b"")
    else:
        onnx.save(model, path)
    output = tmp_path / "out.vtab"
    status = main(["compile", str(path), "-o", str(output)])
    err = capsys.readouterr().err
    assert status == 1
    assert len(err.strip().splitlines()) == 1, err
    assert path.name in err, err
    assert re.search(message, err), err
    assert not output.exists()
