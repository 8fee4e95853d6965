"""Host kernels, generated as LLVM IR and compiled with llvmlite: the work around VTA runs.

Three kernels cover the host's part of a compiled model, all driven by index maps (int64 byte
or element positions) computed once from the packed layouts:

- ``quantize``: float32 NCHW input → int8, written to packed positions in device DRAM
  (``rint(x / scale) + zero_point``, saturated; the quotient of the float32 input and scale
  in float64, as `ir.Quant.quantize` computes it: correctly rounded, where a float32 quotient
  may round a value within 2^-24 of a tie onto it);
- ``dequantize``: int8 at packed positions → float32 NCHW (``(q − zero_point) × scale``);
- ``move``: ``dst[dmap[i]] = src[smap[i]] ^ flip`` — packing of int8 inputs, unpacking of int8
  outputs (``flip = 0x80`` converts to/from uint8), and layout changes VTA does not do
  (Reshape, Concat pieces).

The IR text is part of the `.vtab` artifact (`KERNEL_IR`); `Kernels` JIT-compiles it once per
process (cached by the text's hash).
"""

from __future__ import annotations

import ctypes
import hashlib

import numpy as np

from vta.isa import VtaError

KERNEL_IR = r"""
declare float @llvm.rint.f32(float)
declare float @llvm.minnum.f32(float, float)
declare float @llvm.maxnum.f32(float, float)
declare double @llvm.rint.f64(double)
declare double @llvm.minnum.f64(double, double)
declare double @llvm.maxnum.f64(double, double)

define void @quantize(i8* %dst, i64* %dmap, float* %src, i64 %n, float %scale, float %zp) {
entry:
  %empty = icmp sle i64 %n, 0
  br i1 %empty, label %done, label %loop
loop:
  %i = phi i64 [0, %entry], [%next, %loop]
  %sp = getelementptr float, float* %src, i64 %i
  %x = load float, float* %sp
  %wide = fpext float %x to double
  %divisor = fpext float %scale to double
  %scaled = fdiv double %wide, %divisor
  %r = call double @llvm.rint.f64(double %scaled)
  %offset = fpext float %zp to double
  %shifted = fadd double %r, %offset
  %low = call double @llvm.maxnum.f64(double %shifted, double -128.0)
  %clamped = call double @llvm.minnum.f64(double %low, double 127.0)
  %q = fptosi double %clamped to i8
  %dp = getelementptr i64, i64* %dmap, i64 %i
  %d = load i64, i64* %dp
  %out = getelementptr i8, i8* %dst, i64 %d
  store i8 %q, i8* %out
  %next = add i64 %i, 1
  %more = icmp slt i64 %next, %n
  br i1 %more, label %loop, label %done
done:
  ret void
}

define void @dequantize(float* %dst, i8* %src, i64* %smap, i64 %n, float %scale, float %zp) {
entry:
  %empty = icmp sle i64 %n, 0
  br i1 %empty, label %done, label %loop
loop:
  %i = phi i64 [0, %entry], [%next, %loop]
  %mp = getelementptr i64, i64* %smap, i64 %i
  %s = load i64, i64* %mp
  %sp = getelementptr i8, i8* %src, i64 %s
  %q = load i8, i8* %sp
  %f = sitofp i8 %q to float
  %centred = fsub float %f, %zp
  %x = fmul float %centred, %scale
  %dp = getelementptr float, float* %dst, i64 %i
  store float %x, float* %dp
  %next = add i64 %i, 1
  %more = icmp slt i64 %next, %n
  br i1 %more, label %loop, label %done
done:
  ret void
}

define void @move(i8* %dst, i64* %dmap, i8* %src, i64* %smap, i64 %n, i8 %flip) {
entry:
  %empty = icmp sle i64 %n, 0
  br i1 %empty, label %done, label %loop
loop:
  %i = phi i64 [0, %entry], [%next, %loop]
  %mp = getelementptr i64, i64* %smap, i64 %i
  %s = load i64, i64* %mp
  %sp = getelementptr i8, i8* %src, i64 %s
  %v = load i8, i8* %sp
  %w = xor i8 %v, %flip
  %dmp = getelementptr i64, i64* %dmap, i64 %i
  %d = load i64, i64* %dmp
  %dp = getelementptr i8, i8* %dst, i64 %d
  store i8 %w, i8* %dp
  %next = add i64 %i, 1
  %more = icmp slt i64 %next, %n
  br i1 %more, label %loop, label %done
done:
  ret void
}
"""

