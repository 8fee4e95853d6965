"""The board driver without RTL: relocation checked against the corpus through the functional
simulator, and the driver's protocol against a scripted register file."""

import json

import numpy as np
import pytest
from corpus import CORPUS

from vta.isa import DeadlockError, Load, MemoryType, Store, VtaError
from vta.isa.address_map import address_map
from vta.isa.image import ProgramImage
from vta.isa.registers import CONTROL_START, STATUS_BUSY, STATUS_DONE, Register
from vta.runtime.backends.board.driver import BoardDriver, relocated_stream
from vta.runtime.memory import PAGE_BYTES, PageAllocator
from vta.simulator.functional import FunctionalSimulator


def _positive_cases(config_dir, count):
    index = json.loads((CORPUS / config_dir / "index.json").read_text())
    names = [case["name"] for case in index["cases"] if case["expect"] == "ok"]
    return [CORPUS / config_dir / name for name in names[::max(1, len(names) // count)][:count]]


CASES = _positive_cases("vta-1x16", 12) + _positive_cases("vta-1x32", 4)


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.parent.name}/{case.name}")
def test_relocated_program_computes_the_corpus_result(case):
    """A program moved to physical address P, run where it now lives, leaves the corpus's
    expected image at P (with the original instruction words restored)."""
    image = ProgramImage.load(case)
    base = 3 * PAGE_BYTES
    memory = np.zeros(base + image.dram.size, dtype=np.uint8)
    memory[base:] = image.dram
    stream = relocated_stream(image, base)
    memory[base + image.insn_addr:base + image.insn_addr + stream.size] = stream.reshape(-1)
    FunctionalSimulator(image.config).run(memory, base + image.insn_addr, image.insn_count)
    memory[base + image.insn_addr:base + image.insn_addr + stream.size] = \
        image.instruction_bytes.reshape(-1)
    expected = np.fromfile(case / "expected.bin", dtype=np.uint8)
    assert np.array_equal(memory[base:], expected)


def test_relocation_moves_only_data_moving_transfers():
    image = ProgramImage.load(CASES[0])
    base = 5 * PAGE_BYTES
    moved = relocated_stream(image, base)
    relocated = ProgramImage(image.config, image.dram.copy(), image.insn_addr, image.insn_count)
    relocated.instruction_bytes[:] = moved
    for before, after in zip(image.instructions(), relocated.instructions()):
        if isinstance(before, (Load, Store)) and before.x_size:
            kind = MemoryType(before.memory_type)
            assert after.dram_base - before.dram_base == base // image.config.elem_bytes(kind)
            assert after.replace(dram_base=before.dram_base) == before
        else:
            assert after == before


def test_misaligned_buffer_is_refused():
    image = ProgramImage.load(CASES[0])
    with pytest.raises(VtaError, match="not aligned"):
        relocated_stream(image, 16)


class SimulatedBoard:
    """A register file and DRAM behind the driver's interface: a start runs the functional
    simulator on the physical memory, and STATUS reports done after `polls_to_done` polls
    (never, if None)."""

    def __init__(self, config, image_bytes, polls_to_done=3, busy=False):
        size = 4 * PAGE_BYTES + -(-image_bytes // PAGE_BYTES) * PAGE_BYTES
        self.config, self.dram = config, np.zeros(size, dtype=np.uint8)
        self.allocator = PageAllocator(size)
        self.registers = {register: 0 for register in Register}
        self.polls_to_done, self.busy, self.polls = polls_to_done, busy, 0
        self.synced = []

    def read(self, offset):
        if offset == Register.STATUS:
            self.polls += 1
            done = self.polls_to_done is not None and self.polls > self.polls_to_done
            return (STATUS_DONE if done else 0) | (STATUS_BUSY if self.busy else 0)
        return self.registers[Register(offset)]

    def write(self, offset, value):
        self.registers[Register(offset)] = value
        if offset == Register.CONTROL and value & CONTROL_START:
            FunctionalSimulator(self.config).run(self.dram, self.registers[Register.INSN_ADDR],
                                                 self.registers[Register.INSN_COUNT])
            self.registers[Register.CYCLES] = 1234
            self.polls = 1

    def wait(self, microseconds):
        pass

    def allocate(self, nbytes):
        board, address = self, self.allocator.alloc(nbytes)

        class Buffer:
            physical_address = address
            array = board.dram[address:address + nbytes]

            def sync_to_device(self):
                board.synced.append("to_device")

            def sync_from_device(self):
                board.synced.append("from_device")

            def free(self):
                board.allocator.free(address)

        return Buffer()


def test_driver_runs_an_image_and_gives_back_the_corpus_result():
    case = CASES[1]
    image = ProgramImage.load(case)
    board = SimulatedBoard(image.config, image.dram.size)
    result = BoardDriver(board, board, address_map=address_map("zynq")).run(image, watchdog_us=100)
    assert np.array_equal(image.dram, np.fromfile(case / "expected.bin", dtype=np.uint8))
    assert result.cycles == 1234 and set(result.modules) == {"fetch", "load", "compute", "store"}
    assert board.synced == ["to_device", "from_device"]
    assert board.allocator.free_bytes == board.allocator.size - PAGE_BYTES  # buffer given back


def test_watchdog_reports_a_deadlock():
    image = ProgramImage.load(CASES[0])
    board = SimulatedBoard(image.config, image.dram.size, polls_to_done=None)
    with pytest.raises(DeadlockError, match="watchdog: the core was not done after"):
        BoardDriver(board, board).run(image, watchdog_us=500)
    assert board.allocator.free_bytes == board.allocator.size - PAGE_BYTES


def test_a_busy_core_is_not_started():
    image = ProgramImage.load(CASES[0])
    board = SimulatedBoard(image.config, image.dram.size, busy=True)
    with pytest.raises(VtaError, match="busy"):
        BoardDriver(board, board).run(image, watchdog_us=500)
    assert board.registers[Register.CONTROL] == 0
