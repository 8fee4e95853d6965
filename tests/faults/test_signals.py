"""Signals: SIGTERM (as `timeout` sends) and SIGINT of a running command leave no child process
and no temporary folder behind, and end with one line and the signal's exit status."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from vta.fuzz.program import FuzzProgram
from vta.isa import Config, Finish, Gemm, Load, MemoryType, Uop, encode_uops

from terminal import default_sigint

REPO = Path(__file__).resolve().parents[2]


def long_program(folder: Path) -> Path:
    """A GEMM looping 16383 × 16383 times over three accumulators: hours of RTL simulation."""
    config = Config.preset("pynq")
    uops = encode_uops([Uop(dst_idx=d, src_idx=0, wgt_idx=0) for d in range(3)], config)
    program = FuzzProgram(config, uops.tobytes(), [
        Load(memory_type=MemoryType.UOP, sram_base=0, dram_base=0, y_size=1, x_size=3, x_stride=3),
        Gemm(uop_bgn=0, uop_end=3, iter_out=16383, iter_in=16383), Finish()])
    program.save(folder, {"expect": "ok"})
    return folder


def marked_processes(mark: str) -> list[int]:
    """Live processes whose environment carries `mark` (children inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                zombie = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
                if mark.encode() in (entry / "environ").read_bytes() and not zombie:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def gone_within(seconds: float, mark: str) -> list[int]:
    """The marked processes still alive after up to `seconds` (a SIGKILLed process in
    uninterruptible I/O, as a compiler writing its output, dies when the I/O ends)."""
    deadline = time.monotonic() + seconds
    while (left := marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_an_rtl_run_leaves_nothing_behind(signal_number, tmp_path):
    image = long_program(tmp_path / "long")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    mark = f"VTA_SIGNAL_TEST={uuid.uuid4().hex}"
    env = dict(os.environ, TMPDIR=str(scratch), VTA_SIGNAL_TEST=mark.split("=")[1])
    process = subprocess.Popen([sys.executable, "-m", "vta", "exec", str(image), "--backend",
                                "rtl"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 300
    while len(marked_processes(mark)) < 2:        # vta and its harness
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the harness never started"
        time.sleep(0.2)
    process.send_signal(signal_number)
    out, err = process.communicate(timeout=60)
    assert process.returncode == (130 if signal_number == signal.SIGINT else 128 + signal_number)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    left = gone_within(10, mark)
    assert left == [], [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in left]
    assert list(scratch.iterdir()) == []

