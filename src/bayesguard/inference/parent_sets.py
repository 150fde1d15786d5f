"""Every admissible parent set of every node, scored once: the table that the dynamic programs and the
order / partition samplers read instead of calling the scorer.

A parent set of node ``j`` is admissible when it has at most ``k`` members (the in-degree bound) and
all of them are *candidate* parents of ``j`` (``candidates[i, j]``; all other nodes when no candidates
are given). Sets are ``int64`` bitmasks ``sum_{i in pa} 1 << i``. The table holds, per node, the masks
and their scores ``local(j, pa) + prior(j, pa)`` (the structure score's :meth:`local_many`), padded to a
common width with mask ``-1`` and score ``-inf``.

Size: node ``j`` with ``c_j`` candidates has ``sum_{s <= k} C(c_j, s)`` sets: 1,160 for ``c_j = 19``,
``k = 3`` (``d = 20``, no pruning); 1,351 for ``c_j = 15``, ``k = 4``. One scorer call scores them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb
from typing import Any

import numpy as np

#: Refuse to build tables with more parent sets than this in all (memory and scorer time).
MAX_SETS = 20_000_000


#: The default in-degree bound of the DP and order MCMC: none up to this many variables, else
#: :data:`DEFAULT_BOUND` (the exact programmes' tables grow as ``d * C(d - 1, <= k)``).
UNBOUNDED_UP_TO = 15
DEFAULT_BOUND = 3


def default_max_parents(d: int) -> int | None:
    """The in-degree bound used by default at ``d`` variables (None: unbounded, up to 15 variables)."""
    return None if d <= UNBOUNDED_UP_TO else DEFAULT_BOUND


def _bits(d: int) -> np.ndarray:
    return np.int64(1) << np.arange(d, dtype=np.int64)


def check_candidates(candidates: object, d: int) -> np.ndarray:
    """``(d, d)`` bool candidate-parent matrix (``[i, j]``: ``i`` may be a parent of ``j``), diagonal False.

    None means every other node. Raises ValueError naming the field on a bad shape or dtype.
    """
    if candidates is None:
        return ~np.eye(d, dtype=bool)
    c = np.asarray(candidates)
    if c.shape != (d, d) or not (c.dtype == bool or np.issubdtype(c.dtype, np.integer)):
        raise ValueError(f"candidates: expected a ({d}, {d}) boolean matrix, got shape {c.shape} {c.dtype}")
    c = c.astype(bool)
    if np.any(np.diag(c)):
        raise ValueError("candidates: a node cannot be its own candidate parent (diagonal must be False)")
    return c


def check_max_parents(max_parents: object, d: int) -> int:
    """The in-degree bound as an int in ``[0, d - 1]`` (None: ``d - 1``, no bound)."""
    if max_parents is None:
        return d - 1
    if not isinstance(max_parents, int | np.integer) or isinstance(max_parents, bool) or max_parents < 0:
        raise ValueError(f"max_parents: expected a non-negative integer or None, got {max_parents!r}")
    return int(min(max_parents, d - 1))


def subsets_upto(members: np.ndarray, k: int) -> np.ndarray:
    """Bitmasks of every subset of ``members`` ``(c,)`` with at most ``k`` elements, smallest first."""
    bits = _bits(64)[np.asarray(members, dtype=np.int64)]
    out = [np.zeros(1, dtype=np.int64)]
    for s in range(1, min(k, bits.size) + 1):
        combos = np.array(list(combinations(range(bits.size), s)), dtype=np.int64)
        out.append(bits[combos].sum(axis=1))
    return np.concatenate(out)


def subset_lists(members: np.ndarray, k: int) -> np.ndarray:
    """Every subset of ``members`` ``(c,)`` with at most ``k`` elements as rows of node indices: ``(n, k)``
    int64, padding ``-1``, smallest first (the order of :func:`subsets_upto`). Any node indices."""
    m = np.asarray(members, dtype=np.int64)
    out = [np.full((1, k), -1, dtype=np.int64)]
    for s in range(1, min(k, m.size) + 1):
        combos = np.array(list(combinations(range(m.size), s)), dtype=np.int64)
        rows = np.full((combos.shape[0], k), -1, dtype=np.int64)
        rows[:, :s] = m[combos]
        out.append(rows)
    return np.concatenate(out)


def score_lists(score: Any, nodes: np.ndarray, sets: np.ndarray) -> np.ndarray:
    """Score ``(m,)`` nodes with parent sets given as ``(m, s)`` rows of node indices (padding ``-1``):
    through ``score.local_many`` (bitmasks, cached) up to 62 nodes, ``score.local_bits`` above."""
    d = int(score.d)
    sets = np.asarray(sets, dtype=np.int64)
    nodes = np.asarray(nodes, dtype=np.int64)
    if d <= 62:
        masks = np.where(sets >= 0, np.left_shift(np.int64(1), np.maximum(sets, 0)), 0).sum(axis=1)
        return np.asarray(score.local_many(nodes, masks), dtype=np.float64)
    if not hasattr(score, "local_bits"):
        raise TypeError(f"score: above 62 nodes the score needs local_bits(nodes, parents) (d = {d})")
    bits = np.zeros((sets.shape[0], d + 1), dtype=bool)
    bits[np.arange(sets.shape[0])[:, None], np.where(sets >= 0, sets, d)] = True
    return np.asarray(score.local_bits(nodes, bits[:, :d]), dtype=np.float64)


@dataclass(frozen=True)
class ParentSetTable:
    """Scored admissible parent sets of every node.

    Attributes:
        masks: ``(d, P)`` int64 bitmasks, row ``j`` the sets of node ``j`` (padding ``-1``).
        scores: ``(d, P)`` float64 ``local + prior`` of each set (padding and inadmissible ``-inf``).
        counts: ``(d,)`` number of real sets per node.
        candidates: ``(d, d)`` bool candidate parents used.
        max_parents: the in-degree bound ``k``.
    """

    masks: np.ndarray
    scores: np.ndarray
    counts: np.ndarray
    candidates: np.ndarray
    max_parents: int

    @property
    def d(self) -> int:
        return int(self.masks.shape[0])

    @property
    def n_sets(self) -> int:
        return int(self.counts.sum())

    @classmethod
    def build(cls, score: Any, max_parents: int | None = None, candidates: object = None) -> ParentSetTable:
        """Score every admissible set of every node with one ``score.local_many`` call.

        Args:
            score: anything with ``d`` and ``local_many(nodes, masks)`` (a
                :class:`~bayesguard.theories.causal.structure.StructureScore`).
            max_parents: in-degree bound ``k`` (None: no bound).
            candidates: ``(d, d)`` bool candidate parents, or None for all.
        """
        d = int(score.d)
        if d > 62:
            raise ValueError(f"score: parent sets are int64 bitmasks, so d <= 62 (got {d})")
        k = check_max_parents(max_parents, d)
        cand = check_candidates(candidates, d)
        n_per = [sum(comb(int(cand[:, j].sum()), s) for s in range(k + 1)) for j in range(d)]
        if sum(n_per) > MAX_SETS:
            raise ValueError(
                f"max_parents/candidates: {sum(n_per):,} parent sets exceed {MAX_SETS:,}; "
                "lower the in-degree bound or prune the candidates"
            )
        width = max(n_per)
        masks = np.full((d, width), -1, dtype=np.int64)
        for j in range(d):
            masks[j, : n_per[j]] = subsets_upto(np.flatnonzero(cand[:, j]), k)
        real = masks >= 0
        nodes = np.broadcast_to(np.arange(d)[:, None], masks.shape)
        scores = np.full(masks.shape, -np.inf)
        scores[real] = score.local_many(nodes[real], masks[real])
        return cls(masks, scores, np.asarray(n_per, dtype=np.int64), cand, k)

    def dense(self, node: int) -> np.ndarray:
        """Node ``node``'s scores scattered over all ``2^d`` subsets: ``(2^d,)`` (``-inf`` where absent)."""
        if self.d > 30:
            raise ValueError(f"dense: 2^d subsets are too many at d = {self.d}")
        out = np.full(1 << self.d, -np.inf)
        n = int(self.counts[node])
        out[self.masks[node, :n]] = self.scores[node, :n]
        return out

    def best_within(self, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per node, the log-sum-exp of the scores of its sets inside ``allowed`` ``(d,)`` int64 masks.

        Returns ``(log_sum (d,), best_mask (d,))`` where ``best_mask`` is the highest-scoring set inside.
        """
        inside = (self.masks >= 0) & ((self.masks & ~allowed[:, None]) == 0)
        s = np.where(inside, self.scores, -np.inf)
        top = s.max(axis=1)
        shift = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(divide="ignore"):
            total = np.log(np.exp(s - shift[:, None]).sum(axis=1)) + shift
        return total, self.masks[np.arange(self.d), s.argmax(axis=1)]


class BoundedScore:
    """A structure score restricted to in-degree at most ``max_parents``: ``local_many`` is ``-inf`` for
    larger parent sets, so any sampler on it (edge-flip MCMC, the GFlowNet's rewards) targets the same
    restricted posterior as the dynamic programmes with that bound.

    Args:
        score: a structure score (``d``, ``local_many``, ``prior``).
        max_parents: the bound ``k``.
    """

    def __init__(self, score: Any, max_parents: int) -> None:
        self.score = score
        self.d = int(score.d)
        self.max_parents = check_max_parents(max_parents, self.d)
        self.prior = getattr(score, "prior", None)

    @property
    def names(self) -> tuple[str, ...]:
        return self.score.names

    @property
    def cache(self) -> Any:
        return self.score.cache

    def local_many(self, nodes: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """``(m,)`` local score plus prior, ``-inf`` where the set has more than ``max_parents`` members."""
        masks = np.asarray(masks, dtype=np.int64)
        size = ((masks[:, None] >> np.arange(self.d, dtype=np.int64)) & 1).sum(axis=1)
        out = np.asarray(self.score.local_many(nodes, masks), dtype=np.float64)
        return np.where(size > self.max_parents, -np.inf, out)

    def local_bits(self, nodes: np.ndarray, parents: np.ndarray) -> np.ndarray:
        """``(m,)`` like :meth:`local_many`, parent sets as ``(m, d)`` boolean rows (any ``d``)."""
        bits = np.asarray(parents, dtype=bool)
        out = np.asarray(self.score.local_bits(nodes, bits), dtype=np.float64)
        return np.where(bits.sum(axis=1) > self.max_parents, -np.inf, out)

    def log_posterior(self, adj: np.ndarray) -> np.ndarray:
        """``(n,)`` unnormalised log posterior of ``(n, d, d)`` graphs under the bound."""
        a = np.asarray(adj, dtype=bool)
        over = a.sum(axis=1).max(axis=1) > self.max_parents
        return np.where(over, -np.inf, self.score.log_posterior(a))
