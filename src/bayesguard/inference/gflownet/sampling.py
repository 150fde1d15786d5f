"""Drawing actions and whole graphs from a forward policy (NumPy; the policy is a callable).

**Sampling is bounded.** A trajectory adds at most ``d (d - 1) / 2`` edges and then stops, so
:func:`sample_graphs` stops with a ``RuntimeError`` past that many steps; a policy whose probabilities
are not finite (NaN or overflowing weights) raises ``FloatingPointError`` instead of drawing from them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...graphs.dag import closure_add_edge
from .env import DAGEnv

#: ``log_probs(adj (K, d, d) bool, valid (K, d*d + 1) bool) -> (K, d*d + 1)`` log-probabilities.
LogProbs = Callable[[np.ndarray, np.ndarray], np.ndarray]


def policy_probabilities(logp: np.ndarray, valid: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Normalised probabilities ``(K, A)`` of the tempered policy ``logp (K, A)`` over ``valid (K, A)``.

    Raises:
        FloatingPointError: when a valid action's log-probability is NaN or ``+inf``, or no valid action
            has a finite one (non-finite or overflowing weights): drawing from such a row would pick an
            arbitrary, possibly invalid, action.
    """
    lp = np.where(valid, logp, -np.inf)
    bad = np.isnan(lp) | np.isposinf(lp)
    top = lp.max(axis=1, keepdims=True)
    bad_rows = bad.any(axis=1) | ~np.isfinite(top[:, 0])
    if bad_rows.any():
        raise FloatingPointError(
            f"the policy gives non-finite probabilities for {int(bad_rows.sum())} of {lp.shape[0]} graphs "
            "(NaN, infinite or overflowing weights?); refusing to sample from them"
        )
    p = np.exp((lp - top) / temperature)
    return p / p.sum(axis=1, keepdims=True)


def draw_actions(probs: np.ndarray, valid: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of ``probs (K, A)`` (finite, >= 0, zero off ``valid (K, A)``): ``(K,)`` int."""
    k = probs.shape[0]
    cdf = np.cumsum(probs, axis=1)
    u = (1.0 - rng.random((k, 1))) * cdf[:, -1:]  # in (0, total]: never lands on a zero-probability action
    a = np.minimum((cdf < u).sum(axis=1), probs.shape[1] - 1)
    if not valid[np.arange(k), a].all():
        raise RuntimeError("internal error: an invalid action was drawn")
    return a


def sample_graphs(
    env: DAGEnv, log_probs: LogProbs, n: int, rng: np.random.Generator, batch: int = 4096
) -> np.ndarray:
    """``n`` graphs ``(n, d, d)`` bool, each built from ``env``'s start graph by the forward policy
    ``log_probs`` until it stops, ``batch`` trajectories at a time.

    Raises:
        FloatingPointError: the policy's probabilities are not finite (NaN or overflowing weights).
        RuntimeError: a trajectory went past ``d (d - 1) / 2`` additions (impossible for a DAG).
    """
    d = env.d
    max_steps = d * (d - 1) // 2 + 1  # every addition, then the stop
    out = [np.zeros((0, d, d), dtype=bool)]
    for start in range(0, n, batch):
        k = min(batch, n - start)
        s = env.reset(k)
        live = np.arange(k)
        for _ in range(max_steps):
            if not live.size:
                break
            sub = env.subset(s, live)
            valid = env.valid_actions(sub)
            probs = policy_probabilities(log_probs(sub.adj, valid), valid)
            a = draw_actions(probs, valid, rng)
            go = a != env.stop
            if go.any():
                idx = live[go]
                i, j = np.divmod(a[go], d)
                s.adj[idx, i, j] = True
                s.closure[idx] = closure_add_edge(s.closure[idx], i, j)
            live = live[go]
        if live.size:
            raise RuntimeError(
                f"sample: {live.size} trajectories did not stop within {max_steps} steps "
                f"(at most d (d - 1) / 2 = {max_steps - 1} additions, then the stop)"
            )
        out.append(s.adj)
    return np.concatenate(out)
