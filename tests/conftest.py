"""Shared fixtures: the conformance corpus. The suite never uses `vta compile`'s compile cache
(tests/compiler/test_compile_cache.py turns it on, in a folder of its own)."""

import os
from pathlib import Path

import pytest

from corpus import CORPUS

os.environ["VTA_COMPILE_CACHE"] = "0"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"conformance corpus not found at {CORPUS}")
    return CORPUS
