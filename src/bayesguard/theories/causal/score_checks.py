"""Checks and helpers shared by the local scores (BGe, BDeu): argument validation and parent masks."""

from __future__ import annotations

import math

import numpy as np

_MAX_D = 62  # masks are int64 bitmasks


def _positive_float(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{field}: expected a number > 0, got {type(value).__name__}")
    x = float(value)
    if not (math.isfinite(x) and x > 0.0):
        raise ValueError(f"{field}: expected a finite number > 0, got {value!r}")
    return x


def _check_rows(n_rows: int, d: int) -> None:
    if n_rows < 2:
        raise ValueError(f"data: expected at least 2 rows (shape (N, d) with N >= 2), got {n_rows}")
    if d < 1:
        raise ValueError("data: expected at least 1 column (shape (N, d) with d >= 1), got 0")


def _as_index_array(value: object, field: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{field}: expected a 1-d integer array, got shape {arr.shape}")
    if arr.size and not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
        raise TypeError(f"{field}: expected integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _check_pairs(nodes: object, masks: object, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(m,)`` node indices and ``(m,)`` parent masks of a ``d``-variable problem."""
    nodes_arr = _as_index_array(nodes, "nodes")
    masks_arr = _as_index_array(masks, "masks")
    if nodes_arr.shape != masks_arr.shape:
        raise ValueError(
            f"masks: expected the same shape as nodes {nodes_arr.shape}, got shape {masks_arr.shape}"
        )
    if d > _MAX_D:
        raise ValueError(
            f"masks: int64 parent bitmasks hold at most {_MAX_D} variables, this score has {d}; "
            "use local_bits(nodes, parents) with a (m, d) boolean parent matrix"
        )
    if nodes_arr.size:
        bad = (nodes_arr < 0) | (nodes_arr >= d)
        if bad.any():
            raise ValueError(f"nodes: expected node indices in [0, {d - 1}], got {nodes_arr[bad][0]}")
        bad = (masks_arr < 0) | (masks_arr >= (1 << d))
        if bad.any():
            raise ValueError(f"masks: expected parent bitmasks in [0, 2**{d}), got {masks_arr[bad][0]}")
        bad = ((masks_arr >> nodes_arr) & 1).astype(bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"masks: parent mask {masks_arr[i]} of node {nodes_arr[i]} contains the node itself"
            )
    return nodes_arr, masks_arr


def _check_bits(nodes: object, parents: object, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(m,)`` node indices and an ``(m, d)`` boolean parent matrix (any ``d``)."""
    nodes_arr = _as_index_array(nodes, "nodes")
    bits = np.asarray(parents)
    if bits.shape != (nodes_arr.shape[0], d) or bits.dtype != np.bool_:
        raise ValueError(
            f"parents: expected a ({nodes_arr.shape[0]}, {d}) boolean matrix (row r: the parents of "
            f"nodes[r]), got shape {bits.shape} {bits.dtype}"
        )
    if nodes_arr.size:
        bad = (nodes_arr < 0) | (nodes_arr >= d)
        if bad.any():
            raise ValueError(f"nodes: expected node indices in [0, {d - 1}], got {nodes_arr[bad][0]}")
        own = bits[np.arange(nodes_arr.size), nodes_arr]
        if own.any():
            i = int(np.flatnonzero(own)[0])
            raise ValueError(f"parents: row {i} makes node {nodes_arr[i]} its own parent")
    return nodes_arr, bits


def _check_one(node: object, parent_mask: object, d: int) -> tuple[int, int]:
    if d > _MAX_D:
        raise ValueError(f"parent_mask: bitmasks hold at most {_MAX_D} variables, this score has {d}")
    for field, v in (("node", node), ("parent_mask", parent_mask)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise TypeError(f"{field}: expected an integer, got {type(v).__name__}")
    node_i, mask_i = int(node), int(parent_mask)  # type: ignore[call-overload]
    if not 0 <= node_i < d:
        raise ValueError(f"node: expected a node index in [0, {d - 1}], got {node_i}")
    if not 0 <= mask_i < (1 << d):
        raise ValueError(f"parent_mask: expected a bitmask in [0, 2**{d}), got {mask_i}")
    if (mask_i >> node_i) & 1:
        raise ValueError(f"parent_mask: mask {mask_i} of node {node_i} contains the node itself")
    return node_i, mask_i


def _mask_bits(masks: np.ndarray, d: int) -> np.ndarray:
    """``(m,) int64`` masks -> ``(m, d) bool`` membership."""
    return ((masks[:, None] >> np.arange(d, dtype=np.int64)) & 1).astype(bool)


def _parent_masks(adj: object, d: int | None = None, field: str = "adj") -> np.ndarray:
    """Parent bitmasks of a batch of graphs: ``adj (n, d, d) bool`` -> ``(n, d) int64``.

    ``out[g, j] = sum_i adj[g, i, j] << i``. Entries must be booleans or 0/1 and the diagonal must be
    empty; acyclicity is not checked here.
    """
    arr = np.asarray(adj)
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2] or (d is not None and arr.shape[1] != d):
        want = f"(n, {d}, {d})" if d is not None else "(n, d, d)"
        raise ValueError(f"{field}: expected a boolean array of shape {want}, got shape {arr.shape}")
    if arr.dtype != np.bool_:
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise TypeError(f"{field}: expected booleans or 0/1, got dtype {arr.dtype}")
        if arr.size and not np.all((arr == 0) | (arr == 1)):
            raise ValueError(f"{field}: expected booleans or 0/1 entries")
        arr = arr.astype(bool)
    k = arr.shape[1]
    if k > _MAX_D:
        raise ValueError(f"{field}: at most {_MAX_D} nodes are supported (int64 parent masks), got {k}")
    if arr.size and arr[:, np.arange(k), np.arange(k)].any():
        raise ValueError(f"{field}: self-loops on the diagonal are not allowed")
    weights = np.left_shift(np.int64(1), np.arange(k, dtype=np.int64))
    return np.einsum("gij,i->gj", arr.astype(np.int64), weights)


# --------------------------------------------------------------------------------------------------
# BGe
