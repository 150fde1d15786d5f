"""A world given by a :class:`~bayesguard.theories.FiniteFamily`, as a Gymnasium environment.

At reset the true theory is drawn from the family's prior (or fixed with ``options={"theory": t}``).
Each step the agent picks an action and the world draws an outcome from the true theory's table; a
harmful outcome terminates the episode. The two-doors world of the talk is
``FiniteWorldEnv(two_doors_family(), outcome_rewards=[0, 1, 0])``.

Observation: ``Discrete(n_outcomes + 1)``: 0 before the first step, then ``1 + last outcome``.
``info`` carries ``outcome``, ``harm``, ``true_harm`` and ``datum`` (a
:class:`~bayesguard.theories.FiniteData` record of the step, for the guard's posterior).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .._validate import as_float_array, positive_int
from ..theories.finite import FiniteData, FiniteFamily


class FiniteWorldEnv(gym.Env):
    """Episodes in a tabular world whose true theory is hidden from the agent.

    Args:
        family: the theories; the true one is drawn from ``family.prior`` at each reset.
        outcome_rewards: ``(n_outcomes,)`` reward of each outcome (default: 0 for all).
        horizon: steps before truncation (default 1: one decision per episode).
    """

    metadata = {"render_modes": []}

    def __init__(self, family: FiniteFamily, outcome_rewards: Any = None, horizon: int = 1) -> None:
        if not isinstance(family, FiniteFamily):
            raise TypeError(f"family: expected a FiniteFamily, got {type(family).__name__}")
        self.family = family
        n_outcomes = family.outcome_probs.shape[2]
        if outcome_rewards is None:
            outcome_rewards = np.zeros(n_outcomes)
        self.outcome_rewards = as_float_array(outcome_rewards, "outcome_rewards", ndim=1)
        if self.outcome_rewards.shape != (n_outcomes,):
            raise ValueError(
                f"outcome_rewards: expected shape ({n_outcomes},), got {self.outcome_rewards.shape}"
            )
        self.horizon = positive_int(horizon, "horizon")
        self.observation_space = spaces.Discrete(n_outcomes + 1)
        self.action_space = spaces.Discrete(family.n_actions)
        self._theory = 0
        self._t = 0

    @property
    def context(self) -> None:
        """Finite worlds take no context."""
        return None

    @property
    def true_theory(self) -> int:
        """Index of the episode's true theory."""
        return self._theory

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        if "theory" in options:
            t = options["theory"]
            if not isinstance(t, int | np.integer) or not 0 <= int(t) < self.family.n_theories:
                last = self.family.n_theories - 1
                raise ValueError(f"options['theory']: expected a theory index in [0, {last}], got {t!r}")
            self._theory = int(t)
        else:
            self._theory = int(self.np_random.choice(self.family.n_theories, p=self.family.prior))
        self._t = 0
        return 0, {"step": 0}

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action: expected an index in [0, {self.family.n_actions - 1}], got {action!r}")
        a = int(action)
        probs = self.family.outcome_probs[self._theory, a]
        outcome = int(self.np_random.choice(probs.shape[0], p=probs))
        harm = bool(self.family.harmful[outcome])
        self._t += 1
        terminated = harm
        truncated = self._t >= self.horizon and not terminated
        info = {
            "step": self._t,
            "outcome": outcome,
            "harm": harm,
            "true_harm": float(probs[self.family.harmful].sum()),
            "datum": FiniteData(np.array([a]), np.array([outcome])),
        }
        return outcome + 1, float(self.outcome_rewards[outcome]), terminated, truncated, info
