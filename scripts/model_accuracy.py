#!/usr/bin/env python
"""Whole models compiled for VTA and run on the functional simulator: bit-exactness against the
integer reference (every value in device memory), accuracy against labels and onnxruntime,
share of operators and MACs on VTA, compile and run times.

    python scripts/model_accuracy.py [digits] [efficientnet] [resnet18] [--limit N]

digits: all 1797 sklearn digits (accuracy within 0.5 points of onnxruntime is the acceptance);
efficientnet: the scikit-image/scikit-learn photos (chelsea must be a cat, ImageNet 281-285);
resnet18: random weights (bit-exactness, shares and times only). Times are wall-clock on a
shared machine: noisy.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from vta.compiler.evaluate import onnxruntime_outputs, prepare, run_one
from vta.isa import Config


def header(name, evaluation):
    s = evaluation.shares
    print(f"== {name}: compiled in {evaluation.compile_seconds:.1f} s; on VTA "
          f"{s['vta_operators']}/{s['operators']} operators ({s['folded_operators']} folded, "
          f"{s['host_operators']} host), {100 * s['vta_mac_share']:.2f} % of "
          f"{s['macs'] / 1e6:.1f} M MACs")


def footer(evaluation, count):
    runs = evaluation.run_seconds
    print(f"   runs: {count}, mean {np.mean(runs):.3f} s per inference (functional simulator); "
          f"values not bit-exact: {sorted(set(evaluation.mismatched_values)) or 'none'}")


def digits(config, limit):
    from vta.compiler.models import build_digits, digits_dataset
    _, int8_path = build_digits()
    inputs, labels = digits_dataset()
    inputs, labels = inputs[:limit], labels[:limit]
    evaluation = prepare(int8_path, config)
    header("digits CNN", evaluation)
    predictions = []
    for index, x in enumerate(inputs):
        out = run_one(evaluation, x[None], check_all=index < 50)
        predictions.append(int(np.argmax(out)))
    ours = float(np.mean(np.array(predictions) == labels)) * 100
    ort = float(np.mean(onnxruntime_outputs(int8_path, inputs).argmax(axis=1) == labels)) * 100
    print(f"   accuracy over {len(labels)} digits: VTA {ours:.2f} %, onnxruntime int8 "
          f"{ort:.2f} %, difference {ours - ort:+.2f} points")
    footer(evaluation, len(inputs))
    return abs(ours - ort) <= 0.5 and not evaluation.mismatched_values


def efficientnet(config, limit):
    from vta.compiler.models import build_efficientnet_lite0, efficientnet_images
    from vta.compiler.models.efficientnet import CAT_CLASSES
    _, int8_path = build_efficientnet_lite0()
    evaluation = prepare(int8_path, config)
    header("EfficientNet-Lite0", evaluation)
    photos = list(efficientnet_images().items())[:limit]
    ok = True
    for name, x in photos:
        out = run_one(evaluation, x)
        ort = onnxruntime_outputs(int8_path, x)[0]
        top = int(np.argmax(out))
        print(f"   {name:10} VTA top-1 {top:4d}, onnxruntime top-1 {int(np.argmax(ort)):4d}, "
              f"VTA top-5 {[int(i) for i in np.argsort(-out.ravel(), kind='stable')[:5]]}")
        if name == "chelsea":
            ok &= top in CAT_CLASSES
    footer(evaluation, len(photos))
    return ok and not evaluation.mismatched_values


def resnet18(config, limit):
    from vta.compiler.models import build_resnet18
    _, int8_path = build_resnet18()
    evaluation = prepare(int8_path, config)
    header("ResNet-18 (random weights)", evaluation)
    rng = np.random.default_rng(0)
    for _ in range(min(limit, 2)):
        run_one(evaluation, rng.normal(size=(1, 3, 224, 224)).astype(np.float32))
    footer(evaluation, min(limit, 2))
    return evaluation.compile_seconds <= 30 and not evaluation.mismatched_values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", default=["digits", "efficientnet", "resnet18"])
    parser.add_argument("--limit", type=int, default=10 ** 6, help="inputs per model")
    parser.add_argument("--preset", default="pynq")
    args = parser.parse_args()
    config = Config.preset(args.preset)
    runners = {"digits": digits, "efficientnet": efficientnet, "resnet18": resnet18}
    started = time.perf_counter()
    results = {name: runners[name](config, args.limit) for name in args.models}
    verdicts = " ".join(f"{name}: {'PASS' if ok else 'FAIL'}" for name, ok in results.items())
    print(f"== {verdicts} ({time.perf_counter() - started:.0f} s)")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
