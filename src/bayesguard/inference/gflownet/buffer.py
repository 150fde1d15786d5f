"""A replay buffer of DAG transitions ``G -> G + (i -> j)``, stored bit-packed (NumPy)."""

from __future__ import annotations

import numpy as np

from .transitions import Transitions


class ReplayBuffer:
    """Ring buffer of transitions; :meth:`sample` returns a :class:`~.transitions.Transitions` batch.

    Each entry holds the packed adjacency of ``G`` (``d^2`` bits), the packed valid-action masks of ``G``
    and of the next graph ``G'`` (``d^2 + 1`` bits each), the action, the change of log reward and the
    number of edges of ``G'`` the backward policy may remove. ``G'`` itself is rebuilt from ``G`` and
    the action when sampling.

    Args:
        d: number of variables.
        capacity: maximum number of transitions kept (oldest dropped first).
    """

    def __init__(self, d: int, capacity: int) -> None:
        self.d = d
        self.capacity = int(capacity)
        n_adj = (d * d + 7) // 8
        n_valid = (d * d + 1 + 7) // 8
        self.adj = np.zeros((self.capacity, n_adj), dtype=np.uint8)
        self.valid = np.zeros((self.capacity, n_valid), dtype=np.uint8)
        self.valid_next = np.zeros((self.capacity, n_valid), dtype=np.uint8)
        self.action = np.zeros(self.capacity, dtype=np.int64)
        self.delta = np.zeros(self.capacity, dtype=np.float64)
        self.n_backward = np.zeros(self.capacity, dtype=np.int64)
        self.size = 0
        self._next = 0

    def add(
        self,
        adj: np.ndarray,
        valid: np.ndarray,
        action: np.ndarray,
        delta: np.ndarray,
        valid_next: np.ndarray,
        n_backward: np.ndarray,
    ) -> None:
        """Append ``K`` transitions: ``adj (K, d, d)`` (of ``G``), masks ``(K, d^2 + 1)``, the rest ``(K,)``
        (fields as in :class:`~.transitions.Transitions`)."""
        k = adj.shape[0]
        idx = (self._next + np.arange(k)) % self.capacity
        self.adj[idx] = np.packbits(adj.reshape(k, -1), axis=1)
        self.valid[idx] = np.packbits(valid, axis=1)
        self.valid_next[idx] = np.packbits(valid_next, axis=1)
        self.action[idx] = action
        self.delta[idx] = delta
        self.n_backward[idx] = n_backward
        self._next = int((self._next + k) % self.capacity)
        self.size = min(self.size + k, self.capacity)

    def sample(self, n: int, rng: np.random.Generator) -> Transitions:
        """``n`` transitions drawn uniformly with replacement, unpacked (NumPy fields)."""
        idx = rng.integers(0, self.size, n)
        d2 = self.d * self.d
        adj = np.unpackbits(self.adj[idx], axis=1, count=d2).astype(bool).reshape(n, self.d, self.d)
        valid = np.unpackbits(self.valid[idx], axis=1, count=d2 + 1).astype(bool)
        valid_next = np.unpackbits(self.valid_next[idx], axis=1, count=d2 + 1).astype(bool)
        adj_next = adj.copy()
        i, j = np.divmod(self.action[idx], self.d)
        adj_next[np.arange(n), i, j] = True
        return Transitions(
            adj=adj,
            valid=valid,
            action=self.action[idx],
            delta=self.delta[idx],
            adj_next=adj_next,
            valid_next=valid_next,
            n_backward=self.n_backward[idx],
        )
