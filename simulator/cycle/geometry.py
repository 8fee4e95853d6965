"""The sizes of a config the cycle model reads on every run, computed (and its bus checked)
once per config: `Config`'s properties compute them on each access, a few microseconds apiece."""

from __future__ import annotations

import functools
from typing import NamedTuple

from vta.isa import Config, MemoryType, layouts


class Geometry(NamedTuple):
    bus_bytes: int
    #: Bytes of one element (tile or micro-op) by memory type.
    elem_bytes: dict
    uop_depth: int
    acc_depth: int
    #: The micro-op's ``dst_idx`` and ``src_idx`` fields.
    uop_fields: tuple


@functools.lru_cache(maxsize=64)
def geometry(config: Config) -> Geometry:
    """Raises `ConfigError` for a config the core cannot be built for (`Config.check_bus`)."""
    config.check_bus()
    fields = {field.name: field for field in layouts(config).uop.fields}
    return Geometry(config.bus_bytes, {kind: config.elem_bytes(kind) for kind in MemoryType},
                    config.uop_depth, config.acc_depth, (fields["dst_idx"], fields["src_idx"]))
