"""The DAG-building environment, vectorised over a batch of graphs (NumPy).

A state is a DAG ``adj`` ``(d, d)`` (``adj[i, j]``: edge ``i -> j``). An action is either "add edge
``i -> j``", encoded ``i * d + j``, or "stop", encoded ``d * d``. The mask of valid additions is the
complement of ``adj | closure^T | I`` (no duplicate, no self-loop, and no edge ``i -> j`` when ``j``
already reaches ``i``) minus edges forbidden by the prior; ``closure[a, b]`` means ``a`` reaches ``b``
and is updated incrementally on every addition: ``closure |= (reaches_i + e_i) ⊗ (from_j + e_j)``.
Every state is also a terminal candidate (stop is always valid).

Two optional masks shrink the state space (both fixed for an environment): ``candidates`` ``(d, d)`` bool
(``candidates[i, j]``: ``i`` may be a parent of ``j``) and ``max_parents`` (an in-degree bound). An addition
that leaves the candidates, or gives a node more than ``max_parents`` parents, is invalid. Removing an edge
never leaves them, so the uniform backward policy over the edges present stays consistent, and the sampler
then targets the posterior restricted to the DAGs within the masks (:meth:`DAGEnv.within`).

The log reward of a graph is the structure score's unnormalised log posterior; the change from adding
``i -> j`` touches only node ``j``: ``delta = s(j, pa_j ∪ {i}) - s(j, pa_j)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...graphs.dag import closure_add_edge, parent_masks, transitive_closure
from ...theories.causal.structure import StructureScore


def check_constraints(
    score: StructureScore, candidates: object = None, max_parents: object = None
) -> tuple[np.ndarray | None, int | None]:
    """Validate the masks of :class:`DAGEnv` against ``score``; returns ``(candidates, max_parents)``
    (a read-only ``(d, d)`` bool copy, or None; an ``int``, or None).

    Raises:
        ValueError: naming ``candidates`` (not a ``(d, d)`` bool array, or excluding an edge the prior
            requires) or ``max_parents`` (not None or an integer >= 0, or below the number of parents
            the prior requires of some node).
    """
    d = score.d
    names = score.names
    required = score.prior.required  # type: ignore[union-attr]
    cand: np.ndarray | None = None
    if candidates is not None:
        arr = np.asarray(candidates)
        if arr.dtype != np.bool_ or arr.shape != (d, d):
            raise ValueError(f"candidates: expected a ({d}, {d}) bool array, got {arr.dtype} {arr.shape}")
        missing = required & ~arr
        if missing.any():
            i, j = np.argwhere(missing)[0]
            raise ValueError(
                f"candidates: the prior requires the edge {names[i]} -> {names[j]}, "
                f"but candidates[{i}, {j}] is False"
            )
        cand = arr.copy()
        cand.flags.writeable = False
    bound: int | None = None
    if max_parents is not None:
        if isinstance(max_parents, bool) or not isinstance(max_parents, int | np.integer) or max_parents < 0:
            raise ValueError(f"max_parents: expected None or an integer >= 0, got {max_parents!r}")
        bound = int(max_parents)
        n_required = required.sum(axis=0)
        if n_required.max(initial=0) > bound:
            j = int(np.argmax(n_required))
            raise ValueError(
                f"max_parents: the prior requires {int(n_required[j])} parent(s) of {names[j]}, "
                f"more than max_parents = {bound}"
            )
    return cand, bound


@dataclass
class DAGBatch:
    """A batch of ``K`` partial graphs.

    Attributes:
        adj: ``(K, d, d)`` bool.
        closure: ``(K, d, d)`` bool transitive closure of ``adj`` (``a`` reaches ``b``).
        masks: ``(K, d)`` int64 parent bitmask of every node.
        node_scores: ``(K, d)`` local log score (plus prior) of every node.
    """

    adj: np.ndarray
    closure: np.ndarray
    masks: np.ndarray
    node_scores: np.ndarray

    @property
    def log_reward(self) -> np.ndarray:
        """``(K,)`` unnormalised log posterior of each graph."""
        return self.node_scores.sum(axis=1)


class DAGEnv:
    """Builds DAGs edge by edge from a start graph (the prior's required edges, else the empty graph).

    Args:
        score: the structure score giving rewards (and the prior's required / forbidden edges).
        candidates: ``(d, d)`` bool, ``candidates[i, j]``: ``i`` may be a parent of ``j`` (None: any).
        max_parents: the largest in-degree allowed (None: no bound).

    Raises:
        ValueError: invalid masks (:func:`check_constraints`).
    """

    def __init__(
        self, score: StructureScore, *, candidates: np.ndarray | None = None, max_parents: int | None = None
    ) -> None:
        self.score = score
        self.candidates, self.max_parents = check_constraints(score, candidates, max_parents)
        self.d = d = score.d
        self.n_actions = d * d + 1
        self.stop = d * d
        prior = score.prior
        self.forbidden = prior.forbidden | np.eye(d, dtype=bool)  # type: ignore[union-attr]
        #: edges never addable: the prior's forbidden ones, self-loops and non-candidates
        self.excluded = self.forbidden if self.candidates is None else self.forbidden | ~self.candidates
        self.start_adj = prior.required.copy()  # type: ignore[union-attr]
        self._bits = np.int64(1) << np.arange(d, dtype=np.int64)

    # ------------------------------------------------------------------ states
    def reset(self, k: int) -> DAGBatch:
        """``k`` copies of the start graph."""
        adj = np.broadcast_to(self.start_adj, (k, self.d, self.d)).copy()
        return self.from_adjacency(adj)

    def from_adjacency(self, adj: np.ndarray) -> DAGBatch:
        """A batch from ``(K, d, d)`` acyclic graphs (closure and scores computed)."""
        adj = np.asarray(adj, dtype=bool).copy()
        closure = transitive_closure(adj)
        masks = parent_masks(adj)
        k = adj.shape[0]
        nodes = np.tile(np.arange(self.d), k)
        node_scores = self.score.local_many(nodes, masks.ravel()).reshape(k, self.d)
        return DAGBatch(adj, closure, masks, node_scores)

    def valid_actions(self, batch: DAGBatch) -> np.ndarray:
        """``(K, d*d + 1)`` bool: valid additions, then stop (always valid).

        An addition ``i -> j`` is valid when it is not present, closes no cycle, is not forbidden by the
        prior, is a candidate, and ``j`` has fewer than ``max_parents`` parents."""
        k = batch.adj.shape[0]
        add = ~(batch.adj | batch.closure.transpose(0, 2, 1) | self.excluded)
        if self.max_parents is not None:
            add &= (batch.adj.sum(axis=1) < self.max_parents)[:, None, :]
        return np.concatenate([add.reshape(k, -1), np.ones((k, 1), dtype=bool)], axis=1)

    def within(self, adj: np.ndarray) -> np.ndarray:
        """``(K,)`` bool: which graphs ``adj (K, d, d)`` the environment can reach (the prior's required
        edges present, no forbidden or non-candidate edge, no in-degree above ``max_parents``);
        acyclicity is not checked."""
        adj = np.asarray(adj, dtype=bool)
        ok = np.all(adj >= self.start_adj, axis=(1, 2)) & ~np.any(adj & self.excluded, axis=(1, 2))
        if self.max_parents is not None:
            ok &= np.all(adj.sum(axis=1) <= self.max_parents, axis=1)
        return ok

    def delta_scores(self, batch: DAGBatch, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Change of log reward when adding ``i[k] -> j[k]`` to graph ``k``: ``(K,)``."""
        rows = np.arange(i.shape[0])
        new = self.score.local_many(j, batch.masks[rows, j] | self._bits[i])
        return new - batch.node_scores[rows, j]

    def step(self, batch: DAGBatch, actions: np.ndarray, delta: np.ndarray | None = None) -> DAGBatch:
        """Apply add-edge ``actions`` ``(K,)`` (no stops) in place; returns the batch."""
        i, j = np.divmod(actions, self.d)
        rows = np.arange(actions.shape[0])
        if delta is None:
            delta = self.delta_scores(batch, i, j)
        batch.adj[rows, i, j] = True
        batch.masks[rows, j] |= self._bits[i]
        batch.node_scores[rows, j] += delta
        batch.closure = closure_add_edge(batch.closure, i, j)
        return batch

    def subset(self, batch: DAGBatch, index: np.ndarray) -> DAGBatch:
        return DAGBatch(batch.adj[index], batch.closure[index], batch.masks[index], batch.node_scores[index])

    @staticmethod
    def assign(batch: DAGBatch, index: np.ndarray, part: DAGBatch) -> None:
        """Write the graphs of ``part`` into rows ``index`` of ``batch`` (in place)."""
        batch.adj[index] = part.adj
        batch.closure[index] = part.closure
        batch.masks[index] = part.masks
        batch.node_scores[index] = part.node_scores
