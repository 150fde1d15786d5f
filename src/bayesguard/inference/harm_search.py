"""Harm-seeking search: look on purpose for plausible graphs under which an action is harmful.

A plain posterior sample can miss a dangerous theory that is "alone in its gang": a graph with little
but non-negligible posterior mass, surrounded by harmless ones. The search samples the *tilted* target

    pi(G)  proportional to  p(G | D) * P(H | x, a, G, D) ** beta

by Metropolis-Hastings over DAGs (chains started from posterior samples, so the search begins where the
posterior lives), with the symmetric move of structure MCMC: pick an unordered pair of variables and
move its edge state to one of the two other states (none, i -> j, j -> i), refusing cycles. Every graph
*proposed* is scored anyway, so all of them, accepted or not, are kept as candidates; the caller then
tests each candidate's membership of the cautious set ``M_alpha`` under the untilted posterior.

``P(H | x, a, G, D)`` is the parameter-averaged harm of the graph, computed with the same parameter
variates for every graph (common random numbers), so the target is a fixed function of ``G``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .._validate import positive_int
from ..graphs.dag import is_acyclic, reaches
from ..graphs.keys import unique_graphs

GraphFn = Callable[[np.ndarray], np.ndarray]


class SearchResult(NamedTuple):
    """Distinct graphs met by the search, best tilted score first.

    Attributes:
        graphs: ``(m, d, d)`` bool.
        log_posterior: ``(m,)`` unnormalised log posterior ``log p(G) + log p(D | G)``.
        harm: ``(m,)`` the graph's harm probability for the searched action.
        n_evaluated: graphs scored in all (with repeats).
        acceptance: mean acceptance rate of the chains.
    """

    graphs: np.ndarray
    log_posterior: np.ndarray
    harm: np.ndarray
    n_evaluated: int
    acceptance: float


def tilted_chains(
    log_posterior: GraphFn,
    harm: GraphFn,
    init: np.ndarray,
    *,
    n_steps: int = 200,
    beta: float = 1.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Run ``len(init)`` Metropolis-Hastings chains on ``p(G | D) P(H | G) ** beta``.

    Returns:
        ``(states, graphs, log_posterior, harm, acceptance)``: the chains' final graphs ``(K, d, d)``,
        every graph scored along the way ``(M, d, d)`` with its log posterior and harm ``(M,)``, and
        the mean acceptance rate.
    """
    adj = np.array(init, dtype=bool)
    if adj.ndim != 3 or adj.shape[1] != adj.shape[2] or adj.shape[1] < 2:
        raise ValueError(f"init: expected (K, d, d) graphs with d >= 2, got shape {adj.shape}")
    if not is_acyclic(adj).all():
        raise ValueError("init: starting graphs must be acyclic")
    n_steps = positive_int(n_steps, "n_steps")
    if not (np.isfinite(beta) and beta > 0):
        raise ValueError(f"beta: expected a positive number, got {beta!r}")
    rng = np.random.default_rng(seed)
    k, d, _ = adj.shape
    rows = np.arange(k)
    iu, ju = np.triu_indices(d, 1)

    def tilted(lp: np.ndarray, h: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return lp + beta * np.log(h)

    lp = log_posterior(adj)
    h = harm(adj)
    seen_g, seen_lp, seen_h = [adj.copy()], [lp.copy()], [h.copy()]
    accepted = 0
    for _ in range(n_steps):
        p = rng.integers(0, iu.size, k)
        i, j = iu[p], ju[p]
        state = adj[rows, i, j] * 1 + adj[rows, j, i] * 2  # 0 none, 1 i->j, 2 j->i
        new = (state + 1 + rng.integers(0, 2, k)) % 3
        prop = adj.copy()
        prop[rows, i, j] = new == 1
        prop[rows, j, i] = new == 2
        cleared = adj.copy()
        cleared[rows, i, j] = False
        cleared[rows, j, i] = False
        src = np.where(new == 1, j, i)  # adding i -> j closes a cycle iff j already reaches i
        dst = np.where(new == 1, i, j)
        ok = np.ones(k, dtype=bool)
        adding = new != 0
        if adding.any():
            ok[adding] = ~reaches(cleared[adding], src[adding], dst[adding])
        u = np.log(rng.random(k))  # drawn every step, so a chain's randomness does not depend on others
        if not ok.any():
            continue
        idx = np.flatnonzero(ok)
        cand = prop[idx]
        lp_new = log_posterior(cand)
        h_new = harm(cand)
        seen_g.append(cand)
        seen_lp.append(lp_new)
        seen_h.append(h_new)
        t_new, t_old = tilted(lp_new, h_new), tilted(lp[idx], h[idx])
        with np.errstate(invalid="ignore"):
            acc = np.isfinite(t_new) & (~np.isfinite(t_old) | (u[idx] < t_new - t_old))
        a = idx[acc]
        adj[a], lp[a], h[a] = cand[acc], lp_new[acc], h_new[acc]
        accepted += int(acc.sum())
    return (
        adj,
        np.concatenate(seen_g),
        np.concatenate(seen_lp),
        np.concatenate(seen_h),
        accepted / (k * n_steps),
    )


def harm_seeking_search(
    log_posterior: GraphFn,
    harm: GraphFn,
    init: np.ndarray,
    *,
    n_steps: int = 200,
    beta: float = 1.0,
    keep: int = 256,
    seed: int = 0,
) -> SearchResult:
    """Run ``len(init)`` tilted chains for ``n_steps`` and return the best ``keep`` distinct graphs.

    Args:
        log_posterior: ``(K, d, d) -> (K,)`` unnormalised log posterior of acyclic graphs.
        harm: ``(K, d, d) -> (K,)`` harm probability of each graph for the (context, action) searched.
        init: ``(K, d, d)`` acyclic starting graphs (e.g. posterior samples).
        n_steps: Metropolis-Hastings steps per chain.
        beta: tilt exponent (1: ``p(G | D) P(H | G)``; larger leans harder toward harm).
        keep: how many distinct graphs to return, ranked by tilted score.
        seed: random seed.
    """
    keep = positive_int(keep, "keep")
    _, graphs, lps, hs, acceptance = tilted_chains(
        log_posterior, harm, init, n_steps=n_steps, beta=beta, seed=seed
    )
    _, first, _ = unique_graphs(graphs)
    with np.errstate(divide="ignore"):
        score = lps[first] + beta * np.log(hs[first])
    order = first[np.argsort(-score, kind="stable")][:keep]
    return SearchResult(graphs[order], lps[order], hs[order], int(graphs.shape[0]), acceptance)
