"""Keys that identify graphs, written once: for lookups, de-duplication and grouping.

- :func:`graph_keys`: an ``int64`` per graph, the bits of the flattened adjacency (``d <= 7``); sortable,
  used to index enumerated posteriors.
- :func:`packed_keys`: a fixed-width byte string per graph (any ``d``), hashable and sortable.
- :func:`unique_graphs`: the distinct graphs of a batch, the first position of each and the group of
  every input graph, so that work done per graph is done once per distinct graph.
"""

from __future__ import annotations

import numpy as np


def _batch(adj: object) -> np.ndarray:
    a = np.asarray(adj, dtype=bool)
    if a.ndim != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"adj: expected shape (n, d, d), got {a.shape}")
    return a


def graph_keys(adj: object) -> np.ndarray:
    """Integer key of each graph: ``(n, d, d) bool -> (n,) int64`` (``d <= 7``)."""
    a = _batch(adj)
    d = a.shape[1]
    if d * d > 63:
        raise ValueError(f"adj: integer graph keys need d <= 7, got d = {d}; use packed_keys")
    bits = np.int64(1) << np.arange(d * d, dtype=np.int64)
    return a.reshape(a.shape[0], -1).astype(np.int64) @ bits


def packed_keys(adj: object) -> np.ndarray:
    """Byte-string key of each graph: ``(n, d, d) bool -> (n,)`` of dtype ``S{ceil(d*d/8)}``.

    Equal graphs have equal keys; the keys sort (``np.sort``, ``np.searchsorted``) and hash.
    """
    a = _batch(adj)
    n_bytes = max(1, (a.shape[1] ** 2 + 7) // 8)
    if a.shape[0] == 0:
        return np.zeros(0, dtype=f"S{n_bytes}")
    packed = np.packbits(a.reshape(a.shape[0], -1), axis=1)
    return np.ascontiguousarray(packed).view(f"S{n_bytes}").ravel()


def unique_graphs(adj: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct graphs of a batch.

    Returns:
        ``(graphs, first, inverse)``: ``graphs`` ``(u, d, d)`` the distinct graphs (in key order),
        ``first`` ``(u,)`` the position of each one's first occurrence, ``inverse`` ``(n,)`` the distinct
        graph of every input graph.
    """
    a = _batch(adj)
    _, first, inverse = np.unique(packed_keys(a), return_index=True, return_inverse=True)
    return a[first], first, inverse.ravel()
