"""The build cache's size cap: least recently used builds go first, a build that a process is
making or using is never removed, and the command line shows and cleans the cache."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from vta.cli import main
from vta.isa import VtaError
from vta.runtime.backends.rtl import cache

MIB = 1 << 20

BUILD = textwrap.dedent("""
    import os, sys, time
    from vta.runtime.backends.rtl import cache
    def build(folder):
        (folder / "harness").write_bytes(b"x" * int(sys.argv[2]))
        time.sleep(float(sys.argv[3]))
    folder = cache.cached_build(sys.argv[1], build)
    print("ready", flush=True)
    sys.stdin.readline()          # keep the build in use until told to stop
""")


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("VTA_CACHE_MAX_SIZE", raising=False)
    return tmp_path / "rtl"


def start_build(key: str, size: int, seconds: float = 0.0, **env) -> subprocess.Popen:
    """A process that builds `key` (a file of `size` bytes) and then uses it until its stdin
    closes."""
    return subprocess.Popen([sys.executable, "-c", BUILD, key, str(size), str(seconds)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, **env})


def build(key: str, size: int, **env) -> None:
    """Build `key` in a process that then ends (so nothing uses the build any more)."""
    process = start_build(key, size, **env)
    assert process.stdout.readline() == "ready\n"
    process.communicate("\n", timeout=60)
    assert process.returncode == 0


def used_at(root, key: str, moment: float) -> None:
    os.utime(root / key / cache.STAMP, (moment, moment))


def test_least_recently_used_builds_go_first(root):
    for key in ("a" * 20, "b" * 20, "c" * 20):
        build(key, MIB)
    now = time.time()
    used_at(root, "b" * 20, now - 300)      # b is the least recently used, then c, then a
    used_at(root, "c" * 20, now - 200)
    used_at(root, "a" * 20, now - 100)
    # the process-group record a build killed by SIGKILL leaves (its owner is gone)
    (root / f"{'b' * 20}.pgid").write_text("999999999 token-of-a-dead-build\n")
    outcome = cache.evict(int(1.5 * MIB))
    assert [entry.key for entry in outcome["removed"]] == ["b" * 20, "c" * 20]
    assert sorted(path.name for path in root.iterdir()) == ["a" * 20, f"{'a' * 20}.lock",
                                                             f"{'a' * 20}.use"]


def test_a_build_in_use_is_kept(root):
    build("old" + "0" * 17, MIB)
    user = start_build("busy" + "0" * 16, MIB)
    try:
        assert user.stdout.readline() == "ready\n"
        used_at(root, "busy" + "0" * 16, time.time() - 1000)   # oldest, but in use
        outcome = cache.evict(0)
        assert [entry.key for entry in outcome["removed"]] == ["old" + "0" * 17]
        assert [entry.key for entry in outcome["in_use"]] == ["busy" + "0" * 16]
        assert (root / ("busy" + "0" * 16) / "harness").stat().st_size == MIB
    finally:
        user.communicate("\n", timeout=60)
    assert [entry.key for entry in cache.evict(0)["removed"]] == ["busy" + "0" * 16]
    assert list(root.iterdir()) == []


def test_a_build_being_made_is_not_removed(root):
    maker = start_build("slow" + "0" * 16, MIB, seconds=3)
    harness = root / ("slow" + "0" * 16) / "harness"
    try:
        deadline = time.time() + 30
        # until the build has written its file (an empty folder has nothing to evict)
        while not (harness.exists() and harness.stat().st_size == MIB) \
                and time.time() < deadline:
            time.sleep(0.05)
        outcome = cache.evict(0)
        assert outcome["removed"] == [] and len(outcome["in_use"]) == 1
        assert maker.stdout.readline() == "ready\n"
    finally:
        maker.communicate("\n", timeout=60)
    assert maker.returncode == 0
    assert (root / ("slow" + "0" * 16) / cache.STAMP).exists()


def test_a_new_build_evicts_beyond_the_cap(root):
    for key in ("a" * 20, "b" * 20, "c" * 20):
        build(key, MIB, VTA_CACHE_MAX_SIZE="2.5M")
        time.sleep(0.05)            # distinct last-use times
    assert sorted(path.name for path in root.iterdir() if path.is_dir()) == ["b" * 20, "c" * 20]


def test_two_processes_building_one_entry_build_it_once(root):
    first, second = (start_build("same" + "0" * 16, MIB, seconds=1) for _ in range(2))
    try:
        assert first.stdout.readline() == second.stdout.readline() == "ready\n"
    finally:
        for process in (first, second):
            process.communicate("\n", timeout=60)
    assert (root / ("same" + "0" * 16) / "harness").stat().st_size == MIB
    assert len(list(root.glob("*/harness"))) == 1


@pytest.mark.parametrize("text, size", [("4096", 4096), ("500M", 500 * MIB), ("1.5G", 1536 * MIB),
                                        ("2GiB", 2048 * MIB), ("10k", 10240)])
def test_sizes(text, size):
    assert cache.parse_size(text, "here") == size


def test_a_bad_cap_is_a_one_line_error(monkeypatch):
    monkeypatch.setenv("VTA_CACHE_MAX_SIZE", "lots")
    with pytest.raises(VtaError, match="VTA_CACHE_MAX_SIZE: 'lots' is not a size"):
        cache.max_bytes()
    monkeypatch.setenv("VTA_CACHE_MAX_SIZE", "unlimited")
    assert cache.max_bytes() is None


def run_json(capsys, *argv) -> dict:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_vta_cache_info_and_clean(root, tmp_path, capsys):
    build("a" * 20, MIB)
    build("b" * 20, 2 * MIB)
    (root / "verilog").mkdir()
    (root / "verilog" / "vta_core-x.v").write_text("module vta_core; endmodule\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net_int8.onnx").write_bytes(b"m" * 1000)
    info = run_json(capsys, "cache", "info", "--json")
    assert info["root"] == str(tmp_path) and info["root_from"] == "VTA_CACHE_DIR"
    assert info["kinds"]["rtl"] == {"entries": 2, "bytes": 3 * MIB + 6}   # + two stamps "ok\n"
    assert info["kinds"]["verilog"] == {"entries": 1, "bytes": 27}
    assert info["kinds"]["models"] == {"entries": 1, "bytes": 1000}
    assert info["max_bytes"] == cache.DEFAULT_MAX_BYTES
    used_at(root, "b" * 20, time.time() - 100)
    cleaned = run_json(capsys, "cache", "clean", "--max-size", "2M", "--json")
    assert [entry["path"] for entry in cleaned["removed"]] == [str(root / ("b" * 20))]
    cleaned = run_json(capsys, "cache", "clean", "--kind", "models", "--json")
    assert [entry["path"] for entry in cleaned["removed"]] == [str(tmp_path / "models" /
                                                                   "net_int8.onnx")]
    cleaned = run_json(capsys, "cache", "clean", "--json")
    assert {entry["kind"] for entry in cleaned["removed"]} == {"rtl", "verilog"}
    assert run_json(capsys, "cache", "info", "--json")["total_bytes"] == 0
    assert main(["cache", "info"]) == 0
    assert "simulator builds" in capsys.readouterr().out
