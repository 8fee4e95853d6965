"""Tile replay, for the schedule search's timing (`schedule.time_tiling`): a layer's tiles repeat
(the same shape in the same slots, with the emitter in the same state but for where the tile
lies), so the commands a tile sends the stream are recorded once per such state
(`TileJournal`) and sent again for each repeat, with the DRAM offsets moved to the tile
(`replay`): the emitter's own work — loop nests, kernels, the carried epilogue, the pace of the
loads — is done once per distinct tile instead of once per tile.

The stream itself runs every command as emitted (the micro-op cache, the dependency folding,
bounds), so that what a replayed tile adds to it is what emitting it would. A command's DRAM
offset is recorded relative to an anchor of its buffer and tile (`LayerEmitter.replay_anchors`),
the tile's own offset in that buffer's layout, so that it holds for every tile of that state. The
emitter states a tile's state (`LayerEmitter.replay_key`) and sets its state after a replayed
tile (`LayerEmitter.replayed`); what a layer emits with replay is byte for byte what it emits
without (tests/compiler/test_tile_replay.py).
"""

from __future__ import annotations

from typing import NamedTuple

from vta.compiler.tiling import Tile
from vta.compiler.uop_kernels import Unit
from vta.isa import MemoryType

LOAD, STORE, KERNEL, PUSH, POP, PUSH_IF, NEST = range(7)
#: `LayerEmitter` tags the push after a tile's store with this and whether that tile is the one
#: recorded
FINISHED = "finished"


class Recording(NamedTuple):
    """A tile's commands (`TileJournal.ops`), the tile, and the emitter's state after them
    (relative to the tile: `LayerEmitter.replay_changes`)."""

    ops: tuple
    tile: Tile
    state: tuple


