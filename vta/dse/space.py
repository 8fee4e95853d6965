"""Design spaces: a TOML or JSON file naming config keys and their values, the constraints a
point must meet and how to search (docs/dse.md, "Space files").

A bad file is one `SpaceError` line naming the file and the key: an unknown key, a value list
or range that is empty, a constraint nothing in the space can meet.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from vta.fpga.boards import BOARDS
from vta.fpga.resource_model import board_estimate
from vta.isa import Config, ConfigError, VtaError
from vta.isa.machine import Machine
from vta.isa.schema import parse_json

#: Keys of a space that set several config keys to one value: LOG_BLOCK (the original single
#: key) sets LOG_BLOCK_IN and LOG_BLOCK_OUT, LOG_WIDTH the input and weight widths.
ALIASES = {"LOG_WIDTH": ("LOG_INP_WIDTH", "LOG_WGT_WIDTH")}
#: Config keys a space may vary (TARGET and HW_VER name a build, MACHINE is spelled per field).
CONFIG_KEYS = tuple(f.name for f in dataclasses.fields(Config)
                    if f.name not in ("TARGET", "HW_VER", "MACHINE")) + ("LOG_BLOCK",
                                                                        *ALIASES)
MACHINE_KEYS = tuple(f"MACHINE.{f.name}" for f in dataclasses.fields(Machine))
SECTIONS = {"base", "parameters", "constraints", "search"}
CONSTRAINTS = {"fits", "meets_clock"}
#: The search keys and the least value of each numeric one (NSGA-II breeds from two parents).
SEARCH_MINIMA = {"trials": 1, "population": 2, "seed": 0, "exhaustive_limit": 1}
#: ... and the greatest (optuna seeds numpy's 32-bit generator).
SEARCH_MAXIMA = {"seed": 2**32 - 1}
SEARCH_KEYS = {"method", *SEARCH_MINIMA}
METHODS = ("auto", "exhaustive", "nsga2")
#: A space with more points than this is searched, not enumerated (method "auto").
EXHAUSTIVE_LIMIT = 256
#: Spaces are enumerated to check them; past this many points they are refused.
MAX_POINTS = 2_000_000


class SpaceError(VtaError):
    """A space file that cannot be explored."""


@dataclass(frozen=True)
class Search:
    method: str = "auto"
    trials: int = 1000
    population: int = 50
    seed: int = 0
    exhaustive_limit: int = EXHAUSTIVE_LIMIT


@dataclass
class Space:
    """Parameters (key -> values, in file order), the base config, constraints and search."""

    where: str
    base: Config
    parameters: dict[str, list]
    fits: tuple[str, ...] = ()
    meets_clock: bool = False
    search: Search = Search()

    @property
    def size(self) -> int:
        return math.prod(len(values) for values in self.parameters.values())

    @property
    def boards(self) -> tuple[str, ...]:
        """Boards every point is reported on: the constrained ones, else every board."""
        return self.fits or tuple(BOARDS)

    @property
    def method(self) -> str:
        if self.search.method != "auto":
            return self.search.method
        return "exhaustive" if self.size <= self.search.exhaustive_limit else "nsga2"

    def config(self, point: dict) -> Config:
        """The config of a point ({key: value}); ConfigError if it cannot be built."""
        keys = {}
        for key, value in point.items():
            if not key.startswith("MACHINE."):
                keys.update(dict.fromkeys(ALIASES.get(key, (key,)), value))
        machine = {key.split(".", 1)[1]: value for key, value in point.items()
                   if key.startswith("MACHINE.")}
        if machine:
            keys["MACHINE"] = self.base.machine.overrides() | machine
        config = self.base.replace(**keys)
        config.check_bus()
        return config

    def points(self):
        """Every point of the space, in order."""
        names = list(self.parameters)
        for values in itertools.product(*self.parameters.values()):
            yield dict(zip(names, values))

    def admit(self, config: Config) -> str | None:
        """Why `config` breaks a constraint (None when it meets them all)."""
        for name in self.fits:
            estimate = board_estimate(config, BOARDS[name])
            if estimate["port"]:
                return estimate["port"]
            if not estimate["fits"]:
                return f"does not fit {name} ({', '.join(estimate['overflows'])})"
            if self.meets_clock and not estimate["meets_clock"]:
                return f"CLOCK_MHZ {config.CLOCK_MHZ:g} above the fmax estimate on {name}"
        return None

    def valid_points(self) -> tuple[list[tuple[dict, Config]], dict[str, int]]:
        """The points that build and meet the constraints, with their configs; and how many
        were rejected for each reason."""
        kept, rejected = [], {}
        for point in self.points():
            try:
                config = self.config(point)
            except ConfigError as error:
                reason = str(error)
            else:
                reason = self.admit(config)
                if reason is None:
                    kept.append((point, config))
                    continue
            rejected[reason] = rejected.get(reason, 0) + 1
        return kept, rejected

    def check_feasible(self) -> list[tuple[dict, Config]]:
        """The valid points; a SpaceError naming the constraint (or the keys) if there are
        none."""
        kept, rejected = self.valid_points()
        if kept:
            return kept
        reason = max(rejected, key=rejected.get)
        key = "constraints.fits" if self.fits and reason.startswith(("does not fit", "board ")) \
            else "constraints.meets_clock" if reason.startswith("CLOCK_MHZ") else "parameters"
        raise SpaceError(f"{self.where}: {key}: no point of the space meets it "
                         f"({rejected[reason]} of {self.size}: {reason})")


def load(path: str | Path) -> Space:
    """Read and check a space file (``.toml``, else JSON)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SpaceError(f"{path}: cannot read space file: {error.strerror}") from None
    if path.suffix == ".toml":
        try:
            document = tomllib.loads(raw.decode())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise SpaceError(f"{path}: not a TOML file: {error}") from None
    else:
        document = parse_json(raw, str(path), SpaceError)
    return parse(document, str(path))


