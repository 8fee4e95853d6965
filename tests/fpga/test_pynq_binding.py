"""The PYNQ binding against a stand-in ``pynq`` module with PYNQ's API (Overlay, MMIO,
allocate -> PynqBuffer): the calls the board would see, in the order it would see them."""

import sys
import types

import numpy as np
import pytest
from corpus import CORPUS

from vta.isa import VtaError
from vta.isa.image import ProgramImage
from vta.isa.registers import CONTROL_START, STATUS_DONE, Register
from vta.runtime.backends import get_backend
from vta.simulator.functional import FunctionalSimulator

CASE = CORPUS / "vta-1x16" / "p_gemm_default"
BUFFER_ADDRESS = 0x0010_0000  # where the stand-in CMA hands out its buffer


def fake_pynq(events, *, control_base=0x43C0_0000):
    """A module with PYNQ's Overlay, MMIO and allocate; a start runs the functional simulator
    on the physical memory behind the (single) allocated buffer."""
    physical = {}

    class PynqBuffer(np.ndarray):
        def flush(self):
            events.append("flush")

        def invalidate(self):
            events.append("invalidate")

        def freebuffer(self):
            events.append("freebuffer")

    def allocate(shape, dtype):
        memory = np.zeros(BUFFER_ADDRESS + shape[0], dtype=np.uint8)
        physical["memory"] = memory
        buffer = memory[BUFFER_ADDRESS:].view(PynqBuffer)
        buffer.physical_address = BUFFER_ADDRESS
        events.append(("allocate", shape, np.dtype(dtype)))
        return buffer

    class MMIO:
        def __init__(self, base, length):
            events.append(("MMIO", base, length))
            self.registers = dict.fromkeys(Register, 0)

        def read(self, offset):
            return self.registers[Register(offset)]

        def write(self, offset, value):
            self.registers[Register(offset)] = value
            if offset == Register.CONTROL and value == CONTROL_START:
                image = ProgramImage.load(CASE)
                FunctionalSimulator(image.config).run(
                    physical["memory"], self.registers[Register.INSN_ADDR],
                    self.registers[Register.INSN_COUNT])
                self.registers[Register.STATUS] = STATUS_DONE

    class Overlay:
        def __init__(self, path):
            events.append(("Overlay", path))
            self.ip_dict = {"vta_0": {"phys_addr": control_base, "addr_range": 0x10000}}

    return types.SimpleNamespace(Overlay=Overlay, MMIO=MMIO, allocate=allocate)


def test_driver_on_pynq_api(monkeypatch):
    events = []
    monkeypatch.setitem(sys.modules, "pynq", fake_pynq(events))
    image = ProgramImage.load(CASE)
    backend = get_backend("board", image.config, binding="pynq", bitstream="/overlays/vta.bit")
    backend.run(image)
    assert np.array_equal(image.dram, np.fromfile(CASE / "expected.bin", dtype=np.uint8))
    assert events == [("Overlay", "/overlays/vta.bit"), ("MMIO", 0x43C0_0000, 0x1_0000),
                      ("allocate", (image.dram.size,), np.dtype(np.uint8)),
                      "flush", "invalidate", "freebuffer"]


def test_overlay_with_the_core_elsewhere_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynq", fake_pynq([], control_base=0x4000_0000))
    with pytest.raises(VtaError, match="registers are at 0x40000000, not 0x43c00000"):
        get_backend("board", ProgramImage.load(CASE).config, binding="pynq", bitstream="vta.bit")


def test_without_pynq_the_error_points_to_the_cosim_binding(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynq", None)  # import pynq raises ImportError
    monkeypatch.delenv("VTA_BOARD_BINDING", raising=False)
    with pytest.raises(VtaError, match="VTA_BOARD_BINDING=cosim"):
        get_backend("board", ProgramImage.load(CASE).config)
