"""The VTA configuration: the original keys, our extensions, presets, everything derived."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from vta.isa.errors import ConfigError
from vta.isa.machine import Machine
from vta.isa.opcodes import MemoryType
from vta.isa.schema import parse_json, show

#: Keys that change the instruction set (and so the binary compatibility of programs).
ISA_KEYS = (
    "LOG_INP_WIDTH", "LOG_WGT_WIDTH", "LOG_ACC_WIDTH", "LOG_BATCH", "LOG_BLOCK_IN",
    "LOG_BLOCK_OUT", "LOG_UOP_BUFF_SIZE", "LOG_INP_BUFF_SIZE", "LOG_WGT_BUFF_SIZE",
    "LOG_ACC_BUFF_SIZE",
)

#: Allowed ranges of the numeric keys: (lowest, highest, why). Inputs and weights are int2, int4
#: or int8, packed into bytes as docs/isa-reference.md §2 says; accumulators are int32; the bus
#: moves a 128-bit instruction as whole words (so at most 128 bits, `Config.check_bus`); clock
#: and latencies are those an FPGA design can have (docs/isa.md, "Configuration").
KEY_RANGES = {
    "LOG_INP_WIDTH": (1, 3, "int2, int4 or int8 inputs"),
    "LOG_WGT_WIDTH": (1, 3, "int2, int4 or int8 weights"),
    "LOG_ACC_WIDTH": (5, 5, "int32 accumulators"),
    "LOG_BATCH": (0, 4, "batch 1 to 16"),
    "LOG_BLOCK": (1, 6, "block 2 to 64"),
    "LOG_BLOCK_IN": (1, 6, "input block 2 to 64"),
    "LOG_BLOCK_OUT": (1, 6, "output block 2 to 64"),
    "LOG_BUS_WIDTH": (5, 7, "a 32-, 64- or 128-bit DRAM bus"),
    "CLOCK_MHZ": (0.001, 1000.0, "MHz"),
    "MEM_READ_LATENCY": (1, 4096, "cycles"),
    "MEM_WRITE_LATENCY": (1, 4096, "cycles"),
}

#: Bit widths fixed by the original ISA, independent of the configuration.
INSN_BITS = 128
UOP_BITS = 32
LOOP_ITER_BITS = 14


@dataclass(frozen=True)
class Config:
    """One VTA configuration (docs/contracts.md §1).

    Field names are the configuration keys; derived quantities are lower-case properties.
    """

    LOG_INP_WIDTH: int = 3
    LOG_WGT_WIDTH: int = 3
    LOG_ACC_WIDTH: int = 5
    LOG_BATCH: int = 0
    LOG_BLOCK_IN: int = 4
    LOG_BLOCK_OUT: int = 4
    LOG_UOP_BUFF_SIZE: int = 15
    LOG_INP_BUFF_SIZE: int = 15
    LOG_WGT_BUFF_SIZE: int = 18
    LOG_ACC_BUFF_SIZE: int = 17
    TARGET: str = "pynq"
    HW_VER: str = "0.0.2"
    LOG_BUS_WIDTH: int = 6
    CLOCK_MHZ: float = 100.0
    ALU_MUL: bool = True
    MEM_READ_LATENCY: int = 32
    MEM_WRITE_LATENCY: int = 16
    MACHINE: Machine = Machine()
    #: The original single key (TVM's vta_config.json): sets both LOG_BLOCK_IN and LOG_BLOCK_OUT.
    LOG_BLOCK: dataclasses.InitVar[int | None] = None

    def __post_init__(self, LOG_BLOCK):  # noqa: N803 (the key's name)
        if LOG_BLOCK is not None:
            low, high, why = KEY_RANGES["LOG_BLOCK"]
            if isinstance(LOG_BLOCK, bool) or not isinstance(LOG_BLOCK, int):
                raise ConfigError(f"config key LOG_BLOCK = {show(LOG_BLOCK)} is not of type int")
            if not low <= LOG_BLOCK <= high:
                raise ConfigError(f"config key LOG_BLOCK = {LOG_BLOCK} is outside {low}..{high} "
                                  f"({why})")
            object.__setattr__(self, "LOG_BLOCK_IN", LOG_BLOCK)
            object.__setattr__(self, "LOG_BLOCK_OUT", LOG_BLOCK)
        object.__setattr__(self, "MACHINE", Machine.from_overrides(self.MACHINE))
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "MACHINE":
                continue
            expected = {"str": str, "float": (int, float), "bool": bool}.get(field.type, int)
            if expected is int and isinstance(value, bool) or not isinstance(value, expected):
                raise ConfigError(f"config key {field.name} = {show(value)} is not of type "
                                  f"{field.type}")
            if field.name in KEY_RANGES:
                low, high, why = KEY_RANGES[field.name]
                if not low <= value <= high:   # NaN fails both comparisons
                    raise ConfigError(f"config key {field.name} = {show(value)} is outside "
                                      f"{low:g}..{high:g} ({why})")
            if expected is str and not (value.isprintable() and len(value) <= 64):
                raise ConfigError(f"config key {field.name} = {show(value)} is not a printable "
                                  f"name of at most 64 characters")
        for name, log_depth in (("LOG_UOP_BUFF_SIZE", self.log_uop_depth),
                                ("LOG_INP_BUFF_SIZE", self.log_inp_depth),
                                ("LOG_WGT_BUFF_SIZE", self.log_wgt_depth),
                                ("LOG_ACC_BUFF_SIZE", self.log_acc_depth)):
            if not 1 <= log_depth <= 16:
                raise ConfigError(f"config key {name} = {show(getattr(self, name))} gives a buffer "
                                  f"depth of 2^{log_depth} elements, outside 2^1..2^16")
        uop_bits = self.log_acc_depth + max(self.log_acc_depth, self.log_inp_depth) + self.log_wgt_depth
        if uop_bits > UOP_BITS:
            raise ConfigError(f"micro-op fields need {uop_bits} bits, more than {UOP_BITS}")
        for kind in (MemoryType.INP, MemoryType.WGT, MemoryType.OUT):
            bits = self.elem_bits(kind)
            if bits % 8:
                raise ConfigError(f"config {self.config_string}: {kind.name} tiles of {bits} bits are "
                                  f"not a whole number of bytes, the unit of DRAM addresses")
        from vta.isa.layout import layouts
        layouts.__wrapped__(self)       # instruction fields within 128 bits (not cached: cheap)

    def check_bus(self) -> None:
        """Raise ConfigError unless the core can be built with this bus: it moves instructions
        (128 bits) and every tile as whole bus words. The hardware and the cycle model refuse
        such configs with this one message; the functional simulator does not need a bus."""
        for what, bits in (("instructions", INSN_BITS),
                           *((f"{kind.name} tiles", self.elem_bits(kind)) for kind in
                             (MemoryType.INP, MemoryType.WGT, MemoryType.ACC, MemoryType.OUT))):
            if bits % self.bus_bits:
                raise ConfigError(f"config key LOG_BUS_WIDTH = {self.LOG_BUS_WIDTH}: {what} of "
                                  f"{bits} bits are not a whole number of {self.bus_bits}-bit "
                                  f"bus words, as the core moves them")

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str = "pynq") -> Config:
        """The named preset of docs/contracts.md §1."""
        try:
            return PRESETS[name]
        except KeyError:
            raise ConfigError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})") from None

    def replace(self, **keys) -> Config:
        """This config with some keys changed; unknown keys are an error."""
        unknown = sorted(set(keys) - {f.name for f in dataclasses.fields(self)} - {"LOG_BLOCK"})
        if unknown:
            raise ConfigError(f"unknown config key {unknown[0]}")
        both = sorted({"LOG_BLOCK_IN", "LOG_BLOCK_OUT"} & set(keys))
        if "LOG_BLOCK" in keys and both:
            raise ConfigError(f"config keys LOG_BLOCK and {both[0]} both given (LOG_BLOCK sets "
                              f"LOG_BLOCK_IN and LOG_BLOCK_OUT)")
        return dataclasses.replace(self, **keys)

    @classmethod
    def from_file(cls, path: str | Path, base: Config | None = None) -> Config:
        """Read a JSON config file: pyvta's keys, or a TVM ``vta_config.json`` as it is
        (`vta.isa.tvm_config`). Keys it does not give come from the preset its ``TARGET``
        names, else from `base` (default `pynq`)."""
        from vta.isa.tvm_config import from_tvm_keys

        try:
            text = Path(path).read_bytes()
        except OSError as error:
            raise ConfigError(f"{path}: cannot read config file: {error.strerror}") from None
        keys = parse_json(text, str(path), ConfigError)
        if not isinstance(keys, dict):
            raise ConfigError(f"{path}: a config file holds one JSON object")
        target = keys.get("TARGET")
        base = PRESETS[target] if isinstance(target, str) and target in PRESETS \
            else base or cls.preset()
        try:
            return base.replace(**from_tvm_keys(keys, base.to_dict()))
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None

    def to_dict(self) -> dict:
        """Every key, JSON-ready; ``MACHINE`` holds only the parameters that differ from the
        defaults."""
        keys = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return keys | {"MACHINE": self.MACHINE.overrides()}

    @property
    def machine(self) -> Machine:
        """The microarchitecture parameters (`vta.isa.machine.Machine`)."""
        return self.MACHINE

    # -- element sizes ----------------------------------------------------------------------
    @property
    def batch(self) -> int:
        return 1 << self.LOG_BATCH

    @property
    def block_in(self) -> int:
        """Input channels of a GEMM tile (the reduction)."""
        return 1 << self.LOG_BLOCK_IN

    @property
    def block_out(self) -> int:
        """Output channels of a GEMM tile."""
        return 1 << self.LOG_BLOCK_OUT

    @property
    def inp_width(self) -> int:
        return 1 << self.LOG_INP_WIDTH

    @property
    def wgt_width(self) -> int:
        return 1 << self.LOG_WGT_WIDTH

    @property
    def acc_width(self) -> int:
        return 1 << self.LOG_ACC_WIDTH

    out_width = inp_width

    @property
    def inp_elem_bits(self) -> int:
        return self.batch * self.block_in * self.inp_width

    @property
    def wgt_elem_bits(self) -> int:
        return self.block_out * self.block_in * self.wgt_width

    @property
    def acc_elem_bits(self) -> int:
        return self.batch * self.block_out * self.acc_width

    @property
    def out_elem_bits(self) -> int:
        return self.batch * self.block_out * self.out_width

    def elem_bits(self, memory_type: MemoryType) -> int:
        """Bits of one element (tile or micro-op) of a memory type."""
        return {
            MemoryType.UOP: UOP_BITS,
            MemoryType.INP: self.inp_elem_bits,
            MemoryType.WGT: self.wgt_elem_bits,
            MemoryType.ACC: self.acc_elem_bits,
            MemoryType.OUT: self.out_elem_bits,
            MemoryType.ACC_8BIT: self.batch * self.block_out * 8,
        }[MemoryType(memory_type)]

    def elem_bytes(self, memory_type: MemoryType) -> int:
        """Bytes of one element (tile or micro-op) of a memory type, the unit of DRAM addresses."""
        return self.elem_bits(memory_type) // 8

    def element_width(self, memory_type: MemoryType) -> int:
        """Bits of one value in a tile of `memory_type` (INP, WGT, ACC or OUT)."""
        return {MemoryType.INP: self.inp_width, MemoryType.WGT: self.wgt_width,
                MemoryType.ACC: self.acc_width, MemoryType.OUT: self.out_width,
                }[MemoryType(memory_type)]

    # -- buffer depths ----------------------------------------------------------------------
    @property
    def log_uop_depth(self) -> int:
        return self.LOG_UOP_BUFF_SIZE - 5 + 3

    @property
    def log_inp_depth(self) -> int:
        return self.LOG_INP_BUFF_SIZE - self.LOG_BATCH - self.LOG_BLOCK_IN - self.LOG_INP_WIDTH + 3

    @property
    def log_wgt_depth(self) -> int:
        return (self.LOG_WGT_BUFF_SIZE - self.LOG_BLOCK_IN - self.LOG_BLOCK_OUT
                - self.LOG_WGT_WIDTH + 3)

    @property
    def log_acc_depth(self) -> int:
        return self.LOG_ACC_BUFF_SIZE - self.LOG_BATCH - self.LOG_BLOCK_OUT - self.LOG_ACC_WIDTH + 3

    log_out_depth = log_acc_depth

    def depth(self, memory_type: MemoryType) -> int:
        """On-chip buffer depth in elements; OUT has the depth of ACC."""
        return 1 << {
            MemoryType.UOP: self.log_uop_depth,
            MemoryType.INP: self.log_inp_depth,
            MemoryType.WGT: self.log_wgt_depth,
            MemoryType.ACC: self.log_acc_depth,
            MemoryType.OUT: self.log_out_depth,
            MemoryType.ACC_8BIT: self.log_acc_depth,
        }[MemoryType(memory_type)]

    @property
    def uop_depth(self) -> int:
        return self.depth(MemoryType.UOP)

    @property
    def inp_depth(self) -> int:
        return self.depth(MemoryType.INP)

    @property
    def wgt_depth(self) -> int:
        return self.depth(MemoryType.WGT)

    @property
    def acc_depth(self) -> int:
        return self.depth(MemoryType.ACC)

    out_depth = acc_depth

    # -- memory system and names ----------------------------------------------------------
    @property
    def bus_bits(self) -> int:
        return 1 << self.LOG_BUS_WIDTH

    @property
    def bus_bytes(self) -> int:
        return self.bus_bits // 8

    @property
    def config_string(self) -> str:
        """The original bitstream name, e.g. ``1x16_i8w8a32_15_15_18_17``; a tile of
        BLOCK_IN ≠ BLOCK_OUT is written ``{BATCH}x{BLOCK_IN}x{BLOCK_OUT}``."""
        block = (f"{self.block_in}" if self.block_in == self.block_out
                 else f"{self.block_in}x{self.block_out}")
        return (f"{self.batch}x{block}_i{self.inp_width}w{self.wgt_width}a{self.acc_width}"
                f"_{self.LOG_UOP_BUFF_SIZE}_{self.LOG_INP_BUFF_SIZE}"
                f"_{self.LOG_WGT_BUFF_SIZE}_{self.LOG_ACC_BUFF_SIZE}")

    @property
    def model_string(self) -> str:
        return f"{self.TARGET}_{self.config_string}"

    @cached_property
    def isa_fingerprint(self) -> str:
        """Hash over what decides binary compatibility: the ISA keys and ALU_MUL. A program or
        `.vtab` runs on every config with the same one, whatever its machine description. A square
        tile hashes as the original single LOG_BLOCK key, so such fingerprints predate the split."""
        keys = {key: getattr(self, key) for key in ISA_KEYS} | {"ALU_MUL": self.ALU_MUL}
        return _digest(_with_single_block(keys))

    @cached_property
    def fingerprint(self) -> str:
        """Hash over the whole config, machine description included: equal fingerprints mean
        the same hardware, timing and memory model."""
        return _digest(_with_single_block(self.to_dict()))

    def derived(self) -> dict:
        """Every derived parameter by name, as `vta config` prints them."""
        return {
            "config_string": self.config_string,
            "model_string": self.model_string,
            "fingerprint": self.fingerprint,
            "isa_fingerprint": self.isa_fingerprint,
            "batch": self.batch, "block_in": self.block_in, "block_out": self.block_out,
            "inp_width": self.inp_width, "wgt_width": self.wgt_width,
            "acc_width": self.acc_width, "out_width": self.out_width,
            "inp_elem_bytes": self.elem_bytes(MemoryType.INP),
            "wgt_elem_bytes": self.elem_bytes(MemoryType.WGT),
            "acc_elem_bytes": self.elem_bytes(MemoryType.ACC),
            "out_elem_bytes": self.elem_bytes(MemoryType.OUT),
            "uop_elem_bytes": self.elem_bytes(MemoryType.UOP),
            "uop_depth": self.uop_depth, "inp_depth": self.inp_depth,
            "wgt_depth": self.wgt_depth, "acc_depth": self.acc_depth, "out_depth": self.out_depth,
            "log_uop_depth": self.log_uop_depth, "log_inp_depth": self.log_inp_depth,
            "log_wgt_depth": self.log_wgt_depth, "log_acc_depth": self.log_acc_depth,
            "bus_bits": self.bus_bits,
            "macs_per_cycle": self.batch * self.block_in * self.block_out,
        }


def _with_single_block(keys: dict) -> dict:
    """`keys` with equal LOG_BLOCK_IN and LOG_BLOCK_OUT written as LOG_BLOCK."""
    if keys["LOG_BLOCK_IN"] != keys["LOG_BLOCK_OUT"]:
        return keys
    rest = {key: value for key, value in keys.items() if key not in ("LOG_BLOCK_IN", "LOG_BLOCK_OUT")}
    return rest | {"LOG_BLOCK": keys["LOG_BLOCK_IN"]}


def _digest(keys: dict) -> str:
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]


def _preset(**keys) -> Config:
    return Config(**keys)


PRESETS: dict[str, Config] = {
    "pynq": _preset(TARGET="pynq"),
    "ultra96": _preset(TARGET="ultra96", LOG_BUS_WIDTH=7, CLOCK_MHZ=333.0,
                       MEM_READ_LATENCY=64, MEM_WRITE_LATENCY=32),
    "zcu104": _preset(TARGET="zcu104", HW_VER="0.0.1", LOG_BUS_WIDTH=7, CLOCK_MHZ=333.0,
                      MEM_READ_LATENCY=64, MEM_WRITE_LATENCY=32),
    "de10nano": _preset(TARGET="de10nano"),
}
