"""Finite world models: each theory is an explicit table P(outcome | action, theory).

The family is context-free: every theory lists, for each action, a categorical distribution over a
finite set of outcomes, some of which are harmful. Data are (action, outcome) pairs. This is the family
of the two-doors world and of any small problem that can be written down as a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .._validate import as_float_array, probabilities
from .base import select_action


@dataclass(frozen=True, eq=False)
class FiniteData:
    """Observed (action, outcome) pairs.

    Attributes:
        actions: ``(n_obs,)`` integer action indices.
        outcomes: ``(n_obs,)`` integer outcome indices.
    """

    actions: np.ndarray
    outcomes: np.ndarray

    def __post_init__(self) -> None:
        a = np.asarray(self.actions)
        o = np.asarray(self.outcomes)
        if a.ndim != 1 or o.ndim != 1 or a.shape != o.shape:
            raise ValueError(
                f"FiniteData: actions and outcomes must be 1-d arrays of equal length, "
                f"got shapes {a.shape} and {o.shape}"
            )
        if a.size and not (np.issubdtype(a.dtype, np.integer) and np.issubdtype(o.dtype, np.integer)):
            raise TypeError("FiniteData: actions and outcomes must be integer indices")
        object.__setattr__(self, "actions", a.astype(np.int64))
        object.__setattr__(self, "outcomes", o.astype(np.int64))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FiniteData):
            return NotImplemented
        return np.array_equal(self.actions, other.actions) and np.array_equal(self.outcomes, other.outcomes)

    __hash__ = None  # type: ignore[assignment]  # arrays are mutable


@dataclass(frozen=True)
class FiniteFamily:
    """An enumerable family of tabular theories.

    Attributes:
        outcome_probs: ``(n_theories, n_actions, n_outcomes)``; each ``[t, a, :]`` sums to 1.
        harmful: ``(n_outcomes,)`` booleans, True for outcomes that count as harm.
        prior: ``(n_theories,)`` prior probabilities (uniform when omitted).
        theory_names, action_names, outcome_names: labels used by :meth:`describe` and reports.
    """

    outcome_probs: np.ndarray
    harmful: np.ndarray
    prior: np.ndarray | None = None
    theory_names: Sequence[str] = ()
    action_names: Sequence[str] = ()
    outcome_names: Sequence[str] = ()
    name: str = "finite"
    _log_prior: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        table = probabilities(self.outcome_probs, "outcome_probs", ndim=3)
        if not np.allclose(table.sum(axis=2), 1.0, atol=1e-9):
            raise ValueError(
                "outcome_probs: each [theory, action, :] row must sum to 1 "
                "(shape (n_theories, n_actions, n_outcomes))"
            )
        n_theories, n_actions, n_outcomes = table.shape
        harmful = np.asarray(self.harmful, dtype=bool)
        if harmful.shape != (n_outcomes,):
            raise ValueError(f"harmful: expected shape ({n_outcomes},), got {harmful.shape}")
        if self.prior is None:
            prior = np.full(n_theories, 1.0 / n_theories)
        else:
            prior = probabilities(self.prior, "prior", ndim=1)
            if prior.shape != (n_theories,) or not np.isclose(prior.sum(), 1.0, atol=1e-9):
                raise ValueError(f"prior: expected {n_theories} probabilities summing to 1")
        for label, names, n in (
            ("theory_names", self.theory_names, n_theories),
            ("action_names", self.action_names, n_actions),
            ("outcome_names", self.outcome_names, n_outcomes),
        ):
            if names and len(names) != n:
                raise ValueError(f"{label}: expected {n} names, got {len(names)}")
        object.__setattr__(self, "outcome_probs", table)
        object.__setattr__(self, "harmful", harmful)
        object.__setattr__(self, "prior", prior)
        with np.errstate(divide="ignore"):
            object.__setattr__(self, "_log_prior", np.log(prior))

    @property
    def n_theories(self) -> int:
        return self.outcome_probs.shape[0]

    @property
    def n_actions(self) -> int:  # type: ignore[override]
        return self.outcome_probs.shape[1]

    def enumerate(self) -> np.ndarray:
        """All theory indices: ``(n_theories,)`` int64."""
        return np.arange(self.n_theories)

    def _index(self, theories: np.ndarray) -> np.ndarray:
        idx = np.asarray(theories)
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError("theories: expected a 1-d array of integer theory indices")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_theories):
            raise ValueError(f"theories: indices must lie in [0, {self.n_theories - 1}]")
        return idx

    def log_prior(self, theories: np.ndarray) -> np.ndarray:
        """``(n_theories,)`` log prior of each listed theory."""
        return self._log_prior[self._index(theories)]

    def log_likelihood(self, theories: np.ndarray, data: FiniteData) -> np.ndarray:
        """``(n_theories,)`` sum over observations of log P(outcome | action, theory)."""
        if not isinstance(data, FiniteData):
            raise TypeError("data: expected a FiniteData record of (actions, outcomes)")
        idx = self._index(theories)
        if data.actions.size == 0:
            return np.zeros(idx.shape[0])
        n_actions, n_outcomes = self.outcome_probs.shape[1:]
        if data.actions.min() < 0 or data.actions.max() >= n_actions:
            raise ValueError(f"data.actions: indices must lie in [0, {n_actions - 1}]")
        if data.outcomes.min() < 0 or data.outcomes.max() >= n_outcomes:
            raise ValueError(f"data.outcomes: indices must lie in [0, {n_outcomes - 1}]")
        p = self.outcome_probs[idx][:, data.actions, data.outcomes]  # (n_theories, n_obs)
        with np.errstate(divide="ignore"):
            return np.log(p).sum(axis=1)

    def harm_prob(
        self, theories: np.ndarray, context: object = None, action: int | None = None
    ) -> np.ndarray:
        """P(harmful outcome | action, theory): ``(n_theories, n_actions)`` or ``(n_theories,)``."""
        if context is not None:
            raise ValueError("context: FiniteFamily theories take no context; pass None")
        harm = self.outcome_probs[self._index(theories)][:, :, self.harmful].sum(axis=2)
        return select_action(harm, action, self.n_actions)

    def describe(self, theory: np.ndarray | int) -> str:
        """Render one theory as ``name: action -> outcome distribution`` lines joined by '; '."""
        t = int(np.asarray(theory))
        label = self.theory_names[t] if self.theory_names else f"theory {t}"
        parts = []
        for a in range(self.n_actions):
            a_name = self.action_names[a] if self.action_names else f"action {a}"
            row = self.outcome_probs[t, a]
            outs = [
                (self.outcome_names[o] if self.outcome_names else f"outcome {o}")
                + ("" if row[o] == 1 else f" ({row[o]:.2g})")
                for o in np.flatnonzero(row)
            ]
            parts.append(f"{a_name} -> {' | '.join(outs)}")
        return f"{label}: " + "; ".join(parts)


def finite_family(
    outcome_probs: object, harmful: object, prior: object | None = None, **names: Sequence[str]
) -> FiniteFamily:
    """Build a :class:`FiniteFamily` from nested lists (convenience for hand-written worlds)."""
    table = as_float_array(outcome_probs, "outcome_probs", ndim=3)
    return FiniteFamily(table, np.asarray(harmful, dtype=bool), prior, **names)  # type: ignore[arg-type]
