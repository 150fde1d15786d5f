"""The parent sets an order sampler sums over, and the sums it needs: ``alpha_j(U)``, the conditional DAG
draws given an order and the Rao-Blackwellised edge probabilities.

An :class:`OrderSpace` lists, per node ``j``, its admissible parent sets as int64 bitmasks with their
scores ``s_j(pa) = local + prior``:

- the *core* sets: at most ``k`` members, all *candidate* parents ``C_j`` (a
  :class:`~.parent_sets.ParentSetTable`);
- with ``plus_one``, also every set ``S + {i}`` with ``S`` a core set of at most ``k - 1`` members and
  ``i`` any other node outside ``C_j`` (not forbidden): the "plus one" space of BiDAG (Kuipers, Suter &
  Moffa 2022), which lets every node take one parent that the pruning missed.

For an order, ``alpha_j(U) = sum_{pa subset U} exp s_j(pa)`` over the space's sets inside the
predecessors ``U`` of ``j``. :class:`OrderTable` evaluates it in ``O(1)`` per node from lookup tables when
they fit in memory: ``log A_j[c(U)]`` (the subset sums of the core sets over the ``2^|C_j|`` subsets of
the candidates, ``c`` compressing ``U`` to the candidate bits) plus, for the plus-one sets,
``log B_j,i[c(U)]`` for each non-candidate ``i`` in ``U``. Otherwise it sums the masked table rows
(``(masks & ~U) == 0``), exact too, ``O(P)`` per node; where the shifted sum underflows (``< 1e-280``) it
recomputes the exact masked log-sum-exp.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .parent_sets import ParentSetTable, check_candidates, check_max_parents, subsets_upto

_TINY = 1e-280
_CHUNK = 1 << 21  # elements per block in the conditional computations
#: Largest number of float64 entries of the lookup tables (``d (1 + n_out) 2^W``; 128 MiB).
MAX_LOOKUP = 1 << 24


def lookup_width(d: int, plus_one: bool) -> int:
    """Most candidates per node for which the lookup tables of ``d`` nodes fit in ``MAX_LOOKUP`` entries
    (with ``plus_one``: 13 at ``d = 50``, 12 at ``d = 62``, the most int64 bitmasks allow)."""
    width = 0
    while width < d - 1:
        n_out = d - 2 - width if plus_one else 0
        if d * (1 + n_out) * (1 << (width + 1)) > MAX_LOOKUP:
            break
        width += 1
    return width


def predecessor_masks(orders: np.ndarray) -> np.ndarray:
    """``(..., d)`` orders -> ``(..., d)`` int64: entry ``j`` the bitmask of the nodes before ``j``."""
    o = np.asarray(orders, dtype=np.int64)
    bits = np.left_shift(np.int64(1), o)
    prefix = np.bitwise_or.accumulate(bits, axis=-1) ^ bits  # nodes strictly before each position
    out = np.empty_like(prefix)
    np.put_along_axis(out, o, prefix, axis=-1)
    return out


def _pad(rows: list[np.ndarray], fill: float | int, dtype: type) -> np.ndarray:
    out = np.full((len(rows), max(r.size for r in rows)), fill, dtype=dtype)
    for j, r in enumerate(rows):
        out[j, : r.size] = r
    return out


@dataclass(frozen=True)
class OrderSpace:
    """Admissible parent sets of every node for the order sampler.

    Attributes:
        masks: ``(d, P)`` int64 set bitmasks, padding ``-1``.
        scores: ``(d, P)`` local score plus prior (``-inf`` on padding and inadmissible sets).
        counts: ``(d,)`` real sets per node.
        candidates: ``(d, d)`` bool core candidate parents ``C``.
        max_parents: in-degree bound ``k``.
        plus_one: whether the sets with one non-candidate parent are included.
    """

    masks: np.ndarray
    scores: np.ndarray
    counts: np.ndarray
    candidates: np.ndarray
    max_parents: int
    plus_one: bool = False

    @property
    def d(self) -> int:
        return int(self.masks.shape[0])

    @property
    def n_sets(self) -> int:
        return int(self.counts.sum())

    @classmethod
    def from_table(cls, table: ParentSetTable) -> OrderSpace:
        """The space of a :class:`ParentSetTable` (no plus-one sets)."""
        return cls(table.masks, table.scores, table.counts, table.candidates, table.max_parents, False)

    @classmethod
    def build(
        cls, score: object, candidates: object = None, max_parents: int | None = 3, plus_one: bool = True
    ) -> OrderSpace:
        """Score the core sets (one :meth:`ParentSetTable.build`) and, with ``plus_one``, the sets with
        one non-candidate parent (one more ``score.local_many`` call)."""
        d = int(score.d)
        cand = check_candidates(candidates, d)
        k = check_max_parents(max_parents, d)
        core = ParentSetTable.build(score, max_parents=k, candidates=cand)
        if not plus_one or k == 0 or cand.sum() == d * (d - 1):
            return cls.from_table(core)
        prior = getattr(score, "prior", None)
        forbidden = np.zeros((d, d), bool) if prior is None else np.asarray(prior.forbidden, bool)
        outside = ~cand & ~forbidden & ~np.eye(d, dtype=bool)
        extra = []
        for j in range(d):
            base = subsets_upto(np.flatnonzero(cand[:, j]), k - 1)
            outs = np.left_shift(np.int64(1), np.flatnonzero(outside[:, j]))
            extra.append((outs[:, None] | base[None, :]).ravel())
        nodes = np.repeat(np.arange(d), [e.size for e in extra])
        flat = np.concatenate(extra)
        ext_scores = np.asarray(score.local_many(nodes, flat), dtype=np.float64) if flat.size else flat
        split = np.cumsum([e.size for e in extra])[:-1]
        masks, scores = [], []
        for j, (m, s) in enumerate(zip(np.split(flat, split), np.split(ext_scores, split), strict=True)):
            n = int(core.counts[j])
            masks.append(np.concatenate([core.masks[j, :n], m]))
            scores.append(np.concatenate([core.scores[j, :n], s]))
        counts = np.array([m.size for m in masks], dtype=np.int64)
        return cls(_pad(masks, -1, np.int64), _pad(scores, -np.inf, np.float64), counts, cand, k, True)


class OrderTable:
    """The sums over an :class:`OrderSpace` that the order sampler needs, vectorised over nodes.

    Args:
        space: the parent sets.
        lookup: tabulate ``alpha`` (True), sum the masked rows (False), or decide by memory (None:
            tabulate when ``d (1 + n_out) 2^W <= MAX_LOOKUP``, ``W`` the most candidates of a node,
            ``n_out`` the most plus-one parents).
    """

    def __init__(self, space: OrderSpace | ParentSetTable, lookup: bool | None = None) -> None:
        if isinstance(space, ParentSetTable):
            space = OrderSpace.from_table(space)
        self.space = space
        self.d = d = space.d
        self.masks, self.scores = space.masks, space.scores
        self.top = space.scores.max(axis=1)
        if not np.all(np.isfinite(self.top)):
            j = int(np.flatnonzero(~np.isfinite(self.top))[0])
            raise ValueError(f"table: node {j} has no parent set of finite score (check required edges)")
        with np.errstate(invalid="ignore"):
            self.weights = np.where(space.masks >= 0, np.exp(self.scores - self.top[:, None]), 0.0)
        width = int(space.candidates.sum(axis=0).max())
        out_sets = [np.zeros(0, np.int64)] * d
        if space.plus_one:  # the non-candidate parents each node's plus-one sets use
            cmask = (space.candidates * (np.int64(1) << np.arange(d))[:, None]).sum(axis=0)
            outer = np.where(space.masks >= 0, space.masks & ~cmask[:, None], 0)
            out_sets = [np.unique(outer[j][outer[j] != 0]) for j in range(d)]
        n_out = max(o.size for o in out_sets)
        if lookup is None:
            lookup = d * (1 + n_out) * (1 << width) <= MAX_LOOKUP
        self.core: np.ndarray | None = None
        if lookup:
            self._build_lookup(width, out_sets, n_out)

    def _build_lookup(self, width: int, out_sets: list[np.ndarray], n_out: int) -> None:
        d, size = self.d, 1 << width
        # cand[j, b]: the node behind bit b of j's compressed masks (63: never set, d <= 62)
        self.cand = np.full((d, max(width, 1)), 63, dtype=np.int64)
        self.outs = np.full((d, max(n_out, 1)), 63, dtype=np.int64)
        for j in range(d):
            members = np.flatnonzero(self.space.candidates[:, j])
            self.cand[j, : members.size] = members
            outs = np.log2(out_sets[j]).round().astype(np.int64) if out_sets[j].size else out_sets[j]
            self.outs[j, : outs.size] = outs
        tables = np.full((d, 1 + n_out, size), -np.inf)  # slot 0: core sets, slot 1 + o: plus outs[j, o]
        real = self.masks >= 0
        nodes = np.broadcast_to(np.arange(d)[:, None], self.masks.shape)[real]
        m = self.masks[real]
        slot = np.zeros(m.size, dtype=np.int64)
        if n_out:
            hit = (m[:, None] >> self.outs[nodes]) & 1  # (n, n_out) which out-node the set holds
            slot = np.where(hit.any(axis=1), 1 + hit.argmax(axis=1), 0)
        tables[nodes, slot, self._compress(nodes, m)] = self.scores[real]
        for b in range(width):  # zeta transform: add the sums without bit b to those with it
            view = tables.reshape(d, 1 + n_out, size >> (b + 1), 2, 1 << b)
            np.logaddexp(view[..., 1, :], view[..., 0, :], out=view[..., 1, :])
        self.core = tables[:, 0]
        self.plus = tables[:, 1:] if n_out else None

    def _compress(self, nodes: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """``(m,)`` masks over all nodes -> ``(m,)`` masks over the candidates of each node."""
        bits = (allowed[:, None] >> self.cand[nodes]) & 1
        return bits @ (np.int64(1) << np.arange(self.cand.shape[1], dtype=np.int64))

    def log_alpha(self, nodes: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """``log alpha_j(U)`` for ``(m,)`` nodes and ``(m,)`` int64 masks ``U`` -> ``(m,)``."""
        if self.core is not None:
            idx = self._compress(nodes, allowed)
            core = self.core[nodes, idx]
            if self.plus is None:
                return core
            inside = ((allowed[:, None] >> self.outs[nodes]) & 1).astype(bool)
            ext = np.where(
                inside, self.plus[nodes[:, None], np.arange(self.plus.shape[1]), idx[:, None]], -np.inf
            )
            top = np.maximum(core, ext.max(axis=1))
            shift = np.where(np.isfinite(top), top, 0.0)
            with np.errstate(divide="ignore", under="ignore"):
                total = np.exp(core - shift) + np.exp(ext - shift[:, None]).sum(axis=1)
                return np.log(total) + shift
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

    def order_scores(self, orders: np.ndarray) -> np.ndarray:
        """``sum_j log alpha_j(pred_j)`` of ``(n, d)`` orders -> ``(n,)``."""
        o = np.asarray(orders, dtype=np.int64)
        nodes = np.broadcast_to(np.arange(self.d), o.shape)
        return self.log_alpha(nodes.ravel(), predecessor_masks(o).ravel()).reshape(o.shape).sum(axis=1)

    def _weights_inside(self, orders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(m, d, P)`` weights of the sets inside each node's predecessors (rows renormalised from the
        exact scores where they underflow) and the ``(m, d, P)`` bool mask."""
        inside = (self.masks[None] & ~predecessor_masks(orders)[:, :, None]) == 0
        w = np.where(inside, self.weights[None], 0.0)
        low = w.sum(axis=2) < _TINY
        if low.any():
            sc = np.where(inside, self.scores[None], -np.inf)
            with np.errstate(invalid="ignore", under="ignore"):
                w = np.where(low[..., None], np.exp(sc - sc.max(axis=2, keepdims=True)), w)
        return w, inside

    def _blocks(self, n: int) -> Iterator[slice]:
        step = max(1, _CHUNK // (self.d * self.masks.shape[1]))
        for s in range(0, n, step):
            yield slice(s, min(n, s + step))

    def _bits(self) -> np.ndarray:
        """``(d, P, d)`` float: ``[j, p, i]`` 1 when set ``p`` of node ``j`` holds ``i``."""
        bits = ((self.masks[:, :, None] >> np.arange(self.d)) & 1).astype(np.float64)
        return bits * (self.masks >= 0)[:, :, None]

    @staticmethod
    def _rb(w: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """``(m, d, P)`` weights -> ``(m, d, d)`` ``[m, i, j]`` probability that ``j``'s set holds ``i``."""
        return np.matmul((w / w.sum(axis=2, keepdims=True)).transpose(1, 0, 2), bits).transpose(1, 2, 0)

    def edge_probs(self, orders: np.ndarray) -> np.ndarray:
        """Rao-Blackwellised ``P(i -> j | order)`` of ``(n, d)`` orders -> ``(n, d, d)``: the mass of ``j``'s
        sets inside its predecessors that contain ``i``, over their total."""
        o = np.asarray(orders, dtype=np.int64)
        out = np.empty((o.shape[0], self.d, self.d))
        bits = self._bits()
        for block in self._blocks(o.shape[0]):
            out[block] = self._rb(self._weights_inside(o[block])[0], bits)
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
        bits = self._bits()
        for block in self._blocks(n):
            w, _ = self._weights_inside(o[block])
            total_probs += self._rb(w, bits).sum(axis=0)
            cum = np.cumsum(w, axis=2)
            u = 1.0 - rng.random(cum.shape[:2] + (1,))  # in (0, 1]: never picks a zero-weight set
            arg = np.minimum((cum < u * cum[:, :, -1:]).sum(axis=2), w.shape[2] - 1)
            chosen = self.masks[rows, arg]
            logs[block] = self.scores[rows, arg].sum(axis=1)
            adj[block] = ((chosen[:, None, :] >> np.arange(d)[None, :, None]) & 1).astype(bool)
        return adj, logs, total_probs
