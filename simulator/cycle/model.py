"""The cycle model of `vta.hardware.VtaCore`: fetch, the three modules, their command and token
queues and the memory port, timed per instruction and per burst (see docs/cycle-model.md)."""

from __future__ import annotations

import numpy as np

from vta.isa import INSN_BYTES, Config, DeadlockError, MemoryType, Module, Opcode, Queue
from vta.isa.image import ProgramImage
from vta.isa.machine import ALU_BANK_CONFLICT_CYCLES, READ_CLIENTS, UOP_PIPELINE_DRAIN

from vta.simulator.cycle import engine
from vta.simulator.cycle.bank_conflicts import UopBanks
from vta.simulator.cycle.clients import FetchClient, TensorLoadClient, UopLoadClient
from vta.simulator.cycle.events import Event, Kernel
from vta.simulator.cycle.footprints import KernelFootprints
from vta.simulator.cycle.geometry import geometry
from vta.simulator.cycle.read_port import ReadCommand, ReadPort
from vta.simulator.cycle.write_port import WritePort

#: Read clients of the AXI master, by their place in its round-robin order.
FETCH, UOP, INP, WGT, ACC = (READ_CLIENTS.index(name)
                             for name in ("fetch", "uop", "inp", "wgt", "acc"))
GEMM, ALU = Opcode.GEMM, Opcode.ALU
OPCODE_NAMES = {opcode: opcode.name for opcode in Opcode}
MODULE_NAMES = {module: module.name.lower() for module in Module}
UOP_MEMORY = MemoryType.UOP
#: The read client of each tensor LOAD's memory type.
READ_INDEX = {MemoryType.INP: INP, MemoryType.WGT: WGT, MemoryType.ACC: ACC}
#: Cycles from an instruction's last bus word to the head of its (empty) command queue.
ARRIVAL_TO_HEAD = 4
#: Cycles from an instruction's last bus word to its routing into a command queue.
ARRIVAL_TO_ROUTE = 1
#: Cycles from routing an instruction to fetch counting its buffer slot as free.
ROUTE_TO_ROOM = 2
#: Cycles from the start command to fetch's first read request.
START_TO_FETCH = 1
#: CYCLES = FINISH issue cycle + this.
FINISH_TO_END = 1


class CycleReport:
    """Total cycles (the RTL's CYCLES), per-module busy/stall cycles (its counters), bus beats,
    and per instruction ``(module, index in its queue, opcode, waited from, issue, done)``.
    `timeline` may be given as a function that makes the list when it is first read (the
    engine's: the schedule search reads only `cycles`)."""

    def __init__(self, cycles: int, modules: dict, bus: dict | None = None, timeline=None):
        self.cycles, self.modules = cycles, modules
        self.bus = {} if bus is None else bus
        self._timeline = [] if timeline is None else timeline

    @property
    def timeline(self) -> list:
        if callable(self._timeline):
            self._timeline = self._timeline()
        return self._timeline

    def __eq__(self, other) -> bool:
        if not isinstance(other, CycleReport):
            return NotImplemented
        return (self.cycles, self.modules, self.bus, self.timeline) == \
            (other.cycles, other.modules, other.bus, other.timeline)

    def __repr__(self) -> str:
        return (f"CycleReport(cycles={self.cycles!r}, modules={self.modules!r}, "
                f"bus={self.bus!r}, timeline={self.timeline!r})")


class _Queue:
    """A command queue: when each entry becomes the head, when it issues."""

    def __init__(self, count: int):
        self.visible = [Event() for _ in range(count)]
        self.issued = [Event() for _ in range(count)]


class _Tokens:
    """A dependency token queue: when each token can be popped, when it is popped."""

    def __init__(self, count: int):
        self.available = [Event() for _ in range(count)]
        self.taken = [Event() for _ in range(count)]
        self.pushed = 0
        self.popped = 0


def never_pushed(module: str, queue: Queue) -> str:
    """The DeadlockError of a module waiting for a token no instruction pushes."""
    return f"{module} waits for a {queue.name} token never pushed"


