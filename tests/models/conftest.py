"""The zoo's tests build zoo models on first use (cached in the model cache): that needs torch,
the `models` extra."""

import importlib.util

import pytest


@pytest.fixture(autouse=True, scope="session")
def _single_threaded_blas():
    """Multi-threaded BLAS on the shared 2-core machine is slower than one thread."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="session")
def torch_installed():
    if importlib.util.find_spec("torch") is None:
        pytest.skip("building zoo models needs torch (`pip install torch==2.13.0`, the `models` "
                    "extra)")
