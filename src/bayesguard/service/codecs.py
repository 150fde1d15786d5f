"""JSON forms of a guard's contexts, actions and data, for each family (what the HTTP service reads and
writes in its audit records).

=========  =========================================  =================================================
family     context                                    data (what ``observe`` takes)
=========  =========================================  =================================================
finite     ``null`` (or ``{}``): no context            ``{"actions": [...], "outcomes": [...]}``: names
                                                      or indices, one pair per observation
bandit     the arms' features: ``n_actions`` lists of  ``{"features": [[...], ...], "rewards": [...]}``:
           ``n_features`` numbers                     the pulled arms' features and their rewards
causal     ``{variable: value}`` for exactly the       ``{"rows": [{variable: value, ...}, ...]}`` (every
           spec's context variables                   variable in each row) or ``{"columns": {variable:
                                                      [...]}}``; optional ``"intervened"``: per row the
                                                      variables set by ``do()``
=========  =========================================  =================================================

Continuous values are finite numbers; a discrete variable's values are its category labels (as in the
CSV: ``"wet"``, or a number when the column held numbers). An action is an index in
``[0, n_actions)`` or an action name (:func:`action_names`). Data hold 1 to :data:`MAX_ROWS` rows.

The decoders raise ValueError (or TypeError) and nothing else on any JSON value, with a message starting
at the field's JSON path: ``"context.ambient: expected a finite number, got 'x'"``,
``"data.rewards[2]: ..."``. The encoders are their inverses (``decode(encode(x))`` equals ``x``) and give
JSON-ready values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..theories.bandit import BanditData, LinearBanditFamily
from ..theories.causal.graph_family import CausalFamily
from ..theories.causal.observations import CausalData
from ..theories.finite import FiniteData, FiniteFamily
from . import json_fields as jf
from .json_fields import MAX_ROWS

__all__ = [
    "MAX_ROWS",
    "action_names",
    "decode_action",
    "decode_context",
    "decode_data",
    "describe_io",
    "encode_context",
    "encode_data",
    "family_kind",
    "outcome_names",
]


def family_kind(guard: Any) -> str:
    """``"causal"``, ``"bandit"`` or ``"finite"``: the kind of ``guard.family``."""
    family = getattr(guard, "family", None)
    if isinstance(family, CausalFamily):
        return "causal"
    if isinstance(family, LinearBanditFamily):
        return "bandit"
    if isinstance(family, FiniteFamily):
        return "finite"
    raise TypeError(f"guard: no JSON codec for the family {type(family).__name__}")


def action_names(guard: Any) -> list[str]:
    """The ``n_actions`` action names: the causal spec's, the finite table's (``"action k"`` when it
    names none), ``"arm k"`` for a bandit."""
    kind, family = family_kind(guard), guard.family
    if kind == "causal":
        return list(family.spec.action_names)
    if kind == "finite" and family.action_names:
        return [str(n) for n in family.action_names]
    word = "arm" if kind == "bandit" else "action"
    return [f"{word} {k}" for k in range(family.n_actions)]


def outcome_names(guard: Any) -> list[str]:
    """A finite guard's ``n_outcomes`` outcome names (``"outcome k"`` when its table names none)."""
    if family_kind(guard) != "finite":
        raise TypeError("guard: only a finite family has named outcomes")
    family = guard.family
    n = family.outcome_probs.shape[2]
    return (
        [str(x) for x in family.outcome_names] if family.outcome_names else [f"outcome {k}" for k in range(n)]
    )


def decode_action(guard: Any, value: Any) -> int:
    """An action index from its index (an integer in range) or its name."""
    return jf.index(value, action_names(guard), guard.n_actions, "action", "action")


# ---------------------------------------------------------------------------- contexts
def decode_context(guard: Any, value: Any) -> Any:
    """The context ``guard.check`` takes: None (finite), an array ``(n_actions, n_features)`` (bandit),
    ``{variable: number or label}`` in the spec's context order (causal)."""
    kind, family = family_kind(guard), guard.family
    if kind == "finite":
        if value is None or (isinstance(value, Mapping) and not value):
            return None
        raise ValueError(f"context: the finite family takes no context: send null, got {jf.show(value)}")
    if kind == "bandit":
        rows = jf.array(value, "context", family.n_actions)
        out = np.empty((family.n_actions, family.n_features))
        for a, row in enumerate(rows):
            cells = jf.array(row, f"context[{a}]", family.n_features)
            out[a] = [jf.number(x, f"context[{a}][{j}]") for j, x in enumerate(cells)]
        return out
    spec = family.spec
    if value is None and not spec.context:
        return {}
    fields = jf.obj(value, "context", spec.context, what="context variable")
    return {c: _cell(spec, c, fields[c], jf.key_path("context", c)) for c in spec.context}


