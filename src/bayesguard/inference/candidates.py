"""Candidate parents: a pruned space of parent sets for the order and partition samplers.

Order MCMC sums, for every node ``j``, over the parent sets of ``j`` inside its predecessors; with all
``d - 1`` other nodes as candidates and in-degree bound ``k`` a node has ``sum_{s<=k} C(d-1, s)`` sets
(19,650 at ``d = 50``, ``k = 3``), too many to tabulate. Restricting each node to ``K`` *candidate*
parents (``K ~ 10-12``) leaves ``sum_{s<=k} C(K, s)`` sets (299 for ``K = 12``, ``k = 3``), and the
``2^K`` subset sums fit in a lookup table.

- :func:`candidate_parents` chooses ``K`` candidates per node from the scores alone (no MCMC).
- :func:`expand_candidates` widens them after a run in the plus-one space (BiDAG-style).

Required edges of the structure prior are always candidates; forbidden ones never are.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from .._validate import positive_int
from .parent_sets import ParentSetTable, check_candidates, check_max_parents, score_lists, subset_lists

__all__ = ["candidate_parents", "expand_candidates"]

METHODS = ("greedy", "pairwise")


def _constraints(score: object, d: int) -> tuple[np.ndarray, np.ndarray]:
    """``(required, forbidden)`` ``(d, d)`` bool of the score's structure prior (none without a prior)."""
    prior = getattr(score, "prior", None)
    if prior is None:
        return np.zeros((d, d), bool), np.zeros((d, d), bool)
    return np.asarray(prior.required, bool), np.asarray(prior.forbidden, bool)