_P = ctypes.c_void_p
_SIGNATURES = {
    "quantize": (_P, _P, _P, ctypes.c_int64, ctypes.c_float, ctypes.c_float),
    "dequantize": (_P, _P, _P, ctypes.c_int64, ctypes.c_float, ctypes.c_float),
    "move": (_P, _P, _P, _P, ctypes.c_int64, ctypes.c_int8),
}
_ENGINES: dict[str, tuple] = {}


def jit(ir_text: str):
    """The MCJIT engine of an LLVM IR text, compiled once per process (cached by the text)."""
    import llvmlite.binding as llvm
    key = hashlib.sha256(ir_text.encode()).hexdigest()
    if key not in _ENGINES:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        try:
            module = llvm.parse_assembly(ir_text)
            module.verify()
        except RuntimeError as error:
            raise VtaError(f"host kernels do not compile: {str(error).splitlines()[0]}") from None
        machine = llvm.Target.from_default_triple().create_target_machine(opt=2)
        engine = llvm.create_mcjit_compiler(module, machine)
        engine.finalize_object()
        _ENGINES[key] = (engine, module)
    return _ENGINES[key][0]


def _pointer(array: np.ndarray, dtype) -> int:
    if array.dtype != dtype or not array.flags.c_contiguous:
        raise VtaError(f"host kernel operand must be a contiguous {np.dtype(dtype)} array")
    return array.ctypes.data


class Kernels:
    """The compiled host kernels of an IR text (default: this module's)."""

    def __init__(self, ir_text: str = KERNEL_IR):
        engine = jit(ir_text)
        self._functions = {}
        for name, arguments in _SIGNATURES.items():
            address = engine.get_function_address(name)
            if not address:
                raise VtaError(f"host kernels lack the function {name!r}")
            self._functions[name] = ctypes.CFUNCTYPE(None, *arguments)(address)

    def quantize(self, dst: np.ndarray, dmap: np.ndarray, src: np.ndarray, scale: float,
                 zero_point: int) -> None:
        """dst[dmap[i]] = saturate(rint(src[i] / scale) + zero_point) for every element."""
        src = np.ascontiguousarray(src, dtype=np.float32).ravel()
        _check_map(dmap, len(src), dst.size)
        self._functions["quantize"](_pointer(dst, np.int8), _pointer(dmap, np.int64),
                                    _pointer(src, np.float32), len(src), scale, float(zero_point))

    def dequantize(self, src: np.ndarray, smap: np.ndarray, scale: float,
                   zero_point: int) -> np.ndarray:
        """(src[smap[i]] − zero_point) × scale as a new float32 vector."""
        _check_map(smap, len(smap), src.size)
        dst = np.empty(len(smap), dtype=np.float32)
        self._functions["dequantize"](_pointer(dst, np.float32), _pointer(src, np.int8),
                                      _pointer(smap, np.int64), len(smap), scale,
                                      float(zero_point))
        return dst

    def move(self, dst: np.ndarray, dmap: np.ndarray, src: np.ndarray, smap: np.ndarray,
             flip: int = 0) -> None:
        """dst[dmap[i]] = src[smap[i]] ^ flip (int8 bytes)."""
        _check_map(dmap, len(smap), dst.size)
        _check_map(smap, len(smap), src.size)
        self._functions["move"](_pointer(dst, np.int8), _pointer(dmap, np.int64),
                                _pointer(src, np.int8), _pointer(smap, np.int64), len(smap),
                                flip - 256 if flip >= 128 else flip)


def _check_map(index: np.ndarray, count: int, limit: int) -> None:
    if index.dtype != np.int64 or len(index) != count:
        raise VtaError(f"host kernel index map must be {count} int64 positions")
    if count and (index.min() < 0 or index.max() >= limit):
        raise VtaError("host kernel index map reaches outside its array")
