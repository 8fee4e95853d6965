"""The instruction queue of a command stream, with the original runtime's dependency folding
(isa-reference §7, ``InsnQueue``): a pending pop is absorbed by the next instruction of its module,
a push is set on the last instruction when it belongs to the pushing module, and a NOP
(``x_size = 0`` LOAD or STORE) carries the token otherwise."""

from __future__ import annotations

from vta.isa import (INSN_BYTES, Config, FieldRangeError, Instruction, Load, MemoryType, Module,
                     Store, VtaError, encode)
from vta.isa.layout import DEP_FLAG_BITS


def module_of(insn: Instruction) -> Module | None:
    """The module an instruction counts for when folding a push (``GetPipelineStage``):
    a NOP LOAD (``x_size = 0``) counts for none, so a push is never folded into it."""
    if isinstance(insn, Load) and insn.x_size == 0:
        return None
    return insn.module


def _as_module(value: Module | int, role: str) -> Module:
    if type(value) is Module:
        return value
    try:
        return Module(value)
    except ValueError:
        raise VtaError(f"{role} module {value!r} is not one of {[m.value for m in Module]} "
                       f"(load, compute, store)") from None


def _check_edge(src: Module | int, dst: Module | int, action: str) -> tuple[Module, Module, str]:
    """The two modules of a token edge and the flag that pushes along it."""
    try:
        return _EDGES[src, dst]
    except (KeyError, TypeError):
        pass
    src, dst = _as_module(src, f"{action}: source"), _as_module(dst, f"{action}: target")
    raise VtaError(f"{action}({src.name.lower()} -> {dst.name.lower()}): tokens only flow "
                   f"between neighbouring modules (load <-> compute <-> store)")


#: (source, target) -> source, target and push flag, for each pair of neighbouring modules
_EDGES = {(src, dst): (src, dst, "push_next_dep" if src < dst else "push_prev_dep")
          for src in Module for dst in Module if abs(src - dst) == 1}


def describe(insn: Instruction) -> str:
    """A short name for messages: ``LOAD INP``, ``GEMM``, ``NOP-STORE``..."""
    kind = type(insn).__name__.upper()
    if isinstance(insn, (Load, Store)):
        if insn.x_size == 0:
            return f"NOP-{insn.module.name}"
        return f"{kind} {insn.memory_type.name}"
    return kind


