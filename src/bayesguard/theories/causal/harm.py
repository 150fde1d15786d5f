"""Harm, actions and context on causal models: what the guard is asked about.

- A :class:`HarmEvent` is a condition on one variable: ``pressure > 8`` on a continuous variable,
  ``patient_status == "critical"`` (or ``!=``) on a discrete one. :meth:`HarmEvent.parse` reads the
  written form.
- An *action* is an intervention ``do(A = a, ...)``: a mapping ``{variable: value}``; ``{}`` is "do
  nothing".
- The *context* is evidence: values of variables observed before acting (declared once in the spec; each
  check passes their values).

:class:`HarmSpec` ties the three to the variable names of a model and validates all of it, with errors
that name the field. Discrete values may be given as category labels when ``categories`` is known (the
labels of :func:`~.data.validate_table`); they are stored as integer codes.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Comparison operators a harm event may use; the first four need a continuous variable.
CONTINUOUS_OPS = (">", ">=", "<", "<=")
DISCRETE_OPS = ("==", "!=")
_EVENT = re.compile(r"^\s*([A-Za-z_][\w.\-]*)\s*(>=|<=|==|!=|>|<)\s*(.+?)\s*$")


@dataclass(frozen=True)
class HarmEvent:
    """``variable op value``: the event whose probability the guard bounds.

    Attributes:
        variable: the variable's name.
        op: one of ``> >= < <=`` (continuous variables) or ``== !=`` (discrete variables).
        value: a number for the ordered comparisons; a category label or code for ``==`` / ``!=``.
    """

    variable: str
    op: str
    value: float | int | str

    def __post_init__(self) -> None:
        if self.op not in CONTINUOUS_OPS + DISCRETE_OPS:
            raise ValueError(f"harm.op: expected one of {CONTINUOUS_OPS + DISCRETE_OPS}, got {self.op!r}")
        if self.op in CONTINUOUS_OPS:
            if isinstance(self.value, bool) or not isinstance(self.value, int | float | np.number):
                raise ValueError(f"harm.value: {self.op!r} needs a number, got {self.value!r}")
            if not np.isfinite(float(self.value)):
                raise ValueError("harm.value: expected a finite number")

    @classmethod
    def parse(cls, text: str) -> HarmEvent:
        """Read ``"pressure > 8"``, ``"status == 'critical'"`` or ``"status != ok"``."""
        if not isinstance(text, str):
            raise TypeError(f"harm: expected a string such as 'pressure > 8', got {type(text).__name__}")
        m = _EVENT.match(text)
        if m is None:
            raise ValueError(
                f"harm: cannot read {text!r}; expected 'variable op value' with op one of "
                f"{' '.join(CONTINUOUS_OPS + DISCRETE_OPS)}, e.g. 'pressure > 8' or \"status == 'critical'\""
            )
        var, op, raw = m.groups()
        value: float | int | str
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            value = raw[1:-1]
        else:
            try:
                value = int(raw)
            except ValueError:
                try:
                    value = float(raw)
                except ValueError:
                    value = raw
        return cls(var, op, value)

    @property
    def upper(self) -> bool:
        """True for ``>`` / ``>=`` (harm is a large value)."""
        return self.op in (">", ">=")

    def __str__(self) -> str:
        return (
            f"{self.variable} {self.op} {self.value!r}"
            if isinstance(self.value, str)
            else (f"{self.variable} {self.op} {self.value:g}")
        )


def _code(value: object, labels: Sequence[object] | None, arity: int | None, field: str) -> int:
    """A discrete value as its integer code: a label of ``labels``, or an in-range code."""
    if labels is not None and value in labels:
        return list(labels).index(value)
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        if arity is None or 0 <= int(value) < arity:
            return int(value)
    known = f"; known labels: {list(labels)}" if labels is not None else ""
    raise ValueError(f"{field}: {value!r} is not a category of the variable{known}")


@dataclass(frozen=True)
class HarmSpec:
    """The question the guard answers, on the named variables of a causal model.

    Attributes:
        names: the ``d`` variable names, in the column order of the data.
        harm: the harm event (a :class:`HarmEvent` or its written form).
        actions: the agent's options, each ``{variable: value}``; ``{}`` is "do nothing".
        context: names of the variables observed before acting (their values come with each check).
        categories: for discrete models, ``categories[j]`` lists the labels of variable ``j`` (codes are
            positions); None for continuous models.
        action_names: labels for the actions (default: ``do(A=a)`` strings).
    """

    names: tuple[str, ...]
    harm: HarmEvent
    actions: tuple[Mapping[str, float | int], ...]
    context: tuple[str, ...] = ()
    categories: tuple[tuple[object, ...], ...] | None = None
    action_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        if len(set(names)) != len(names) or not names:
            raise ValueError("names: expected distinct variable names")
        object.__setattr__(self, "names", names)
        harm = HarmEvent.parse(self.harm) if isinstance(self.harm, str) else self.harm
        if not isinstance(harm, HarmEvent):
            raise TypeError("harm: expected a HarmEvent or a string such as 'pressure > 8'")
        if harm.variable not in names:
            raise ValueError(f"harm: unknown variable {harm.variable!r}; known: {list(names)}")
        cats = self.categories
        if cats is not None:
            cats = tuple(tuple(c) for c in cats)
            if len(cats) != len(names):
                raise ValueError(
                    f"categories: expected one list per variable ({len(names)}), got {len(cats)}"
                )
            object.__setattr__(self, "categories", cats)
            if harm.op not in DISCRETE_OPS:
                raise ValueError(f"harm: a discrete model needs '==' or '!=', got {harm.op!r}")
            j = names.index(harm.variable)
            harm = HarmEvent(harm.variable, harm.op, _code(harm.value, cats[j], len(cats[j]), "harm.value"))
        elif harm.op not in CONTINUOUS_OPS:
            raise ValueError(
                f"harm: {harm.op!r} needs a discrete model (pass categories); "
                f"a continuous variable takes one of {CONTINUOUS_OPS}"
            )
        object.__setattr__(self, "harm", harm)
        ctx = tuple(str(c) for c in self.context)
        for c in ctx:
            if c not in names:
                raise ValueError(f"context: unknown variable {c!r}; known: {list(names)}")
            if c == harm.variable:
                raise ValueError(f"context: the harm variable {c!r} cannot be observed before acting")
        if len(set(ctx)) != len(ctx):
            raise ValueError("context: a variable is listed twice")
        object.__setattr__(self, "context", ctx)
        if isinstance(self.actions, Mapping) or not self.actions:
            raise ValueError(
                "actions: expected a non-empty list of interventions ({variable: value}; {} = none)"
            )
        acts = tuple(self._action(k, a) for k, a in enumerate(self.actions))
        object.__setattr__(self, "actions", acts)
        if self.action_names is None:
            labels = tuple(
                "do nothing"
                if not a
                else "do(" + ", ".join(f"{k}={self._label(k, v)}" for k, v in a.items()) + ")"
                for a in acts
            )
        else:
            labels = tuple(str(x) for x in self.action_names)
            if len(labels) != len(acts):
                raise ValueError(f"action_names: expected {len(acts)} labels, got {len(labels)}")
        object.__setattr__(self, "action_names", labels)

    def _action(self, k: int, action: object) -> dict[str, float]:
        if not isinstance(action, Mapping):
            raise TypeError(
                f"actions[{k}]: expected a mapping {{variable: value}}, got {type(action).__name__}"
            )
        out: dict[str, float] = {}
        for var, val in action.items():
            if var not in self.names:
                raise ValueError(f"actions[{k}]: unknown variable {var!r}; known: {list(self.names)}")
            if var == self.harm.variable:
                raise ValueError(f"actions[{k}]: intervening on the harm variable {var!r} is not an action")
            if var in self.context:
                raise ValueError(f"actions[{k}]: {var!r} is observed before acting (context), not set")
            out[var] = self._value(var, val, f"actions[{k}][{var!r}]")
        return out

    def _label(self, var: str, value: float) -> str:
        """A value as written: the category label of a code, or the number."""
        if self.categories is not None:
            return str(self.categories[self.names.index(var)][int(value)])
        return f"{value:g}"

    def _value(self, var: str, val: object, field: str) -> float:
        j = self.names.index(var)
        if self.categories is not None:
            return float(_code(val, self.categories[j], len(self.categories[j]), field))
        number = isinstance(val, int | float | np.number) and not isinstance(val, bool)
        if not number or not np.isfinite(float(val)):
            raise ValueError(f"{field}: expected a finite number, got {val!r}")
        return float(val)

    def restrict(self, action: int) -> HarmSpec:
        """The same question with only ``actions[action]`` (already validated; nothing is re-coded)."""
        out = copy.copy(self)
        object.__setattr__(out, "actions", (self.actions[action],))
        object.__setattr__(out, "action_names", (self.action_names[action],))  # type: ignore[index]
        return out

    # ------------------------------------------------------------------ views
    @property
    def d(self) -> int:
        return len(self.names)

    @property
    def n_actions(self) -> int:
        return len(self.actions)

    @property
    def discrete(self) -> bool:
        return self.categories is not None

    def index(self, name: str) -> int:
        return self.names.index(name)

    @property
    def harm_index(self) -> int:
        return self.names.index(self.harm.variable)

    @property
    def context_index(self) -> np.ndarray:
        """``(n_context,)`` column indices of the context variables."""
        return np.array([self.names.index(c) for c in self.context], dtype=np.int64)

    def do_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Actions as arrays: ``mask (n_actions, d)`` bool (intervened) and ``value (n_actions, d)``."""
        mask = np.zeros((self.n_actions, self.d), dtype=bool)
        value = np.zeros((self.n_actions, self.d))
        for k, act in enumerate(self.actions):
            for var, val in act.items():
                mask[k, self.index(var)] = True
                value[k, self.index(var)] = val
        return mask, value

    def context_values(self, context: Mapping[str, object] | np.ndarray | None) -> np.ndarray:
        """Validate one context (or a batch) and return ``(..., n_context)`` float64 values.

        Accepts a mapping ``{variable: value}`` with exactly the declared context variables, or an array
        whose last axis follows ``self.context``.
        """
        n = len(self.context)
        if context is None:
            context = {}
        if isinstance(context, Mapping):
            missing = [c for c in self.context if c not in context]
            extra = [c for c in context if c not in self.context]
            if missing or extra:
                raise ValueError(
                    f"context: expected values for exactly {list(self.context)}; "
                    f"missing {missing}, unexpected {extra}"
                )
            return np.array([self._value(c, context[c], f"context[{c!r}]") for c in self.context])
        arr = np.asarray(context, dtype=np.float64)
        if arr.ndim == 0 or arr.shape[-1] != n:
            raise ValueError(
                f"context: expected an array with last axis {n} ({list(self.context)}), got {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError("context: contains NaN or infinite values")
        return arr