def parse(document, where: str) -> Space:
    """A Space from a parsed space file; SpaceError naming the first bad key."""
    if not isinstance(document, dict):
        raise SpaceError(f"{where}: a space file holds one table (object)")
    _known(document, SECTIONS, where, "")
    base = _base(document.get("base", "pynq"), where)
    parameters = _section(document, "parameters", where)
    if not parameters:
        raise SpaceError(f"{where}: parameters: no parameter to vary")
    _known(parameters, set(CONFIG_KEYS) | set(MACHINE_KEYS), where, "parameters.")
    for alias, names in ALIASES.items():
        both = [name for name in names if alias in parameters and name in parameters]
        if both:
            raise SpaceError(f"{where}: parameters.{alias}: sets {both[0]}, which is given too")
    values = {key: _values(spec, f"{where}: parameters.{key}") for key, spec in parameters.items()}
    for key, choices in values.items():
        for value in choices:
            _check_value(base, key, value, f"{where}: parameters.{key}")
    constraints = _section(document, "constraints", where)
    _known(constraints, CONSTRAINTS, where, "constraints.")
    fits = constraints.get("fits", [])
    fits = [fits] if isinstance(fits, str) else fits
    if not isinstance(fits, list) or not all(isinstance(name, str) for name in fits):
        raise SpaceError(f"{where}: constraints.fits: a board name or a list of them")
    for name in fits:
        if name not in BOARDS:
            raise SpaceError(f"{where}: constraints.fits: unknown board {name!r} "
                             f"(known: {', '.join(BOARDS)})")
    meets_clock = constraints.get("meets_clock", False)
    if not isinstance(meets_clock, bool):
        raise SpaceError(f"{where}: constraints.meets_clock: true or false")
    search = _search(_section(document, "search", where), where)
    space = Space(where, base, values, tuple(fits), meets_clock, search)
    if space.size > MAX_POINTS:
        raise SpaceError(f"{where}: parameters: {space.size:,} points, more than "
                         f"{MAX_POINTS:,}")
    return space


def _known(table: dict, allowed: set, where: str, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise SpaceError(f"{where}: {prefix}{key}: unknown key (known: "
                             f"{', '.join(sorted(allowed))})")


def _section(document: dict, name: str, where: str) -> dict:
    section = document.get(name, {})
    if not isinstance(section, dict):
        raise SpaceError(f"{where}: {name}: must be a table (object)")
    return section


def _base(name, where: str) -> Config:
    if not isinstance(name, str):
        raise SpaceError(f"{where}: base: a preset name")
    try:
        return Config.preset(name)
    except ConfigError as error:
        raise SpaceError(f"{where}: base: {error}") from None


def _values(spec, where: str) -> list:
    """A list of values, or an inclusive integer range {from, to[, step]}."""
    if isinstance(spec, dict):
        _known(spec, {"from", "to", "step"}, where, ".")
        bounds = [spec.get(name) for name in ("from", "to")]
        step = spec.get("step", 1)
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in (*bounds, step)) \
                or step < 1:
            raise SpaceError(f"{where}: a range needs integer from, to and a positive step")
        count = (bounds[1] - bounds[0]) // step + 1
        if count > MAX_POINTS:
            raise SpaceError(f"{where}: a range of {count:,} values, more than the {MAX_POINTS:,} "
                             "points a space may have")
        values = list(range(bounds[0], bounds[1] + 1, step))
    else:
        values = spec if isinstance(spec, list) else [spec]
        if any(value is None or isinstance(value, (list, dict)) for value in values):
            raise SpaceError(f"{where}: a value, a list of values or a range {{from, to}}; "
                             "a list holds numbers, true/false or names")
        values = list(dict.fromkeys(values))
    if not values:
        raise SpaceError(f"{where}: empty range")
    return values


def _check_value(base: Config, key: str, value, where: str) -> None:
    """Refuse a value of the wrong type or outside the key's range (checked on the base
    config; combinations are checked point by point)."""
    if key.startswith("MACHINE."):
        field = key.split(".", 1)[1]
        try:
            Machine.from_overrides({field: value})
        except ConfigError as error:
            raise SpaceError(f"{where}: {error}") from None
        return
    try:
        base.replace(**dict.fromkeys(ALIASES.get(key, (key,)), value))
    except ConfigError as error:
        if any(f"config key {name} " in str(error) for name in ALIASES.get(key, (key,))):
            raise SpaceError(f"{where}: {error}") from None


def _search(section: dict, where: str) -> Search:
    _known(section, SEARCH_KEYS, where, "search.")
    method = section.get("method", "auto")
    if method not in METHODS:
        raise SpaceError(f"{where}: search.method: {method!r} is not one of "
                         f"{', '.join(METHODS)}")
    numbers = {}
    for key, least in SEARCH_MINIMA.items():
        if key in section:
            value = section[key]
            most = SEARCH_MAXIMA.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < least or (
                    most is not None and value > most):
                raise SpaceError(f"{where}: search.{key}: an integer of at least {least}"
                                 + ("" if most is None else f" and at most {most}"))
            numbers[key] = value
    return Search(method, **numbers)