class InstructionQueue:
    """An ordered list of instructions plus the pending pops of each module."""

    def __init__(self, config: Config):
        self.config = config
        self.instructions: list[Instruction] = []
        self.encoded: list[bytes] = []  # the 16 bytes of each instruction, kept in step
        #: by instruction object: it and its bytes (a stream appends its kernels' instructions
        #: again and again; the object is kept so that its id is not reused)
        self._encodings: dict[int, tuple[Instruction, bytes]] = {}
        #: by (instruction object, pops folded in): it and its copy with them (the same
        #: instructions get the same pops folded in again and again)
        self._variants: dict[tuple, tuple[Instruction, Instruction]] = {}
        #: by module and flags: a NOP and its bytes
        self._noops: dict[tuple, tuple[Instruction, bytes]] = {}
        self._pending_pop_prev = {module: False for module in Module}
        self._pending_pop_next = {module: False for module in Module}

    def __len__(self) -> int:
        return len(self.instructions)

    # -- creation -----------------------------------------------------------------------------
    def append(self, insn: Instruction) -> int:
        """Append `insn` with the pending pops of its module folded in; its index.
        Every field is checked against its width here (FieldRangeError naming it); an
        instruction object appended again is encoded once."""
        module = insn.module
        pop_prev, pop_next = self._pending_pop_prev[module], self._pending_pop_next[module]
        if pop_prev or pop_next:
            self._pending_pop_prev[module] = self._pending_pop_next[module] = False
            if (pop_prev and not insn.pop_prev_dep) or (pop_next and not insn.pop_next_dep):
                insn = self._variant(insn, insn.pop_prev_dep or pop_prev,
                                     insn.pop_next_dep or pop_next)
        index = len(self.instructions)
        known = self._encodings.get(id(insn))
        if known is None:
            known = self._encodings[id(insn)] = insn, self._encode(insn, index)
        self.encoded.append(known[1])
        self.instructions.append(insn)
        return index

    def append_new(self, cls: type[Instruction], **fields) -> int:
        """Append a new ``cls(**fields)`` with the pending pops of its module among its flags;
        its index. For an instruction made for one use (a transfer): made and encoded once,
        without `append`'s copies and caches."""
        insn = cls(**fields)
        module = insn.module
        pop_prev, pop_next = self._pending_pop_prev[module], self._pending_pop_next[module]
        if pop_prev or pop_next:
            self._pending_pop_prev[module] = self._pending_pop_next[module] = False
            values = insn.__dict__              # set in place: no one else holds the object
            values["pop_prev_dep"] = values["pop_prev_dep"] or pop_prev
            values["pop_next_dep"] = values["pop_next_dep"] or pop_next
        index = len(self.instructions)
        self.encoded.append(self._encode(insn, index))
        self.instructions.append(insn)
        return index

    def _variant(self, insn: Instruction, pop_prev_dep, pop_next_dep) -> Instruction:
        """`insn` with these pop flags, one object per instruction object and flags (which
        `append` then encodes once)."""
        key = (id(insn), pop_prev_dep, pop_next_dep)
        known = self._variants.get(key)
        if known is None:
            known = self._variants[key] = insn, insn.replace(pop_prev_dep=pop_prev_dep,
                                                              pop_next_dep=pop_next_dep)
        return known[1]

    def replace(self, index: int, **fields) -> None:
        """Change fields of an instruction already in the queue (checked again)."""
        insn = self.instructions[index].replace(**fields)
        self.encoded[index] = self._encode(insn, index)
        self.instructions[index] = insn

    def _encode(self, insn: Instruction, index: int) -> bytes:
        try:
            return encode(insn, self.config)
        except FieldRangeError as error:
            raise FieldRangeError(f"instruction {index} ({describe(insn)}): {error}") from None

    def stream_bytes(self) -> bytes:
        """The encoded instruction stream."""
        return b"".join(self.encoded)

    def push_noop(self, module: Module, *, push_prev=False, push_next=False,
                  pop_prev=False, pop_next=False) -> None:
        """Append a NOP of `module` carrying the given flags (``PushNoop``)."""
        key = (module, push_prev, push_next, pop_prev, pop_next)
        known = self._noops.get(key)
        if known is None:
            flags = dict(push_prev_dep=push_prev, push_next_dep=push_next,
                         pop_prev_dep=pop_prev, pop_next_dep=pop_next)
            if module == Module.STORE:
                noop = Store(memory_type=MemoryType.UOP, **flags)  # memory type 0, as the runtime
            else:
                noop = Load(memory_type=MemoryType.INP if module == Module.LOAD
                            else MemoryType.UOP, **flags)
            known = self._noops[key] = noop, encode(
                noop, self.config, f"instruction {len(self.instructions)} (NOP): ")
        self.encoded.append(known[1])
        self.instructions.append(known[0])

    # -- dependency tokens --------------------------------------------------------------------
    def dep_pop(self, src: Module | int, dst: Module | int) -> None:
        """The next instruction of `dst` waits for a token from `src` (``DepPop``)."""
        src, dst, _ = _check_edge(src, dst, "dep_pop")
        pending = self._pending_pop_prev if src < dst else self._pending_pop_next
        if pending[dst]:
            self.commit_pending_pops(dst)
        pending[dst] = True

    def dep_push(self, src: Module | int, dst: Module | int, after: int | None = None) -> None:
        """`src` sends a token to `dst` once its last instruction is done (``DepPush``); or,
        with `after`, once its instruction at that index is done, where that one pushes no
        token to `dst` yet and no later one of `src` does (the caller knows that none after it
        uses what the token frees)."""
        src, dst, flag = _check_edge(src, dst, "dep_push")
        self.commit_pending_pops(src)
        if after is not None:
            later = (insn for insn in self.instructions[after:] if module_of(insn) == src)
            if module_of(self.instructions[after]) == src and not any(
                    getattr(insn, flag) for insn in later):
                self._set_flag(after, flag)
                return
        if self.instructions:
            last = self.instructions[-1]
            if module_of(last) == src and not getattr(last, flag):
                self._set_flag(len(self.instructions) - 1, flag)
                return
        if src < dst:
            self.push_noop(src, push_next=True)
        else:
            self.push_noop(src, push_prev=True)

    def _set_flag(self, index: int, flag: str) -> None:
        """Set dependency flag `flag` of the instruction at `index` (its bit in the encoding)."""
        self.instructions[index] = self.instructions[index].replace(**{flag: True})
        word = int.from_bytes(self.encoded[index], "little") | DEP_FLAG_BITS[flag]
        self.encoded[index] = word.to_bytes(INSN_BYTES, "little")

    def commit_pending_pops(self, module: Module | int) -> None:
        """Turn pending pops of `module` into a NOP now (``CommitPendingPop``)."""
        if type(module) is not Module:
            module = Module(module)
        if self._pending_pop_prev[module] or self._pending_pop_next[module]:
            self.push_noop(module, pop_prev=self._pending_pop_prev[module],
                           pop_next=self._pending_pop_next[module])
            self._pending_pop_prev[module] = self._pending_pop_next[module] = False
