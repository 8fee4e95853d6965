"""Build ResNet-18 (torchvision's architecture, seeded random weights) as ONNX, quantize it with
onnxruntime (int8 QDQ, per-channel symmetric weights) and print what was built.

    python benchmarks/build_resnet18.py [--seed N] [--rebuild] [--compare]

The models land in the model cache (``$VTA_CACHE_DIR/models`` or ``~/.cache/pyvta/models``). With
``--compare`` the integer reference runs one image and is compared with onnxruntime.
"""

import argparse
import time

import numpy as np

from vta.compiler import ir
from vta.compiler.models.resnet18 import build_resnet18, calibration_images
from vta.compiler.onnx_import import import_onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rebuild", action="store_true", help="build even if cached")
    parser.add_argument("--compare", action="store_true", help="reference vs onnxruntime")
    args = parser.parse_args()
    start = time.perf_counter()
    float_path, int8_path = build_resnet18(args.seed, rebuild=args.rebuild)
    print(f"float: {float_path}\nint8:  {int8_path}\n"
          f"build time: {time.perf_counter() - start:.1f} s (noisy on a shared machine)")
    graph = import_onnx(int8_path)
    print(f"{len(graph.nodes)} integer nodes; convolutions (N, C, H, W) -> (O, KH, KW, stride):")
    for node in graph.nodes:
        if isinstance(node, ir.Conv2d):
            o, _, kh, kw = node.weight.shape
            print(f"  {node.name:24} {graph.values[node.inputs[0]].shape} -> "
                  f"({o}, {kh}, {kw}, {node.strides[0]})")
    if args.compare:
        from vta.compiler import reference
        from vta.compiler.compare import onnxruntime_session
        image = calibration_images()[:1]
        ours = reference.run(graph, {"image": image})["logits"][0]
        session = onnxruntime_session(str(int8_path))
        theirs = session.run(None, {"image": image})[0][0]
        step = graph.producer(graph.outputs[0]).quant.scale
        print(f"top-1 reference {ours.argmax()}, onnxruntime {theirs.argmax()}; max logit "
              f"difference {np.abs(ours - theirs).max() / step:.0f} steps")


if __name__ == "__main__":
    main()
