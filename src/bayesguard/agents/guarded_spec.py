"""Guarded agents for the specification worlds: a posterior over what the visible reward means.

:class:`RewardPosteriorAgent` (side effects, absent supervisor, boat race, conveyor belt, rocks and
diamonds, whisky and gold; tomato watering in :mod:`.spec_tomato`):

1. **World model.** The reachable states, from the simulator (:func:`~.world_model.build_world_model`),
   with the world's event features (:mod:`.spec_features`). Exact where the world is deterministic;
   Monte Carlo where a step is random (whisky's drunken moves); partial (the nearest 5,000 states)
   for rocks and diamonds, whose box configurations explode.
2. **Theories.** The finite grid of linear rewards over the event features (:mod:`.spec_features`),
   a :class:`~bayesguard.theories.reward.FiniteRewardFamily` with a uniform prior: its posterior is
   exact.
3. **Questions.** Up to ``n_questions`` EIG-chosen comparisons of two trajectories from a pool of
   rollouts (:mod:`.spec_questions`), answered by :class:`~.guarded.TrajectoryHuman` by hidden
   performance.
4. **Plan.** Candidate policies: the optimal policies (in the model) of ``n_plan`` posterior draws and
   of the MAP theory; their exact expected feature sums give each candidate's return under every
   theory, and the conservative rule ``reward_rule`` (worst case over ``M_alpha`` by default) picks one.
5. **Act.** In each state the context is ``(n_actions, f)``: the features of taking each action and then
   following the plan to the episode's end. The proposed action (the plan's) and then the others, in
   order of their conservative value, go through ``guard.check`` (the one
   :class:`~bayesguard.guard.guard.Guard`, the regret harm of the reward family, cautious rule): the
   first ALLOWed one is taken; a REJECT is logged and blocks that action in that state for good; an
   ASK is resolved, while ``max_asks`` lasts, by showing the human the two continuations (this action
   then the plan, and the posterior-mean best other action then the plan) and re-planning on the
   answer; beyond the budget an ASKed action is skipped like a REJECT but not blocked. If nothing is
   allowed, the fallback is the first ASKed action in that order; failing that (every action
   rejected) the agent must take a rejected action, which it records in ``forced`` (never seen in the
   runs reported).

The logs key a state as ``(env.state_key(), answers so far)``: the guard's verdicts depend on the
posterior, which changes only with a human answer, so a rejection blocks the action in that state for
as long as the posterior that made it stands (a rejection under an older posterior is stale).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..guard.guard import Guard
from ..guard.reward_rules import apply_reward_rule
from ..theories.reward import FiniteRewardFamily
from .guarded import (
    GuardedConfig,
    GuardedLog,
    TrajectoryHuman,
    no_principled_answer,
    register,
)
from .spec_features import SPECS, WorldSpec
from .spec_questions import ask_questions, model_policy, rollout, trajectory_pool
from .world_model import (
    WorldModel,
    build_world_model,
    optimal_policies,
    policy_feature_sums,
    policy_values,
    q_features,
)

#: Worlds whose model is partial: at most this many states, the nearest first.
PARTIAL_STATES = {"rocks-diamonds": 5000}

OFF_SWITCH_REASON = (
    "safe interruptibility asks that the agent not learn to avoid or seek interruption; a posterior "
    "over what the visible reward means cannot express that (the hidden score of an episode depends on "
    "whether an interruption was scheduled, which no observable event reveals), so any agent we wrote "
    "would hand-code 'do not press B'"
)


class RewardPosteriorAgent(GuardedLog):
    """The guarded agent of a specification world (see the module docstring).

    Attributes:
        spec: the world's features and theories; config: budgets and rules; guard: the one Guard
            (after ``train``); model: the :class:`~.world_model.WorldModel`; policy: ``(S,)`` the plan;
        human: the :class:`~.guarded.TrajectoryHuman` (its answers are counted in ``n_answers``);
        forced: ``(state_key, action)`` taken although rejected (the last resort; expected empty).
    """

    def __init__(self, spec: WorldSpec, config: GuardedConfig, seed: int = 0) -> None:
        self.spec, self.config, self.seed = spec, config, int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.guard: Guard | None = None
        self.model: WorldModel | None = None
        self.policy: np.ndarray | None = None
        self.human = TrajectoryHuman(config.beta, config.eps)
        self.forced: list[tuple[Any, int]] = []
        self._resolved = 0
        self._init_log()

    # ------------------------------------------------------------------ training
    def train(self, env_factory: Callable[[], Any], n_episodes: int = 0, seed: int = 0) -> None:
        """Build the model, ask the questions, plan (``n_episodes`` is unused: nothing is learned by
        trial and error)."""
        cfg, spec = self.config, self.spec
        env = env_factory().unwrapped
        self.sim = env_factory().unwrapped  # where the continuations shown to the human are played
        self.sim.reset(seed=seed)  # sets the attributes a snapshot does not carry (e.g. box origins)
        self.horizon = int(env.max_steps)
        limit = PARTIAL_STATES.get(spec.world)
        self.model = build_world_model(
            env, spec.feature_fn, spec.names, max_states=limit or cfg.max_states, n_samples=cfg.n_samples,
            seed=seed, truncate=limit is not None,
        )  # fmt: skip
        family = FiniteRewardFamily(
            spec.theories(), n_actions=int(env.action_space.n), model=self.human.model,
            tolerance=cfg.regret_tol * spec.regret_scale, feature_names=spec.names,
            name=f"{spec.world}-reward",
        )  # fmt: skip
        pool = trajectory_pool(
            env, self.model, family.candidates, np.asarray(spec.visible), spec.feature_fn, cfg.pool_size,
            self.horizon, self.rng,
        )  # fmt: skip
        family = ask_questions(family, pool, self.human, cfg.n_questions, self.rng)
        self.n_answers = self.human.n_answers
        self.guard = Guard(family, family.posterior(), cfg.guard_rule, cfg.threshold, alpha=cfg.alpha)
        self._plan()

    def _belief(self) -> tuple[np.ndarray, np.ndarray]:
        post = self.guard.posterior  # type: ignore[union-attr]
        return post.theories, post.probs

    def _plan(self) -> None:
        """Candidate policies from posterior draws and the MAP; the conservative rule picks one."""
        theories, probs = self._belief()
        draws = self.rng.choice(probs.size, self.config.n_plan, p=probs)
        picked = theories[np.unique(np.append(draws, np.argmax(probs)))]
        pols = np.unique(optimal_policies(self.model, picked, self.horizon), axis=0)
        mu = policy_feature_sums(self.model, pols, self.horizon)  # (n_pol, f)
        self.policy = pols[int(self._ranking(theories @ mu.T, probs)[0])]
        self.values = policy_values(self.model, self.policy, self.horizon)

    # ------------------------------------------------------------------ acting
    def begin_episode(self, env: Any) -> None:
        """Nothing to reset between episodes (the posterior carries over)."""

    def _fallback(self, env: Any) -> int:
        return int(self.rng.integers(int(env.action_space.n)))

    def _context(self, env: Any) -> tuple[int | None, np.ndarray | None]:
        s = self.model.index.get(env.state_key())  # type: ignore[union-attr]
        if s is None:
            return None, None
        return s, q_features(self.model, self.values, s, max(self.horizon - env.t, 1))

    def _order(self, ctx: np.ndarray, proposed: int) -> list[int]:
        """The proposed action, then the others by conservative value (best first)."""
        theories, probs = self._belief()
        rest = [int(a) for a in self._ranking(theories @ ctx.T, probs) if a != proposed]
        return [proposed, *rest]

    def _ranking(self, rewards: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """Options ``(K, n)`` rewards ranked best first by the conservative rule's value, ties (within
        ``1e-9`` relative) broken by the posterior mean, then by index."""
        value = apply_reward_rule(self.config.rule_config(), rewards, probs).value
        mean = probs @ rewards
        scale = max(1.0, float(np.abs(value).max()))
        return np.lexsort((np.arange(value.size), -mean, -np.round(value / (scale * 1e-9))))

    def act(self, env: Any) -> int:
        """An action the guard did not reject here (see the module docstring)."""
        env = env.unwrapped
        while True:
            key = (env.state_key(), self.n_answers)  # the verdicts change only with an answer
            s, ctx = self._context(env)
            if s is None:  # outside a partial model: one-step lookahead is all we have; still guarded
                ctx = self._one_step(env)
                proposed = int(np.argmax(ctx @ self._belief()[0].T @ self._belief()[1]))
            else:
                proposed = int(self.policy[s])  # type: ignore[index]
            asked: list[int] = []
            retry = False
            for a in self._order(ctx, proposed):
                if self.is_blocked(key, a):
                    continue
                verdict = self.guard.check(ctx, a)  # type: ignore[union-attr]
                if verdict.decision == "ALLOW":
                    return self.log_execute(key, a)
                if verdict.decision == "REJECT":
                    self.log_reject(key, a)
                    continue
                self.n_asks += 1
                if self._resolved < self.config.max_asks:
                    self._resolve(env, ctx, a)
                    retry = True
                    break
                asked.append(a)
            if retry:
                continue
            if asked:
                return self.log_execute(key, asked[0])
            a = proposed
            self.forced.append((key, a))
            self.executed.append((key, a))
            return a

    def _one_step(self, env: Any) -> np.ndarray:
        snap = env.clone_state()
        out = []
        for a in range(int(env.action_space.n)):
            env.restore_state(snap)
            _, r, _, _, info = env.step(a)
            out.append(self.spec.feature_fn(env, snap, a, float(r), info))
        env.restore_state(snap)
        return np.asarray(out)

    def _resolve(self, env: Any, ctx: np.ndarray, action: int) -> None:
        """Show the human this action then the plan, against the posterior-mean best other action then
        the plan (both played on a copy of the simulator); condition on the answer; re-plan."""
        self._resolved += 1
        theories, probs = self._belief()
        mean = probs @ theories @ ctx.T
        mean[action] = -np.inf
        other = int(np.argmax(mean))
        follow = self._follower()
        snap = env.clone_state()
        trajs = []
        for first in (action, other):
            self.sim.restore_state(snap)
            done = [False]

            def fn(e: Any, first: int = first, done: list[bool] = done) -> int:
                if not done[0]:
                    done[0] = True
                    return first
                return follow(e)

            trajs.append(rollout(self.sim, fn, self.spec.feature_fn, self.model.n_features, reset=False))
        a_, b_ = trajs
        pref = self.human.compare(a_.features, b_.features, a_.performance, b_.performance, self.rng)
        self.n_answers = self.human.n_answers
        self.guard.observe(pref)  # type: ignore[union-attr]
        self._plan()

    def _follower(self) -> Callable[[Any], int]:
        """The plan as ``action_fn(env)`` (random in a state the model lacks)."""
        return model_policy(self.model, self.policy, self._fallback)  # type: ignore[arg-type]

    def describe(self) -> str:
        """The five most probable theories with their posterior probabilities."""
        if self.guard is None:
            return f"{self.spec.world}: untrained"
        theories, probs = self._belief()
        top = np.argsort(-probs)[:5]
        lines = [f"{self.spec.world}: {probs.size} reward theories, {self.n_answers} answers; top:"]
        lines += [f"  p={probs[i]:.3f} {self.guard.family.describe(theories[i])}" for i in top]
        return "\n".join(lines)


def _factory(world: str) -> Callable[..., RewardPosteriorAgent]:
    def make(config: GuardedConfig | None = None, seed: int = 0) -> RewardPosteriorAgent:
        return RewardPosteriorAgent(SPECS[world], config or GuardedConfig(), seed)

    return make


for _world in SPECS:
    register(_world)(_factory(_world))
no_principled_answer("off-switch", OFF_SWITCH_REASON)
