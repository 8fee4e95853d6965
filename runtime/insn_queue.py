"""The instruction queue of a command stream, with the original runtime's dependency folding
(isa-reference §7, ``InsnQueue``): a pending pop is absorbed by the next instruction of its module,
a push is set on the last instruction when it belongs to the pushing module, and a NOP
(``x_size = 0`` LOAD or STORE) carries the token otherwise."""

from __future__ import annotations

import dataclasses

from vta.isa import (INSN_BYTES, Config, FieldRangeError, Instruction, Load, MemoryType, Module,
                     Opcode, Store, VtaError, decode, encode, layouts)
from vta.isa.layout import DEP_FLAG_BITS, OPCODE_BITS
from vta.isa.opcodes import module_of as opcode_module


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
    """An ordered list of instructions plus the pending pops of each module. The queue keeps
    each instruction's bytes (`encoded`) and module; the instruction objects
    (`instructions`) are decoded from the bytes when asked for, where the queue made or
    changed them (a transfer, flags folded in), so that building a stream makes no object per
    instruction."""

    def __init__(self, config: Config):
        self.config = config
        self._layouts = layouts(config)
        self.encoded: list[bytes] = []  # the 16 bytes of each instruction
        #: each instruction's module for folding a push (`module_of`)
        self._modules: list[Module | None] = []
        #: each instruction object, None until decoded where the queue made or changed it
        self._objects: list[Instruction | None] = []
        self._undecoded: list[int] = []
        #: by instruction object: it, its bytes and module (a stream appends its kernels'
        #: instructions again and again; the object is kept so that its id is not reused)
        self._encodings: dict[int, tuple[Instruction, int, Module | None, Module]] = {}
        #: by module and flags: a NOP and its bytes
        self._noops: dict[tuple, tuple[Instruction, bytes]] = {}
        self._pending_pop_prev = {module: False for module in Module}
        self._pending_pop_next = {module: False for module in Module}

    def __len__(self) -> int:
        return len(self.encoded)

    @property
    def instructions(self) -> list[Instruction]:
        """The instructions, decoded from their bytes where the queue made or changed them."""
        objects = self._objects
        for index in self._undecoded:
            objects[index] = decode(self.encoded[index], self.config)
        self._undecoded.clear()
        return objects

    # -- creation -----------------------------------------------------------------------------
    def _pops(self, module: Module) -> int:
        """The bits of the pending pops of `module`, which the next instruction takes."""
        pop_prev, pop_next = self._pending_pop_prev[module], self._pending_pop_next[module]
        if not (pop_prev or pop_next):
            return 0
        self._pending_pop_prev[module] = self._pending_pop_next[module] = False
        return _POP_PREV * pop_prev | _POP_NEXT * pop_next

    def append(self, insn: Instruction) -> int:
        """Append `insn` with the pending pops of its module folded in; its index.
        Every field is checked against its width here (FieldRangeError naming it); an
        instruction object appended again is encoded once."""
        index = len(self.encoded)
        known = self._encodings.get(id(insn))
        if known is None:
            known = self._encodings[id(insn)] = (
                insn, int.from_bytes(self._encode(insn, index), "little"), module_of(insn),
                insn.module)
        _, word, module, fetched_by = known
        pops = self._pops(fetched_by)
        if pops and word | pops != word:
            self._undecoded.append(index)
            insn = None
        self.encoded.append((word | pops).to_bytes(INSN_BYTES, "little"))
        self._modules.append(module)
        self._objects.append(insn)
        return index

    def append_kernel(self, kernel, uop_bgn: int) -> int:
        """Append the GEMM or ALU instruction running micro-kernel `kernel` (`UopKernel`)
        from uop SRAM index `uop_bgn`, with the compute module's pending pops folded in; its
        index. Its encoding is kept by the kernel."""
        index = len(self.encoded)
        known = kernel.encodings.get(uop_bgn)
        if known is None:
            insn = kernel.instruction(uop_bgn)
            known = kernel.encodings[uop_bgn] = (
                insn, int.from_bytes(self._encode(insn, index), "little"))
        insn, word = known
        pops = self._pops(Module.COMPUTE)
        if pops and word | pops != word:
            self._undecoded.append(index)
            insn = None
        self.encoded.append((word | pops).to_bytes(INSN_BYTES, "little"))
        self._modules.append(Module.COMPUTE)
        self._objects.append(insn)
        return index

    def append_new(self, cls: type[Instruction], **fields) -> int:
        """Append a new ``cls(**fields)`` with the pending pops of its module among its flags;
        its index. For an instruction made for one use (a transfer): packed from `fields`
        (none of its flags), the object decoded only when asked for."""
        index = len(self.encoded)
        pack = _transfer_packer(cls, tuple(fields), self.config)
        try:
            word = pack(fields)
        except FieldRangeError as error:
            raise FieldRangeError(f"instruction {index} ({describe(cls(**fields))}): "
                                  f"{error}") from None
        if cls is Store:
            module = Module.STORE
        else:
            module = opcode_module(cls.opcode, fields.get("memory_type", MemoryType.INP))
        word |= self._pops(module)
        self.encoded.append(word.to_bytes(INSN_BYTES, "little"))
        self._modules.append(None if cls is Load and not fields.get("x_size") else module)
        self._objects.append(None)
        self._undecoded.append(index)
        return index

    def replace(self, index: int, **fields) -> None:
        """Change fields of an instruction already in the queue (checked again)."""
        insn = self._objects[index] or decode(self.encoded[index], self.config)
        insn = insn.replace(**fields)
        self.encoded[index] = self._encode(insn, index)
        self._objects[index] = insn
        self._modules[index] = module_of(insn)

    def set_field(self, index: int, name: str, value: int) -> None:
        """Set field `name` of the instruction at `index` to `value` in its bytes (checked
        against the field's width)."""
        word = int.from_bytes(self.encoded[index], "little")
        field = self._layouts.for_opcode(Opcode(word & OPCODE_MASK))[name]
        try:
            field.check(value)
        except FieldRangeError as error:
            insn = self._objects[index] or decode(self.encoded[index], self.config)
            raise FieldRangeError(f"instruction {index} ({describe(insn)}): {error}") from None
        mask = ((1 << field.width) - 1) << field.lsb
        word = word & ~mask | (value << field.lsb) & mask
        self.encoded[index] = word.to_bytes(INSN_BYTES, "little")
        if self._objects[index] is not None:
            self._objects[index] = None
            self._undecoded.append(index)

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
                noop, self.config, f"instruction {len(self.encoded)} (NOP): ")
        self.encoded.append(known[1])
        self._modules.append(module_of(known[0]))
        self._objects.append(known[0])

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
        bit, modules, encoded = DEP_FLAG_BITS[flag], self._modules, self.encoded
        if after is not None and modules[after] == src and not any(
                modules[index] == src and int.from_bytes(encoded[index], "little") & bit
                for index in range(after, len(encoded))):
            self._set_flag(after, bit)
            return
        if encoded and modules[-1] == src and not int.from_bytes(encoded[-1], "little") & bit:
            self._set_flag(len(encoded) - 1, bit)
            return
        if src < dst:
            self.push_noop(src, push_next=True)
        else:
            self.push_noop(src, push_prev=True)

    def _set_flag(self, index: int, bit: int) -> None:
        """Set the dependency flag `bit` of the instruction at `index` (in its encoding)."""
        word = int.from_bytes(self.encoded[index], "little") | bit
        self.encoded[index] = word.to_bytes(INSN_BYTES, "little")
        if self._objects[index] is not None:
            self._objects[index] = None
            self._undecoded.append(index)

    def commit_pending_pops(self, module: Module | int) -> None:
        """Turn pending pops of `module` into a NOP now (``CommitPendingPop``)."""
        if type(module) is not Module:
            module = Module(module)
        if self._pending_pop_prev[module] or self._pending_pop_next[module]:
            self.push_noop(module, pop_prev=self._pending_pop_prev[module],
                           pop_next=self._pending_pop_next[module])
            self._pending_pop_prev[module] = self._pending_pop_next[module] = False


_POP_PREV, _POP_NEXT = DEP_FLAG_BITS["pop_prev_dep"], DEP_FLAG_BITS["pop_next_dep"]
#: the opcode's bits, the lowest of every instruction
OPCODE_MASK = (1 << OPCODE_BITS) - 1


def _transfer_packer(cls: type[Instruction], names: tuple[str, ...], config: Config):
    """A function from the fields `names` of a new `cls` (the others at their defaults) to its
    word (`Layout.packer`; kept per class and names for the last config)."""
    if _transfer_packers[0] is not config:
        _transfer_packers[:] = [config, {}]
    key = (cls, names)
    pack = _transfer_packers[1].get(key)
    if pack is None:
        constants = (("opcode", int(cls.opcode)),) + tuple(
            (field.name, int(field.default)) for field in dataclasses.fields(cls)
            if field.name not in names and field.default)
        pack = _transfer_packers[1][key] = layouts(config).for_opcode(cls.opcode).packer(
            names, constants)
    return pack


#: [config, {(instruction class, field names): packer}] of the last config
_transfer_packers: list = [None, {}]
