"""The DAG-building environment, vectorised over a batch of graphs (NumPy).

A state is a DAG ``adj`` ``(d, d)`` (``adj[i, j]``: edge ``i -> j``). An action is either "add edge
``i -> j``", encoded ``i * d + j``, or "stop", encoded ``d * d``. The mask of valid additions is the
complement of ``adj | closure^T | I`` (no duplicate, no self-loop, and no edge ``i -> j`` when ``j``
already reaches ``i``) minus edges forbidden by the prior; ``closure[a, b]`` means ``a`` reaches ``b``
and is updated incrementally on every addition: ``closure |= (reaches_i + e_i) ⊗ (from_j + e_j)``.
Every state is also a terminal candidate (stop is always valid).

The log reward of a graph is the structure score's unnormalised log posterior; the change from adding
``i -> j`` touches only node ``j``: ``delta = s(j, pa_j ∪ {i}) - s(j, pa_j)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...graphs.dag import closure_add_edge, parent_masks, transitive_closure
from ...theories.causal.structure import StructureScore


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
    """

    def __init__(self, score: StructureScore) -> None:
        self.score = score
        self.d = d = score.d
        self.n_actions = d * d + 1
        self.stop = d * d
        prior = score.prior
        self.forbidden = prior.forbidden | np.eye(d, dtype=bool)  # type: ignore[union-attr]
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
        """``(K, d*d + 1)`` bool: valid additions, then stop (always valid)."""
        k = batch.adj.shape[0]
        add = ~(batch.adj | batch.closure.transpose(0, 2, 1) | self.forbidden)
        return np.concatenate([add.reshape(k, -1), np.ones((k, 1), dtype=bool)], axis=1)

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