def _with(sets: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """``(s, w)`` index sets and ``(n,)`` nodes -> ``(n * s, w + 1)``: every set plus every node."""
    s, w = sets.shape
    out = np.empty((pool.size, s, w + 1), dtype=np.int64)
    out[:, :, :w] = sets[None]
    out[:, :, w] = pool[:, None]
    return out.reshape(pool.size * s, w + 1)


def _lse_rows(x: np.ndarray) -> np.ndarray:
    """Log-sum-exp along the last axis, ``-inf`` for rows of ``-inf`` (no warnings)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return logsumexp(x, axis=-1)


def _greedy_node(score: object, j: int, pool: np.ndarray, start: list[int], n_cand: int, k: int) -> list[int]:
    """Greedy forward choice of the candidates of node ``j`` (see :func:`candidate_parents`)."""
    chosen = list(start)
    pool = np.array([i for i in pool if i not in chosen], dtype=np.int64)
    if pool.size == 0 or len(chosen) >= n_cand or k == 0:
        return chosen
    # gain[i] = log sum_{S subset chosen, |S| <= k-1} exp score(j, S + i): the mass the sets containing i add
    base = subset_lists(np.asarray(chosen, dtype=np.int64), k - 1)  # (s, k - 1)
    sets = _with(base, pool)  # (n_pool * s, k)
    gain = _lse_rows(score_lists(score, np.full(sets.shape[0], j), sets).reshape(pool.size, -1))
    while pool.size and len(chosen) < n_cand:
        best = int(np.argmax(gain))
        if not np.isfinite(gain[best]):
            break
        c = int(pool[best])
        keep = np.arange(pool.size) != best
        pool, gain = pool[keep], gain[keep]
        old = np.asarray(chosen, dtype=np.int64)
        chosen.append(c)
        if pool.size == 0 or k < 2:
            continue
        # new sets containing i: {i, c} + S', S' subset of the old candidates with |S'| <= k - 2
        rest = _with(subset_lists(old, k - 2), np.array([c], dtype=np.int64))
        sets = _with(rest, pool)
        extra = _lse_rows(score_lists(score, np.full(sets.shape[0], j), sets).reshape(pool.size, -1))
        gain = np.logaddexp(gain, extra)
    return chosen


def _greedy_ranks(
    score: object, allowed: np.ndarray, required: np.ndarray, n_rank: int, k: int
) -> np.ndarray:
    """``(d, d)`` int: ``[i, j]`` the step at which the greedy selection of ``j`` picked ``i``.

    ``d`` where ``i`` is not among the first ``n_rank`` picks; required parents come first."""
    d = allowed.shape[0]
    rank = np.full((d, d), d, dtype=np.int64)
    for j in range(d):
        start = np.flatnonzero(required[:, j]).tolist()
        picked = _greedy_node(score, j, np.flatnonzero(allowed[:, j]), start, max(n_rank, len(start)), k)
        rank[picked, j] = np.arange(len(picked))
    return rank


def candidate_parents(
    score: object, K: int = 12, *, method: str = "greedy", max_parents: int = 3
) -> np.ndarray:
    """Up to ``K`` candidate parents per node, chosen from the local scores: ``(d, d)`` bool,
    ``[i, j]`` True when ``i`` is a candidate parent of ``j``.

    Methods:

    - ``"greedy"`` (default): first a forward selection per node. Starting from the required parents
      of ``j``, repeatedly add the node ``i`` that most raises the *total* mass
      ``log sum_{S subset C + i, |S| <= max_parents} exp score(j, S)`` of ``j``'s parent sets inside
      the chosen ``C`` plus ``i`` (the log-sum-exp, not the single best set), up to ``K`` nodes; the
      mass of the sets containing ``i`` is updated incrementally as candidates join, so a step scores
      only the sets holding both the newcomer and ``i``. That selection favours ``j``'s Markov
      blanket as seen when every node may precede ``j``: its children and their other parents often
      predict ``j`` better than a true parent does, and crowd it out (at ``d = 20``, ``N = 100``,
      ER-2 this lost edges of posterior probability 1). So the candidates of ``j`` are then chosen
      from two ranked lists, alternately: the nodes ``j`` picked (by their step) and the nodes that
      picked ``j`` (by the step at which they did), the first ``K`` distinct ones. A true parent
      missed by ``j``'s own selection is usually found by the parent's, where ``j`` is a strong child.
    - ``"pairwise"``: rank ``i`` by the marginal posterior of ``i -> j`` over the parent sets of ``j``
      of size ``<= 2`` drawn from all other nodes (every other node a predecessor); take the top
      ``K``. One table, cheap; blind to effects that need three parents.

    Required edges of the score's prior are always candidates (even beyond ``K``); forbidden ones
    never are. Pair this with the plus-one space (:class:`~.order_space.OrderSpace`) and
    :func:`expand_candidates`: no choice made from the local scores alone catches every parent.

    Args:
        score: anything with ``d`` and ``local_many(nodes, masks)`` (score plus prior), e.g. a
            :class:`~bayesguard.theories.causal.structure.StructureScore`; its ``prior`` (if any)
            gives the required and forbidden edges.
        K: candidates per node, ``>= 1`` (capped at ``d - 1``).
        method: ``"greedy"`` or ``"pairwise"``.
        max_parents: largest parent set the greedy criterion scores (``1`` ranks single parents).
    """
    d = int(score.d)
    K = positive_int(K, "K")
    k = check_max_parents(max_parents, d)
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    required, forbidden = _constraints(score, d)
    allowed = ~forbidden & ~np.eye(d, dtype=bool)
    if method == "greedy":
        rank = _greedy_ranks(score, allowed, required, K, k)
        key = np.minimum(2 * rank, 2 * rank.T + 1)  # own picks on even keys, picked-by on odd keys
        allowed &= key < 2 * d  # in neither list: never a candidate
    else:
        table = ParentSetTable.build(score, max_parents=min(2, d - 1), candidates=allowed)
        key = np.argsort(np.argsort(-_pairwise_probs(table), axis=0, kind="stable"), axis=0)
    key = np.where(allowed, key, np.iinfo(np.int64).max)
    out = np.zeros((d, d), dtype=bool)
    top = np.argsort(key, axis=0, kind="stable")[: min(K, d - 1)]  # (K, d)
    cols = np.broadcast_to(np.arange(d), top.shape)
    out[top, cols] = np.take_along_axis(allowed, top, axis=0)
    out |= required
    return check_candidates(out, d)


def _pairwise_probs(table: ParentSetTable) -> np.ndarray:
    """``(d, d)`` marginal probability of ``i -> j`` over ``table``'s sets of ``j`` (all predecessors)."""
    d = table.d
    s = table.scores - table.scores.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        w = np.where(table.masks >= 0, np.exp(s), 0.0)
    w /= w.sum(axis=1, keepdims=True)
    bits = ((table.masks[:, :, None] >> np.arange(d)) & 1).astype(np.float64) * (table.masks >= 0)[..., None]
    return np.einsum("jp,jpi->ij", w, bits)


def expand_candidates(
    candidates: np.ndarray,
    edge_probs: np.ndarray,
    *,
    threshold: float = 0.05,
    max_candidates: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Widen the candidate parents after a run in the plus-one space (one round of BiDAG-style
    expansion; Kuipers, Suter & Moffa 2022).

    In the plus-one space (:class:`~.order_space.OrderSpace` with ``plus_one``) every node may take one
    parent outside its candidates, so the run's edge marginals ``P(i -> j)`` for non-candidate ``i``
    show which parents the pruning missed. Each ``i`` with ``P(i -> j) >= threshold`` joins the
    candidates of ``j`` (largest first, up to ``max_candidates`` candidates in all per node). Rebuild
    the space and run again; repeat until nothing is added. With the Rao-Blackwellised marginals of
    :meth:`~.order_mcmc.OrderMCMCResult.edge_marginals` a parent is added from its probability under
    the visited orders, not from whether a DAG draw happened to contain it.

    Args:
        candidates: ``(d, d)`` bool current candidates.
        edge_probs: ``(d, d)`` edge marginals of a run on the plus-one space of ``candidates``.
        threshold: smallest marginal that adds a parent, in ``(0, 1]``.
        max_candidates: most candidates per node after the expansion (None: no limit); existing
            candidates are kept even beyond it.

    Returns:
        ``(new_candidates, added)``, two ``(d, d)`` bool matrices.
    """
    given = np.asarray(candidates)
    if given.ndim != 2 or given.shape[0] != given.shape[1]:
        raise ValueError(f"candidates: expected a (d, d) boolean matrix, got shape {given.shape}")
    d = given.shape[0]
    cand = check_candidates(given, d)
    probs = np.asarray(edge_probs, dtype=np.float64)
    if probs.shape != (d, d) or not np.all(np.isfinite(probs)):
        raise ValueError(f"edge_probs: expected a finite ({d}, {d}) array, got shape {probs.shape}")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
        raise ValueError(f"threshold: expected a number in (0, 1], got {threshold!r}")
    added = (probs >= threshold) & ~cand & ~np.eye(d, dtype=bool)
    if max_candidates is not None:
        room = np.maximum(positive_int(max_candidates, "max_candidates") - cand.sum(axis=0), 0)
        rank = np.argsort(np.argsort(-np.where(added, probs, -1.0), axis=0, kind="stable"), axis=0)
        added &= rank < room[None, :]
    return cand | added, added
