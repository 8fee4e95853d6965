"""TVM's ``vta_config.json`` files, read as they are (docs/isa.md, "TVM configuration files").

A TVM config file holds the ISA keys pyvta shares with it, ``TARGET`` and ``HW_VER``; older
files and the dumps of TVM's ``pkg_config`` (``vta_config.py --cfg-json``) also hold keys it
derived or later dropped. Each of those is translated or checked here, so that every file TVM
read loads unchanged, and nothing is dropped silently that would change the hardware.
"""

from __future__ import annotations

from vta.isa.errors import ConfigError
from vta.isa.schema import show

#: Keys TVM derived from others (``pkg_config`` wrote them back): each must equal its rule.
#: LOG_BLOCK_IN and LOG_BLOCK_OUT are derived only in a file that gives LOG_BLOCK; without it
#: they are pyvta's own keys (a tile with BLOCK_IN ≠ BLOCK_OUT, as TVM 0.5's generator allowed).
DERIVED_KEYS = {
    "LOG_BLOCK_IN": ("LOG_BLOCK", lambda keys: keys["LOG_BLOCK"]),
    "LOG_BLOCK_OUT": ("LOG_BLOCK", lambda keys: keys["LOG_BLOCK"]),
    "LOG_OUT_WIDTH": ("LOG_INP_WIDTH", lambda keys: keys["LOG_INP_WIDTH"]),
    "LOG_OUT_BUFF_SIZE": ("LOG_ACC_BUFF_SIZE + LOG_OUT_WIDTH - LOG_ACC_WIDTH",
                          lambda keys: keys["LOG_ACC_BUFF_SIZE"] + keys["LOG_INP_WIDTH"]
                          - keys["LOG_ACC_WIDTH"]),
}

#: Keys that described TVM's HLS build or its Chisel core's pipeline: accepted and not used,
#: because pyvta's own core and timing model decide these (docs/isa.md says why, key by key).
INFORMATIONAL_KEYS = ("HW_CLK_TARGET", "ACC_DEP_DISTANCE")

#: TVM's name of a pyvta key.
RENAMED_KEYS = {"HW_FREQ": "CLOCK_MHZ"}


def from_tvm_keys(keys: dict, base_keys: dict) -> dict:
    """`keys` (one config file's object) with TVM's keys translated into pyvta's; `base_keys`
    are the keys of the config the file's missing keys come from. Raises ConfigError naming a
    key whose value disagrees with what pyvta can build."""
    keys = dict(keys)
    for name in INFORMATIONAL_KEYS:
        keys.pop(name, None)
    for old, new in RENAMED_KEYS.items():
        if old in keys:
            value = keys.pop(old)
            if new in keys and keys[new] != value:
                raise ConfigError(f"config keys {old} = {show(value)} and {new} = "
                                  f"{show(keys[new])} disagree")
            keys[new] = value
    blocks = [name for name in ("LOG_BLOCK_IN", "LOG_BLOCK_OUT") if name in keys]
    if "LOG_BLOCK" not in keys and len(blocks) == 1:    # one of the two: the tile is square
        keys["LOG_BLOCK"] = keys[blocks[0]]
    merged = {**base_keys, **keys}
    for name, (rule, derive) in DERIVED_KEYS.items():
        if name in keys and (name not in blocks or "LOG_BLOCK" in keys):
            value = keys.pop(name)
            try:
                expected = derive(merged)
            except TypeError:       # a key of the rule has the wrong type: Config says which
                continue
            if value != expected:
                raise ConfigError(f"config key {name} = {show(value)} must equal {rule} = "
                                  f"{show(expected)}: TVM's pkg_config derives it so")
    return keys
