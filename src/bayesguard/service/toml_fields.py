"""Reading and writing the fields of a guard's TOML config: every reader raises ValueError naming the
field as ``section.key`` and the expected form; :func:`toml_value` writes one value back as TOML."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

#: The default of a field that must be given.
REQUIRED = object()


def toml_value(value: Any) -> str:
    """One TOML value: a string, bool, int, finite float, list or inline table."""
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"config: cannot write the non-finite number {value!r}")
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"config: cannot write {type(value).__name__} {value!r} as TOML")


def toml_document(family: str, sections: Mapping[str, Mapping[str, Any]]) -> str:
    """``family = "..."`` followed by one ``[section]`` table per entry (empty sections are left out)."""
    lines = [f"family = {toml_value(family)}"]
    for name, body in sections.items():
        if body:
            lines += ["", f"[{name}]"] + [f"{k} = {toml_value(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"


def get(section: Mapping[str, Any], where: str, key: str, types: tuple[type, ...], default: Any) -> Any:
    """``section[key]`` checked to be one of ``types`` (a bool is never a number); ``default`` when
    absent (:data:`REQUIRED`: a missing field is an error)."""
    value = section.get(key, default)
    if value is REQUIRED:
        raise ValueError(f"{where}.{key}: required field missing")
    if value is None or value is default:
        return value
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        raise ValueError(f"{where}.{key}: expected {'/'.join(t.__name__ for t in types)}, got {value!r}")
    return value


def unit(section: Mapping[str, Any], where: str, key: str, default: float, open_left: bool) -> float:
    """A number in [0, 1] (or (0, 1] when ``open_left``)."""
    value = float(get(section, where, key, (int, float), default))
    if not (0.0 <= value <= 1.0) or (open_left and value == 0.0):
        bracket = "(0, 1]" if open_left else "[0, 1]"
        raise ValueError(f"{where}.{key}: expected a number in {bracket}, got {value!r}")
    return value


def count(
    section: Mapping[str, Any],
    where: str,
    key: str,
    default: Any,
    minimum: int = 1,
    maximum: int | None = None,
) -> int:
    """An integer in ``[minimum, maximum]``."""
    value = get(section, where, key, (int,), default)
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ValueError(f"{where}.{key}: expected an integer >= {minimum}{upper}, got {value!r}")
    return int(value)


def number(section: Mapping[str, Any], where: str, key: str, default: Any, positive: bool = False) -> float:
    """A finite number (strictly positive when ``positive``)."""
    value = float(get(section, where, key, (int, float), default))
    if not math.isfinite(value) or (positive and value <= 0):
        kind = "a positive finite number" if positive else "a finite number"
        raise ValueError(f"{where}.{key}: expected {kind}, got {value!r}")
    return value


def strings(value: Any, field: str, n: int | None = None, distinct: bool = False) -> tuple[str, ...]:
    """A list of strings (of length ``n`` when given; all different when ``distinct``)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{field}: expected a list of strings, got {value!r}")
    if n is not None and len(value) != n:
        raise ValueError(f"{field}: expected {n} names, got {len(value)}")
    if distinct and len(set(value)) != len(value):
        raise ValueError(f"{field}: the names must be distinct, got {value!r}")
    return tuple(value)


def sections(
    raw: Mapping[str, Any], family: str, allowed: Mapping[str, set[str]]
) -> dict[str, Mapping[str, Any]]:
    """The document's sections, each checked to hold only its ``allowed`` keys (absent ones are ``{}``);
    a top-level field other than ``family`` and these sections is an error naming it."""
    unknown = sorted(set(raw) - set(allowed) - {"family"})
    if unknown:
        raise ValueError(
            f"config: unknown field {unknown[0]!r} for family {family!r}; "
            f"expected family and {sorted(allowed)}"
        )
    out: dict[str, Mapping[str, Any]] = {}
    for name, keys in allowed.items():
        body = raw.get(name, {})
        if not isinstance(body, Mapping):
            raise ValueError(f"{name}: expected a [{name}] table, got {body!r}")
        extra = sorted(set(body) - keys)
        if extra:
            raise ValueError(f"{name}.{extra[0]}: unknown field; expected one of {sorted(keys)}")
        out[name] = body
    return out


def rule(section: Mapping[str, Any]) -> tuple[float, float, float]:
    """``[rule]``: ``threshold`` (C) in [0, 1], ``alpha`` in (0, 1] and ``delta`` in (0, 1)."""
    threshold = unit(section, "rule", "threshold", 0.05, False)
    alpha = unit(section, "rule", "alpha", 0.01, True)
    delta = unit(section, "rule", "delta", 0.05, True)
    if delta >= 1.0:
        raise ValueError(f"rule.delta: expected a number in (0, 1), got {delta!r}")
    return threshold, alpha, delta
