"""The three in-order modules and the four dependency-token queues (isa-reference §5).

Scheduling follows the original C model's top loop: run the load module as far as its tokens
allow, then compute, then store, and repeat until FINISH retires. A race-free program (every
conflicting access ordered by tokens) gives the same result under any schedule. A pass in
which no module can move is a deadlock. Token queues are unbounded counters.
"""

from __future__ import annotations

from collections.abc import Callable

from vta.isa import DeadlockError, Module, Opcode, Queue
from vta.isa.program import DecodedInstruction

ORDER = (Module.LOAD, Module.COMPUTE, Module.STORE)


def run_modules(program: list[DecodedInstruction],
                execute: Callable[[DecodedInstruction], None]) -> None:
    """Execute `program` on the three modules until FINISH retires; DeadlockError otherwise."""
    streams = {module: [insn for insn in program if insn.module == module] for module in ORDER}
    positions = dict.fromkeys(ORDER, 0)
    tokens = [0] * len(Queue)
    while True:
        progress = False
        for module in ORDER:
            stream, position = streams[module], positions[module]
            end = len(stream)
            while position < end:
                insn = stream[position]
                pops = insn.pops
                if pops:
                    if not tokens[pops[0]] or (len(pops) > 1 and not tokens[pops[1]]):
                        break
                    for queue in pops:
                        tokens[queue] -= 1
                execute(insn)
                for queue in insn.pushes:
                    tokens[queue] += 1
                position += 1
                if insn.opcode is Opcode.FINISH:
                    return
            progress |= position != positions[module]
            positions[module] = position
        if not progress:
            raise DeadlockError(deadlock_message(streams, positions, tokens))


def deadlock_message(streams: dict[Module, list[DecodedInstruction]], positions: dict[Module, int],
                     tokens: list[int]) -> str:
    """One line naming the blocked instruction with the lowest index, its module and the empty
    queue(s) it waits on, then what the other modules are doing."""
    waiting = []
    for module in ORDER:
        if positions[module] < len(streams[module]):
            insn = streams[module][positions[module]]
            empty = " and ".join(queue.name.lower() for queue in insn.pops if not tokens[queue])
            waiting.append((insn.index, f"{module.name.lower()} waits for a token on {empty}"))
    if not waiting:
        return "deadlock: every module ran out of instructions without executing FINISH"
    waiting.sort()
    first_index, first = waiting[0]
    others = [f"{what} (instruction {index})" for index, what in waiting[1:]]
    idle = [f"{module.name.lower()} has no instructions left" for module in ORDER
            if positions[module] == len(streams[module])]
    return "; ".join([f"instruction {first_index}: deadlock: {first}"] + others + idle)
