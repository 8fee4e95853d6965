"""Special functions numpy lacks, as llvmlite loops over the C library's implementation."""

from __future__ import annotations

import ctypes

import numpy as np

from vta.compiler.host_kernels import jit

_ERF_IR = r"""
declare double @erf(double)

define void @erf_array(double* %dst, double* %src, i64 %n) {
entry:
  %empty = icmp sle i64 %n, 0
  br i1 %empty, label %done, label %loop
loop:
  %i = phi i64 [0, %entry], [%next, %loop]
  %sp = getelementptr double, double* %src, i64 %i
  %x = load double, double* %sp
  %y = call double @erf(double %x)
  %dp = getelementptr double, double* %dst, i64 %i
  store double %y, double* %dp
  %next = add i64 %i, 1
  %more = icmp slt i64 %next, %n
  br i1 %more, label %loop, label %done
done:
  ret void
}
"""
_FUNCTION = None


def erf(x: np.ndarray) -> np.ndarray:
    """The error function element-wise, computed in double precision and rounded to x's type."""
    global _FUNCTION
    if _FUNCTION is None:
        address = jit(_ERF_IR).get_function_address("erf_array")
        _FUNCTION = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_int64)(address)
    source = np.ascontiguousarray(x, dtype=np.float64)
    result = np.empty_like(source)
    _FUNCTION(result.ctypes.data, source.ctypes.data, source.size)
    return result.astype(x.dtype)
