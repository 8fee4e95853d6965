"""The read clients' data acceptance: fetch, the 2-D tensor loaders (INP, WGT, ACC) and the
micro-op loader. Each keeps the position of its writer so that a burst's beats are taken only
when the hardware would take them (pad tiles and micro-op slots hold the read channel)."""

from __future__ import annotations

from vta.isa import INSN_BYTES, UOP_BYTES

from vta.simulator.cycle.events import Event, Kernel
from vta.simulator.cycle.native import TENSOR, UOP
from vta.simulator.cycle.read_port import ReadClient


class FetchClient(ReadClient):
    """Fetch takes every beat at once; fires `arrivals[j]` when instruction j is complete."""

    def __init__(self, kernel: Kernel, count: int, bus_bytes: int):
        self.kernel = kernel
        self.words_per_insn = INSN_BYTES // bus_bytes
        self.arrivals = [Event() for _ in range(count)]
        self.words = 0

    def accept(self, beats: int, earliest: int) -> tuple[int, int]:
        per = self.words_per_insn
        for offset in range(beats):
            self.words += 1
            if self.words % per == 0:
                self.arrivals[self.words // per - 1].fire(self.kernel, earliest + offset)
        return earliest, earliest + beats - 1


class TensorLoadClient(ReadClient):
    """The writer of `TensorLoad`: walks the padded block, one cycle per pad tile and per bus
    word of data; data words wait for the beats."""

    native_kind = TENSOR

    def __init__(self, words_per_tile: int):
        self.words_per_tile = words_per_tile
        self.mem_wait = 0

    def start(self, insn, start: int) -> None:
        """The writer begins two cycles after the instruction issues at `start`."""
        f = insn.fields
        self.x_pad_0, self.x_pad_1, y_pad_0 = f["x_pad_0"], f["x_pad_1"], f["y_pad_0"]
        self.row_width = self.x_pad_0 + f["x_size"] + self.x_pad_1
        self.tail = f["y_pad_1"] * self.row_width
        self.row_words = f["x_size"] * self.words_per_tile
        self.rows_left = f["y_size"]
        self.words_left = self.row_words
        self.writer = start + 2 + y_pad_0 * self.row_width + self.x_pad_0
        if self.rows_left == 0:
            self.writer = start + 2 + y_pad_0 * self.row_width + self.tail

    def accept(self, beats: int, earliest: int) -> tuple[int, int]:
        writer = self.writer
        if earliest > writer:
            self.mem_wait += earliest - writer
            writer = earliest
        last = writer + beats - 1
        self.writer = last + 1
        self.words_left -= beats
        if self.words_left == 0:
            self.rows_left -= 1
            self.words_left = self.row_words
            self.writer += self.x_pad_1 + (self.x_pad_0 if self.rows_left else self.tail)
        return writer, last

    def finished(self) -> int:
        """First cycle after the last tile is written (valid once every burst is accepted)."""
        return self.writer


class UopLoadClient(ReadClient):
    """`UopLoad` writes one micro-op per cycle and holds each bus word until its last slot."""

    native_kind = UOP

    def __init__(self, bus_bytes: int):
        self.per_word = bus_bytes // UOP_BYTES
        self.mem_wait = 0

    def start(self, insn, start: int) -> None:
        self.slot = insn.dram_base % self.per_word
        self.left = insn.x_size
        self.writer = start + 1

    def words(self, insn) -> int:
        return (insn.dram_base % self.per_word + insn.x_size + self.per_word - 1) // self.per_word

    def accept(self, beats: int, earliest: int) -> tuple[int, int]:
        first = max(earliest, self.writer)
        self.mem_wait += first - self.writer
        # Each word is held for its micro-ops (the first from its slot on) while any are left.
        cycles = min(self.left, self.per_word - self.slot + (beats - 1) * self.per_word)
        self.left -= cycles
        self.slot = 0
        self.writer = first + cycles
        return first, first + cycles - 1

    def finished(self) -> int:
        return self.writer
