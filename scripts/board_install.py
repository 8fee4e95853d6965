"""Check the board-only install: a clean virtual environment with ``pip install .`` (no extras)
loads a .vtab and runs it on the functional backend (`vta run` and `vta.InferenceSession`),
without onnx, onnxruntime, amaranth, cocotb or matplotlib installed, and gives the output the
full installation gives.

    .venv/bin/python scripts/board_install.py [--keep DIR]

Compiles a small model with this checkout's full installation first, then builds the clean
environment in a temporary folder (DIR with --keep). Prints one line per check; exit status 0
when all pass. pip needs the package index (or its cache) for numpy, llvmlite, jsonschema,
rich and threadpoolctl.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "compiler"))

EXTRAS = ("onnx", "onnxruntime", "amaranth", "cocotb", "matplotlib", "torch", "dask")

CHECK = """
import importlib.util, json, sys
import numpy as np
import vta
missing = [name for name in {extras!r} if importlib.util.find_spec(name) is None]
print(json.dumps({{"version": vta.__version__, "absent": missing}}))
"""


SESSION = """
import numpy as np
import vta
session = vta.InferenceSession({vtab!r}, backend="functional")
(y,) = session.run(None, {{session.get_inputs()[0].name: np.load({x!r})}})
np.save({out!r}, y)
"""


def build_model(folder: Path) -> tuple[Path, Path, np.ndarray]:
    """A small VTA model (.vtab), its input and the output the full installation computes."""
    from backend_graphs import conv_graph

    from vta.compiler import artifact
    from vta.compiler.build import compile_graph
    from vta.compiler.executor import Executor
    from vta.isa import Config

    graph = conv_graph(np.random.default_rng(5), c=5, o=20, h=6, w=5)
    model = compile_graph(graph, Config.preset("pynq"))
    artifact.save(model, folder / "model.vtab")
    x = np.random.default_rng(6).integers(-128, 128, size=(1, 5, 6, 5), dtype=np.int8)
    np.save(folder / "x.npy", x)
    expected = Executor(model, "functional").run({model.inputs[0]["onnx_name"]: x})
    return folder / "model.vtab", folder / "x.npy", expected.outputs[model.outputs[0]["onnx_name"]]


def run(command: list, **options) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], capture_output=True, text=True,
                          **options)


def check(folder: Path) -> bool:
    vtab, x, expected = build_model(folder)
    environment = folder / "board-venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    install = run([python, "-m", "pip", "install", "--quiet", REPO])
    print(f"pip install . (no extras): exit {install.returncode}")
    if install.returncode:
        print(install.stderr[-2000:])
        return False
    probe = run([python, "-c", CHECK.format(extras=EXTRAS)], cwd=folder)
    print(f"installed: {probe.stdout.strip() or probe.stderr[-500:]}")
    absent = probe.returncode == 0 and all(name in probe.stdout for name in EXTRAS)
    print(f"none of {', '.join(EXTRAS)} installed: {'yes' if absent else 'NO'}")
    result = run([environment / "bin" / "vta", "run", vtab, "--input", x, "--backend",
                  "functional", "-o", folder / "y.npy"], cwd=folder)
    print(f"vta run: exit {result.returncode} {result.stdout.strip()} {result.stderr.strip()}")
    same = result.returncode == 0 and np.array_equal(np.load(folder / "y.npy"), expected)
    print(f"output equals the full installation's: {'yes' if same else 'NO'}")
    api = run([python, "-c", SESSION.format(vtab=str(vtab), x=str(x), out=str(folder / "z.npy"))],
              cwd=folder)
    by_api = api.returncode == 0 and np.array_equal(np.load(folder / "z.npy"), expected)
    print(f"vta.InferenceSession output equals it: {'yes' if by_api else 'NO'} "
          f"{api.stderr.strip()[-500:]}")
    return absent and same and by_api


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the environment here and keep it")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        passed = check(args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="pyvta-board-") as folder:
            passed = check(Path(folder))
    print("board-only install: " + ("PASS" if passed else "FAIL"))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
