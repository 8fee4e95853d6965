"""Figures of the compiler front end: model build times, the integer reference executor against
onnxruntime layer by layer (in quantization steps), digits accuracy, EfficientNet-Lite0 on chelsea.

    python benchmarks/compiler_reference.py [--rebuild]

Times are wall-clock on whatever else the machine is doing. "isolated" feeds each node
onnxruntime's own inputs (the node's rounding alone); "chained" runs the reference from the graph
input on. onnxruntime runs with its default optimisations (its fused integer kernels).
"""

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from vta.compiler import reference
from vta.compiler.compare import layer_differences, onnxruntime_session
from vta.compiler.models import (build_digits, build_efficientnet_lite0, build_resnet18,
                                 digits_dataset, efficientnet_images)
from vta.compiler.onnx_import import import_onnx


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def print_layers(graph, path, feeds_list) -> None:
    worst = {}
    for feeds in feeds_list:
        for d in layer_differences(graph, path, feeds):
            chained, isolated = worst.get(d.node, (0, 0))
            worst[d.node] = (max(chained, d.chained), max(isolated, d.isolated))
    print(f"  {'node':48} isolated chained (max steps)")
    for node, (chained, isolated) in worst.items():
        print(f"  {node:48} {isolated:8} {chained:7}")


def onnxruntime_logits(path, x):
    session = onnxruntime_session(str(path))
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: sample[None]})[0] for sample in x])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached models")
    args = parser.parse_args()
    (_, digits), seconds = timed(build_digits, rebuild=args.rebuild)
    print(f"digits CNN built in {seconds:.1f} s")
    (_, efficientnet), seconds = timed(build_efficientnet_lite0, rebuild=args.rebuild)
    print(f"EfficientNet-Lite0 built in {seconds:.1f} s")
    _, seconds = timed(build_resnet18, rebuild=args.rebuild)
    print(f"ResNet-18 built in {seconds:.1f} s")

    x, labels = digits_dataset()
    graph = import_onnx(digits)
    print("\ndigits CNN, 10 digits, reference vs onnxruntime per layer:")
    print_layers(graph, digits, [{"image": x[i:i + 1]} for i in range(0, 1797, 180)])
    logits, seconds = timed(reference.run, graph, {"image": x})
    ours = logits["logits"].argmax(axis=1)
    theirs = onnxruntime_logits(digits, x).argmax(axis=1)
    print(f"accuracy over {len(labels)} digits: reference {np.mean(ours == labels):.2%}, "
          f"onnxruntime {np.mean(theirs == labels):.2%}, same class {np.mean(ours == theirs):.2%}; "
          f"reference {seconds:.1f} s for all")

    graph = import_onnx(efficientnet)
    images = efficientnet_images()
    print("\nEfficientNet-Lite0 on chelsea, reference vs onnxruntime per layer:")
    print_layers(graph, efficientnet, [{"image": images["chelsea"]}])
    for name, image in images.items():
        logits, seconds = timed(reference.run, graph, {"image": image})
        ours = logits["logits"][0]
        theirs = onnxruntime_logits(efficientnet, image)[0]
        step = graph.producer(graph.outputs[0]).quant.scale
        print(f"{name:10} top-1 reference {ours.argmax():4} onnxruntime {theirs.argmax():4}; "
              f"max logit difference {np.abs(ours - theirs).max() / step:.0f} steps; "
              f"reference {seconds:.2f} s")


if __name__ == "__main__":
    with threadpool_limits(1):
        main()
