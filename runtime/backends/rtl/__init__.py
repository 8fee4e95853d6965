"""The ``rtl`` backend: co-simulation of the generated Verilog (docs/cosim.md).

`RtlBackend` (registered as ``rtl``) runs program images on ``vta_core`` through one of two
harnesses that implement the same memory model (docs/memory-model.md): the fast C++ harness on
Verilator, or the cocotb 2.x testbench on Verilator or Icarus.
"""
