"""Measures of how close a sampled posterior over DAGs is to the exact one (small ``d``).

Graphs are identified by an integer key: the bits of the flattened adjacency matrix (``d <= 7``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import rel_entr

from ...posterior import Posterior


def graph_keys(adj: np.ndarray) -> np.ndarray:
    """Integer key of each graph: ``(n, d, d) bool -> (n,) int64`` (``d <= 7``)."""
    a = np.asarray(adj, dtype=bool)
    if a.ndim != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"adj: expected shape (n, d, d), got {a.shape}")
    d = a.shape[1]
    if d * d > 63:
        raise ValueError(f"adj: graph keys need d <= 7, got d = {d}")
    bits = np.int64(1) << np.arange(d * d, dtype=np.int64)
    return a.reshape(a.shape[0], -1).astype(np.int64) @ bits


def distribution_on(exact: Posterior, approx: Posterior) -> np.ndarray:
    """``approx``'s probability of each theory of ``exact``: ``(n_exact,)``.

    ``exact`` must enumerate every graph (mass of ``approx`` outside it raises).
    """
    keys = graph_keys(exact.theories)
    order = np.argsort(keys)
    sorted_keys = keys[order]
    akeys = graph_keys(approx.theories)
    pos = np.searchsorted(sorted_keys, akeys)
    pos = np.minimum(pos, sorted_keys.size - 1)
    if not np.all(sorted_keys[pos] == akeys):
        raise ValueError("approx: holds graphs that are not among exact's theories (cyclic?)")
    q = np.zeros(keys.size)
    np.add.at(q, order[pos], approx.probs)
    return q


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence in nats (in ``[0, log 2]``) between two distributions ``(n,)``."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    m = 0.5 * (p + q)
    return float(0.5 * rel_entr(p, m).sum() + 0.5 * rel_entr(q, m).sum())


def edge_marginals(post: Posterior) -> np.ndarray:
    """``(d, d)`` posterior probability of each edge."""
    return np.tensordot(post.probs, np.asarray(post.theories, dtype=np.float64), axes=(0, 0))


def compare_to_exact(exact: Posterior, approx: Posterior) -> dict[str, float]:
    """JSD over graphs, and RMSE / Pearson correlation of off-diagonal edge marginals."""
    q = distribution_on(exact, approx)
    e_exact, e_approx = edge_marginals(exact), edge_marginals(approx)
    off = ~np.eye(e_exact.shape[0], dtype=bool)
    a, b = e_exact[off], e_approx[off]
    rmse = float(np.sqrt(np.mean((a - b) ** 2)))
    corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")
    return {"jsd": jensen_shannon(exact.probs, q), "edge_rmse": rmse, "edge_pearson": corr}
