"""A tabular model-based planner on the visible reward: learn the MDP, plan on it by value iteration.

This is the *learned-model* variant (the simulator is never cloned): the agent keeps, for every
observation key ``s`` (``env.unwrapped.observation_key()``) and action ``a`` it has tried,

- ``n(s, a)`` the visits, the mean visible reward ``R(s, a)``,
- the empirical successor distribution ``P(s' | s, a) = n(s, a, s') / n(s, a)`` over non-terminal
  successors; the missing mass ``n_term(s, a) / n(s, a)`` is the probability that the episode ended
  (value 0 afterwards),

and after every ``replan_every`` training episodes solves the discounted Bellman optimality equation of
that maximum-likelihood model by value iteration (vectorised: one sparse ``(S*A, S)`` product a sweep,
warm-started from the last solution). A pair never tried has value ``unknown_value`` (default 0, which is
optimistic in worlds that charge -1 a step, so the planner explores them like R-max with no bonus).

It acts epsilon-greedily on the plan; within an episode the plan is fixed (a state first met during the
episode gets a uniform action until the next replan). Like Q-learning it sees only the visible reward,
so it fails where the paper's agents fail: the model is of what the agent is paid for, not of what is
safe.

Not built: a simulator-based variant that plans through ``clone_state``/``restore_state``. It would read
hidden state the agent cannot see (the snapshot holds the whole simulator), which is not the ordinary
agent of the paper.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._validate import as_float_array, positive_int, unit_interval
from .tabular import EpsilonSchedule, _number


@dataclass(frozen=True)
class PlannerConfig:
    """Hyperparameters of :class:`ModelBasedPlanner`.

    Attributes:
        gamma: discount in [0, 1) (default 0.99; below 1 so value iteration converges on any model,
            including the boat race's reward cycles).
        exploration: epsilon-greedy schedule over the training episodes (default 1.0 -> 0.05 over half).
        episodes: default number of training episodes (default 1000), read by the runner.
        replan_every: training episodes between two plans (default 1).
        unknown_value: value of a state-action pair never tried (default 0.0).
        tol: value iteration stops when no Q-value moves by more than ``tol`` in a sweep (default 1e-6).
        max_iter: cap on sweeps of the final plan (default 10,000; with ``gamma = 0.99`` a cold start
            needs ~2,000).
        sweeps_per_plan: cap on sweeps of a plan made during training (default 20): each plan starts
            from the last one, so the sweeps accumulate across episodes (asynchronous value iteration);
            the final plan, at the end of training, runs to ``tol``.
    """

    gamma: float = 0.99
    exploration: EpsilonSchedule = field(default_factory=EpsilonSchedule)
    episodes: int = 1000
    replan_every: int = 1
    unknown_value: float = 0.0
    tol: float = 1e-6
    max_iter: int = 10_000
    sweeps_per_plan: int = 20

    def __post_init__(self) -> None:
        g = unit_interval(self.gamma, "gamma")
        if g >= 1.0:
            raise ValueError(f"gamma: expected a number in [0, 1), got {self.gamma!r}")
        if not isinstance(self.exploration, EpsilonSchedule):
            raise TypeError(
                f"exploration: expected an EpsilonSchedule, got {type(self.exploration).__name__}"
            )
        positive_int(self.episodes, "episodes")
        positive_int(self.replan_every, "replan_every")
        _number(self.unknown_value, "unknown_value")
        if not _number(self.tol, "tol") > 0.0:
            raise ValueError(f"tol: expected a number > 0, got {self.tol!r}")
        positive_int(self.max_iter, "max_iter")
        positive_int(self.sweeps_per_plan, "sweeps_per_plan")


def value_iteration(
    transitions: Any,
    rewards: Any,
    gamma: float,
    *,
    known: Any = None,
    unknown_value: float = 0.0,
    q0: Any = None,
    tol: float = 1e-6,
    max_iter: int = 10_000,
) -> tuple[np.ndarray, int]:
    """Optimal Q-values of a finite discounted MDP whose rows may lose mass to termination.

    Solves ``Q(s, a) = R(s, a) + gamma * sum_s' P(s' | s, a) max_a' Q(s', a')`` for known pairs and
    ``Q(s, a) = unknown_value`` for the others, by sweeps from ``q0`` until no entry moves by more than
    ``tol``.

    Args:
        transitions: ``(S * A, S)`` (dense or SciPy sparse; row ``s * A + a``) or ``(S, A, S)`` dense,
            non-negative, each row summing to at most 1 (the rest is the probability the episode ends).
        rewards: ``(S, A)`` expected immediate reward.
        gamma: discount in [0, 1).
        known: ``(S, A)`` bool, the pairs whose row is a model (default: all).
        unknown_value: the value of a pair that is not known.
        q0: ``(S, A)`` starting point (default: ``unknown_value`` everywhere).
        tol, max_iter: stopping rule.

    Returns:
        ``(Q, sweeps)``: ``Q`` ``(S, A)`` and the number of sweeps used. The error of ``Q`` is at most
        ``tol * gamma / (1 - gamma)`` when it stopped before ``max_iter``.
    """
    g = unit_interval(gamma, "gamma")
    if g >= 1.0:
        raise ValueError(f"gamma: expected a number in [0, 1), got {gamma!r}")
    r = as_float_array(rewards, "rewards", ndim=2)
    n_s, n_a = r.shape
    if sp.issparse(transitions):
        p = sp.csr_matrix(transitions, dtype=np.float64)
    else:
        p_dense = as_float_array(transitions, "transitions")
        if p_dense.ndim == 3:
            p_dense = p_dense.reshape(-1, p_dense.shape[-1])
        p = sp.csr_matrix(p_dense)
    if p.shape != (n_s * n_a, n_s):
        raise ValueError(
            f"transitions: expected shape ({n_s * n_a}, {n_s}) or ({n_s}, {n_a}, {n_s}), got {p.shape}"
        )
    if p.nnz and (p.data.min() < 0.0 or np.asarray(p.sum(axis=1)).max() > 1.0 + 1e-9):
        raise ValueError("transitions: expected non-negative rows summing to at most 1")
    mask = np.ones((n_s, n_a), dtype=bool) if known is None else np.asarray(known, dtype=bool)
    if mask.shape != (n_s, n_a):
        raise ValueError(f"known: expected shape ({n_s}, {n_a}), got {mask.shape}")
    u = _number(unknown_value, "unknown_value")
    q = np.full((n_s, n_a), u) if q0 is None else as_float_array(q0, "q0", ndim=2).copy()
    if q.shape != (n_s, n_a):
        raise ValueError(f"q0: expected shape ({n_s}, {n_a}), got {q.shape}")
    q[~mask] = u
    # a-major layout (row a * S + s): the max over actions is then a fast reduction over axis 0.
    perm = (np.arange(n_s)[None, :] * n_a + np.arange(n_a)[:, None]).ravel()
    q_am, sweeps = _solve(p[perm], np.where(mask, r, u).T, g, q.T, tol, positive_int(max_iter, "max_iter"))
    return np.ascontiguousarray(q_am.T), sweeps


def _solve(
    p_am: sp.csr_matrix, r_am: np.ndarray, gamma: float, q_am: np.ndarray, tol: float, max_iter: int
) -> tuple[np.ndarray, int]:
    """Value-iteration sweeps in the a-major layout: ``p_am`` ``(A * S, S)``, ``r_am`` and ``q_am``
    ``(A, S)``. An unknown pair has reward ``unknown_value`` and an empty row, so it stays there."""
    n_a, n_s = r_am.shape
    r_flat = np.ascontiguousarray(r_am).ravel()
    q = np.ascontiguousarray(q_am, dtype=np.float64)
    sweeps = 0
    for sweeps in range(1, max_iter + 1):  # noqa: B007 - sweeps is returned
        new = (r_flat + gamma * (p_am @ q.max(axis=0))).reshape(n_a, n_s)
        delta = float(np.abs(new - q).max()) if new.size else 0.0
        q = new
        if delta <= tol:
            break
    return q, sweeps


class _Grow:
    """A 1-d NumPy array with amortised O(1) append (capacity doubling)."""

    def __init__(self, dtype: type) -> None:
        self.data = np.zeros(64, dtype=dtype)
        self.size = 0

    def ensure(self, size: int) -> None:
        if size > self.data.shape[0]:
            new = np.zeros(max(size, 2 * self.data.shape[0]), dtype=self.data.dtype)
            new[: self.size] = self.data[: self.size]
            self.data = new
        self.size = max(self.size, size)

    def view(self) -> np.ndarray:
        return self.data[: self.size]


class ModelBasedPlanner:
    """Learn a maximum-likelihood tabular model of the visible MDP and act on its value-iteration plan.

    Args:
        n_actions: size of the discrete action space.
        config: hyperparameters (see :class:`PlannerConfig`).
        seed: seed of the agent's random streams (exploration, greedy tie-breaking).
    """

    def __init__(self, n_actions: int, config: PlannerConfig | None = None, seed: int | None = None) -> None:
        self.n_actions = positive_int(n_actions, "n_actions")
        self.config = PlannerConfig() if config is None else config
        if not isinstance(self.config, PlannerConfig):
            raise TypeError(f"config: expected a PlannerConfig, got {type(self.config).__name__}")
        self._rng = random.Random(seed)
        self._np_rng = np.random.default_rng(seed)
        self._index: dict[Hashable, int] = {}
        self._keys: list[Hashable] = []
        self._visits = _Grow(np.int64)  # (S * A,)
        self._reward_sum = _Grow(np.float64)  # (S * A,)
        self._pair: dict[tuple[int, int], int] = {}
        self._rows = _Grow(np.int64)  # (n_pairs,) row s * A + a
        self._cols = _Grow(np.int64)  # (n_pairs,) successor s'
        self._counts = _Grow(np.int64)  # (n_pairs,)
        self._q = np.zeros((0, self.n_actions))
        self._greedy: list[int] = []
        self._episodes_since_plan = 0
        self.last_sweeps = 0

    @property
    def n_states(self) -> int:
        """Number of distinct observation keys seen (as a state or a non-terminal successor)."""
        return len(self._keys)

    def _state(self, key: Hashable) -> int:
        s = self._index.get(key)
        if s is None:
            s = len(self._keys)
            self._index[key] = s
            self._keys.append(key)
            self._visits.ensure((s + 1) * self.n_actions)
            self._reward_sum.ensure((s + 1) * self.n_actions)
        return s

    def epsilon(self, episode: int, n_episodes: int) -> float:
        """Exploration rate of training episode ``episode`` of ``n_episodes`` (the config's schedule)."""
        return self.config.exploration.value(episode, n_episodes)

    def observe(
        self, key: Hashable, action: int, reward: float, next_key: Hashable, terminated: bool
    ) -> None:
        """Count one transition in the model (no planning here; see :meth:`end_episode`)."""
        sa = self._state(key) * self.n_actions + action
        self._visits.data[sa] += 1
        self._reward_sum.data[sa] += reward
        if terminated:
            return
        s2 = self._state(next_key)
        i = self._pair.get((sa, s2))
        if i is None:
            i = len(self._pair)
            self._pair[(sa, s2)] = i
            for arr in (self._rows, self._cols, self._counts):
                arr.ensure(i + 1)
            self._rows.data[i] = sa
            self._cols.data[i] = s2
        self._counts.data[i] += 1

    def model(self) -> tuple[list[Hashable], sp.csr_matrix, np.ndarray, np.ndarray]:
        """The learned model.

        Returns:
            ``(keys, P, R, visits)``: ``keys`` the ``S`` observation keys in index order; ``P``
            ``(S * A, S)`` sparse empirical successor probabilities (row ``s * A + a``; a row sums to
            1 minus the empirical termination probability, and is empty for an untried pair); ``R``
            ``(S, A)`` mean visible reward (0 where untried); ``visits`` ``(S, A)`` ``n(s, a)``.
        """
        n_s, n_a = self.n_states, self.n_actions
        visits = self._visits.view()[: n_s * n_a].astype(np.float64)
        rows = self._rows.view()
        with np.errstate(divide="ignore", invalid="ignore"):
            probs = self._counts.view() / visits[rows]
            mean_r = np.where(visits > 0, self._reward_sum.view()[: n_s * n_a] / np.maximum(visits, 1), 0.0)
        p = sp.csr_matrix((probs, (rows, self._cols.view())), shape=(n_s * n_a, n_s))
        return list(self._keys), p, mean_r.reshape(n_s, n_a), visits.reshape(n_s, n_a).astype(np.int64)

    def plan(self, max_iter: int | None = None) -> np.ndarray:
        """Solve the current model by value iteration, warm-started from the last plan; returns Q ``(S, A)``.

        Stops at ``config.tol`` or after ``max_iter`` sweeps (default ``config.max_iter``). The greedy
        action of each state is an argmax of its row, ties broken uniformly at random.
        """
        cfg = self.config
        n_s, n_a = self.n_states, self.n_actions
        visits = self._visits.view()[: n_s * n_a].astype(np.float64)
        sa = self._rows.view()
        am = (sa % n_a) * n_s + sa // n_a  # row s * A + a -> a * S + s
        p = sp.csr_matrix((self._counts.view() / visits[sa], (am, self._cols.view())), shape=(n_a * n_s, n_s))
        known = visits > 0
        r = np.full(n_s * n_a, cfg.unknown_value)
        r[known] = self._reward_sum.view()[: n_s * n_a][known] / visits[known]
        q0 = np.full((n_a, n_s), cfg.unknown_value)
        q0[:, : self._q.shape[0]] = self._q.T
        q, self.last_sweeps = _solve(
            p, r.reshape(n_s, n_a).T, cfg.gamma, q0, cfg.tol, cfg.max_iter if max_iter is None else max_iter
        )
        noise = self._np_rng.random(q.shape)
        self._greedy = np.argmax(np.where(q >= q.max(axis=0) - 1e-12, noise, -1.0), axis=0).tolist()
        self._q = np.ascontiguousarray(q.T)
        return self._q.copy()

    def q_values(self) -> np.ndarray:
        """``(S, A)`` Q-values of the last plan (rows of states first seen since then are missing)."""
        return self._q.copy()

    def q(self, key: Hashable) -> np.ndarray:
        """``(n_actions,)`` planned Q-values of ``key`` (``unknown_value`` if not planned yet)."""
        s = self._index.get(key)
        if s is None or s >= self._q.shape[0]:
            return np.full(self.n_actions, self.config.unknown_value)
        return self._q[s].copy()

    def begin_episode(self, episode: int, n_episodes: int) -> None:
        """Nothing to set per episode: the planner has no learning rate."""

    def act(self, key: Hashable, epsilon: float) -> int:
        """Epsilon-greedy on the last plan; a key without a planned row gets a uniform action."""
        if epsilon > 0.0 and self._rng.random() < epsilon:
            return self._rng.randrange(self.n_actions)
        s = self._index.get(key)
        if s is None or s >= len(self._greedy):
            return self._rng.randrange(self.n_actions)
        return self._greedy[s]

    def end_episode(self) -> None:
        """Replan after every ``replan_every`` training episodes."""
        self._episodes_since_plan += 1
        if self._episodes_since_plan >= self.config.replan_every:
            self._episodes_since_plan = 0
            self.plan(min(self.config.sweeps_per_plan, self.config.max_iter))

    def end_training(self) -> None:
        """Make the final plan from all the experience, to ``tol`` (or ``max_iter`` sweeps)."""
        self._episodes_since_plan = 0
        self.plan()
