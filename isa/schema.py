"""Reading and validating the JSON inside pyvta's files (a program image's ``case.json``, a
config file, a ``.vtab`` header) before anything uses it.

One engine for every format: `parse_json` reads the text with limits (no NaN or Infinity, no
number of more than `MAX_DIGITS` digits, no nesting deeper than `MAX_DEPTH`), and `validate`
checks a document against a declarative JSON Schema (Draft 2020-12, `jsonschema`) in which
``"integer"`` means a JSON integer (``12.0`` and ``true`` are not). Every failure is one line
naming the file and the field, e.g. ``case.json: insn_count: 12.7 is not an integer``, raised
as the caller's `VtaError` subclass. Each format declares its schema next to its reader and
calls `validate` once, before it reads a single field.
"""

from __future__ import annotations

import json
import math
from functools import cache

from vta.isa.errors import VtaError

#: Deepest nesting of arrays and objects a document may have.
MAX_DEPTH = 32
#: Longest integer literal (the largest meaningful field is a 64-bit byte count).
MAX_DIGITS = 40
#: Longest value text a message quotes.
MAX_SHOWN = 60


def _is_integer(checker, instance) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _is_number(checker, instance) -> bool:
    return isinstance(instance, (int, float)) and not isinstance(instance, bool)


@cache
def _validator_class():
    """Draft 2020-12 with JSON's integers (imported on first use: reading a config needs no
    schema, and `vta --help` should not pay for jsonschema)."""
    from jsonschema import Draft202012Validator, validators

    return validators.extend(Draft202012Validator,
                             type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many(
                                 {"integer": _is_integer, "number": _is_number}))


def show(value) -> str:
    """A value for a message: its JSON text, cut to `MAX_SHOWN` characters."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 3] + "..."


def _parse_int(text: str) -> int:
    digits = text.lstrip("-")
    if len(digits) > MAX_DIGITS:
        raise ValueError(f"an integer of {len(digits)} digits (at most {MAX_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _depth(value, limit: int) -> int:
    """Nesting depth of a parsed document, stopping past `limit`."""
    depth, level = 0, [value]
    while level and depth <= limit:
        children = []
        for item in level:
            if isinstance(item, dict):
                children += item.values()
            elif isinstance(item, list):
                children += item
        level, depth = children, depth + (1 if children else 0)
    return depth


def parse_json(text: str | bytes, where: str, error: type[VtaError] = VtaError):
    """The document in `text`; `error` (one line, prefixed with `where`) if it is not JSON,
    holds NaN/Infinity, an over-long integer, or nests deeper than `MAX_DEPTH`."""
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError:
            raise error(f"{where}: not a JSON text file") from None
    try:
        document = json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                              parse_constant=_refuse_constant)
    except json.JSONDecodeError as problem:
        raise error(f"{where}: invalid JSON at line {problem.lineno}: {problem.msg}") from None
    except RecursionError:
        raise error(f"{where}: JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as problem:
        raise error(f"{where}: invalid JSON: {problem}") from None
    if _depth(document, MAX_DEPTH) > MAX_DEPTH:
        raise error(f"{where}: JSON nested deeper than {MAX_DEPTH} levels")
    return document


def field_path(path) -> str:
    """``sections[3].nbytes`` for the path ``("sections", 3, "nbytes")``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(problem) -> str:
    """The one-line reason for a schema violation, quoting at most `MAX_SHOWN` characters."""
    value, rule, limit = problem.instance, problem.validator, problem.validator_value
    if rule == "type":
        kinds = limit if isinstance(limit, list) else [limit]
        article = "an" if kinds[0][0] in "aeiou" else "a"
        return f"{show(value)} is not {article} {' or '.join(kinds)}"
    if rule in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        relation = {"minimum": "below the minimum", "maximum": "above the maximum",
                    "exclusiveMinimum": "not above", "exclusiveMaximum": "not below"}[rule]
        return f"{show(value)} is {relation} {limit}"
    if rule == "required":
        missing = [key for key in limit if key not in value]
        return f"missing key {missing[0]!r}"
    if rule == "additionalProperties":
        allowed = set(problem.schema.get("properties", {}))
        extra = sorted(key for key in value if key not in allowed)
        return f"unexpected key {show(extra[0]) if extra else '?'}"
    if rule == "enum":
        return f"{show(value)} is not one of {', '.join(show(v) for v in limit)}"
    if rule == "const":
        return f"{show(value)} is not {show(limit)}"
    if rule in ("minItems", "maxItems"):
        return f"has {len(value)} items, {'at least' if rule == 'minItems' else 'at most'} {limit} expected"
    if rule in ("minLength", "maxLength"):
        return f"text of {len(value)} characters, {'at least' if rule == 'minLength' else 'at most'} {limit} expected"
    if rule == "maxProperties":
        return f"has {len(value)} entries, at most {limit} expected"
    if rule == "multipleOf":
        return f"{show(value)} is not a multiple of {limit}"
    if rule == "pattern":
        return f"{show(value)} does not match {limit}"
    if rule in ("oneOf", "anyOf"):
        return f"{show(value)} matches none of the allowed forms"
    return " ".join(problem.message.split())[:2 * MAX_SHOWN]


def validate(document, schema: dict, where: str, error: type[VtaError] = VtaError) -> None:
    """Check `document` against `schema`; the first violation (the deepest, most specific one,
    `jsonschema.exceptions.best_match`) as one line ``WHERE: FIELD: REASON`` in `error`."""
    from jsonschema.exceptions import best_match

    validator = _validators.get(id(schema))
    if validator is None or validator.schema is not schema:
        _validator_class().check_schema(schema)
        validator = _validators[id(schema)] = _validator_class()(schema)
    problem = best_match(validator.iter_errors(document))
    if problem is not None:
        field = field_path(problem.absolute_path)
        raise error(f"{where}: {field + ': ' if field else ''}{_describe(problem)}")


_validators: dict[int, object] = {}


def integer(minimum: int = 0, maximum: int = 2**64 - 1) -> dict:
    """Schema of an integer in [minimum, maximum]."""
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


def number(minimum: float | None = None, maximum: float | None = None, *,
           exclusive_minimum: float | None = None) -> dict:
    """Schema of a (finite) number within the given bounds."""
    schema = {"type": "number"}
    for key, bound in (("minimum", minimum), ("maximum", maximum),
                       ("exclusiveMinimum", exclusive_minimum)):
        if bound is not None:
            schema[key] = bound
    return schema


def array(items: dict, min_items: int = 0, max_items: int | None = None) -> dict:
    """Schema of a list whose every item matches `items`."""
    schema = {"type": "array", "items": items, "minItems": min_items}
    if max_items is not None:
        schema["maxItems"] = max_items
    return schema


def record(required: dict, optional: dict | None = None, *, extra: bool = False) -> dict:
    """Schema of an object with the `required` and `optional` keys (key -> schema); other keys
    are refused unless `extra`."""
    return {"type": "object", "properties": required | (optional or {}),
            "required": list(required), "additionalProperties": extra}


def text(max_length: int = 4096) -> dict:
    return {"type": "string", "maxLength": max_length}


def one_of(*values) -> dict:
    return {"enum": list(values)}
