"""Trajectories a human can be asked about, and the questions put to the human (specification worlds).

**The pool** (:func:`trajectory_pool`): rollouts in the real environment of (a) the optimal policies,
in the world model, of theories drawn uniformly from the theory grid and of the visible reward's own
theory ("the reward means what it says"), and (b) a few uniform random walks. Each rollout is one
episode from a fresh seed (a world whose reset is random, e.g. the absent supervisor, shows each
policy in whichever scenario that seed draws). The learner keeps each trajectory's feature sum; only
the simulated human sees its hidden performance.

**Questions** (:func:`ask_questions`): one at a time, the pair of pool trajectories with the largest
expected information gain about the theory under the current posterior
(:mod:`bayesguard.marginal.questions`); asking stops at the budget or once no pair is worth
:data:`MIN_EIG` nats.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from scipy.special import expit

from ..marginal.questions import QueryStrategy, all_pairs, choose_query
from ..theories.reward import FiniteRewardFamily
from .guarded import TrajectoryHuman
from .world_model import FeatureFn, WorldModel, optimal_policies

if TYPE_CHECKING:
    from ..envs.gridworlds import GridWorldEnv

#: Stop asking once the best question's expected information gain is below this (nats).
MIN_EIG = 1e-3
#: Theories below this fraction of the most probable one are left out of the question scores.
LIVE_RTOL = 1e-9


class Trajectory(NamedTuple):
    """One rollout: ``features`` ``(f,)`` (the learner's), ``performance`` (the human's), ``visible``."""

    features: np.ndarray
    performance: float
    visible: float


def rollout(
    env: GridWorldEnv,
    action_fn: Callable[[GridWorldEnv], int],
    feature_fn: FeatureFn,
    n_features: int,
    *,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    reset: bool = True,
) -> Trajectory:
    """Run ``action_fn`` to the episode's end (from a reset, or from ``env``'s current state with
    ``reset=False``), summing the event features; the hidden performance is kept for the human."""
    if reset:
        env.reset(seed=seed, options=options)
    phi = np.zeros(n_features)
    perf = vis = 0.0
    while not env.done:
        snap = env.clone_state()
        a = int(action_fn(env))
        _, r, _, _, info = env.step(a)
        phi += feature_fn(env, snap, a, float(r), info)
        perf += float(info["hidden_reward"])
        vis += float(r)
    return Trajectory(phi, perf, vis)


def model_policy(
    model: WorldModel, policy: np.ndarray, fallback: Callable[[GridWorldEnv], int]
) -> Callable[[GridWorldEnv], int]:
    """``(S,)`` model policy as ``action_fn(env)``; ``fallback(env)`` in a state the model lacks."""

    def act(env: GridWorldEnv) -> int:
        s = model.index.get(env.state_key())
        return fallback(env) if s is None else int(policy[s])

    return act


def trajectory_pool(
    env: GridWorldEnv,
    model: WorldModel,
    theories: np.ndarray,
    visible: np.ndarray,
    feature_fn: FeatureFn,
    size: int,
    horizon: int,
    rng: np.random.Generator,
) -> list[Trajectory]:
    """``size`` trajectories (see the module docstring): ``size - size // 8`` from theories' optimal
    policies (the visible reward's first; duplicate policies replaced by fresh seeds of the same policy
    only when the world's reset is random), ``size // 8`` random walks."""
    n_rand = size // 8
    draws = theories[rng.choice(theories.shape[0], size - n_rand - 1, replace=False)]
    pols = optimal_policies(model, np.vstack([visible[None], draws]), horizon)
    random_start = len(getattr(env, "scenarios", ())) > 1
    if not random_start:
        pols = pols[np.sort(np.unique(pols, axis=0, return_index=True)[1])]
    n_a = int(env.action_space.n)

    def random_walk(e: GridWorldEnv) -> int:
        return int(rng.integers(n_a))

    pool = [
        rollout(
            env,
            model_policy(model, p, random_walk),
            feature_fn,
            model.n_features,
            seed=int(rng.integers(2**31)),
        )
        for p in pols
    ]
    pool += [
        rollout(env, random_walk, feature_fn, model.n_features, seed=int(rng.integers(2**31)))
        for _ in range(n_rand)
    ]
    return pool


def answer_probs(
    family: FiniteRewardFamily, theories: np.ndarray, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """``(K, n_pairs, 2)`` P(left, right) under each theory: ``(1 - eps) sigmoid(beta w.(l - r)) + eps/2``."""
    m = family.model
    beta = float(m.rationality.betas[0])
    p_left = (1.0 - m.eps) * expit(beta * (theories @ (left - right).T)) + m.eps / 2
    return np.stack([p_left, 1.0 - p_left], axis=-1)


def ask_questions(
    family: FiniteRewardFamily,
    pool: list[Trajectory],
    human: TrajectoryHuman,
    budget: int,
    rng: np.random.Generator,
) -> FiniteRewardFamily:
    """Ask up to ``budget`` EIG-chosen questions about pairs of ``pool``; the family holding the answers."""
    if budget <= 0 or len(pool) < 2:
        return family
    feats = np.stack([t.features for t in pool])
    perf = np.array([t.performance for t in pool])
    pairs = all_pairs(len(pool))
    left, right = feats[pairs[:, 0]], feats[pairs[:, 1]]
    for _ in range(budget):  # one question at a time: each answer changes the next question
        post = family.posterior()
        live = post.probs > LIVE_RTOL * post.probs.max()
        probs = answer_probs(family, post.theories[live], left, right)
        index, scores = choose_query(QueryStrategy.EIG, np.log(post.probs[live]), probs, rng)
        if scores[index] < MIN_EIG:
            break
        i, j = pairs[index]
        family = family.conditioned(human.compare(feats[i], feats[j], perf[i], perf[j], rng))
    return family
