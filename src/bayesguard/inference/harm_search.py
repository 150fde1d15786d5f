"""Harm-seeking search: look on purpose for plausible graphs under which an action is harmful.

A plain posterior sample can miss a dangerous theory that is "alone in its gang": a graph with little
but non-negligible posterior mass, surrounded by harmless ones. The search samples the *tilted* target

    pi(G)  proportional to  p(G | D) * P(H | x, a, G, D) ** beta

by Metropolis-Hastings over DAGs (chains started from posterior samples, so the search begins where the
posterior lives): the edge-flip kernel of structure MCMC (:mod:`.kernels`: pick an unordered pair of
variables and move its edge state to one of the two other states, none, i -> j, j -> i, refusing cycles)
on the tilted density :func:`~.kernels.tilted_target`. Every graph *proposed* is scored anyway, so all of
them, accepted or not, are kept as candidates (from each step's info); the caller then tests each
candidate's membership of the cautious set ``M_alpha`` under the untilted posterior.

``P(H | x, a, G, D)`` is the parameter-averaged harm of the graph, computed with the same parameter
variates for every graph (common random numbers), so the target is a fixed function of ``G``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .._validate import positive_int
from ..graphs.keys import unique_graphs
from .driver import advance
from .kernels import EdgeFlipInfo, EdgeFlipState, edge_flip, tilted_target

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
    kernel = edge_flip(tilted_target(log_posterior, harm, beta))
    n_steps = positive_int(n_steps, "n_steps")
    state = kernel.init(init, field="init")
    seen_g, seen_terms = [state.adj], [state.terms]

    def keep_scored(_: EdgeFlipState, info: EdgeFlipInfo) -> None:
        if info.scored.all():
            seen_g.append(info.proposed)
            seen_terms.append(info.proposed_terms)
        elif info.scored.any():
            seen_g.append(info.proposed[info.scored])
            seen_terms.append(info.proposed_terms[info.scored])

    state, accepted = advance(kernel, state, np.random.default_rng(seed), n_steps, keep_scored)
    terms = np.concatenate(seen_terms)
    k = state.adj.shape[0]
    return state.adj, np.concatenate(seen_g), terms[:, 0], terms[:, 1], int(accepted.sum()) / (k * n_steps)


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
    score = tilted_target(log_posterior, harm, beta).log_density(np.stack([lps[first], hs[first]], axis=1))
    order = first[np.argsort(-score, kind="stable")][:keep]
    return SearchResult(graphs[order], lps[order], hs[order], int(graphs.shape[0]), acceptance)
