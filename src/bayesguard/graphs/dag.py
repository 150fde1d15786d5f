"""Vectorised utilities for directed acyclic graphs (DAGs).

Graphs follow the package conventions: a boolean adjacency ``adj`` of shape ``(d, d)`` with
``adj[i, j] = True`` for the edge ``i -> j``, batches ``(..., d, d)``. Every function works on whole
batches with array operations; none loops over graphs in Python.

Shapes: ``n`` graphs (or any leading batch shape ``...``), ``d`` nodes.

- :func:`enumerate_dags`: every labelled DAG on ``d <= 5`` nodes (1, 3, 25, 543, 29281), cached.
- :func:`is_acyclic`, :func:`topological_order`, :func:`transitive_closure`.
- :func:`closure_add_edge`, :func:`allowed_additions`: incremental reachability for edge-adding moves.
- :func:`parent_masks`: parent sets as ``int64`` bitmasks ``sum_i adj[i, j] << i``.
- :func:`cpdag_key`: a hashable key of the Markov equivalence class (skeleton + v-structures).
- :func:`shd`, :func:`edge_marginals`, :func:`random_dag_er`.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .._validate import positive_int

MAX_ENUMERATE_D = 5
_MAX_MASK_D = 62


def _as_adj(value: object, field: str = "adj", ndim: int | None = None) -> np.ndarray:
    """Return ``value`` as a boolean array ``(..., d, d)``; accepts booleans or 0/1 numbers."""
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise TypeError(
                f"{field}: expected a boolean adjacency array (entries 0/1), got dtype {arr.dtype}"
            )
        if arr.size and not np.all((arr == 0) | (arr == 1)):
            raise ValueError(f"{field}: expected a boolean adjacency array, found entries other than 0/1")
        arr = arr.astype(bool)
    want = "(d, d)" if ndim == 2 else "(n, d, d)" if ndim == 3 else "(..., d, d)"
    if arr.ndim < 2 or arr.shape[-1] != arr.shape[-2] or (ndim is not None and arr.ndim != ndim):
        raise ValueError(f"{field}: expected a square adjacency array of shape {want}, got shape {arr.shape}")
    return arr


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if rng is not None and not isinstance(rng, np.random.Generator | int | np.integer):
        raise TypeError(f"rng: expected a numpy Generator, an int seed or None, got {type(rng).__name__}")
    return np.random.default_rng(rng)


# --------------------------------------------------------------------------------------------------
# Acyclicity, order, reachability


def is_acyclic(adj: object) -> np.ndarray:
    """Whether each graph of a batch is acyclic.

    Peels off the nodes with no remaining parents (sources) of every graph at once; a graph is acyclic
    iff all its nodes are eventually peeled. Self-loops count as cycles.

    Args:
        adj: ``(..., d, d)`` boolean adjacency.

    Returns:
        ``(...,)`` bool.
    """
    a = _as_adj(adj)
    remaining = np.ones(a.shape[:-1], dtype=bool)  # (..., d)
    for _ in range(a.shape[-1]):
        has_parent = (a & remaining[..., :, None]).any(axis=-2)
        sources = remaining & ~has_parent
        if not sources.any():
            break
        remaining &= ~sources
    return ~remaining.any(axis=-1)


def topological_order(adj: object) -> np.ndarray:
    """A topological order of one DAG: parents come before children (ties broken by index).

    Args:
        adj: ``(d, d)`` boolean adjacency of a DAG.

    Returns:
        ``(d,)`` int64 node indices.

    Raises:
        ValueError: if the graph has a cycle.
    """
    a = _as_adj(adj, ndim=2)
    remaining = np.ones(a.shape[0], dtype=bool)
    order: list[np.ndarray] = []
    while remaining.any():
        sources = remaining & ~(a & remaining[:, None]).any(axis=0)
        if not sources.any():
            raise ValueError("adj: the graph has a directed cycle; expected a DAG")
        order.append(np.flatnonzero(sources))
        remaining &= ~sources
    return np.concatenate(order).astype(np.int64) if order else np.zeros(0, dtype=np.int64)


def transitive_closure(adj: object) -> np.ndarray:
    """Reachability by directed paths of length >= 1, by repeated squaring.

    ``closure[..., i, j]`` is True iff there is a directed path ``i -> ... -> j`` with at least one edge,
    so the diagonal is True exactly on nodes that lie on a cycle.

    Args:
        adj: ``(..., d, d)`` boolean adjacency.

    Returns:
        ``(..., d, d)`` bool.
    """
    reach = _as_adj(adj).copy()
    d = reach.shape[-1]
    # After k squarings every path of length <= 2**k is covered; paths longer than d are not needed.
    for _ in range(max(1, math.ceil(math.log2(max(d, 2))))):
        r = reach.astype(np.float32)
        new = reach | (np.matmul(r, r) > 0)
        if np.array_equal(new, reach):
            break
        reach = new
    return reach


def _one_hot(index: object, batch: tuple[int, ...], d: int, field: str) -> np.ndarray:
    idx = np.asarray(index)
    if idx.dtype == np.bool_ or not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"{field}: expected an integer node index (or array of them), got dtype {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= d):
        raise ValueError(f"{field}: expected node indices in [0, {d - 1}], got {idx.tolist()}")
    try:
        idx = np.broadcast_to(idx, batch)
    except ValueError as exc:
        raise ValueError(f"{field}: expected shape {batch} (the batch shape), got {idx.shape}") from exc
    return idx[..., None] == np.arange(d)


def closure_add_edge(closure: object, i: object, j: object) -> np.ndarray:
    """Transitive closure after adding the edge ``i -> j``, updated in ``O(d^2)`` per graph.

    New paths go through the new edge: every ancestor of ``i`` (``i`` included) now reaches every
    descendant of ``j`` (``j`` included): ``closure | outer(anc_i, desc_j)``. The input is not modified.
    The update is exact for any edge; it keeps the graph acyclic iff the edge is in
    :func:`allowed_additions`.

    Args:
        closure: ``(..., d, d)`` bool, the :func:`transitive_closure` of the current graph(s).
        i: int or ``(...)`` int array, tail of the new edge in each graph.
        j: int or ``(...)`` int array, head of the new edge in each graph.

    Returns:
        ``(..., d, d)`` bool, the closure of the graph(s) with the edge added.
    """
    c = _as_adj(closure, "closure")
    batch, d = c.shape[:-2], c.shape[-1]
    ei = _one_hot(i, batch, d, "i")
    ej = _one_hot(j, batch, d, "j")
    ancestors = (c & ei[..., None, :]).any(axis=-1) | ei  # column i of the closure, plus i
    descendants = (c & ej[..., :, None]).any(axis=-2) | ej  # row j of the closure, plus j
    return c | (ancestors[..., :, None] & descendants[..., None, :])


def allowed_additions(adj: object, closure: object | None = None) -> np.ndarray:
    """Edges that can be added to a DAG without creating a cycle.

    ``i -> j`` is allowed iff it is absent, ``i != j`` and ``j`` is not an ancestor of ``i``
    (``closure[j, i]`` is False; this also excludes reversing a present edge ``j -> i``).

    Args:
        adj: ``(..., d, d)`` boolean adjacency of DAG(s).
        closure: ``(..., d, d)`` its :func:`transitive_closure`; computed when omitted.

    Returns:
        ``(..., d, d)`` bool mask of allowed additions.
    """
    a = _as_adj(adj)
    c = transitive_closure(a) if closure is None else _as_adj(closure, "closure")
    if c.shape != a.shape:
        raise ValueError(f"closure: expected the shape of adj {a.shape}, got {c.shape}")
    d = a.shape[-1]
    return ~a & ~np.eye(d, dtype=bool) & ~np.swapaxes(c, -1, -2)


# --------------------------------------------------------------------------------------------------
# Enumeration


@functools.cache
def _enumerate_dags_cached(d: int) -> np.ndarray:
    rows, cols = np.triu_indices(d, k=1)
    m = rows.size
    # Each unordered pair {i < j} is absent (0), i -> j (1) or j -> i (2): 3**m candidates, no 2-cycles.
    codes = np.arange(3**m, dtype=np.int64)
    digits = (codes[:, None] // (3 ** np.arange(m, dtype=np.int64))) % 3  # (3**m, m)
    adj = np.zeros((codes.size, d, d), dtype=bool)
    adj[:, rows, cols] = digits == 1
    adj[:, cols, rows] = digits == 2
    dags = np.ascontiguousarray(adj[is_acyclic(adj)])
    dags.flags.writeable = False
    return dags


def enumerate_dags(d: int) -> np.ndarray:
    """Every labelled DAG on ``d`` nodes (``1 <= d <= 5``).

    Candidates are the ``3**(d(d-1)/2)`` orientations of the pairs (each pair absent, ``i -> j`` or
    ``j -> i``), filtered by :func:`is_acyclic`. There are 1, 3, 25, 543 and 29281 DAGs for ``d = 1..5``.
    The result is cached and read-only (copy it before modifying).

    Args:
        d: number of nodes, ``1..5``.

    Returns:
        ``(n_dags, d, d)`` bool, read-only; the empty graph comes first.
    """
    d = positive_int(d, "d")
    if d > MAX_ENUMERATE_D:
        raise ValueError(
            f"d: enumeration supports d <= {MAX_ENUMERATE_D} (29281 DAGs; d = 6 has 3781503), got {d}"
        )
    return _enumerate_dags_cached(d)


# --------------------------------------------------------------------------------------------------
# Encodings


def parent_masks(adj: object) -> np.ndarray:
    """Parent sets as bitmasks: ``out[..., j] = sum_i adj[..., i, j] << i``.

    Args:
        adj: ``(..., d, d)`` boolean adjacency, ``d <= 62``.

    Returns:
        ``(..., d)`` int64.
    """
    a = _as_adj(adj)
    d = a.shape[-1]
    if d > _MAX_MASK_D:
        raise ValueError(f"adj: parent bitmasks support at most {_MAX_MASK_D} nodes (int64), got d = {d}")
    weights = np.left_shift(np.int64(1), np.arange(d, dtype=np.int64))
    return np.einsum("...ij,i->...j", a.astype(np.int64), weights)


def random_dag_er(
    d: int,
    expected_edges: float | None = None,
    rng: np.random.Generator | int | None = None,
    *,
    edge_prob: float | None = None,
    size: int | None = None,
) -> np.ndarray:
    """Erdős–Rényi random DAG(s): a uniformly random node order, each forward pair an edge independently.

    Give exactly one of ``expected_edges`` (then ``edge_prob = expected_edges / (d(d-1)/2)``) and
    ``edge_prob``.

    Args:
        d: number of nodes, ``>= 1``.
        expected_edges: expected number of edges, in ``[0, d(d-1)/2]``.
        rng: numpy Generator, int seed, or None.
        edge_prob: probability of each of the ``d(d-1)/2`` forward edges, in ``[0, 1]``.
        size: number of graphs; None returns a single graph.

    Returns:
        ``(d, d)`` bool, or ``(size, d, d)`` when ``size`` is given.
    """
    d = positive_int(d, "d")
    n_pairs = d * (d - 1) // 2
    if (expected_edges is None) == (edge_prob is None):
        raise ValueError("expected_edges, edge_prob: give exactly one of them")
    if expected_edges is not None:
        e = float(expected_edges)
        if not (math.isfinite(e) and 0.0 <= e <= n_pairs):
            raise ValueError(
                f"expected_edges: expected a number in [0, {n_pairs}] for d = {d}, got {expected_edges!r}"
            )
        p = e / n_pairs if n_pairs else 0.0
    else:
        p = float(edge_prob)  # type: ignore[arg-type]
        if not (math.isfinite(p) and 0.0 <= p <= 1.0):
            raise ValueError(f"edge_prob: expected a number in [0, 1], got {edge_prob!r}")
    n = 1 if size is None else positive_int(size, "size")
    gen = _rng(rng)
    forward = np.triu(gen.random((n, d, d)) < p, k=1)  # edges in the order's coordinates
    order = gen.permuted(np.tile(np.arange(d), (n, 1)), axis=1)  # (n, d): order[g, a] is a-th node
    adj = np.zeros((n, d, d), dtype=bool)
    adj[np.arange(n)[:, None, None], order[:, :, None], order[:, None, :]] = forward
    return adj[0] if size is None else adj


def reaches(adj: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Whether ``dst[k]`` is reachable from ``src[k]`` in ``adj[k]``: ``(K, d, d), (K,), (K,) -> (K,)``."""
    k, d, _ = adj.shape
    rows = np.arange(k)
    seen = np.zeros((k, d), dtype=bool)
    seen[rows, src] = True
    frontier = seen.copy()
    a = adj.astype(np.float32)
    for _ in range(d):
        nxt = np.einsum("ki,kij->kj", frontier.astype(np.float32), a) > 0
        frontier = nxt & ~seen
        if not frontier.any():
            break
        seen |= frontier
    return seen[rows, dst]
