"""The read clients' data acceptance: fetch, the 2-D tensor loaders (INP, WGT, ACC) and the
micro-op loader. Each keeps the position of its writer so that a burst's beats are taken only
when the hardware would take them (pad tiles and micro-op slots hold the read channel)."""

from __future__ import annotations

from vta.isa import INSN_BYTES, UOP_BYTES

from vta.simulator.cycle.events import Event, Kernel
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

    periodic = True

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

    def skip(self, rows: int, cycles: int, mem_wait: int) -> None:
        """`rows` whole rows (not the last one) that repeat the previous one `cycles` later in
        all, waiting `mem_wait` cycles for data in all."""
        self.writer += cycles
        self.rows_left -= rows
        self.mem_wait += mem_wait

    def skip_words(self, words: int, cycles: int, mem_wait: int) -> None:
        """`words` bus words inside a row (not its last) that repeat the previous burst's
        timing, `cycles` later in all, waiting `mem_wait` cycles for data in all."""
        self.writer += cycles
        self.words_left -= words
        self.mem_wait += mem_wait

    def state(self, now: int) -> tuple:
        """Everything that decides when the writer takes later beats, relative to `now`."""
        return (self.writer - now, self.x_pad_0, self.x_pad_1, self.tail, self.row_words,
                self.rows_left, self.words_left)

    def restore(self, now: int, state: tuple, mem_wait: int) -> None:
        """Take a `state` (relative to `now`) and `mem_wait` more cycles of waiting."""
        writer, self.x_pad_0, self.x_pad_1, self.tail, self.row_words, self.rows_left, \
            self.words_left = state
        self.writer = now + writer
        self.mem_wait += mem_wait

    def finished(self) -> int:
        """First cycle after the last tile is written (valid once every burst is accepted)."""
        return self.writer


class UopLoadClient(ReadClient):
    """`UopLoad` writes one micro-op per cycle and holds each bus word until its last slot."""

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
        cycles = 0
        for _ in range(beats):
            held = min(self.per_word - self.slot, self.left)
            self.left -= held
            self.slot = 0
            cycles += held
        self.writer = first + cycles
        return first, first + cycles - 1

    def finished(self) -> int:
        return self.writer
