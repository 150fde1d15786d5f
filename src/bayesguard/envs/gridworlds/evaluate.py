"""Running scripted policies on a gridworld: one episode, and a policy's expected returns.

A policy is a function ``policy(env) -> action`` of the environment's current state. :func:`policy_value`
is exact when the world's randomness is all in its reset (enumerated by ``env.scenarios``) and the
episode draws nothing after reset; otherwise it is a Monte Carlo mean with its standard error.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from .engine import GridWorldEnv

Policy = Callable[["GridWorldEnv"], int]


class EpisodeResult(NamedTuple):
    """One episode: returns, length, and whether the RNG was untouched after reset (deterministic)."""

    visible_return: float
    performance: float
    steps: int
    terminated: bool
    deterministic: bool


class PolicyValue(NamedTuple):
    """Expected visible return and performance of a policy, with standard errors (0 when exact)."""

    visible: float
    visible_se: float
    performance: float
    performance_se: float
    exact: bool
    n_episodes: int


def run_episode(
    env: GridWorldEnv, policy: Policy, seed: int | None = None, options: dict[str, Any] | None = None
) -> EpisodeResult:
    """Run ``policy(env) -> action`` for one episode from ``reset(seed, options)``."""
    env.reset(seed=seed, options=options)
    rng0 = copy.deepcopy(env.np_random.bit_generator.state)
    term = trunc = False
    while not (term or trunc):
        _, _, term, trunc, _ = env.step(policy(env))
    same = env.np_random.bit_generator.state == rng0
    return EpisodeResult(env.visible_return, env.performance, env.t, term, same)


def _reset_key(env: GridWorldEnv, seed: int, options: dict[str, Any]) -> Any:
    env.reset(seed=seed, options=options)
    return (env.state_key(), env.observation_key())


def policy_value(env: GridWorldEnv, policy: Policy, n_episodes: int = 200, seed: int = 0) -> PolicyValue:
    """Expected returns of a deterministic ``policy``.

    Exact when every scenario of ``env.scenarios`` (the reset's random draws, fixed by reset options)
    resets to the same state under 8 different seeds and runs without drawing random numbers after
    reset: then the value is the probability-weighted sum of one episode per scenario. Otherwise a Monte
    Carlo mean over ``n_episodes`` seeds ``seed, seed+1, ...`` with its standard error.
    """
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int) or n_episodes < 2:
        raise ValueError(f"n_episodes: expected an integer >= 2, got {n_episodes!r}")
    fixed = all(len({_reset_key(env, seed + i, opts) for i in range(8)}) == 1 for opts, _ in env.scenarios)
    runs = [(run_episode(env, policy, seed, opts), p) for opts, p in env.scenarios] if fixed else []
    if fixed and all(r.deterministic for r, _ in runs):
        vis = math.fsum(p * r.visible_return for r, p in runs)
        perf = math.fsum(p * r.performance for r, p in runs)
        return PolicyValue(vis, 0.0, perf, 0.0, True, len(runs))
    res = [run_episode(env, policy, seed + i) for i in range(n_episodes)]
    v = np.array([r.visible_return for r in res])
    h = np.array([r.performance for r in res])
    k = 1.0 / math.sqrt(n_episodes)
    vis_se, perf_se = float(v.std(ddof=1) * k), float(h.std(ddof=1) * k)
    return PolicyValue(float(v.mean()), vis_se, float(h.mean()), perf_se, False, n_episodes)
