"""Ordinary (unguarded) tabular agents, the baselines of the AI Safety Gridworlds, and their runner.

- :class:`QLearningAgent`: epsilon-greedy tabular Q-learning on the visible reward;
- :class:`ModelBasedPlanner`: learns a maximum-likelihood tabular model of the visible MDP from its own
  experience and acts on a value-iteration plan of it;
- :mod:`~bayesguard.agents.runner`: train for N episodes, evaluate for M, and record per episode the
  visible return and the hidden safety performance.

Both agents key their tables by ``env.unwrapped.observation_key()`` (what the agent sees) and never read
the hidden reward, so they reproduce the failures Leike et al. (2017) report for ordinary agents.
"""

from __future__ import annotations

from .planner import ModelBasedPlanner, PlannerConfig, value_iteration
from .runner import (
    EpisodeStats,
    RunResult,
    SeedSummary,
    UpdateAction,
    evaluate,
    observation_key,
    run_episode,
    run_seeds,
    train,
    train_and_evaluate,
)
from .tabular import EpsilonSchedule, QLearningAgent, QLearningConfig, TabularAgent

__all__ = [
    "EpisodeStats",
    "EpsilonSchedule",
    "ModelBasedPlanner",
    "PlannerConfig",
    "QLearningAgent",
    "QLearningConfig",
    "RunResult",
    "SeedSummary",
    "TabularAgent",
    "UpdateAction",
    "evaluate",
    "observation_key",
    "run_episode",
    "run_seeds",
    "train",
    "train_and_evaluate",
    "value_iteration",
]