class TileJournal:
    """The stream a layer is emitted into for timing: forwards every command to `stream`, and
    records those of the tile being recorded (`begin` … `end`), each DRAM offset relative to
    the anchor of its buffer and tile. `anchors`: each buffer's anchor, a function of a tile
    (in the emitter's units), and the stream's units per emitter unit of that buffer's memory
    (`subtiles`)."""

    def __init__(self, stream, anchors: dict):
        self.stream, self.config, self.queue = stream, stream.config, stream.queue
        #: by buffer id: the buffer, its anchor function, its scale
        self.anchors = {id(buffer): (buffer, anchor, scale)
                        for buffer, (anchor, scale) in anchors.items()}
        self.recordings: dict[tuple, Recording] = {}
        self.ops: list | None = None
        #: queue index of each kernel's instruction recorded -> its place among the commands
        self.kernels: dict[int, int] = {}
        self.tile: Tile | None = None           # the tile recorded
        self.carried: Tile | None = None        # the tile whose epilogue it carries
        self.stored: Tile | None = None         # the tile being stored (`LayerEmitter.emit`)
        self.valid = True
        self._nest: list | None = None

    def _anchor(self, buffer_id: int, tile: Tile) -> int:
        _, anchor, scale = self.anchors[buffer_id]
        return anchor(tile) * scale

    # -- recording ---------------------------------------------------------------------------
    def begin(self, tile: Tile, carried: Tile | None) -> None:
        """Record the commands of `tile` (`carried`: the tile whose epilogue it carries)."""
        self.ops, self.tile, self.carried, self.valid = [], tile, carried, True
        self.kernels = {}

    def position(self, index: int) -> int | None:
        """The place among the recorded commands of the kernel whose instruction has queue
        `index` (None if not one of them)."""
        return self.kernels.get(index)

    def end(self, key: tuple, state: tuple) -> None:
        """Keep the tile's commands for `key`, with the emitter's `state` after them (unless a
        command referred to something replay cannot find again)."""
        if self.valid:
            self.recordings[key] = Recording(tuple(self.ops), self.tile, state)
        self.ops = None

    def load(self, buffer, memory, *, sram: int, offset: int, x_size: int, y_size: int,
             x_stride: int) -> None:
        self.stream.load(buffer, memory, sram=sram, offset=offset, x_size=x_size,
                         y_size=y_size, x_stride=x_stride)
        if self.ops is not None:
            self.ops.append((LOAD, id(buffer), memory, sram,
                             offset - self._anchor(id(buffer), self.tile), x_size, y_size,
                             x_stride))

    def store(self, buffer, *, sram: int, offset: int, x_size: int, y_size: int,
              x_stride: int) -> None:
        self.stream.store(buffer, sram=sram, offset=offset, x_size=x_size, y_size=y_size,
                          x_stride=x_stride)
        if self.ops is not None:
            own = self.stored is self.tile
            if not own and self.stored is not self.carried:
                self.valid = False
            self.ops.append((STORE, id(buffer), own, sram,
                             offset - self._anchor(id(buffer), self.stored), x_size, y_size,
                             x_stride))

    def nest(self, dims, base, op) -> None:
        """The kernels pushed next are those of this loop nest (`LayerEmitter.kernel`): a
        replay pushes them, or the nest again where its weights lie elsewhere for the tile
        replayed."""
        if self.ops is not None:
            self._nest = [NEST, dims, base, op, 0, op.unit == Unit.GEMM and not op.reset]
            self.ops.append(self._nest)

    def push_kernel(self, kernel) -> None:
        self.stream.push_kernel(kernel)
        if self.ops is not None:
            self.kernels[len(self.queue) - 1] = len(self.ops)
            self.ops.append((KERNEL, kernel))
            self._nest[4] += 1

    def dep_push(self, src, dst, after: int | None = None) -> None:
        self.stream.dep_push(src, dst, after)
        if self.ops is not None:
            self.ops.append((PUSH, src, dst, self._reference(after)))

    def dep_push_if(self, condition: bool, tag, src, dst, after: int | None = None) -> None:
        """`dep_push` where `condition` holds; recorded as a push that a replay makes where its
        condition (asked again by `tag`) holds for the tile replayed."""
        if condition:
            self.stream.dep_push(src, dst, after)
        if self.ops is not None:
            self.ops.append((PUSH_IF, src, dst, self._reference(after), tag))

    def _reference(self, after: int | None) -> int | None:
        """`after` as the place of its kernel among the recorded commands."""
        if after is None:
            return None
        position = self.kernels.get(after)
        if position is None:
            self.valid = False
        return position

    def dep_pop(self, src, dst) -> None:
        self.stream.dep_pop(src, dst)
        if self.ops is not None:
            self.ops.append((POP, src, dst))

    # -- replay ------------------------------------------------------------------------------
    def replay(self, recording: Recording, tile: Tile, carried: Tile | None,
               condition, moved, weights) -> dict[int, int]:
        """Send the stream a recorded tile's commands for `tile` (`carried`: the tile whose
        epilogue it carries; `condition(tag)`: whether a conditional push is made;
        `moved(dims, base, op)`: pushes a GEMM nest whose weights lie elsewhere for `tile` and
        says whether it did; `weights(sram)`: where a WGT load goes for `tile`; both None where
        the weights lie as for the tile recorded). Returns the queue index of each kernel's
        instruction by its place among the commands (of a nest pushed again, its last)."""
        stream, anchors = self.stream, self.anchors
        queue = self.queue
        produced: dict[int, int] = {}
        shifts: dict[tuple, int] = {}
        ops, position = recording.ops, 0
        while position < len(ops):
            op = ops[position]
            code = op[0]
            position += 1
            if code == NEST:
                if op[5] and moved is not None and moved(op[1], op[2], op[3]):
                    position += op[4]
                    produced[position - 1] = len(queue) - 1
            elif code == KERNEL:
                stream.push_kernel(op[1])
                produced[position - 1] = len(queue) - 1
            elif code == LOAD or code == STORE:
                _, buffer_id, which, sram, offset, x_size, y_size, x_stride = op
                own = code == LOAD or which
                shift = shifts.get((buffer_id, own))
                if shift is None:
                    shift = shifts[buffer_id, own] = self._anchor(buffer_id,
                                                                  tile if own else carried)
                if code == LOAD:
                    if which == MemoryType.WGT and weights is not None:
                        sram = weights(sram)
                    stream.load(anchors[buffer_id][0], which, sram=sram, offset=offset + shift,
                                x_size=x_size, y_size=y_size, x_stride=x_stride)
                else:
                    stream.store(anchors[buffer_id][0], sram=sram, offset=offset + shift,
                                 x_size=x_size, y_size=y_size, x_stride=x_stride)
            elif code == PUSH or code == PUSH_IF:
                if code == PUSH or condition(op[4]):
                    stream.dep_push(op[1], op[2], None if op[3] is None else produced[op[3]])
            else:
                stream.dep_pop(op[1], op[2])
        return produced
