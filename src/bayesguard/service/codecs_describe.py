"""``describe_io``: the JSON forms a guard reads, in words and by an example that decodes (for
``GET /v1/guard`` and the docs); see :mod:`.codecs`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..theories.causal.observations import CausalData
from .json_fields import MAX_ROWS


def describe(guard: Any, kind: str, names: list[str]) -> dict[str, Any]:
    """The description of :func:`~.codecs.describe_io` for a guard of family ``kind``."""
    from . import codecs

    family, n = guard.family, guard.n_actions
    out: dict[str, Any] = {
        "family": kind,
        "n_actions": n,
        "action_names": names,
        "action": {
            "form": f"an action index (an integer in [0, {n - 1}]) or an action name",
            "example": names[0],
        },
    }
    rows = f"1 to {MAX_ROWS} observations"
    if kind == "finite":
        outcomes = codecs.outcome_names(guard)
        out["outcome_names"] = outcomes
        out["context"] = {"form": "null: the finite family takes no context", "example": None}
        out["data"] = {
            "form": "an object {actions, outcomes}: two lists of equal length (" + rows + "), each item "
            "a name or an index, observation i being outcomes[i] after actions[i]",
            "example": {"actions": [names[0]], "outcomes": [outcomes[0]]},
        }
        return out
    if kind == "bandit":
        nf = family.n_features
        out["n_features"] = nf
        out["context"] = {
            "form": f"the arms' features: a list of {n} lists (one per arm, in action order) of {nf} "
            "finite numbers",
            "example": [[float(a == j) for j in range(nf)] for a in range(n)],
        }
        out["data"] = {
            "form": "an object {features, rewards}: the features of each pulled arm (lists of "
            f"{nf} numbers) and the reward it paid (a number), {rows}",
            "example": {"features": [[0.0] * nf], "rewards": [0.0]},
        }
        return out
    spec = family.spec
    values = np.asarray(family.data.values)
    out["variables"] = {
        v: "number" if spec.categories is None else list(spec.categories[j]) for j, v in enumerate(spec.names)
    }
    out["context_variables"] = list(spec.context)
    example: dict[str, Any] = {}
    for c in spec.context:
        col = values[:, spec.index(c)]
        if spec.categories is None:
            example[c] = float(np.round(col.mean(), 3))
        else:  # the most frequent category
            example[c] = spec.categories[spec.index(c)][int(np.bincount(col.astype(np.int64)).argmax())]
    value_words = "a finite number" if spec.categories is None else "a category label (see variables)"
    form = (
        f"an object with exactly the context variables {list(spec.context)}, each {value_words}"
        if spec.context
        else "null or {}: this guard has no context variables"
    )
    out["context"] = {"form": form, "example": example}
    out["data"] = {
        "form": f"an object {{rows}}: a list of {rows}, each an object with every variable "
        f"{list(spec.names)}, each {value_words}; or {{columns}}: an object mapping every variable to a "
        "list of its values; optional intervened: for each row, the list of variables set by do()",
        "example": codecs.encode_data(guard, CausalData(values[:1])),
    }
    return out