class CycleModel:
    """Times decoded programs (`ProgramImage.program`) for one config (one the core can be
    built for: `Config.check_bus`); the DRAM image gives the micro-ops, whose ACC banks decide
    vector ALU timing (`bank_conflicts`). By default the compiled engine (`engine`) times them
    (the Python processes here where it is not built or does not time a program); with `engine`
    off the Python processes do, with the compiled loops of `native` for loads' grants and
    STOREs, and with `fast_forward` off they step everything in Python (the reference; all
    three give the same results)."""

    def __init__(self, config: Config, *, fast_forward: bool = True, engine: bool = True):
        geometry(config)            # checks the bus (`Config.check_bus`) once per config
        self.config = config
        self.fast_forward = fast_forward
        self.engine = engine and fast_forward

    def run(self, program: list, insn_addr: int, dram) -> CycleReport:
        if self.engine:
            report = engine.run(self.config, b"".join([insn.raw for insn in program]),
                                insn_addr, dram)
            if report is not None:
                return report
        return _Run(self.config, program, insn_addr, dram, self.fast_forward).report()

    def run_image(self, image: ProgramImage) -> CycleReport:
        """`run` of the image's program; the engine reads the instructions' bytes from its
        DRAM, so an image built without its decoded program (`CommandStream.build`) is
        decoded only where the Python processes time it."""
        if self.engine:
            end = image.insn_addr + image.insn_count * INSN_BYTES
            report = engine.run(self.config, image.dram[image.insn_addr:end].tobytes(),
                                image.insn_addr, image.dram)
            if report is not None:
                return report
        return self.run(image.program, image.insn_addr, image.dram)


