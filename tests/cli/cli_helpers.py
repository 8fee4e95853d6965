"""Running the command line in tests: in process through `main(argv)` (fast) or as
``python -m vta`` in a subprocess (the real entry point)."""

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from corpus import CORPUS

from vta.cli import main

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    status: int
    out: str
    err: str


def run_main(capsys, *argv) -> Result:
    capsys.readouterr()
    status = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return Result(status, captured.out, captured.err)


def run_module(*argv) -> Result:
    done = subprocess.run([sys.executable, "-m", "vta", *map(str, argv)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    return Result(done.returncode, done.stdout, done.stderr)


def case(name: str) -> Path:
    """A corpus case folder by ``config/name``."""
    return CORPUS / name


def copy_case(name: str, destination: Path) -> Path:
    target = destination / Path(name).name
    shutil.copytree(case(name), target)
    return target


def assert_one_line_error(result: Result, command: str, status: int, *fragments: str) -> None:
    assert result.status == status, result
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(f"vta {command}: " if command else "vta: "), lines[0]
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
