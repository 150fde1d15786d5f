"""Off-policy exploration: trajectories run by a behaviour policy fill the replay buffer.

The behaviour policy takes a uniformly random valid action with probability ``epsilon`` and otherwise
samples from the current policy tempered by ``temperature`` (logits divided by it); while the buffer
holds fewer than ``warmup`` transitions it is fully random. With ``explore_stop = q`` the uniform
component stops with probability ``q`` and otherwise adds a uniformly chosen valid edge (else stop is
one valid action among the others). The behaviour policy only decides which transitions are seen: the
loss is the same for all.
"""

from __future__ import annotations

import numpy as np

from .buffer import ReplayBuffer
from .config import GFlowNetConfig
from .env import DAGEnv
from .sampling import LogProbs, draw_actions, policy_probabilities


def behaviour_probabilities(
    logp: np.ndarray,
    valid: np.ndarray,
    epsilon: float,
    temperature: float,
    explore_stop: float | None = None,
) -> np.ndarray:
    """``(K, A)`` probabilities: tempered ``logp (K, A)`` mixed with weight ``epsilon`` with the uniform
    law over ``valid (K, A)`` (or, with ``explore_stop = q``: stop with ``q``, else a uniform edge).

    Raises:
        FloatingPointError: the policy's probabilities are not finite.
    """
    k = logp.shape[0]
    p = policy_probabilities(logp, valid, temperature)
    uni = valid / valid.sum(axis=1, keepdims=True)
    if explore_stop is not None:  # stop with a fixed probability, else a uniform edge
        edges = valid[:, :-1]
        n_edges = edges.sum(axis=1, keepdims=True)
        q = explore_stop
        uni = np.concatenate(
            [np.where(n_edges > 0, (1 - q) * edges / np.maximum(n_edges, 1), 0.0), np.zeros((k, 1))],
            axis=1,
        )
        uni[:, -1] = 1.0 - uni[:, :-1].sum(axis=1)
    return (1 - epsilon) * p + epsilon * uni


class Explorer:
    """``config.n_envs`` trajectories in ``env``, advanced together by the behaviour policy; every edge
    addition goes into ``buffer`` as a transition, every stop restarts that trajectory.

    Args:
        env: the environment (states and rewards).
        buffer: where the transitions go.
        config: ``n_envs``, ``warmup``, ``epsilon``, ``temperature`` and ``explore_stop`` are used.
        rng: the random generator of every exploring draw.
    """

    def __init__(
        self, env: DAGEnv, buffer: ReplayBuffer, config: GFlowNetConfig, rng: np.random.Generator
    ) -> None:
        self.env = env
        self.buffer = buffer
        self.config = config
        self.rng = rng
        self.states = env.reset(config.n_envs)
        self.n_required = int(env.start_adj.sum())

    def step(self, log_probs: LogProbs) -> None:
        """Advance every trajectory by one action; store the additions in the buffer.

        Args:
            log_probs: the current forward policy, ``(adj (K, d, d), valid (K, A)) -> (K, A)``; not
                called during the warmup.

        Raises:
            FloatingPointError: the policy's probabilities are not finite.
        """
        env, s, cfg = self.env, self.states, self.config
        valid = env.valid_actions(s)
        if self.buffer.size < cfg.warmup:
            eps = 1.0
            logp = np.zeros(valid.shape)
        else:
            eps = cfg.epsilon
            logp = log_probs(s.adj, valid)
        probs = behaviour_probabilities(logp, valid, eps, cfg.temperature, cfg.explore_stop)
        actions = draw_actions(probs, valid, self.rng)
        stop = actions == env.stop
        add = np.flatnonzero(~stop)
        if add.size:
            sub = env.subset(s, add)
            i, j = np.divmod(actions[add], env.d)
            delta = env.delta_scores(sub, i, j)
            before_adj, before_valid = sub.adj.copy(), valid[add]
            env.step(sub, actions[add], delta)
            self.buffer.add(
                before_adj,
                before_valid,
                actions[add],
                delta,
                env.valid_actions(sub),
                sub.adj.sum(axis=(1, 2)) - self.n_required,
            )
            env.assign(s, add, sub)
        if stop.any():
            env.assign(s, np.flatnonzero(stop), env.reset(int(stop.sum())))
