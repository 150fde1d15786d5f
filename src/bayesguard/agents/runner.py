"""Train a tabular agent on a gridworld for N episodes, then evaluate it for M; record reward and safety.

Every episode yields two numbers: the **visible return** (the sum of the rewards the agent was trained
on) and the **performance** (the sum of the hidden safety reward, ``info["performance"]`` at the end of
the episode, which the agent never sees). The agents key their tables by
``env.unwrapped.observation_key()`` (see :func:`observation_key`); any ``key_fn(env) -> Hashable`` may
replace it.

Seeding: the environment is reset with ``seed`` at its first episode and continues its own random stream
afterwards; the agent carries its own seed. The same seeds give the same numbers.

Which action the agent learns from (:class:`UpdateAction`): a world may execute another action than the
one chosen and says so in ``info["executed_action"]``. In whisky and gold the drunk agent's move is
replaced by a random one with p = 0.9; in the original suite that randomness was the agent's OWN
exploration, so an off-policy learner updates the action that was actually taken. ``EXECUTED`` (the
default) therefore learns from ``info["executed_action"]`` when it is one of the agent's actions, and from
the chosen action otherwise (an interruption's injected no-op in a four-action world: from the agent's
view the world simply ignored its move, as in the original). ``CHOSEN`` always learns from the choice,
treating every substitution as part of the world's dynamics.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from .._validate import positive_int, unit_interval
from .tabular import TabularAgent


class UpdateAction(StrEnum):
    """The action a learning agent is updated with (see the module docstring)."""

    EXECUTED = "executed"
    CHOSEN = "chosen"


KeyFn = Callable[[gym.Env], Hashable]


def observation_key(env: gym.Env) -> Hashable:
    """The tabular key of the current observation: ``env.unwrapped.observation_key()``."""
    return env.unwrapped.observation_key()  # type: ignore[attr-defined]


@dataclass(frozen=True)
class EpisodeStats:
    """Per-episode outcomes of a run of episodes.

    Attributes:
        visible: ``(n_episodes,)`` visible return (sum of the rewards the agent learns from).
        performance: ``(n_episodes,)`` hidden performance (``info["performance"]``, else the sum of
            ``info["hidden_reward"]``).
        steps: ``(n_episodes,)`` episode lengths.
    """

    visible: np.ndarray
    performance: np.ndarray
    steps: np.ndarray


@dataclass(frozen=True)
class RunResult:
    """A training run followed by an evaluation of the trained agent.

    Attributes:
        train: outcomes of the training episodes (with exploration, while learning).
        evaluation: outcomes of the evaluation episodes (no learning, ``eval_epsilon`` exploration).
        n_states: number of observation keys in the agent's table at the end.
        seconds: wall-clock time of the whole run.
    """

    train: EpisodeStats
    evaluation: EpisodeStats
    n_states: int
    seconds: float


@dataclass(frozen=True)
class SeedSummary:
    """Runs of one agent on one world over several seeds.

    Attributes:
        seeds: ``(n_seeds,)`` the seeds.
        train_visible, train_performance: ``(n_seeds, n_train)``.
        eval_visible, eval_performance: ``(n_seeds, n_eval)``.
        seconds: ``(n_seeds,)`` wall-clock time per seed.
    """

    seeds: np.ndarray
    train_visible: np.ndarray
    train_performance: np.ndarray
    eval_visible: np.ndarray
    eval_performance: np.ndarray
    seconds: np.ndarray

    def mean_se(self, which: str = "eval_performance") -> tuple[float, float]:
        """Mean over seeds of the per-seed mean of ``which``, and its standard error across seeds.

        The seeds are the independent replicates (episodes within a seed share one trained agent), so
        the SE is ``std(per-seed means, ddof=1) / sqrt(n_seeds)`` (0 with one seed).
        """
        if which not in ("train_visible", "train_performance", "eval_visible", "eval_performance"):
            raise ValueError(f"which: expected one of train_/eval_ visible/performance, got {which!r}")
        per_seed = getattr(self, which).mean(axis=1)
        n = per_seed.shape[0]
        se = float(per_seed.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
        return float(per_seed.mean()), se


def run_episode(
    env: gym.Env,
    agent: TabularAgent,
    *,
    epsilon: float,
    learn: bool,
    seed: int | None = None,
    key_fn: KeyFn = observation_key,
    update: UpdateAction | str = UpdateAction.EXECUTED,
) -> tuple[float, float, int]:
    """Play one episode; returns ``(visible_return, performance, steps)``.

    With ``learn`` the agent sees every transition (``observe``, with the action given by ``update``)
    and ``end_episode`` is called at the end.
    """
    executed = UpdateAction(update) is UpdateAction.EXECUTED
    n_actions = agent.n_actions
    env.reset(seed=seed)
    key = key_fn(env)
    visible = hidden = 0.0
    performance: float | None = None
    steps = 0
    while True:
        action = agent.act(key, epsilon)
        _, reward, terminated, truncated, info = env.step(action)
        steps += 1
        reward = float(reward)
        visible += reward
        hidden += float(info.get("hidden_reward", 0.0))
        next_key = key_fn(env)
        if learn:
            taken = info.get("executed_action", action) if executed else action
            if not (isinstance(taken, int | np.integer) and 0 <= taken < n_actions):
                taken = action
            agent.observe(key, int(taken), reward, next_key, bool(terminated))
        key = next_key
        if terminated or truncated:
            if "performance" in info:
                performance = float(info["performance"])
            break
    if learn:
        agent.end_episode()
    return visible, hidden if performance is None else performance, steps


def _episodes(
    env: gym.Env,
    agent: TabularAgent,
    n: int,
    *,
    epsilon: Callable[[int], float],
    learn: bool,
    seed: int | None,
    key_fn: KeyFn,
    progress: bool,
    desc: str,
    update: UpdateAction | str = UpdateAction.EXECUTED,
) -> EpisodeStats:
    out = np.zeros((3, n))
    for i in tqdm(range(n), desc=desc, disable=not progress, unit="ep", mininterval=0.5):
        if learn:
            agent.begin_episode(i, n)
        out[:, i] = run_episode(
            env, agent, epsilon=epsilon(i), learn=learn, seed=seed if i == 0 else None, key_fn=key_fn,
            update=update,
        )  # fmt: skip
    return EpisodeStats(visible=out[0], performance=out[1], steps=out[2].astype(np.int64))


def train(
    agent: TabularAgent,
    env: gym.Env,
    episodes: int | None = None,
    *,
    seed: int | None = None,
    key_fn: KeyFn = observation_key,
    progress: bool = False,
    update: UpdateAction | str = UpdateAction.EXECUTED,
) -> EpisodeStats:
    """Train ``agent`` for ``episodes`` (default: its ``config.episodes``) on its epsilon schedule."""
    update = UpdateAction(update)
    if episodes is None:
        episodes = getattr(getattr(agent, "config", None), "episodes", None)
        if episodes is None:
            raise ValueError("episodes: expected an integer >= 1 (the agent has no config.episodes)")
    n = positive_int(episodes, "episodes")
    stats = _episodes(
        env, agent, n, epsilon=lambda i: agent.epsilon(i, n), learn=True, seed=seed, key_fn=key_fn,
        progress=progress, desc="train", update=update,
    )  # fmt: skip
    agent.end_training()
    return stats


def evaluate(
    agent: TabularAgent,
    env: gym.Env,
    episodes: int = 100,
    *,
    epsilon: float = 0.0,
    seed: int | None = None,
    key_fn: KeyFn = observation_key,
    progress: bool = False,
) -> EpisodeStats:
    """Play ``episodes`` without learning, acting epsilon-greedily (default: greedily) on the agent."""
    n = positive_int(episodes, "episodes")
    eps = unit_interval(epsilon, "epsilon")
    return _episodes(
        env, agent, n, epsilon=lambda i: eps, learn=False, seed=seed, key_fn=key_fn, progress=progress,
        desc="evaluate",
    )  # fmt: skip


def train_and_evaluate(
    agent: TabularAgent,
    env: gym.Env,
    *,
    train_episodes: int | None = None,
    eval_episodes: int = 100,
    eval_env: gym.Env | None = None,
    eval_epsilon: float = 0.0,
    seed: int = 0,
    key_fn: KeyFn = observation_key,
    progress: bool = False,
    update: UpdateAction | str = UpdateAction.EXECUTED,
) -> RunResult:
    """Train on ``env``, then evaluate on ``eval_env`` (default ``env``; e.g. a test level of the lava
    world) with seed ``seed + 1`` for the evaluation's first reset."""
    start = time.perf_counter()
    tr = train(agent, env, train_episodes, seed=seed, key_fn=key_fn, progress=progress, update=update)
    ev = evaluate(
        agent, env if eval_env is None else eval_env, eval_episodes, epsilon=eval_epsilon, seed=seed + 1,
        key_fn=key_fn, progress=progress,
    )  # fmt: skip
    n_states = int(getattr(agent, "n_states", 0))
    return RunResult(train=tr, evaluation=ev, n_states=n_states, seconds=time.perf_counter() - start)


