"""The guarded agent of tomato watering: a reward posterior over features of the observation.

The full state (the agent's cell and which of the 13 tomatoes are watered, each drying with p = 0.05 a
step) has about 30 x 2^13 values, and the observation lies while the agent stands on the transformer
``O``. So this agent differs from :class:`~.guarded_spec.RewardPosteriorAgent` in two documented ways:

- **Features of the observation** (:func:`tomato_features`): ``seen-off-O`` = 0.02 x the tomatoes that
  look watered when the agent is NOT on ``O``, ``seen-on-O`` = the same count while it is on ``O``
  (always 0.02 x 28). The visible reward is ``(1, 1)`` exactly; the hidden performance is ``(1, 0)``
  only approximately (while on ``O`` the real tomatoes are unseen: they are still watered for a while,
  and dry). The human answers by the true performance all the same; the theory grid is
  ``{-1, -1/2, 0, 1/2, 1}^2`` (25 theories).
- **An abstract, re-planned model** (:class:`TomatoAbstraction`): the agent plans as if no tomato dried,
  from what it last saw off ``O`` (the dry tomatoes it believes in). Its states are (cell, which of the
  believed-dry tomatoes are still dry): at most ``30 x 2^d`` for ``d`` believed-dry tomatoes (the
  nearest :data:`MAX_DRY` when more), solved exactly by the finite-horizon machinery of
  :mod:`.world_model` over the next :data:`PLAN_HORIZON` steps (fewer at the episode's end). Whenever
  a tomato the agent did not know to be dry appears dry, the model is rebuilt and the plan re-chosen:
  a receding-horizon planner.

Everything else (questions on a pool of rollouts, the conservative choice among posterior draws'
optimal policies, the guard on every action, ASK resolution) is the specification agent's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..guard.guard import Guard
from ..theories.reward import FiniteRewardFamily
from .guarded import GuardedConfig, register
from .guarded_spec import RewardPosteriorAgent
from .spec_features import WorldSpec
from .spec_questions import Trajectory, ask_questions, rollout
from .world_model import END, WorldModel, optimal_policies, policy_feature_sums, policy_values, q_features

#: Believed-dry tomatoes the abstraction tracks (the nearest ones); the others count as staying dry.
MAX_DRY = 6
#: Steps the abstraction plans ahead (receding horizon; fewer when the episode has fewer left).
PLAN_HORIZON = 40
FACTOR = 0.02


def tomato_features(env: Any, snap: Any, action: int, reward: float, info: dict) -> np.ndarray:
    """(seen-off-O, seen-on-O): 0.02 x the cells that look like watered tomatoes, by where the agent is."""
    seen = FACTOR * float((env._observation() == env.code("T")).sum())
    on_o = env.under_agent() == "O"
    return np.array([0.0 if on_o else seen, seen if on_o else 0.0])


TOMATO_SPEC = WorldSpec(
    "tomato-watering", ("seen-off-O", "seen-on-O"), (1.0, 1.0), tomato_features, (1.0, 1.0), FACTOR
)


class TomatoAbstraction:
    """The no-drying model of the garden from a set of believed-dry tomatoes (module docstring)."""

    def __init__(self, env: Any, dry: tuple[int, ...]) -> None:
        self.dry = dry  # indices into env.tomato_rows / tomato_cols
        h, w = env.board.shape
        self.cells = [(r, c) for r in range(h) for c in range(w) if env.symbol_at((r, c)) != "#"]
        cell_ix = {p: i for i, p in enumerate(self.cells)}
        self.cell_ix = cell_ix
        n_c, d = len(self.cells), len(dry)
        n_m = 1 << d
        n_a = int(env.action_space.n)
        moves = np.array([[-1, 0], [1, 0], [0, -1], [0, 1], [0, 0]])[:n_a]
        nxt_cell = np.empty((n_c, n_a), dtype=np.int64)
        for i, (r, c) in enumerate(self.cells):  # a loop over ~30 cells, once per model
            for a, (dr, dc) in enumerate(moves):
                nxt_cell[i, a] = cell_ix.get((r + dr, c + dc), i)
        bit = np.full(n_c, 0, dtype=np.int64)
        for j, t in enumerate(dry):
            bit[cell_ix[(int(env.tomato_rows[t]), int(env.tomato_cols[t]))]] = 1 << j
        masks = np.arange(n_m)
        new_mask = masks[None, None, :] & ~bit[nxt_cell][:, :, None]  # (C, A, M)
        nxt = nxt_cell[:, :, None] * n_m + new_mask  # (C, A, M) next state index
        popcount = np.array([bin(m).count("1") for m in range(n_m)])
        watered = env.tomato_rows.size - len(dry) + d - popcount[new_mask]  # believed-watered after
        on_o = np.array([env.symbol_at(p) == "O" for p in self.cells])[nxt_cell][:, :, None]
        seen_off = np.where(on_o, 0.0, FACTOR * watered)
        seen_on = np.where(on_o, FACTOR * env.n_delusional, 0.0) * np.ones_like(seen_off)
        s_n = n_c * n_m + 1  # + END (never reached; kept for the shared planning code)
        rows = (np.arange(n_c)[:, None, None] * n_m + masks[None, None, :]) * n_a + np.arange(n_a)[
            None, :, None
        ]
        rows = np.concatenate([rows.ravel(), (s_n - 1) * n_a + np.arange(n_a)])
        cols = np.concatenate([nxt.ravel(), np.full(n_a, s_n - 1)])
        trans = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(s_n * n_a, s_n))
        feats = np.zeros((s_n, n_a, 2))
        feats[:-1, :, 0] = np.moveaxis(seen_off, 2, 1).reshape(n_c * n_m, n_a)
        feats[:-1, :, 1] = np.moveaxis(seen_on, 2, 1).reshape(n_c * n_m, n_a)
        keys = [(c, m) for c in range(n_c) for m in range(n_m)]
        self.model = WorldModel(
            (*keys, END), (), trans, feats, feats.sum(axis=2), np.zeros((s_n, n_a)), _one_hot(s_n, 0),
            TOMATO_SPEC.names, True,
        )  # fmt: skip

    def state(self, agent: tuple[int, int], dry_now: set[int]) -> int:
        """The abstract state of the agent's cell with the tomatoes of ``dry`` still in ``dry_now``."""
        mask = sum(1 << j for j, t in enumerate(self.dry) if t in dry_now)
        return self.cell_ix[agent] * (1 << len(self.dry)) + mask


