"""Decomposable Bayesian scores of DAGs and a cache of local scores.

Every score here is a log marginal likelihood that splits over the nodes of a DAG ``G``:

    log p(D | G) = sum_j local(j, pa_j),      local(j, pa) = log p(D_j | D_pa, G)

with the parent set ``pa`` of node ``j`` written as an ``int64`` bitmask ``sum_{i in pa} 1 << i``.

- :class:`BGeScore`: continuous data, Gaussian DAG models with a Normal-Wishart parameter prior
  (Geiger & Heckerman 2002, "Parameter priors for directed acyclic graphical models and the
  characterization of several probability distributions", Ann. Stat. 30(5)), in the corrected form and
  parametrisation of Kuipers, Moffa & Heckerman (2014, "Addendum on the scoring of Gaussian directed
  acyclic graphical models", Ann. Stat. 42(4)).
- :class:`BDeuScore`: categorical data, multinomial DAG models with the likelihood-equivalent uniform
  Dirichlet prior (Buntine 1991; Heckerman, Geiger & Chickering 1995, "Learning Bayesian networks: the
  combination of knowledge and statistical data", Mach. Learn. 20).
- :class:`ScoreCache`: memoises ``local(node, mask)`` and scores batches of graphs ``(n, d, d)`` with
  array operations, sending only the ``(node, mask)`` pairs it has not seen to the scorer, in one call.

Both scores are *score equivalent*: Markov-equivalent DAGs (same skeleton and v-structures) get the same
``log p(D | G)``.

Shapes: ``N`` rows of data, ``d`` variables, ``m`` (node, mask) pairs, ``n`` graphs.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .bdeu import BDeuScore
from .bge import BGeScore
from .score_checks import _as_index_array, _check_one, _check_pairs, _parent_masks

__all__ = ["BDeuScore", "BGeScore", "LocalScore", "ScoreCache"]


@runtime_checkable
class LocalScore(Protocol):
    """A decomposable score: what :class:`ScoreCache` needs from a scorer."""

    d: int

    def local(self, node: int, parent_mask: int) -> float:
        """``log p(D_node | D_pa)`` for the parent set encoded by ``parent_mask``."""
        ...

    def local_many(self, nodes: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Local scores of ``m`` pairs: ``nodes (m,) int64``, ``masks (m,) int64`` -> ``(m,) float64``."""
        ...


# --------------------------------------------------------------------------------------------------
# cache


class ScoreCache:
    """Memoised local scores of one scorer, and batched whole-graph scores.

    The cache is one ``dict`` per node, ``mask -> local score``. :meth:`graph_scores` turns a batch of
    graphs into ``(n, d)`` parent masks with array operations, looks up the distinct ``(node, mask)``
    pairs, sends the missing ones to ``scorer.local_many`` in a single call, and gathers.

    Attributes:
        scorer: the wrapped :class:`LocalScore`.
        n_scored: number of ``(node, mask)`` pairs computed by the scorer so far.
        n_scorer_calls: number of calls made to ``scorer.local_many``.
    """

    def __init__(self, scorer: LocalScore) -> None:
        if not (hasattr(scorer, "local_many") and hasattr(scorer, "d")):
            raise TypeError(
                f"scorer: expected a LocalScore (with d and local_many), got {type(scorer).__name__}"
            )
        self.scorer = scorer
        self.d: int = int(scorer.d)
        self._tables: list[dict[int, float]] = [{} for _ in range(self.d)]
        self.n_scored = 0
        self.n_scorer_calls = 0

    def __len__(self) -> int:
        return sum(len(t) for t in self._tables)

    def clear(self) -> None:
        """Forget every cached score (the counters are kept)."""
        for t in self._tables:
            t.clear()

    def _lookup(self, nodes: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Scores of validated ``(m,)`` pairs, deduplicated, with missing ones scored in one call."""
        if nodes.size == 0:
            return np.empty(0)
        if self.d <= 57:
            keys, inverse = np.unique((masks << 6) | nodes, return_inverse=True)
            u_nodes, u_masks = keys & 63, keys >> 6
        else:
            pairs, inverse = np.unique(np.stack([nodes, masks], axis=1), axis=0, return_inverse=True)
            u_nodes, u_masks = pairs[:, 0], pairs[:, 1]
        values = np.empty(u_nodes.shape[0])
        missing: list[int] = []
        tables = self._tables
        for i, (node, mask) in enumerate(zip(u_nodes.tolist(), u_masks.tolist(), strict=True)):
            v = tables[node].get(mask)
            if v is None:
                missing.append(i)
            else:
                values[i] = v
        if missing:
            miss = np.asarray(missing, dtype=np.int64)
            new = np.asarray(self.scorer.local_many(u_nodes[miss], u_masks[miss]), dtype=np.float64)
            self.n_scorer_calls += 1
            self.n_scored += miss.size
            values[miss] = new
            for node, mask, v in zip(
                u_nodes[miss].tolist(), u_masks[miss].tolist(), new.tolist(), strict=True
            ):
                tables[node][mask] = v
        return values[inverse.ravel()]

    def local(self, node: int, parent_mask: int) -> float:
        """Cached ``log p(D_node | D_pa)``."""
        node_i, mask_i = _check_one(node, parent_mask, self.d)
        v = self._tables[node_i].get(mask_i)
        if v is None:
            v = float(self.scorer.local_many(np.array([node_i]), np.array([mask_i]))[0])
            self.n_scorer_calls += 1
            self.n_scored += 1
            self._tables[node_i][mask_i] = v
        return v

    def local_many(self, nodes: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Cached local scores: ``nodes (m,)``, ``masks (m,)`` int64 -> ``(m,)`` float64."""
        nodes_arr, masks_arr = _check_pairs(nodes, masks, self.d)
        return self._lookup(nodes_arr, masks_arr)

    def local_table(self, node: int, masks: np.ndarray) -> np.ndarray:
        """Cached local scores of one node for many parent sets: ``masks (m,)`` int64 -> ``(m,)``."""
        node_i, _ = _check_one(node, 0, self.d)
        masks_arr = _as_index_array(masks, "masks")
        nodes_arr, masks_arr = _check_pairs(
            np.full(masks_arr.shape, node_i, dtype=np.int64), masks_arr, self.d
        )
        return self._lookup(nodes_arr, masks_arr)

    def graph_scores(self, adj: np.ndarray) -> np.ndarray:
        """``log p(D | G)`` of a batch of graphs: ``adj (n, d, d) bool`` -> ``(n,)`` float64.

        The graphs are assumed acyclic (not checked); the diagonal must be empty.
        """
        masks = _parent_masks(adj, self.d)  # (n, d)
        n = masks.shape[0]
        nodes = np.broadcast_to(np.arange(self.d, dtype=np.int64), masks.shape)
        local = self._lookup(nodes.ravel(), masks.ravel())
        return local.reshape(n, self.d).sum(axis=1)

    def graph_score(self, adj: np.ndarray) -> float:
        """``log p(D | G)`` of one graph ``adj (d, d) bool``."""
        arr = np.asarray(adj)
        if arr.ndim != 2:
            raise ValueError(
                f"adj: expected a boolean array of shape ({self.d}, {self.d}), got shape {arr.shape}"
            )
        return float(self.graph_scores(arr[None])[0])

    def __repr__(self) -> str:
        return f"ScoreCache({self.scorer!r}, cached={len(self)})"
