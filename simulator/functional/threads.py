"""Run BLAS on one thread while simulating.

On a loaded 2-core machine a second OpenBLAS thread makes small products about 100× slower,
and the simulator's products are small; other numpy users in the process keep their setting."""

from __future__ import annotations

import contextlib
from functools import cache

from threadpoolctl import ThreadpoolController


@cache
def blas_libraries() -> ThreadpoolController:
    """The thread pools loaded in this process (found once: it takes milliseconds)."""
    return ThreadpoolController()


def single_blas_thread() -> contextlib.AbstractContextManager:
    """A context in which BLAS libraries loaded in this process use one thread."""
    return blas_libraries().limit(limits=1, user_api="blas")
