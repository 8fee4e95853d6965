"""Instructions and micro-ops as values, and their bit-exact encoding (isa-reference §3)."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from vta.isa.config import Config
from vta.isa.errors import DecodeError
from vta.isa.layout import Layout, layouts
from vta.isa.opcodes import AluOp, MemoryType, Module, Opcode, module_of

INSN_BYTES = 16
UOP_BYTES = 4


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(cls))


@functools.cache
def _fields_of(cls: type):
    """A function from an instruction's ``__dict__`` to `Instruction.fields` (written out once
    per class: the schedule search asks for every instruction it times)."""
    items = "".join(f", {name!r}: int(values[{name!r}])" for name in _field_names(cls))
    namespace: dict = {}
    exec(f"def fields(values):\n    return {{'opcode': {int(cls.opcode)}{items}}}\n", {},
         namespace)
    return namespace["fields"]


def _direct_init(cls: type) -> type:
    """A frozen dataclass whose __init__, with the same parameters, fills the instance's
    ``__dict__`` at once (the generated one calls ``object.__setattr__`` per field: 3.5 us per
    LOAD, and code generation builds one per instruction)."""
    fields = dataclasses.fields(cls)
    defaults = {f"default_{field.name}": field.default for field in fields}
    source = (f"def __init__(self, {', '.join(f'{f.name}=default_{f.name}' for f in fields)}):\n"
              f"    self.__dict__.update({{{', '.join(f'{f.name!r}: {f.name}' for f in fields)}}})\n")
    namespace: dict = {}
    exec(source, defaults, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init
    return cls


@_direct_init
@dataclass(frozen=True)
class Instruction:
    """Fields common to every instruction: the four dependency flags."""

    opcode: ClassVar[Opcode]
    pop_prev_dep: bool = False
    pop_next_dep: bool = False
    push_prev_dep: bool = False
    push_next_dep: bool = False

    def fields(self) -> dict[str, int]:
        """Field values by layout name, opcode included."""
        return _fields_of(type(self))(self.__dict__)

    @property
    def module(self) -> Module:
        """The module the fetch unit routes this instruction to."""
        return module_of(self.opcode, getattr(self, "memory_type", 0))

    def replace(self, **changes) -> Instruction:
        """A copy with `changes` (`dataclasses.replace`, without its cost: instructions have
        no __post_init__ to run again; an instruction's ``__dict__`` holds its fields)."""
        if not changes.keys() <= self.__dict__.keys():
            return dataclasses.replace(self, **changes)     # its error names the field
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.__dict__.update(changes)
        return clone


@_direct_init
@dataclass(frozen=True)
class MemoryInstruction(Instruction):
    """LOAD or STORE: a 2-D strided transfer between DRAM and an on-chip buffer."""

    memory_type: MemoryType = MemoryType.INP
    sram_base: int = 0
    dram_base: int = 0
    y_size: int = 0
    x_size: int = 0
    x_stride: int = 0
    y_pad_0: int = 0
    y_pad_1: int = 0
    x_pad_0: int = 0
    x_pad_1: int = 0


@_direct_init
@dataclass(frozen=True)
class Load(MemoryInstruction):
    opcode: ClassVar[Opcode] = Opcode.LOAD


@_direct_init
@dataclass(frozen=True)
class Store(MemoryInstruction):
    opcode: ClassVar[Opcode] = Opcode.STORE
    memory_type: MemoryType = MemoryType.OUT
    #: every STORE runs on the store module (a class attribute: asked once per instruction)
    module: ClassVar[Module] = Module.STORE


@_direct_init
@dataclass(frozen=True)
class LoopInstruction(Instruction):
    """GEMM or ALU: a micro-op range run inside two nested loops."""

    #: GEMM and ALU run on the compute module (a class attribute: asked once per instruction)
    module: ClassVar[Module] = Module.COMPUTE
    reset_reg: bool = False
    uop_bgn: int = 0
    uop_end: int = 0
    iter_out: int = 0
    iter_in: int = 0
    dst_factor_out: int = 0
    dst_factor_in: int = 0
    src_factor_out: int = 0
    src_factor_in: int = 0

    @property
    def executions(self) -> int:
        """Micro-op executions: iter_out · iter_in · (uop_end − uop_bgn)."""
        return self.iter_out * self.iter_in * max(self.uop_end - self.uop_bgn, 0)


@_direct_init
@dataclass(frozen=True)
class Gemm(LoopInstruction):
    opcode: ClassVar[Opcode] = Opcode.GEMM
    wgt_factor_out: int = 0
    wgt_factor_in: int = 0


@_direct_init
@dataclass(frozen=True)
class Alu(LoopInstruction):
    opcode: ClassVar[Opcode] = Opcode.ALU
    alu_opcode: AluOp = AluOp.MIN
    use_imm: bool = False
    imm: int = 0


@_direct_init
@dataclass(frozen=True)
class Finish(Instruction):
    opcode: ClassVar[Opcode] = Opcode.FINISH
    module: ClassVar[Module] = Module.COMPUTE


@_direct_init
@dataclass(frozen=True)
class Uop:
    """A micro-op: ACC destination, INP (GEMM) or ACC (ALU) source, WGT tile."""

    dst_idx: int = 0
    src_idx: int = 0
    wgt_idx: int = 0


INSTRUCTION_CLASSES: dict[Opcode, type[Instruction]] = {
    cls.opcode: cls for cls in (Load, Store, Gemm, Alu, Finish)
}
_ENUM_FIELDS = {"memory_type": MemoryType, "alu_opcode": AluOp}


def layout_of(insn: Instruction, config: Config) -> Layout:
    return _layouts(config).for_opcode(insn.opcode)


def _layouts(config: Config):
    """`layouts(config)`, the last config's kept by identity (configs hash slowly, and
    encoding asks once per instruction)."""
    global _last_layouts
    if _last_layouts is None or _last_layouts[0] is not config:
        _last_layouts = (config, layouts(config))
    return _last_layouts[1]


_last_layouts: tuple | None = None


def encode(insn: Instruction, config: Config, where: str = "") -> bytes:
    """The 16 little-endian bytes of `insn`; a value that does not fit raises FieldRangeError."""
    if _last_encoders[0] is not config:
        _last_encoders[:] = [config, {}]
    pack = _last_encoders[1].get(type(insn))
    if pack is None:
        cls = type(insn)
        pack = _last_encoders[1][cls] = layout_of(insn, config).packer(
            _field_names(cls), (("opcode", int(cls.opcode)),))
    return pack(insn.__dict__, where).to_bytes(INSN_BYTES, "little")


#: [config, {instruction class: its layout's `Layout.packer`}] of the last config encoded for
_last_encoders: list = [None, {}]


def decode(data: bytes, config: Config, where: str = "") -> Instruction:
    """The instruction held in 16 bytes. Bits outside any field are ignored, as in hardware."""
    if len(data) != INSN_BYTES:
        raise DecodeError(f"{where}an instruction is {INSN_BYTES} bytes, got {len(data)}")
    word = int.from_bytes(data, "little")
    opcode = word & 0b111
    if opcode not in INSTRUCTION_CLASSES:
        raise DecodeError(f"{where}invalid opcode {opcode}")
    values = layouts(config).for_opcode(Opcode(opcode)).unpack(word)
    del values["opcode"]
    for name, enum in _ENUM_FIELDS.items():
        if name in values:
            try:
                values[name] = enum(values[name])
            except ValueError:
                raise DecodeError(f"{where}invalid {name} {values[name]}") from None
    for name in ("pop_prev_dep", "pop_next_dep", "push_prev_dep", "push_next_dep",
                 "reset_reg", "use_imm"):
        if name in values:
            values[name] = bool(values[name])
    return INSTRUCTION_CLASSES[Opcode(opcode)](**values)


def encode_stream(insns: list[Instruction], config: Config) -> bytes:
    return b"".join(encode(insn, config, f"instruction {index}: ") for index, insn in enumerate(insns))


def decode_stream(data: bytes, config: Config) -> list[Instruction]:
    if len(data) % INSN_BYTES:
        raise DecodeError(f"an instruction stream is a multiple of {INSN_BYTES} bytes, got {len(data)}")
    return [decode(data[offset:offset + INSN_BYTES], config, f"instruction {offset // INSN_BYTES}: ")
            for offset in range(0, len(data), INSN_BYTES)]


def encode_uop(uop: Uop, config: Config, where: str = "") -> int:
    """The 32-bit word of a micro-op."""
    if _last_uop_packer[0] is not config:
        _last_uop_packer[:] = [config, _layouts(config).uop.packer(_UOP_FIELDS)]
    return _last_uop_packer[1](uop.__dict__, where)


_UOP_FIELDS = tuple(field.name for field in dataclasses.fields(Uop))
#: [config, the micro-op layout's `Layout.packer`] of the last config encoded for
_last_uop_packer: list = [None, None]


def decode_uop(word: int, config: Config) -> Uop:
    return Uop(**layouts(config).uop.unpack(int(word)))


def encode_uops(uops: list[Uop], config: Config) -> np.ndarray:
    return np.array([encode_uop(uop, config, f"micro-op {index}: ") for index, uop in enumerate(uops)],
                    dtype=np.uint32)
