"""The :class:`TheoryFamily` protocol: what bayesguard needs to know about a space of theories.

Shape notation used throughout the package:

- ``n_theories``: number of theories in a batch (rows of a ``theories`` array);
- ``n_actions``: number of actions the agent can take;
- ``n_obs``: number of observations in a data set.

A *theory* is one complete, printable hypothesis about the world (a bandit's reward vector, a table of
outcome probabilities, a causal graph with its parameters). A batch of theories is an array whose first
axis indexes theories; every method below works on the whole batch at once.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class TheoryFamily(Protocol):
    """A space of theories with a prior, a likelihood and a harm model, all batched over theories."""

    name: str
    n_actions: int

    def log_prior(self, theories: np.ndarray) -> np.ndarray:
        """Log prior mass of each theory: ``(n_theories, ...) -> (n_theories,)``."""
        ...

    def log_likelihood(self, theories: np.ndarray, data: Any) -> np.ndarray:
        """Log probability of ``data`` under each theory: ``-> (n_theories,)``."""
        ...

    def harm_prob(self, theories: np.ndarray, context: Any, action: int | None = None) -> np.ndarray:
        """P(harm | context, action, theory).

        Returns ``(n_theories, n_actions)`` when ``action`` is None, else ``(n_theories,)``.
        """
        ...

    def describe(self, theory: np.ndarray) -> str:
        """A one-line human-readable rendering of a single theory."""
        ...


@runtime_checkable
class EnumerableFamily(TheoryFamily, Protocol):
    """A finite family whose theories can all be listed (the ground truth for small problems)."""

    def enumerate(self) -> np.ndarray:
        """Every theory of the family: ``(n_theories, ...)``."""
        ...


def select_action(harm: np.ndarray, action: int | None, n_actions: int) -> np.ndarray:
    """Slice a ``(n_theories, n_actions)`` harm table down to one action when one is given."""
    if action is None:
        return harm
    from .._validate import action_index

    return harm[:, action_index(action, n_actions)]