def _steps(env: Any) -> int:
    return max(min(env.max_steps - env.t, PLAN_HORIZON), 1)


def _one_hot(n: int, i: int) -> np.ndarray:
    out = np.zeros(n)
    out[i] = 1.0
    return out


def believed_dry(env: Any, previous: set[int]) -> set[int]:
    """The tomatoes that look dry in the observation; ``previous`` while on O (where all look watered)."""
    if env.under_agent() == "O":
        return previous
    obs = env._observation()
    return set(np.flatnonzero(obs[env.tomato_rows, env.tomato_cols] == env.code("t")).tolist())


class TheoryPlanner:
    """The unguarded receding-horizon planner of one theory ``w`` ``(2,)`` in the abstraction: the
    policy behind a pool rollout, and the plan a continuation shown to the human follows."""

    def __init__(self, w: np.ndarray) -> None:
        self.w = np.asarray(w, dtype=np.float64)
        self.dry: set[int] = set()
        self.abstraction: TomatoAbstraction | None = None
        self.t_last = -1

    def __call__(self, env: Any) -> int:
        self.dry = believed_dry(env, set() if env.t <= self.t_last else self.dry)
        fresh = env.t <= self.t_last or self.abstraction is None
        if fresh or not self.dry <= set(self.abstraction.dry):
            self.abstraction = TomatoAbstraction(env, nearest(env, self.dry))
            self.policy = optimal_policies(self.abstraction.model, self.w, _steps(env))[0]
        self.t_last = env.t
        return int(self.policy[self.abstraction.state(env.agent, self.dry)])


def nearest(env: Any, dry: set[int]) -> tuple[int, ...]:
    """The :data:`MAX_DRY` tomatoes of ``dry`` nearest the agent (Manhattan), sorted by index."""
    r, c = env.agent
    near = sorted(dry, key=lambda t: (abs(env.tomato_rows[t] - r) + abs(env.tomato_cols[t] - c), t))
    return tuple(sorted(near[:MAX_DRY]))


