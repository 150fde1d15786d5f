"""Markov equivalence classes and distances between graphs: CPDAG keys, structural Hamming distance and
(weighted) edge marginals."""

from __future__ import annotations

import numpy as np

from .dag import _as_adj

_KEY_CHUNK_BITS = 1 << 26  # bound on the intermediate boolean array of cpdag_key (64 MiB)


def _key_bits(a: np.ndarray) -> np.ndarray:
    """``(n, d, d)`` -> ``(n, n_bits)`` bool: skeleton pairs, then v-structures per (pair, collider)."""
    d = a.shape[-1]
    rows, cols = np.triu_indices(d, k=1)
    skel = a | np.swapaxes(a, -1, -2)
    skel_bits = skel[:, rows, cols]  # (n, m)
    # v-structure rows[p] -> k <- cols[p] with rows[p], cols[p] non-adjacent.
    vbits = a[:, rows, :] & a[:, cols, :] & ~skel_bits[:, :, None]  # (n, m, d)
    return np.concatenate([skel_bits, vbits.reshape(a.shape[0], -1)], axis=1)


def cpdag_key(adj: object) -> np.ndarray:
    """A key of the Markov equivalence class of each DAG (skeleton and v-structures).

    Two DAGs are Markov equivalent iff they have the same skeleton and the same v-structures
    ``i -> k <- j`` with ``i, j`` non-adjacent (Verma & Pearl 1990), so equal keys mean equal
    classes (the CPDAG itself is not built). The bits are packed into fixed-length bytes
    (``d(d-1)/2 * (d + 1)`` bits), usable with ``np.unique`` and as ``dict`` keys.

    Args:
        adj: ``(..., d, d)`` boolean adjacency of DAGs.

    Returns:
        ``(...,)`` array of dtype ``S{n_bytes}``.
    """
    a = _as_adj(adj)
    batch, d = a.shape[:-2], a.shape[-1]
    flat = a.reshape(-1, d, d)
    n_bits = max(1, d * (d - 1) // 2 * (d + 1))
    n_bytes = (n_bits + 7) // 8
    out = np.zeros((flat.shape[0], n_bytes), dtype=np.uint8)
    chunk = max(1, _KEY_CHUNK_BITS // n_bits)
    for start in range(0, flat.shape[0], chunk):  # bounds memory for large batches, not a loop over graphs
        bits = _key_bits(flat[start : start + chunk])
        if bits.shape[1] == 0:
            continue
        out[start : start + chunk] = np.packbits(bits, axis=1)
    return out.view(f"S{n_bytes}").reshape(batch)


def shd(adj_a: object, adj_b: object) -> np.ndarray:
    """Structural Hamming distance: node pairs whose edge differs (missing, extra or reversed: 1 each).

    Args:
        adj_a: ``(..., d, d)`` boolean adjacency.
        adj_b: ``(..., d, d)`` boolean adjacency, broadcastable against ``adj_a``.

    Returns:
        ``(...,)`` int64 (a 0-d array for two single graphs).
    """
    a = _as_adj(adj_a, "adj_a")
    b = _as_adj(adj_b, "adj_b")
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"adj_b: expected {a.shape[-1]} nodes like adj_a, got {b.shape[-1]}")
    diff = a != b
    pair_diff = diff | np.swapaxes(diff, -1, -2)
    upper = np.triu(np.ones(a.shape[-2:], dtype=bool))  # the diagonal counts self-loop differences once
    return (pair_diff & upper).sum(axis=(-2, -1)).astype(np.int64)


def edge_marginals(
    adj: object, weights: object | None = None, *, log_weights: object | None = None
) -> np.ndarray:
    """Weighted edge frequencies ``sum_g w_g adj_g / sum_g w_g``.

    Args:
        adj: ``(n, d, d)`` boolean adjacency of ``n`` graphs.
        weights: ``(n,)`` non-negative weights (normalised here); uniform when both weights are omitted.
        log_weights: ``(n,)`` natural-log weights instead of ``weights`` (e.g. a Posterior's).

    Returns:
        ``(d, d)`` float64, entry ``[i, j]`` the probability of the edge ``i -> j``.
    """
    a = _as_adj(adj, ndim=3)
    n = a.shape[0]
    if n == 0:
        raise ValueError("adj: expected at least one graph, got shape (0, d, d)")
    if weights is not None and log_weights is not None:
        raise ValueError("weights, log_weights: give at most one of them")
    if log_weights is not None:
        lw = np.asarray(log_weights, dtype=np.float64)
        if lw.shape != (n,):
            raise ValueError(f"log_weights: expected shape ({n},), got {lw.shape}")
        if np.isnan(lw).any() or np.isposinf(lw).any() or not np.isfinite(lw).any():
            raise ValueError("log_weights: expected finite values or -inf, with at least one finite")
        w = np.exp(lw - lw.max())
    elif weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (n,):
            raise ValueError(f"weights: expected shape ({n},), got {w.shape}")
        if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
            raise ValueError("weights: expected finite non-negative values with a positive sum")
    else:
        w = np.ones(n)
    return np.einsum("g,gij->ij", w / w.sum(), a.astype(np.float64))