def run_seeds(
    make_agent: Callable[[int], TabularAgent],
    make_env: Callable[[], gym.Env],
    seeds: Sequence[int],
    *,
    train_episodes: int | None = None,
    eval_episodes: int = 100,
    make_eval_env: Callable[[], gym.Env] | None = None,
    eval_epsilon: float = 0.0,
    key_fn: KeyFn = observation_key,
    progress: bool = False,
    update: UpdateAction | str = UpdateAction.EXECUTED,
) -> SeedSummary:
    """:func:`train_and_evaluate` once per seed, each with a fresh agent ``make_agent(seed)`` and fresh
    environments; results stacked ``(n_seeds, n_episodes)``."""
    if len(seeds) == 0:
        raise ValueError("seeds: expected at least one seed")
    runs: list[RunResult] = []
    for s in tqdm(list(seeds), desc="seeds", disable=not progress, unit="seed"):
        env = make_env()
        eval_env = None if make_eval_env is None else make_eval_env()
        runs.append(
            train_and_evaluate(
                make_agent(int(s)),
                env,
                train_episodes=train_episodes,
                eval_episodes=eval_episodes,
                eval_env=eval_env,
                eval_epsilon=eval_epsilon,
                seed=int(s),
                key_fn=key_fn,
                update=update,
            )
        )
        env.close()
        if eval_env is not None:
            eval_env.close()
    return SeedSummary(
        seeds=np.asarray(list(seeds), dtype=np.int64),
        train_visible=np.stack([r.train.visible for r in runs]),
        train_performance=np.stack([r.train.performance for r in runs]),
        eval_visible=np.stack([r.evaluation.visible for r in runs]),
        eval_performance=np.stack([r.evaluation.performance for r in runs]),
        seconds=np.array([r.seconds for r in runs]),
    )
