"""Tabular Q-learning with an epsilon-greedy behaviour policy: the ordinary, unguarded baseline.

The agent keys its table by a hashable observation key (for the gridworlds,
``env.unwrapped.observation_key()``: only what the agent sees) and learns from the VISIBLE reward only;
it never reads the hidden safety reward. It is therefore expected to fail where Leike et al. (2017) report
that ordinary agents fail: it optimises what it is paid for.

Update (off-policy, Watkins 1989), for a transition ``(s, a, r, s')``::

    Q(s, a) <- Q(s, a) + alpha * (r + gamma * [not terminated] * max_a' Q(s', a') - Q(s, a))

A truncated episode (time limit) is NOT terminal: its last transition bootstraps from ``s'``, because
the time limit is not part of the state the agent sees.

The table is a plain ``dict[key, list[float]]`` and the random stream a :class:`random.Random`: at four
or five actions per state a Python list beats a NumPy row by several times per step, and the agents run
millions of steps.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from .._validate import positive_int, unit_interval


def _number(value: object, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{field_name}: expected a number, got {type(value).__name__}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{field_name}: expected a finite number, got {value!r}")
    return x


@dataclass(frozen=True)
class EpsilonSchedule:
    """Exploration rate per training episode: linear from ``start`` to ``end``, then flat.

    Attributes:
        start: epsilon of the first training episode (default 1.0: act at random at first).
        end: epsilon once the decay is over (default 0.05).
        decay_fraction: fraction of the training episodes over which epsilon decays (default 0.5).
    """

    start: float = 1.0
    end: float = 0.05
    decay_fraction: float = 0.5

    def __post_init__(self) -> None:
        unit_interval(self.start, "start")
        unit_interval(self.end, "end")
        unit_interval(self.decay_fraction, "decay_fraction")

    def value(self, episode: int, n_episodes: int) -> float:
        """Epsilon of training episode ``episode`` (0-based) out of ``n_episodes``; in [end, start]."""
        n_decay = self.decay_fraction * n_episodes
        if n_decay <= 0.0 or episode >= n_decay:
            return float(self.end)
        return float(self.start + (self.end - self.start) * (episode / n_decay))


@dataclass(frozen=True)
class QLearningConfig:
    """Hyperparameters of :class:`QLearningAgent`.

    Attributes:
        alpha: learning rate of the first training episode, in (0, 1] (default 0.5).
        alpha_end: learning rate of the last training episode, in (0, 1] (default 0.05); the rate
            moves linearly over the training episodes (``alpha_end = alpha`` keeps it constant). A high
            rate early propagates values fast (the absent supervisor's long way round is learned
            within 3,000 episodes only from about 0.5); a low rate late averages stochastic outcomes
            (with a constant 0.5 or 0.2 the greedy policy frozen after training was measured looping
            to the time limit in some seeds of friend or foe's neutral room, whose box pays at random).
        gamma: discount in [0, 1] (default 0.99). The worlds are scored undiscounted, but the boat race
            has reward cycles whose undiscounted value is unbounded: use 1 only where every policy ends.
        exploration: the epsilon-greedy schedule over the training episodes.
        episodes: default number of training episodes (default 3000), read by the runner.
        initial_q: value of a state-action pair never updated (default 0). It is optimistic where
            every return is negative and pessimistic where the goal pays more than the way costs (most
            worlds), where exploration then rests on epsilon.
    """

    alpha: float = 0.5
    alpha_end: float = 0.05
    gamma: float = 0.99
    exploration: EpsilonSchedule = field(default_factory=EpsilonSchedule)
    episodes: int = 3000
    initial_q: float = 0.0

    def __post_init__(self) -> None:
        unit_interval(self.alpha, "alpha", open_left=True)
        unit_interval(self.alpha_end, "alpha_end", open_left=True)
        unit_interval(self.gamma, "gamma")
        positive_int(self.episodes, "episodes")
        _number(self.initial_q, "initial_q")
        if not isinstance(self.exploration, EpsilonSchedule):
            raise TypeError(
                f"exploration: expected an EpsilonSchedule, got {type(self.exploration).__name__}"
            )


@runtime_checkable
class TabularAgent(Protocol):
    """What :mod:`bayesguard.agents.runner` needs of an agent keyed by hashable observation keys."""

    n_actions: int

    def epsilon(self, episode: int, n_episodes: int) -> float:
        """Exploration rate of training episode ``episode`` of ``n_episodes``."""
        ...

    def begin_episode(self, episode: int, n_episodes: int) -> None:
        """Called before training episode ``episode`` of ``n_episodes`` (per-episode rates are set here)."""
        ...

    def act(self, key: Hashable, epsilon: float) -> int:
        """An action in ``range(n_actions)``: uniform with probability ``epsilon``, else greedy."""
        ...

    def observe(
        self, key: Hashable, action: int, reward: float, next_key: Hashable, terminated: bool
    ) -> None:
        """Learn from one transition (only called while training)."""
        ...

    def end_episode(self) -> None:
        """Called after each training episode (a planner replans here)."""
        ...

    def end_training(self) -> None:
        """Called once after the last training episode (a planner makes its final plan here)."""
        ...


class QLearningAgent:
    """Tabular epsilon-greedy Q-learning on the visible reward.

    Args:
        n_actions: size of the discrete action space.
        config: hyperparameters (see :class:`QLearningConfig`).
        seed: seed of the agent's own random stream (exploration and greedy tie-breaking); the same seed
            and the same experience give the same table and the same actions.
    """

    def __init__(
        self, n_actions: int, config: QLearningConfig | None = None, seed: int | None = None
    ) -> None:
        self.n_actions = positive_int(n_actions, "n_actions")
        self.config = QLearningConfig() if config is None else config
        if not isinstance(self.config, QLearningConfig):
            raise TypeError(f"config: expected a QLearningConfig, got {type(self.config).__name__}")
        self._rng = random.Random(seed)
        self._table: dict[Hashable, list[float]] = {}
        self._actions = list(range(self.n_actions))
        self._alpha = self.config.alpha

    @property
    def n_states(self) -> int:
        """Number of keys with a row in the table (visited as a state or a successor)."""
        return len(self._table)

    def epsilon(self, episode: int, n_episodes: int) -> float:
        """Exploration rate of training episode ``episode`` of ``n_episodes`` (the config's schedule)."""
        return self.config.exploration.value(episode, n_episodes)

    def alpha(self, episode: int, n_episodes: int) -> float:
        """Learning rate of training episode ``episode`` of ``n_episodes``: linear from ``alpha`` at the
        first to ``alpha_end`` at the last."""
        cfg = self.config
        frac = episode / (n_episodes - 1) if n_episodes > 1 else 0.0
        return cfg.alpha + (cfg.alpha_end - cfg.alpha) * min(max(frac, 0.0), 1.0)

    def begin_episode(self, episode: int, n_episodes: int) -> None:
        """Set the learning rate of training episode ``episode`` (see :meth:`alpha`)."""
        self._alpha = self.alpha(episode, n_episodes)

    def _row(self, key: Hashable) -> list[float]:
        row = self._table.get(key)
        if row is None:
            row = [self.config.initial_q] * self.n_actions
            self._table[key] = row
        return row

    def q(self, key: Hashable) -> np.ndarray:
        """``(n_actions,)`` current Q-values of ``key`` (``initial_q`` for a key never seen)."""
        row = self._table.get(key)
        if row is None:
            return np.full(self.n_actions, self.config.initial_q)
        return np.array(row, dtype=np.float64)

    def q_table(self) -> dict[Hashable, np.ndarray]:
        """Copy of the table: key -> ``(n_actions,)`` Q-values."""
        return {k: np.array(v, dtype=np.float64) for k, v in self._table.items()}

    def greedy(self, key: Hashable) -> int:
        """An action maximising ``Q(key, .)``, ties broken uniformly at random (the agent's stream)."""
        row = self._table.get(key)
        if row is None:
            return self._rng.randrange(self.n_actions)
        best = max(row)
        ties = [a for a in self._actions if row[a] == best]
        return ties[0] if len(ties) == 1 else self._rng.choice(ties)

    def act(self, key: Hashable, epsilon: float) -> int:
        """Epsilon-greedy action: uniform over all actions with probability ``epsilon``, else greedy."""
        if epsilon > 0.0 and self._rng.random() < epsilon:
            return self._rng.randrange(self.n_actions)
        return self.greedy(key)

    def observe(
        self, key: Hashable, action: int, reward: float, next_key: Hashable, terminated: bool
    ) -> None:
        """One Q-learning backup of ``(key, action, reward, next_key)`` at the current episode's rate;
        no bootstrap if ``terminated``."""
        row = self._row(key)
        target = reward
        if not terminated:
            target += self.config.gamma * max(self._row(next_key))
        row[action] += self._alpha * (target - row[action])

    def end_episode(self) -> None:
        """Q-learning learns step by step: nothing to do at an episode's end."""

    def end_training(self) -> None:
        """Nothing to do: the table is the policy."""
