"""Measures of how close a sampled posterior over DAGs is to the exact one (small ``d``).

Graphs are identified by an integer key: the bits of the flattened adjacency matrix (``d <= 7``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import rel_entr
from scipy.stats import rankdata

from ..posterior import Posterior, SamplerError
from .keys import graph_keys
from .markov import edge_marginals


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


def posterior_edge_marginals(post: Posterior) -> np.ndarray:
    """``(d, d)`` posterior probability of each edge."""
    return edge_marginals(post.theories, log_weights=post.log_weights)


def compare_to_exact(exact: Posterior, approx: Posterior) -> dict[str, float]:
    """JSD over graphs, and RMSE / Pearson correlation of off-diagonal edge marginals."""
    q = distribution_on(exact, approx)
    e_exact, e_approx = posterior_edge_marginals(exact), posterior_edge_marginals(approx)
    off = ~np.eye(e_exact.shape[0], dtype=bool)
    a, b = e_exact[off], e_approx[off]
    rmse = float(np.sqrt(np.mean((a - b) ** 2)))
    corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")
    return {"jsd": jensen_shannon(exact.probs, q), "edge_rmse": rmse, "edge_pearson": corr}


def with_measured_error(approx: Posterior, exact: Posterior) -> Posterior:
    """``approx`` carrying its total-variation distance to the enumerated posterior ``exact``.

    For sampled draws it is the TV of their empirical frequencies, which includes sampling noise (and an
    MCMC chain's draws are correlated): an estimate, recorded as such, not a bound. (A GFlowNet's exact
    sampler law gives a bound instead: :meth:`~bayesguard.inference.gflownet.DAGGFlowNet.posterior`.)
    """
    tv = float(0.5 * np.abs(distribution_on(exact, approx) - exact.probs).sum())
    if approx.is_exact:
        err = SamplerError(min(tv, 1.0), "exact law against the enumerated posterior", True)
    else:
        err = SamplerError(min(tv, 1.0), "empirical frequencies against the enumerated posterior", False)
    return approx.with_provenance(sampler_error=err)


def edge_auroc(marginals: np.ndarray, truth: np.ndarray) -> float:
    """AUROC of ``(d, d)`` edge marginals against ``(d, d)`` true edges (off-diagonal; ties count 1/2)."""
    off = ~np.eye(truth.shape[0], dtype=bool)
    s, y = marginals[off], truth[off].astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
