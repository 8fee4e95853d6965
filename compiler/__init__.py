"""vta.compiler: quantized ONNX models to VTA programs.

Front end (this part): `onnx_import.import_onnx` turns an int8 ONNX model into the integer graph
of `ir`, whose requantizations (`requantize`) are VTA ALU operations; `reference.run` executes
that graph bit-exactly in numpy; `quantize` prepares float models (`vta quantize`);
`models` builds the real workloads. See docs/compiler.md.
"""
