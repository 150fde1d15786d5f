"""Checks applied where data enters the public API.

Every failure raises :class:`ValueError` (or :class:`TypeError`) whose message names the field and the
expected form, so that silent broadcasting never turns a shape mistake into a wrong answer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def as_float_array(value: object, field: str, ndim: int | None = None) -> np.ndarray:
    """Return ``value`` as a finite float64 array, optionally of a given number of dimensions."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{field}: expected an array of numbers, got {type(value).__name__}") from exc
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{field}: expected a {ndim}-d array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{field}: contains NaN or infinite values")
    return arr


def probabilities(value: object, field: str, ndim: int | None = None) -> np.ndarray:
    """Return ``value`` as a float64 array whose entries all lie in [0, 1]."""
    arr = as_float_array(value, field, ndim)
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        bad = arr[(arr < 0.0) | (arr > 1.0)].ravel()[0]
        raise ValueError(f"{field}: probabilities must lie in [0, 1], found {bad!r}")
    return arr


def unit_interval(value: object, field: str, *, open_left: bool = False) -> float:
    """Return ``value`` as a float in [0, 1] (or (0, 1] when ``open_left``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"{field}: expected a number in [0, 1], got {type(value).__name__}")
    x = float(value)
    low_ok = x > 0.0 if open_left else x >= 0.0
    if not (math.isfinite(x) and low_ok and x <= 1.0):
        interval = "(0, 1]" if open_left else "[0, 1]"
        raise ValueError(f"{field}: expected a number in {interval}, got {value!r}")
    return x


def positive_int(value: object, field: str, minimum: int = 1) -> int:
    """Return ``value`` as an int that is at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{field}: expected an integer >= {minimum}, got {type(value).__name__}")
    if int(value) < minimum:
        raise ValueError(f"{field}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def action_index(value: object, n_actions: int, field: str = "action") -> int:
    """Return ``value`` as an action index in ``range(n_actions)``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(
            f"{field}: expected an integer action index in [0, {n_actions - 1}], got {type(value).__name__}"
        )
    if not 0 <= int(value) < n_actions:
        raise ValueError(f"{field}: expected an action index in [0, {n_actions - 1}], got {value!r}")
    return int(value)


def parse_option(cls: Any, value: object, field: str, what: str) -> Any:
    """``cls(value)`` for a str Enum ``cls``, or a ValueError naming ``field`` and the valid names."""
    try:
        return cls(value)
    except ValueError:
        names = ", ".join(m.value for m in cls)
        raise ValueError(f"{field}: unknown {what} {value!r}; expected one of: {names}") from None
