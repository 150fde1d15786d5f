"""The parent sets an order sampler sums over: :class:`OrderSpace`, per node ``j`` its admissible parent
sets with their scores ``s_j(pa) = local + prior``:

- the *core* sets: at most ``k`` members, all *candidate* parents ``C_j`` (a
  :class:`~.parent_sets.ParentSetTable`);
- with ``plus_one``, also every set ``S + {i}`` with ``S`` a core set of at most ``k - 1`` members and
  ``i`` any other node outside ``C_j`` (not forbidden): the "plus one" space of BiDAG (Kuipers, Suter &
  Moffa 2022), which lets every node take one parent that the pruning missed.

Sets are int64 bitmasks over a per-node *universe* ``universe[j]`` of at most 62 nodes: bit ``b`` of a
mask of node ``j`` stands for node ``universe[j, b]``. Up to ``d = 62`` every universe is all nodes in
their natural order, so the masks are the global bitmasks ``sum_{i in pa} 1 << i``. Above, the universe
of ``j`` is its candidates plus, with ``plus_one``, the ``62 - |C_j|`` other nodes whose single-parent
score for ``j`` is highest: the plus-one parents are drawn from those (a documented narrowing of
BiDAG's space, which allows any node). The sums over a space, given an order, are in
:mod:`.order_table`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .parent_sets import ParentSetTable, check_candidates, check_max_parents, subsets_upto

#: Most nodes in one node's universe (its masks are int64 bitmasks).
MAX_UNIVERSE = 62
#: Largest number of float64 entries of the lookup tables (``d (1 + n_out) 2^W``; 128 MiB).
MAX_LOOKUP = 1 << 24


def lookup_width(d: int, plus_one: bool) -> int:
    """Most candidates per node for which the lookup tables of ``d`` nodes fit in ``MAX_LOOKUP`` entries
    (with ``plus_one``: 13 at ``d = 50``, 12 at ``d = 62``, 10 at ``d = 100``)."""
    width = 0
    while width < min(d - 1, MAX_UNIVERSE):
        n_out = (d - 2 - width if d <= MAX_UNIVERSE else MAX_UNIVERSE - width - 1) if plus_one else 0
        if d * (1 + n_out) * (1 << (width + 1)) > MAX_LOOKUP:
            break
        width += 1
    return width


def positions(orders: np.ndarray) -> np.ndarray:
    """``(..., d)`` orders -> ``(..., d + 1)`` int64 positions: entry ``i`` the position of node ``i``; the
    extra last entry is ``d``, after every node (the padding of universes points at it)."""
    o = np.asarray(orders, dtype=np.int64)
    d = o.shape[-1]
    pos = np.full(o.shape[:-1] + (d + 1,), d, dtype=np.int64)
    inner = np.empty_like(o)
    np.put_along_axis(inner, o, np.broadcast_to(np.arange(d), o.shape), axis=-1)
    pos[..., :d] = inner
    return pos


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
        universe: ``(d, U)`` int64, ``U <= 62``: bit ``b`` of node ``j``'s masks is node
            ``universe[j, b]`` (padding ``d``); None (the default, ``d <= 62``): every node, in order.
    """

    masks: np.ndarray
    scores: np.ndarray
    counts: np.ndarray
    candidates: np.ndarray
    max_parents: int
    plus_one: bool = False
    universe: np.ndarray | None = None

    def __post_init__(self) -> None:
        d = self.masks.shape[0]
        if self.universe is None:
            if d > MAX_UNIVERSE:
                raise ValueError(f"universe: needed above d = {MAX_UNIVERSE} nodes (got d = {d})")
            object.__setattr__(self, "universe", np.tile(np.arange(d, dtype=np.int64), (d, 1)))
        u = np.asarray(self.universe)
        if u.ndim != 2 or u.shape[0] != d or u.shape[1] > MAX_UNIVERSE:
            raise ValueError(f"universe: expected ({d}, U <= {MAX_UNIVERSE}) node indices, got {u.shape}")

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
        if d > MAX_UNIVERSE:
            return _build_wide(score, cand, k, plus_one)
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


def _forbidden(score: Any, d: int) -> np.ndarray:
    prior = getattr(score, "prior", None)
    return np.zeros((d, d), bool) if prior is None else np.asarray(prior.forbidden, bool)


def _universes(score: Any, cand: np.ndarray, plus_one: bool) -> np.ndarray:
    """``(d, U)`` universes above 62 nodes: each node's candidates, then (``plus_one``) the other
    admissible nodes with the highest single-parent score, up to 62 in all; padding ``d``."""
    d = cand.shape[0]
    width = cand.sum(axis=0)
    if width.max() > MAX_UNIVERSE:
        j = int(np.argmax(width))
        raise ValueError(
            f"candidates: node {j} has {width[j]} candidate parents; at most {MAX_UNIVERSE} above d = 62"
        )
    key = np.where(cand, np.inf, -np.inf)
    if plus_one:
        outside = ~cand & ~_forbidden(score, d) & ~np.eye(d, dtype=bool)
        pa, ch = np.nonzero(outside)
        bits = np.zeros((pa.size, d), dtype=bool)
        bits[np.arange(pa.size), pa] = True
        gain = np.asarray(score.local_bits(ch, bits), dtype=np.float64)
        key[pa, ch] = np.where(np.isfinite(gain), gain, -np.inf)
    order = np.argsort(-key, axis=0, kind="stable")[:MAX_UNIVERSE]  # (U, d)
    keep = np.isfinite(np.take_along_axis(key, order, axis=0)) | np.take_along_axis(cand, order, axis=0)
    univ = np.where(keep, order, d).T  # (d, U)
    return np.sort(univ, axis=1)  # padding (d) last


def _build_wide(score: Any, cand: np.ndarray, k: int, plus_one: bool) -> OrderSpace:
    """:meth:`OrderSpace.build` above 62 nodes: masks over per-node universes, scored by
    ``score.local_bits`` (one call per node)."""
    if not hasattr(score, "local_bits"):
        raise TypeError("score: above 62 nodes the score needs local_bits(nodes, parents)")
    d = cand.shape[0]
    univ = _universes(score, cand, plus_one and k > 0)
    masks, scores = [], []
    for j in range(d):
        row = univ[j]
        real = row < d
        local_cand = np.flatnonzero(real & cand[np.minimum(row, d - 1), j])
        local_out = np.flatnonzero(real & ~cand[np.minimum(row, d - 1), j])
        m = subsets_upto(local_cand, k)
        if plus_one and k > 0 and local_out.size:
            base = subsets_upto(local_cand, k - 1)
            m = np.concatenate([m, ((np.int64(1) << local_out)[:, None] | base[None, :]).ravel()])
        bits = np.zeros((m.size, d + 1), dtype=bool)
        ubits = ((m[:, None] >> np.arange(row.size)) & 1).astype(bool)
        bits[np.nonzero(ubits)[0], row[np.nonzero(ubits)[1]]] = True
        masks.append(m)
        scores.append(np.asarray(score.local_bits(np.full(m.size, j), bits[:, :d]), dtype=np.float64))
    counts = np.array([m.size for m in masks], dtype=np.int64)
    return OrderSpace(
        _pad(masks, -1, np.int64), _pad(scores, -np.inf, np.float64), counts, cand, k, plus_one, univ
    )
