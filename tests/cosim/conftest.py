"""Waveforms of the cocotb tests, kept only for the tests that fail.

A test that takes the `waves` fixture runs its cocotb simulation with a waveform dump in its
temporary folder; when the test passes the dump is deleted, when it fails it stays and the
report names it (open it with GTKWave or Surfer)."""

import pytest

from vta.runtime.backends.rtl.harnesses import CocotbHarness


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.call_failed = report.failed
        kept = [path for path in getattr(item, "waves_files", []) if path.exists()]
        if report.failed and kept:
            report.sections.append(("waveforms", "\n".join(f"kept: {path}" for path in kept)))


@pytest.fixture
def waves(request, tmp_path):
    """``waves(simulator)``: a path for a cocotb run's waveform, in the format cocotb writes on
    that simulator; deleted after the test unless it failed."""
    item = request.node
    item.waves_files = []

    def path(simulator: str):
        waveform = tmp_path / f"waves-{len(item.waves_files) + 1}.{CocotbHarness.WAVE_FORMAT[simulator]}"
        item.waves_files.append(waveform)
        return waveform

    yield path
    if not getattr(item, "call_failed", True):
        for waveform in item.waves_files:
            waveform.unlink(missing_ok=True)