class _Run:
    """One timed run: the processes of fetch and the three modules on a shared kernel; cycle 0
    is the start command's cycle."""

    def __init__(self, config: Config, instructions: list, insn_addr: int, dram,
                 fast_forward: bool = True):
        self.config, self.machine = config, config.machine
        self.banks = UopBanks(config, dram)
        self.loops: dict = {}       # `_loop_length` by instruction bytes
        self.kernel = kernel = Kernel()
        self.port = ReadPort(kernel, config, len(READ_CLIENTS), fast_forward=fast_forward)
        self.writes = WritePort(config, fast_forward=fast_forward)
        sizes = geometry(config)
        self.bus_bytes = bus = sizes.bus_bytes
        self.uop_depth = sizes.uop_depth
        self.fetch = FetchClient(kernel, len(instructions), bus)
        self.tensor = {kind: TensorLoadClient(sizes.elem_bytes[kind] // bus)
                       for kind in (MemoryType.INP, MemoryType.WGT, MemoryType.ACC)}
        self.uops = UopLoadClient(bus)
        self.elem_bytes = {kind: sizes.elem_bytes[kind] for kind in self.tensor}
        routes = [MODULE_NAMES[insn.module] for insn in instructions]
        self.streams = {name: [i for i, r in zip(instructions, routes) if r == name]
                        for name in ("load", "compute", "store")}
        self.queues = {name: _Queue(len(items)) for name, items in self.streams.items()}
        pushes = {queue: 0 for queue in Queue}
        for insn in instructions:
            for queue in insn.pushes:
                pushes[queue] += 1
        self.tokens = {queue: _Tokens(count) for queue, count in pushes.items()}
        self.routed = [Event() for _ in instructions]
        self.busy = {name: 0 for name in ("fetch", "load", "compute", "store")}
        self.stall = {name: 0 for name in ("load", "compute", "store")}
        self.end = None
        #: (module, since, why) of modules waiting for ever (a token no instruction pushes)
        self.blocked = []
        self.timeline = []
        kernel.spawn(self._fetch_requests(len(instructions), insn_addr))
        kernel.spawn(self._router(routes))
        entries = self.machine.overlap_kernels
        self.footprints = KernelFootprints(config, entries) if entries else None
        for name in ("load", "compute", "store"):
            overlap = name == "compute" and entries
            kernel.spawn(self._overlapping_compute() if overlap else self._module(name))
        kernel.run()

    # -- fetch ------------------------------------------------------------------------------
    def _fetch_requests(self, count: int, addr: int):
        words_per_insn = INSN_BYTES // self.bus_bytes
        buffer, chunk = self.machine.fetch_buffer_depth, self.machine.fetch_request_instructions
        post, requested = START_TO_FETCH, 0
        while requested < count:
            request = min(chunk, count - requested)
            needed = requested - (buffer - request) - 1
            if needed >= 0:
                yield self.routed[needed]
                post = max(post, self.routed[needed].time + ROUTE_TO_ROOM)
            command = ReadCommand(self.fetch, addr, request * words_per_insn, post)
            self.port.post(FETCH, command)
            yield command.granted
            post = command.granted.time + 1
            requested += request
            addr += request * INSN_BYTES

    def _router(self, routes: list):
        time, overlap = -1, False
        to_route = ARRIVAL_TO_ROUTE
        index = {name: 0 for name in self.queues}
        depth = self.machine.command_queue_depth
        for j, name in enumerate(routes):
            arrival = self.fetch.arrivals[j]
            yield arrival
            overlap = j > 0 and time >= arrival.time     # the previous one still waits
            time = max(time + 1, arrival.time + to_route)
            queue, k = self.queues[name], index[name]
            index[name] += 1
            if k >= depth:
                freed = queue.issued[k - depth]
                yield freed
                time = max(time, freed.time)
            self.routed[j].fire(self.kernel, time)
            queue.visible[k].fire(self.kernel, time + ARRIVAL_TO_HEAD - to_route)
        # Fetch is busy until its last routing, but for one cycle the buffer's output register
        # is empty while the last instruction, arrived, is still being written into it: that
        # cycle counts only when the previous instruction still waited in the register.
        self.busy["fetch"] = time + overlap

    # -- modules ----------------------------------------------------------------------------
    def _module(self, name: str):
        queue, free = self.queues[name], 0
        for k, insn in enumerate(self.streams[name]):
            yield queue.visible[k]
            head = max(free, queue.visible[k].time)
            start = head
            if insn.pops:
                start, taken = yield from self._pop(name, insn, head)
                self._took(taken, start)
            self.stall[name] += start - head
            queue.issued[k].fire(self.kernel, start)
            opcode = insn.opcode
            if opcode is GEMM or opcode is ALU:     # no waiting: no generator
                done = self._loop(insn, start)
            else:
                done = yield from self._execute(insn, start)
            if opcode is Opcode.FINISH:
                self.end = start + FINISH_TO_END
            if insn.pushes:
                done = yield from self._push(insn, done)
            self.busy[name] += done - start
            self.timeline.append((name, k, OPCODE_NAMES[opcode], head, start, done))
            free = done + 1
            if self.end is not None and name == "compute":
                return

    def _pop(self, name: str, insn, start: int):
        """Waits for the tokens `insn` pops; returns the cycle they are all there (≥ start)
        and the events to fire (`_took`) when the instruction issues and takes them."""
        taken = []
        for token_queue in insn.pops:
            tokens = self.tokens[token_queue]
            if tokens.popped >= len(tokens.available):
                # it waits for ever, stalled, as the RTL's module does; a deadlock only if
                # FINISH never retires (the core is done at FINISH, whatever still waits)
                self.blocked.append((name, start, never_pushed(name, token_queue)))
                yield Event()
            event = tokens.available[tokens.popped]
            taken.append(tokens.taken[tokens.popped])
            tokens.popped += 1
            yield event
            start = max(start, event.time)
        return start, taken

    def _took(self, taken: list, cycle: int) -> None:
        for event in taken:
            event.fire(self.kernel, cycle)

    def _push(self, insn, cycle: int):
        """Offers the tokens `insn` pushes in `cycle`; returns the cycle the last is accepted
        (each is available the cycle after). A full queue (`token_queue_depth` tokens) takes a
        token the cycle after its consumer pops one; the module waits until then (its PUSH
        state, counted as busy)."""
        depth, accepted = self.machine.token_queue_depth, cycle
        for token_queue in insn.pushes:
            tokens = self.tokens[token_queue]
            at = cycle
            if tokens.pushed >= depth:
                room = tokens.taken[tokens.pushed - depth]
                yield room
                at = max(cycle, room.time + 1)
            tokens.available[tokens.pushed].fire(self.kernel, at + 1)
            tokens.pushed += 1
            accepted = max(accepted, at)
        return accepted

    def _overlapping_compute(self):
        """The compute module with a GEMM and an ALU unit (`Machine.overlap_kernels` > 0,
        docs/hardware.md): a GEMM/ALU instruction issues when its unit is free, its tokens are
        there and the other unit is free or works in the other ACC half; a unit pushes its
        tokens when done and no older instruction runs; other instructions issue when both
        units are free (a NOP that pushes nothing at once). `final[unit]` is a unit's last busy
        cycle (the cycle its tokens are accepted: a full token queue keeps it in PUSH while
        the next instructions issue, `_unit_pushes`); busy cycles are the union of every
        instruction's (issue, final]."""
        name, queue = "compute", self.queues["compute"]
        final = {Opcode.GEMM: -1, Opcode.ALU: -1}
        masks = {Opcode.GEMM: 0, Opcode.ALU: 0}
        held = {Opcode.GEMM: None, Opcode.ALU: None}
        # A unit whose tokens wait for room: the event of their acceptance (final then known).
        settled = {Opcode.GEMM: None, Opcode.ALU: None}
        spans = []
        free = 0
        for k, insn in enumerate(self.streams[name]):
            yield queue.visible[k]
            head = max(free, queue.visible[k].time)
            tokens, taken = (yield from self._pop(name, insn, head)) if insn.pops else (head, ())
            self.stall[name] += tokens - head
            opcode = insn.opcode
            if opcode is Opcode.GEMM or opcode is Opcode.ALU:
                peer = Opcode.ALU if opcode is Opcode.GEMM else Opcode.GEMM
                mask = self.footprints.mask(insn)
                if settled[opcode] is not None:
                    yield settled[opcode]
                if (mask & masks[peer] or insn.pushes) and settled[peer] is not None:
                    yield settled[peer]
                start = max(tokens, final[opcode] + 1)
                if final[peer] >= start and mask & masks[peer]:
                    start = final[peer] + 1
                done = self._loop(insn, start)
                self._took(taken, start)
                queue.issued[k].fire(self.kernel, start)
                masks[opcode], held[opcode], settled[opcode] = mask, insn, None
                final[opcode] = last = done
                free = start + 1
                spans.append([start, last, len(self.timeline), k, head])
                self.timeline.append(None)
                if insn.pushes:
                    if final[peer] >= start:          # an older instruction still runs
                        last = max(done, final[peer] + 1)
                    if self._must_wait(insn):
                        settled[opcode] = Event()
                        self.kernel.spawn(self._unit_pushes(insn, opcode, last, final,
                                                            settled[opcode], spans[-1]),
                                          self.kernel.now)
                    else:
                        final[opcode] = spans[-1][1] = yield from self._push(insn, last)
            else:
                start = tokens
                for unit, running in held.items():
                    if running is None or self._leaves_alone(insn, running, masks[unit]):
                        continue
                    if settled[unit] is not None:
                        yield settled[unit]
                    start = max(start, final[unit] + 1)
                self._took(taken, start)
                queue.issued[k].fire(self.kernel, start)
                done = yield from self._execute(insn, start)
                f = insn.fields
                if opcode is Opcode.LOAD and f["memory_type"] == UOP_MEMORY and f["x_size"]:
                    self._record_kernel(insn)
                last = (yield from self._push(insn, done)) if insn.pushes else done
                free = last + 1
                spans.append([start, last, len(self.timeline), k, head])
                self.timeline.append(None)
            if opcode is Opcode.FINISH:
                self.end = start + FINISH_TO_END
                break
        covered = 0
        for start, last, entry, k, head in spans:
            self.busy[name] += max(0, last - max(start, covered))
            covered = max(covered, last)
            self.timeline[entry] = (name, k, OPCODE_NAMES[self.streams[name][k].opcode], head, start,
                                    last)

    def _must_wait(self, insn) -> bool:
        """Whether a token `insn` pushes needs room its consumer has not made yet (so far as
        the kernel has run)."""
        depth = self.machine.token_queue_depth
        for token_queue in insn.pushes:
            tokens = self.tokens[token_queue]
            if tokens.pushed >= depth:
                room = tokens.taken[tokens.pushed - depth].time
                if room is None or room > self.kernel.now:
                    return True
        return False

    def _unit_pushes(self, insn, unit, cycle: int, final: dict, settled: Event, span: list):
        """A unit in PUSH: its tokens wait for room while later instructions issue."""
        final[unit] = span[1] = yield from self._push(insn, cycle)
        settled.fire(self.kernel, final[unit])

    def _leaves_alone(self, insn, running, mask: int) -> bool:
        """True when a LOAD (or FINISH) `insn` may issue beside the unit instruction `running`
        (whose ACC halves are `mask`): a LOAD that pushes nothing and is a NOP, a LOAD UOP
        outside its micro-ops, or a LOAD ACC outside its ACC halves."""
        if insn.opcode is not Opcode.LOAD or insn.pushes:
            return False
        f = insn.fields
        if not f["x_size"]:
            return True
        if f["memory_type"] == UOP_MEMORY:
            base, end = f["sram_base"], f["sram_base"] + f["x_size"]
            r = running.fields
            return end <= self.uop_depth and (end <= r["uop_bgn"] or r["uop_end"] <= base)
        return not self.footprints.load_halves(insn) & mask

    def _record_kernel(self, insn) -> None:
        f = insn.fields
        slots = (f["sram_base"] + np.arange(f["x_size"])) % self.banks.depth
        self.footprints.load(insn, self.banks.dst[slots], self.banks.src[slots])

    def _execute(self, insn, start: int):
        """Times the execution of `insn` issued at `start`: returns its done cycle."""
        opcode = insn.opcode
        if opcode is Opcode.GEMM or opcode is Opcode.ALU:
            return self._loop(insn, start)
        f = insn.fields
        if opcode is Opcode.STORE:
            done = self.writes.store(insn, start) if f["x_size"] and f["y_size"] else start + 1
            if f["push_prev_dep"]:
                done = max(done, self.writes.idle_at())
            return done
        if opcode is Opcode.LOAD and f["x_size"]:
            if f["memory_type"] == UOP_MEMORY:
                done = yield from self._uop_load(insn, start)
            else:
                done = yield from self._tensor_load(insn, start)
            return done
        return start + 1
        yield  # a generator in every branch

    def _loop(self, insn, start: int) -> int:
        length = self.loops.get(insn.raw)
        if length is None:
            length = self.loops[insn.raw] = self._loop_length(insn)
        return start + length

    def _loop_length(self, insn) -> int:
        """Cycles from a GEMM/ALU's issue to its done (the micro-ops' bank conflicts count:
        `loops` is cleared when LOAD UOP writes micro-ops)."""
        start = 0
        f = insn.fields
        count = f["iter_out"] * f["iter_in"] * max(0, f["uop_end"] - f["uop_bgn"])
        if count == 0:
            return start + 1
        last_issue = start + 1 + (count - 1) * self.machine.loop_interval(
            gemm=insn.opcode == Opcode.GEMM)
        if insn.opcode == Opcode.ALU and not f["use_imm"]:
            last_issue += ALU_BANK_CONFLICT_CYCLES * self.banks.conflicts(insn)
        return last_issue + UOP_PIPELINE_DRAIN

    def _tensor_load(self, insn, start: int):
        f = insn.fields
        memory_type = f["memory_type"]
        client = self.tensor[memory_type]
        client.start(insn, start)
        elem_bytes = self.elem_bytes[memory_type]
        if not f["y_size"]:
            return max(client.finished(), start + 2)
        command = ReadCommand(client, f["dram_base"] * elem_bytes,
                              f["x_size"] * client.words_per_tile, start + 2,
                              count=f["y_size"], stride=f["x_stride"] * elem_bytes)
        self.port.post(READ_INDEX[memory_type], command)
        yield command.done
        return max(client.finished(), command.granted.time + 1, start + 2)

    def _uop_load(self, insn, start: int):
        self.banks.load(insn)
        self.loops.clear()
        client = self.uops
        client.start(insn, start)
        addr = insn.fields["dram_base"] * 4 // self.bus_bytes * self.bus_bytes
        command = ReadCommand(client, addr, client.words(insn), start + 1)
        self.port.post(UOP, command)
        yield command.done
        return client.finished()

    def report(self) -> CycleReport:
        if self.end is None:
            raise DeadlockError(self.blocked[0][2] if self.blocked
                                else "the program never reaches FINISH")
        self.port.settle()
        stall = dict(self.stall)
        stall["load"] += self.tensor[MemoryType.INP].mem_wait + self.tensor[MemoryType.WGT].mem_wait
        stall["compute"] += self.tensor[MemoryType.ACC].mem_wait + self.uops.mem_wait
        stall["store"] += self.writes.stall
        for name, since, _ in self.blocked:
            stall[name] += max(0, self.end - since)
        modules = {"fetch": {"busy": self.busy["fetch"]}}
        modules |= {name: {"busy": self.busy[name], "stall": stall[name]}
                    for name in ("load", "compute", "store")}
        return CycleReport(self.end, modules,
                           {"read_beats": self.port.beats, "write_beats": self.writes.beats},
                           self.timeline)
