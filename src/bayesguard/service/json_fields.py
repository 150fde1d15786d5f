"""Readers of untrusted JSON values for :mod:`.codecs`: each checks one field and raises ValueError whose
message starts with the field's JSON path (``context.ambient``, ``data.rewards[2]``), never anything else
but ValueError/TypeError, and never echoes a large value back (:func:`show`)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

#: The most rows (observations) one data value may hold.
MAX_ROWS = 10_000
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def show(value: Any) -> str:
    """A short description of ``value`` for an error message (containers by size, long strings cut)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37]) + "..."
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(value) if abs(value) < 10**18 else "a very large integer"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    if isinstance(value, Mapping):
        return f"an object with {len(value)} fields"
    return f"a {type(value).__name__}"


def key_path(parent: str, key: str) -> str:
    """``parent.key`` for an identifier-like key, ``parent["key"]`` otherwise."""
    if isinstance(key, str) and _IDENT.match(key):
        return f"{parent}.{key}"
    text = key if isinstance(key, str) else str(type(key).__name__)
    return f"{parent}[{json.dumps(text[:40] + ('...' if len(text) > 40 else ''))}]"


def number(value: Any, path: str) -> float:
    """A finite JSON number (a bool is not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{path}: expected a finite number, got {show(value)}")
    try:
        x = float(value)
    except OverflowError:
        raise ValueError(f"{path}: expected a finite number, got {show(value)}") from None
    if not math.isfinite(x):
        raise ValueError(f"{path}: expected a finite number, got {show(value)}")
    return x


def array(value: Any, path: str, n: int | None = None, low: int = 1, high: int = MAX_ROWS) -> Sequence[Any]:
    """A JSON list of ``n`` items (or of ``low`` to ``high`` items when ``n`` is None)."""
    if not isinstance(value, list | tuple):
        raise ValueError(f"{path}: expected a list, got {show(value)}")
    if n is not None and len(value) != n:
        raise ValueError(f"{path}: expected a list of {n} items, got {len(value)}")
    if n is None and not low <= len(value) <= high:
        what = "no more than" if len(value) > high else "at least"
        raise ValueError(
            f"{path}: expected {what} {high if len(value) > high else low} items, got {len(value)}"
        )
    return value


def obj(
    value: Any, path: str, required: Sequence[str], optional: Sequence[str] = (), what: str = "field"
) -> Mapping[str, Any]:
    """A JSON object holding every ``required`` key, perhaps ``optional`` keys, and nothing else."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{path}: expected an object with {list(required)}, got {show(value)}")
    allowed = set(required) | set(optional)
    for key in value:
        if not isinstance(key, str) or key not in allowed:
            raise ValueError(f"{key_path(path, key)}: unknown {what}; expected {sorted(allowed)}")
    for key in required:
        if key not in value:
            raise ValueError(f"{key_path(path, key)}: missing; expected {list(required)}")
    return value


def label(value: Any, labels: Sequence[Any], path: str) -> Any:
    """One of ``labels`` (the categories of a discrete variable), matched by type and value: a JSON
    number matches a numeric label, a string a string label; returns the label itself."""
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    for lab in labels:
        same_kind = type(lab) is type(value) or (
            numeric and isinstance(lab, int | float) and not isinstance(lab, bool)
        )
        if same_kind and lab == value:
            return lab
    return _unknown(value, labels, path, "a category")


def _unknown(value: Any, names: Sequence[Any], path: str, what: str) -> Any:
    shown = list(names) if len(names) <= 20 else [*list(names)[:20], "..."]
    raise ValueError(f"{path}: expected {what} of {shown}, got {show(value)}")


def index(value: Any, names: Sequence[str], n: int, path: str, what: str) -> int:
    """An index in ``[0, n)`` given as itself (an integer, not a bool) or as one of ``names`` (``what``
    names the kind of thing: ``"action"``)."""
    a = "an" if what[:1] in ("a", "e", "i", "o", "u") else "a"
    if isinstance(value, str):
        if value in names:
            return list(names).index(value)
        return _unknown(value, names, path, f"{a} {what} name")
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < n:
            return int(value)
        raise ValueError(f"{path}: expected {a} {what} index in [0, {n - 1}], got {show(value)}")
    raise ValueError(
        f"{path}: expected {a} {what} index in [0, {n - 1}] or {a} {what} name, got {show(value)}"
    )
