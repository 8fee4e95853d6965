"""The RTL build cache in a shared folder (VTA_CACHE_DIR): it runs only builds of the current
user that no one else can write, never follows a planted symbolic link, and keeps each user's
builds apart when the folder belongs to someone else."""

import os
import stat

import pytest

from vta.isa import VtaError
from vta.runtime.backends.rtl import cache

KEY = "t" * 20
OTHER_UID = 54321


def counting_build(log):
    def build(folder):
        log.append(folder)
        (folder / "harness").write_text("#!/bin/sh\n")
        (folder / "obj").mkdir()
        (folder / "obj" / "part.o").write_text("x")
    return build


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("VTA_CACHE_DIR", str(tmp_path))
    return tmp_path / "rtl"


def test_a_finished_build_is_sealed_and_reused(root):
    builds = []
    folder = cache.cached_build(KEY, counting_build(builds))
    assert cache.cached_build(KEY, counting_build(builds)) == folder and len(builds) == 1
    for entry in [folder, *folder.rglob("*")]:
        assert not entry.stat().st_mode & 0o022, entry


@pytest.mark.parametrize("tamper", [
    lambda folder: (folder / "harness").chmod(0o777),                 # writable by others
    lambda folder: (folder / "obj").chmod(0o775),                     # writable by the group
    lambda folder: ((folder / "harness").unlink(),
                    (folder / "harness").symlink_to("/bin/sh")),      # a planted link
])
def test_a_build_others_could_have_changed_is_built_again(tamper, root):
    builds = []
    folder = cache.cached_build(KEY, counting_build(builds))
    tamper(folder)
    assert cache.cached_build(KEY, counting_build(builds)) == folder and len(builds) == 2
    assert (folder / "harness").read_text() == "#!/bin/sh\n" and cache.trusted(folder)


def test_a_planted_lock_link_is_refused(root, tmp_path):
    root.mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (root / f"{KEY}.lock").symlink_to(victim)
    with pytest.raises(VtaError, match="cannot open the build lock"):
        cache.cached_build(KEY, counting_build([]))
    assert victim.read_text() == "keep me"


needs_root = pytest.mark.skipif(os.getuid() != 0, reason="changing a file's owner needs root")


@needs_root
def test_a_build_of_another_user_is_never_run(root):
    builds = []
    folder = cache.cached_build(KEY, counting_build(builds))
    for entry in [folder, *folder.rglob("*")]:
        os.chown(entry, OTHER_UID, -1, follow_symlinks=False)
    assert not cache.trusted(folder)
    cache.cached_build(KEY, counting_build(builds))
    assert len(builds) == 2 and cache.trusted(folder)


@needs_root
def test_a_shared_cache_keeps_users_apart(root):
    root.mkdir(parents=True)
    os.chown(root, OTHER_UID, -1)
    root.chmod(0o777 | stat.S_ISVTX)
    folder = cache.cached_build(KEY, counting_build([]))
    assert folder.parent == root / f"user-{os.getuid()}"
    root.chmod(0o777)                                                 # no sticky bit
    with pytest.raises(VtaError, match="writable by everyone without the sticky bit"):
        cache.cached_build(KEY, counting_build([]))
