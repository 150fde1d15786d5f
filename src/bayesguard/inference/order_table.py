"""The sums over an :class:`~.order_space.OrderSpace` that the order sampler needs: ``alpha_j(U)``, the
conditional DAG draws given an order and the Rao-Blackwellised edge probabilities.

For an order, ``alpha_j(U) = sum_{pa subset U} exp s_j(pa)`` over the space's sets inside the
predecessors ``U`` of ``j``. Everything here reads an order through node *positions*
(:func:`~.order_space.positions`), never a bitmask over all nodes, so it works at any ``d``: node ``i``
is a predecessor of ``j`` when ``pos[i] < pos[j]``.

:class:`OrderTable` evaluates ``alpha`` in ``O(1)`` per node from lookup tables when they fit in memory:
``log A_j[c(U)]`` (the subset sums of the core sets over the ``2^|C_j|`` subsets of the candidates, ``c``
compressing ``U`` to the candidate bits) plus, for the plus-one sets, ``log B_j,i[c(U)]`` for each
non-candidate ``i`` in ``U``. Otherwise it sums the masked table rows (``(masks & ~U) == 0``, with ``U``
a mask over the node's universe), exact too, ``O(P)`` per node; where the shifted sum underflows
(``< 1e-280``) it recomputes the exact masked log-sum-exp.

The callers say which nodes precede ``j`` through :attr:`OrderTable.needed`: ``(d, K)`` node indices
(padding ``d``) whose ``before`` flags :meth:`OrderTable.log_alpha_before` reads.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .order_space import MAX_LOOKUP, OrderSpace, positions
from .parent_sets import ParentSetTable

_TINY = 1e-280
_CHUNK = 1 << 21  # elements per block in the conditional computations


def _pad_rows(rows: list[np.ndarray], fill: int) -> np.ndarray:
    out = np.full((len(rows), max(1, max(r.size for r in rows))), fill, dtype=np.int64)
    for j, r in enumerate(rows):
        out[j, : r.size] = r
    return out


class OrderTable:
    """The sums over an :class:`OrderSpace`, vectorised over nodes and orders.

    Args:
        space: the parent sets.
        lookup: tabulate ``alpha`` (True), sum the masked rows (False), or decide by memory (None:
            tabulate when ``d (1 + n_out) 2^W <= MAX_LOOKUP``, ``W`` the most candidates of a node,
            ``n_out`` the most plus-one parents).

    Attributes:
        needed: ``(d, K)`` int64, the nodes whose place (before ``j`` or not) decides ``alpha_j``
            (candidates then plus-one parents with lookup tables, else the universe); padding ``d``.
    """

    def __init__(self, space: OrderSpace | ParentSetTable, lookup: bool | None = None) -> None:
        if isinstance(space, ParentSetTable):
            space = OrderSpace.from_table(space)
        self.space = space
        self.d = d = space.d
        self.masks, self.scores = space.masks, space.scores
        self.univ = np.asarray(space.universe, dtype=np.int64)  # (d, U), padding d
        self.top = space.scores.max(axis=1)
        if not np.all(np.isfinite(self.top)):
            j = int(np.flatnonzero(~np.isfinite(self.top))[0])
            raise ValueError(f"table: node {j} has no parent set of finite score (check required edges)")
        with np.errstate(invalid="ignore"):
            self.weights = np.where(space.masks >= 0, np.exp(self.scores - self.top[:, None]), 0.0)
        u = self.univ.shape[1]
        self._ubits_f: np.ndarray | None = None  # float copy for the Rao-Blackwellised sums, made once
        # (d, P, U) membership of each set over its node's universe
        self.ubits = ((self.masks[:, :, None] >> np.arange(u)) & 1).astype(bool) & (self.masks >= 0)[
            ..., None
        ]
        cand = [np.flatnonzero(space.candidates[:, j]) for j in range(d)]
        used = np.zeros((d, d + 1), dtype=bool)  # nodes some set of j holds
        rows = np.broadcast_to(np.arange(d)[:, None], self.univ.shape)
        used[rows, self.univ] = self.ubits.any(axis=1)
        used[:, d] = False
        outs = [np.flatnonzero(used[j, :d] & ~space.candidates[:, j]) for j in range(d)]
        width = max(c.size for c in cand)
        n_out = max(o.size for o in outs)
        if lookup is None:
            lookup = d * (1 + n_out) * (1 << width) <= MAX_LOOKUP
        self.core: np.ndarray | None = None
        self.plus: np.ndarray | None = None
        self.needed = self.univ
        if lookup:
            self.cand, self.outs = _pad_rows(cand, d), _pad_rows(outs, d)
            self.width = width
            self.needed = np.concatenate([self.cand[:, :width], self.outs[:, :n_out]], axis=1)
            self._build_lookup(width, n_out)

    # ------------------------------------------------------------------ alpha
    def _build_lookup(self, width: int, n_out: int) -> None:
        d, size = self.d, 1 << width
        cand_bit = np.full((d, d + 1), -1, dtype=np.int64)  # [j, i]: bit of candidate i in j's tables
        out_slot = np.full((d, d + 1), -1, dtype=np.int64)  # [j, i]: slot of plus-one parent i
        rows = np.arange(d)[:, None]
        cand_bit[rows, self.cand] = np.arange(self.cand.shape[1])
        out_slot[rows, self.outs] = np.arange(self.outs.shape[1])
        cand_bit[:, d] = out_slot[:, d] = -1
        real = self.masks >= 0
        nodes = np.broadcast_to(np.arange(d)[:, None], self.masks.shape)[real]
        members = self.ubits[real]  # (n, U)
        ids = self.univ[nodes]  # (n, U)
        cb = cand_bit[nodes[:, None], ids]
        idx = np.where(members & (cb >= 0), np.left_shift(np.int64(1), np.maximum(cb, 0)), 0).sum(axis=1)
        slot = np.where(members, out_slot[nodes[:, None], ids], -1).max(axis=1) + 1
        tables = np.full((d, 1 + n_out, size), -np.inf)  # slot 0: core sets, slot 1 + o: plus outs[j, o]
        tables[nodes, slot, idx] = self.scores[real]
        for b in range(width):  # zeta transform: add the sums without bit b to those with it
            view = tables.reshape(d, 1 + n_out, size >> (b + 1), 2, 1 << b)
            np.logaddexp(view[..., 1, :], view[..., 0, :], out=view[..., 1, :])
        self.core = tables[:, 0]
        self.plus = tables[:, 1:] if n_out else None

    def before(self, nodes: np.ndarray, rows: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """``(m, K)`` bool: which of ``needed[nodes]`` precede each node in order ``rows`` of the
        ``(n, d + 1)`` positions ``pos``."""
        return pos[rows[:, None], self.needed[nodes]] < pos[rows, nodes][:, None]

    def log_alpha_before(self, nodes: np.ndarray, before: np.ndarray) -> np.ndarray:
        """``log alpha_j(U)`` for ``(m,)`` nodes, ``U`` given by ``(m, K)`` flags over ``needed[nodes]``."""
        if self.core is not None:
            w = self.width
            idx = before[:, :w] @ (np.int64(1) << np.arange(w, dtype=np.int64))
            core = self.core[nodes, idx]
            if self.plus is None:
                return core
            inside = before[:, w:]
            ext = np.where(
                inside, self.plus[nodes[:, None], np.arange(self.plus.shape[1]), idx[:, None]], -np.inf
            )
            top = np.maximum(core, ext.max(axis=1))
            shift = np.where(np.isfinite(top), top, 0.0)
            with np.errstate(divide="ignore", under="ignore"):
                total = np.exp(core - shift) + np.exp(ext - shift[:, None]).sum(axis=1)
                return np.log(total) + shift
        allowed = before @ (np.int64(1) << np.arange(before.shape[1], dtype=np.int64))
        inside = (self.masks[nodes] & ~allowed[:, None]) == 0
        total = np.where(inside, self.weights[nodes], 0.0).sum(axis=1)
        with np.errstate(divide="ignore"):
            out = np.log(total) + self.top[nodes]
        low = np.flatnonzero(total < _TINY)
        if low.size:  # exact masked log-sum-exp where the shifted sum underflowed
            s = np.where(inside[low], self.scores[nodes[low]], -np.inf)
            m = s.max(axis=1)
            ok = np.isfinite(m)
            with np.errstate(divide="ignore", invalid="ignore"):
                exact = np.log(np.exp(s - np.where(ok, m, 0.0)[:, None]).sum(axis=1)) + m
            out[low] = np.where(ok, exact, -np.inf)
        return out

    def node_scores(self, orders: np.ndarray) -> np.ndarray:
        """``log alpha_j(pred_j)`` of ``(n, d)`` orders -> ``(n, d)``."""
        o = np.asarray(orders, dtype=np.int64)
        n, d = o.shape
        pos = positions(o)
        rows, nodes = np.repeat(np.arange(n), d), np.tile(np.arange(d), n)
        return self.log_alpha_before(nodes, self.before(nodes, rows, pos)).reshape(n, d)

    def order_scores(self, orders: np.ndarray) -> np.ndarray:
        """``sum_j log alpha_j(pred_j)`` of ``(n, d)`` orders -> ``(n,)``."""
        return self.node_scores(orders).sum(axis=1)

    # ------------------------------------------------------------------ conditionals given an order
    def _weights_inside(self, orders: np.ndarray) -> np.ndarray:
        """``(m, d, P)`` weights of the sets inside each node's predecessors (rows renormalised from the
        exact scores where they underflow)."""
        pos = positions(orders)  # (m, d + 1)
        m = pos.shape[0]
        earlier = pos[np.arange(m)[:, None, None], self.univ[None]] < pos[:, : self.d, None]  # (m, d, U)
        allowed = earlier @ (np.int64(1) << np.arange(self.univ.shape[1], dtype=np.int64))  # (m, d)
        inside = (self.masks[None] & ~allowed[:, :, None]) == 0
        w = np.where(inside, self.weights[None], 0.0)
        low = w.sum(axis=2) < _TINY
        if low.any():
            sc = np.where(inside, self.scores[None], -np.inf)
            with np.errstate(invalid="ignore", under="ignore"):
                w = np.where(low[..., None], np.exp(sc - sc.max(axis=2, keepdims=True)), w)
        return w

    def _blocks(self, n: int) -> Iterator[slice]:
        step = max(1, _CHUNK // (self.d * max(self.masks.shape[1], self.univ.shape[1])))
        for s in range(0, n, step):
            yield slice(s, min(n, s + step))

    def _scatter(self, local: np.ndarray, dtype: type) -> np.ndarray:
        """``(m, d, U)`` values over each node's universe -> ``(m, d, d)`` ``[m, i, j]`` over all nodes."""
        out = np.zeros((local.shape[0], self.d + 1, self.d), dtype=dtype)
        cols = np.broadcast_to(np.arange(self.d)[:, None], self.univ.shape)
        out[:, self.univ, cols] = local
        return out[:, : self.d]

    def _rb(self, w: np.ndarray) -> np.ndarray:
        """``(m, d, P)`` weights -> ``(m, d, d)`` ``[m, i, j]`` probability that ``j``'s set holds ``i``."""
        p = (w / w.sum(axis=2, keepdims=True)).transpose(1, 0, 2)  # (d, m, P)
        if self._ubits_f is None:
            self._ubits_f = self.ubits.astype(np.float64)
        local = np.matmul(p, self._ubits_f).transpose(1, 0, 2)  # (m, d, U)
        return self._scatter(local, np.float64)

    def edge_probs(self, orders: np.ndarray) -> np.ndarray:
        """Rao-Blackwellised ``P(i -> j | order)`` of ``(n, d)`` orders -> ``(n, d, d)``: the mass of ``j``'s
        sets inside its predecessors that contain ``i``, over their total."""
        o = np.asarray(orders, dtype=np.int64)
        out = np.empty((o.shape[0], self.d, self.d))
        for block in self._blocks(o.shape[0]):
            out[block] = self._rb(self._weights_inside(o[block]))
        return out

    def draws(
        self, orders: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One DAG per order and the summed Rao-Blackwellised edge probabilities, in one pass.

        Each node's parent set is drawn among its sets inside its predecessors with probability
        ``prop. exp(score)`` (inverse CDF of the weights).

        Returns ``(adj (n, d, d) bool, log_score (n,), edge_prob_sum (d, d))``: ``log_score`` the DAG's
        summed set scores, ``edge_prob_sum[i, j]`` the sum over the orders of ``P(i -> j | order)``.
        """
        o = np.asarray(orders, dtype=np.int64)
        n, d = o.shape
        adj = np.empty((n, d, d), dtype=bool)
        logs = np.empty(n)
        total_probs = np.zeros((d, d))
        rows = np.arange(d)[None]
        u = self.univ.shape[1]
        for block in self._blocks(n):
            w = self._weights_inside(o[block])
            total_probs += self._rb(w).sum(axis=0)
            cum = np.cumsum(w, axis=2)
            r = 1.0 - rng.random(cum.shape[:2] + (1,))  # in (0, 1]: never picks a zero-weight set
            arg = np.minimum((cum < r * cum[:, :, -1:]).sum(axis=2), w.shape[2] - 1)
            chosen = self.masks[rows, arg]  # (m, d) local masks
            logs[block] = self.scores[rows, arg].sum(axis=1)
            adj[block] = self._scatter(((chosen[:, :, None] >> np.arange(u)) & 1).astype(bool), bool)
        return adj, logs, total_probs
