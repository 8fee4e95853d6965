"""The model demo: classify scikit-image's `chelsea` photo with int8 EfficientNet-Lite0 on the
simulated VTA.

Builds the quantized model once (cached under ~/.cache/pyvta/models or $VTA_CACHE_DIR/models),
compiles it to a .vtab (cached per config fingerprint, rebuilt when the model or the compiler
changed), then runs it with `vta run --top 5`,
which prints the five best ImageNet classes and the cycles where the backend models them.
"""

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="rtl",
                        help="rtl (default: the Verilated core), cycle (the same cycles, faster) "
                             "or functional (no timing)")
    parser.add_argument("--preset", default="pynq", help="VTA config preset (default pynq)")
    args = parser.parse_args(argv)

    from skimage import data

    from vta import compiler
    from vta.cli import main as vta
    from vta.compiler.models.cache import cache_dir
    from vta.compiler.models.efficientnet import CAT_CLASSES, build_efficientnet_lite0, preprocess
    from vta.isa import Config

    print("building int8 EfficientNet-Lite0 (cached after the first run) ...", flush=True)
    _, model = build_efficientnet_lite0()
    fingerprint = Config.preset(args.preset).isa_fingerprint
    vtab = cache_dir() / f"efficientnet_lite0_{fingerprint}.vtab"
    compiler_sources = Path(compiler.__file__).parent.rglob("*.py")
    newest_input = max(path.stat().st_mtime for path in [model, *compiler_sources])
    if not vtab.exists() or vtab.stat().st_mtime < newest_input:
        status = vta(["compile", str(model), "-o", str(vtab), "--preset", args.preset])
        if status:
            return status
    image = cache_dir() / "chelsea_224.npy"
    np.save(image, preprocess(data.chelsea()))
    output = cache_dir() / "chelsea_logits.npy"
    print(f"classifying chelsea on the {args.backend} backend ...", flush=True)
    status = vta(["run", str(vtab), "--input", str(image), "--backend", args.backend,
                  "--top", "5", "-o", str(output)])
    if status:
        return status
    top1 = int(np.argmax(np.load(output)))
    verdict = "a cat" if top1 in CAT_CLASSES else "NOT a cat"
    print(f"top-1 class {top1}: {verdict}")
    return 0 if top1 in CAT_CLASSES else 1


if __name__ == "__main__":
    sys.exit(main())