def _cell(spec: Any, var: str, value: Any, path: str) -> Any:
    """A continuous variable's number, or a discrete variable's label."""
    if spec.categories is None:
        return jf.number(value, path)
    return jf.label(value, spec.categories[spec.index(var)], path)


def _encode_cell(spec: Any, var: str, value: Any, field: str, code: bool = False) -> Any:
    """A native value as JSON: a float, or a discrete variable's label. With ``code`` the value is a
    category code (data); otherwise a label stays a label and an integer code becomes its label, as
    ``HarmSpec.context_values`` reads a context."""
    if isinstance(value, np.generic):
        value = value.item()
    if spec.categories is None:
        return jf.number(value, field)
    labels = spec.categories[spec.index(var)]
    if not code:
        try:
            return jf.label(value, labels, field)
        except ValueError:
            pass
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and float(value).is_integer() and 0 <= value < len(labels):
        return labels[int(value)]
    return jf.label(value, labels, field)  # raises, naming the labels


def encode_context(guard: Any, context: Any) -> Any:
    """The JSON form of a native context (see :func:`decode_context`)."""
    kind, family = family_kind(guard), guard.family
    if kind == "finite":
        if context is None or (isinstance(context, Mapping) and not context):
            return None
        raise ValueError(f"context: the finite family takes no context, got {jf.show(context)}")
    if kind == "bandit":
        arr = np.asarray(context, dtype=np.float64)
        if arr.shape != (family.n_actions, family.n_features) or not np.all(np.isfinite(arr)):
            raise ValueError(
                f"context: expected finite arm features ({family.n_actions}, {family.n_features}), "
                f"got shape {arr.shape}"
            )
        return arr.tolist()
    spec = family.spec
    if context is None:
        context = {}
    if not isinstance(context, Mapping):
        arr = np.asarray(context, dtype=np.float64)
        if arr.shape != (len(spec.context),):
            raise ValueError(
                f"context: expected {len(spec.context)} values in the order {list(spec.context)}"
            )
        context = dict(zip(spec.context, arr.tolist(), strict=True))
    jf.obj(context, "context", spec.context, what="context variable")
    return {c: _encode_cell(spec, c, context[c], jf.key_path("context", c)) for c in spec.context}


# ---------------------------------------------------------------------------- data
def decode_data(guard: Any, value: Any) -> Any:
    """The data record ``guard.observe`` takes: :class:`FiniteData`, :class:`BanditData` or
    :class:`CausalData` (values ``(N, d)`` in the spec's variable order, discrete cells as codes)."""
    kind, family = family_kind(guard), guard.family
    if kind == "finite":
        fields = jf.obj(value, "data", ("actions", "outcomes"))
        acts = jf.array(fields["actions"], "data.actions")
        outs = jf.array(fields["outcomes"], "data.outcomes", len(acts))
        a_names, o_names = action_names(guard), outcome_names(guard)
        n_out = family.outcome_probs.shape[2]
        a = [
            jf.index(x, a_names, family.n_actions, f"data.actions[{i}]", "action") for i, x in enumerate(acts)
        ]
        o = [jf.index(x, o_names, n_out, f"data.outcomes[{i}]", "outcome") for i, x in enumerate(outs)]
        return FiniteData(np.array(a, dtype=np.int64), np.array(o, dtype=np.int64))
    if kind == "bandit":
        fields = jf.obj(value, "data", ("features", "rewards"))
        feats = jf.array(fields["features"], "data.features")
        rewards = jf.array(fields["rewards"], "data.rewards", len(feats))
        x = np.empty((len(feats), family.n_features))
        for i, row in enumerate(feats):
            cells = jf.array(row, f"data.features[{i}]", family.n_features)
            x[i] = [jf.number(v, f"data.features[{i}][{j}]") for j, v in enumerate(cells)]
        r = np.array([jf.number(v, f"data.rewards[{i}]") for i, v in enumerate(rewards)])
        return BanditData(x, r)
    return _decode_causal_data(family.spec, value)


