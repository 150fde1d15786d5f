"""Native values as the service's JSON (:mod:`.codecs` gives the forms), for :class:`~.client.Client`.

The client has no guard, so it converts what it can without one: NumPy arrays become lists and NumPy
scalars numbers, mappings and sequences are converted item by item, and the data records
:class:`~bayesguard.theories.finite.FiniteData` and :class:`~bayesguard.theories.bandit.BanditData`
become their JSON objects. What needs the guard's variables (a causal context given as an array in the
context-variable order, :class:`~bayesguard.theories.causal.observations.CausalData`) is converted with
the description the service gives at ``GET /v1/guard`` (``describe``, fetched only then).
Non-finite numbers are refused here, naming the field, since the service accepts finite numbers only.

And back: a response's verdict as a :class:`~bayesguard.guard.verdict.Verdict`
(:func:`verdict_from_json`) and where it was recorded (:class:`CheckRecord`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..guard.verdict import Verdict
from ..theories.bandit import BanditData
from ..theories.causal.observations import CausalData
from ..theories.finite import FiniteData

Describe = Callable[[], Mapping[str, Any]]
_VERDICT_FIELDS = {f.name for f in fields(Verdict)}


def plain(value: Any, field: str) -> Any:
    """``value`` as JSON-ready Python (lists, dicts, str, int, float, bool, None).

    Raises:
        ValueError: a number is NaN or infinite (the message starts with its path, e.g. ``context[1][2]``).
        TypeError: a value has no JSON form.
    """
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{field}: expected a finite number, got {value!r}")
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, f"{field}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"{field}: {type(value).__name__} has no JSON form")


def action_json(action: Any) -> int | str:
    """An action index (``int`` or NumPy integer) or an action name, as JSON."""
    if isinstance(action, np.integer):
        action = int(action)
    if isinstance(action, bool) or not isinstance(action, int | str):
        raise TypeError(f"action: expected an action index or name, got {type(action).__name__}")
    return action


def context_json(context: Any, describe: Describe) -> Any:
    """A context as JSON: a causal context as ``{variable: value}`` (an array in the order of the
    service's ``context_variables`` is mapped to it); a bandit's ``(n_actions, n_features)`` arm
    features as lists; None as null."""
    if isinstance(context, np.ndarray | list | tuple) and np.ndim(context) == 1:
        info = describe()
        if info.get("family") == "causal":
            names = list(info.get("context_variables") or ())
            if len(context) != len(names):
                raise ValueError(f"context: expected {len(names)} values in the order {names}")
            context = dict(zip(names, context, strict=True))
    return plain(context, "context")


def data_json(data: Any, describe: Describe) -> Any:
    """An observation as JSON: ``FiniteData`` -> ``{actions, outcomes}``, ``BanditData`` ->
    ``{features, rewards}``, ``CausalData`` -> ``{rows}`` (category codes as labels), a pandas
    DataFrame -> ``{columns}``; a mapping is converted as it is."""
    if isinstance(data, FiniteData):
        return {"actions": data.actions.tolist(), "outcomes": data.outcomes.tolist()}
    if isinstance(data, BanditData):
        return {
            "features": plain(data.features, "data.features"),
            "rewards": plain(data.rewards, "data.rewards"),
        }
    if isinstance(data, CausalData):
        return _causal_rows(data, describe())
    if hasattr(data, "columns") and hasattr(data, "to_numpy"):  # a pandas DataFrame
        return {"columns": {str(c): plain(data[c].to_numpy(), f"data.columns.{c}") for c in data.columns}}
    return plain(data, "data")


def _causal_rows(data: CausalData, info: Mapping[str, Any]) -> dict[str, Any]:
    variables = info.get("variables")
    if info.get("family") != "causal" or not isinstance(variables, Mapping):
        raise TypeError(f"data: CausalData given, but the service's guard is {info.get('family')!r}")
    names = list(variables)
    values = np.asarray(data.values)
    if values.ndim != 2 or values.shape[1] != len(names):
        raise ValueError(f"data: expected rows of {len(names)} values in the order {names}")
    rows = []
    for i, row in enumerate(values.tolist()):
        out = {}
        for v, x in zip(names, row, strict=True):
            labels = variables[v]
            if isinstance(labels, list):  # a discrete variable: the code's label
                if not (float(x).is_integer() and 0 <= x < len(labels)):
                    raise ValueError(f"data.rows[{i}].{v}: expected a category code below {len(labels)}")
                out[v] = labels[int(x)]
            else:
                out[v] = plain(float(x), f"data.rows[{i}].{v}")
        rows.append(out)
    result: dict[str, Any] = {"rows": rows}
    if data.intervened.any():
        result["intervened"] = [[names[j] for j in np.flatnonzero(r)] for r in data.intervened]
    return result


@dataclass(frozen=True)
class CheckRecord:
    """Where a check's verdict was recorded: ``id`` (the request id), the audit ``seq``, the
    ``posterior_version`` it was made under, ``record_hash``, ``bundle_sha256`` and ``created``.
    Everything but ``id`` is None when the check failed closed without reaching a record."""

    id: str
    seq: int | None = None
    posterior_version: str | None = None
    record_hash: str | None = None
    bundle_sha256: str | None = None
    created: Any = None

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> CheckRecord:
        return cls(
            str(body["id"]),
            body.get("seq"),
            body.get("posterior_version"),
            body.get("record_hash"),
            body.get("bundle_sha256"),
            body.get("created"),
        )


def verdict_from_json(data: Any) -> Verdict:
    """A :class:`Verdict` from the service's JSON (fields it does not know are ignored).

    Raises:
        ValueError: ``data`` is not a verdict object.
    """
    if not isinstance(data, dict) or "decision" not in data:
        raise ValueError(f"verdict: expected a verdict object, got {str(data)[:120]!r}")
    known = {k: v for k, v in data.items() if k in _VERDICT_FIELDS}
    known.setdefault("action", None)
    for key in ("harm_estimate", "posterior_harm", "threshold"):
        known.setdefault(key, None)
    known["threshold"] = math.nan if known["threshold"] is None else float(known["threshold"])
    known.setdefault("rule", "unknown")
    return Verdict.from_dict(known)
