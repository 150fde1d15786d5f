"""World 3, the ambiguous plant, as a Gymnasium environment: a causal world an agent acts on.

Each step the world draws the context (the ambient reading, observed before acting), the agent picks an
intervention of ``world.spec.actions``, and the plant runs it: the reward is the ``output`` variable,
and the pressure over its threshold is harm (the episode goes on: a plant survives a pressure alarm).

Observation: ``Box((1,))`` the ambient reading. ``info`` carries ``harm``, ``true_harm`` (the true harm
probability of the action taken) and ``datum``: the step's row as
:class:`~bayesguard.theories.causal.observations.CausalData` (the intervened cell marked), which a guarded
episode feeds to ``Guard.observe``. ``env.context`` is the ``{"ambient": value}`` a causal guard checks.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .._validate import positive_int
from ..theories.causal.observations import CausalData
from ..worlds.plant import PlantWorld


class PlantEnv(gym.Env):
    """Episodes on a :class:`~bayesguard.worlds.plant.PlantWorld`.

    Args:
        world: the plant (its true SCM is hidden from the agent).
        horizon: steps before truncation.
    """

    metadata = {"render_modes": []}

    def __init__(self, world: PlantWorld, horizon: int = 20) -> None:
        if not isinstance(world, PlantWorld):
            raise TypeError(f"world: expected a PlantWorld, got {type(world).__name__}")
        self.world = world
        self.horizon = positive_int(horizon, "horizon")
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(1,), dtype=np.float64)
        self.action_space = spaces.Discrete(world.spec.n_actions)
        self._ctx: dict[str, float] = {"ambient": 0.0}
        self._t = 0

    @property
    def context(self) -> dict[str, float]:
        """The context of the coming decision (observed before acting)."""
        return dict(self._ctx)

    def _obs(self) -> np.ndarray:
        return np.array([self._ctx["ambient"]], dtype=np.float64)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._t = 0
        self._ctx = self.world.context(self.np_random)
        return self._obs(), {}

    def step(self, action: Any):
        if not self.action_space.contains(action):
            raise ValueError(f"action: expected an index in [0, {self.action_space.n - 1}], got {action!r}")
        a = int(action)
        true_harm = float(self.world.true_harm(self._ctx)[a])
        row, mask, reward, harmed = self.world.step(a, self._ctx, self.np_random)
        self._t += 1
        info = {"harm": harmed, "true_harm": true_harm, "datum": CausalData(row[None], mask[None])}
        self._ctx = self.world.context(self.np_random)
        return self._obs(), reward, False, self._t >= self.horizon, info