def _decode_causal_data(spec: Any, value: Any) -> CausalData:
    if isinstance(value, Mapping) and "columns" in value:
        fields = jf.obj(value, "data", ("columns",), ("intervened",))
        cols = jf.obj(fields["columns"], "data.columns", spec.names, what="variable")
        n = len(jf.array(cols[spec.names[0]], jf.key_path("data.columns", spec.names[0])))
        lists = {v: jf.array(cols[v], jf.key_path("data.columns", v), n) for v in spec.names}
        cells = [
            [(v, lists[v][i], f"{jf.key_path('data.columns', v)}[{i}]") for v in spec.names] for i in range(n)
        ]
    else:
        fields = jf.obj(value, "data", ("rows",), ("intervened",))
        rows = jf.array(fields["rows"], "data.rows")
        n = len(rows)
        cells = []
        for i, row in enumerate(rows):
            r = jf.obj(row, f"data.rows[{i}]", spec.names, what="variable")
            cells.append([(v, r[v], jf.key_path(f"data.rows[{i}]", v)) for v in spec.names])
    values = np.empty((n, spec.d))
    for i, row_cells in enumerate(cells):
        for j, (var, cell, path) in enumerate(row_cells):
            got = _cell(spec, var, cell, path)
            if spec.categories is not None:  # the label's code (label() returns the label object itself)
                got = next(k for k, lab in enumerate(spec.categories[j]) if lab is got)
            values[i, j] = got
    intervened = np.zeros((n, spec.d), dtype=bool)
    if "intervened" in fields:
        marks = jf.array(fields["intervened"], "data.intervened", n)
        for i, names in enumerate(marks):
            for k, var in enumerate(jf.array(names, f"data.intervened[{i}]", low=0, high=spec.d)):
                path = f"data.intervened[{i}][{k}]"
                if not isinstance(var, str):
                    raise ValueError(f"{path}: expected a variable name, got {jf.show(var)}")
                j = jf.index(var, spec.names, spec.d, path, "variable")
                if intervened[i, j]:
                    raise ValueError(f"{path}: {var!r} is listed twice")
                intervened[i, j] = True
    return CausalData(values, intervened)


def encode_data(guard: Any, data: Any) -> Any:
    """The JSON form of a native data record (see :func:`decode_data`)."""
    kind, family = family_kind(guard), guard.family
    if kind == "finite":
        if not isinstance(data, FiniteData):
            raise TypeError(f"data: expected FiniteData, got {type(data).__name__}")
        a_names, o_names = action_names(guard), outcome_names(guard)
        return {
            "actions": [a_names[a] for a in data.actions],
            "outcomes": [o_names[o] for o in data.outcomes],
        }
    if kind == "bandit":
        if not isinstance(data, BanditData):
            raise TypeError(f"data: expected BanditData, got {type(data).__name__}")
        return {"features": data.features.tolist(), "rewards": data.rewards.tolist()}
    spec = family.spec
    data = data if isinstance(data, CausalData) else CausalData(np.asarray(getattr(data, "values", data)))
    if data.values.ndim != 2 or data.values.shape[1] != spec.d:
        raise ValueError(f"data: expected rows of {spec.d} values in the order {list(spec.names)}")
    rows = [
        {
            v: _encode_cell(spec, v, x, jf.key_path(f"data.rows[{i}]", v), code=True)
            for v, x in zip(spec.names, row, strict=True)
        }
        for i, row in enumerate(data.values.tolist())
    ]
    out: dict[str, Any] = {"rows": rows}
    if data.intervened.any():
        out["intervened"] = [[spec.names[j] for j in np.flatnonzero(r)] for r in data.intervened]
    return out


# ---------------------------------------------------------------------------- description
def describe_io(guard: Any) -> dict[str, Any]:
    """What a guard reads, in words and by example: ``family``, ``n_actions``, ``action_names`` and, for
    ``action``, ``context`` and ``data``, ``{"form": words, "example": a JSON value that decodes}``
    (causal guards also give ``variables``: each variable's ``"number"`` or list of category labels)."""
    from .codecs_describe import describe

    return describe(guard, family_kind(guard), action_names(guard))