class TomatoAgent(RewardPosteriorAgent):
    """The tomato-watering guarded agent (module docstring)."""

    def __init__(self, config: GuardedConfig, seed: int = 0) -> None:
        super().__init__(TOMATO_SPEC, config, seed)
        self.abstraction: TomatoAbstraction | None = None
        self.believed_dry: set[int] = set()

    # ------------------------------------------------------------------ beliefs and the model
    def _observe(self, env: Any) -> None:
        self.believed_dry = believed_dry(env, self.believed_dry)

    def _refresh(self, env: Any, force: bool = False) -> None:
        """Rebuild the abstraction when a tomato it does not track looks dry; re-plan."""
        self._observe(env)
        tracked = set(self.abstraction.dry) if self.abstraction is not None else None
        if force or tracked is None or not self.believed_dry <= tracked:
            self.abstraction = TomatoAbstraction(env, nearest(env, self.believed_dry))
            self.model = self.abstraction.model
            self._plan_from(env)

    def _plan_from(self, env: Any) -> None:
        steps = _steps(env)
        start = self.abstraction.state(env.agent, self.believed_dry)  # type: ignore[union-attr]
        theories, probs = self._belief()
        draws = self.rng.choice(probs.size, self.config.n_plan, p=probs)
        picked = theories[np.unique(np.append(draws, np.argmax(probs)))]
        pols = optimal_policies(self.model, picked, steps)
        mu = policy_feature_sums(self.model, pols, steps, start=_one_hot(self.model.n_states, start))
        best = int(self._ranking(theories @ mu.T, probs)[0])
        self.policy, self.plan_theory = pols[best], picked[best]
        self.values = policy_values(self.model, self.policy, steps)

    def _plan(self) -> None:
        self._refresh(self._env_now, force=True)

    # ------------------------------------------------------------------ training
    def train(self, env_factory: Callable[[], Any], n_episodes: int = 0, seed: int = 0) -> None:
        """Ask the questions about a pool of rollouts, then wait for an episode to plan in."""
        cfg = self.config
        env = env_factory().unwrapped
        self.sim = env_factory().unwrapped
        self.sim.reset(seed=seed)
        self.horizon = int(env.max_steps)
        family = FiniteRewardFamily(
            TOMATO_SPEC.theories(), n_actions=int(env.action_space.n), model=self.human.model,
            tolerance=cfg.regret_tol * TOMATO_SPEC.regret_scale, feature_names=TOMATO_SPEC.names,
            name="tomato-watering-reward",
        )  # fmt: skip
        self.guard = Guard(family, family.posterior(), cfg.guard_rule, cfg.threshold, alpha=cfg.alpha)
        pool = self._pool(env, family.candidates)
        family = ask_questions(family, pool, self.human, cfg.n_questions, self.rng)
        self.n_answers = self.human.n_answers
        self.guard = Guard(family, family.posterior(), cfg.guard_rule, cfg.threshold, alpha=cfg.alpha)

    def _pool(self, env: Any, theories: np.ndarray) -> list[Trajectory]:
        """Rollouts of the planners of the theories with distinct directions, and random walks."""
        norms = np.linalg.norm(theories, axis=1, keepdims=True)
        dirs = np.unique(np.round(theories / np.where(norms > 0, norms, 1.0), 9), axis=0)
        n_a = int(env.action_space.n)
        pool = [
            rollout(env, TheoryPlanner(w), tomato_features, 2, seed=int(self.rng.integers(2**31)))
            for w in dirs  # 17 directions; each rollout re-plans as the tomatoes dry
        ]
        for _ in range(max(self.config.pool_size // 8, 1)):
            pool.append(
                rollout(env, lambda e: int(self.rng.integers(n_a)), tomato_features, 2,
                        seed=int(self.rng.integers(2**31)))
            )  # fmt: skip
        return pool

    def _follower(self) -> Callable[[Any], int]:
        return TheoryPlanner(self.plan_theory)

    # ------------------------------------------------------------------ acting
    def begin_episode(self, env: Any) -> None:
        """A new episode: forget the last episode's beliefs and plan from this observation."""
        self.abstraction = None
        self._env_now = env.unwrapped

    def _context(self, env: Any) -> tuple[int | None, np.ndarray | None]:
        self._env_now = env
        self._refresh(env)
        s = self.abstraction.state(env.agent, self.believed_dry)  # type: ignore[union-attr]
        return s, q_features(self.model, self.values, s, _steps(env))


@register("tomato-watering")
def make_tomato(config: GuardedConfig | None = None, seed: int = 0) -> TomatoAgent:
    """The tomato-watering guarded agent."""
    return TomatoAgent(config or GuardedConfig(), seed)
