"""Shared fixtures: the conformance corpus."""

from pathlib import Path

import pytest

from corpus import CORPUS


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"conformance corpus not found at {CORPUS}")
    return CORPUS
