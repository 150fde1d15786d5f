"""The order-MCMC kernel (Friedman & Koller 2003) with Metropolis coupling, vectorised over chains x rungs.

The state of one chain is a permutation ``order`` of the ``d`` nodes (``order[p]`` the node at position
``p``). Its score is the log of the summed posterior mass of every DAG consistent with it,

    ``score(order) = sum_j log alpha_j(pred_j)``,  ``alpha_j(U) = sum_{pa subset U, admissible} exp s_j(pa)``,

with ``pred_j`` the nodes before ``j`` and ``s_j`` the local score plus structure prior of the sets of an
:class:`~.order_space.OrderSpace` (at most ``k`` candidate parents, optionally plus one other parent).

Moves (both symmetric, so accepted with ``min(1, exp(beta * delta))``): with probability
``p_adjacent`` swap two adjacent positions (uniform among the ``d - 1``), otherwise swap two positions
chosen uniformly among the ``d(d-1)/2`` pairs. Swapping positions ``a < c`` (nodes ``u``, ``v``)
changes the predecessor sets of the nodes at positions ``a..c`` only: ``u`` loses nothing but gains
the middle and ``v``, ``v`` keeps ``pred(u)``, each middle node swaps ``u`` for ``v``. A step rescores
those nodes only, for every chain and rung at once: the affected (member, node) pairs are laid out
flat (their number varies per member), which of the nodes that matter to each
(:attr:`~.order_table.OrderTable.needed`) come before it after the swap is read off the node
positions, their ``alpha`` computed in one call of
:meth:`~.order_table.OrderTable.log_alpha_before` (a table lookup, or a masked sum over the table
rows) and the changes summed back per member with ``np.add.reduceat``. Nothing is a bitmask over
all nodes, so any ``d`` works.

Metropolis coupling: each of the ``C`` chains runs ``T`` rungs with inverse temperatures
``1 = beta_0 > ... > beta_{T-1} = beta_min`` (geometric), rung ``t`` targeting ``exp(beta_t score)``.
Every ``swap_every`` steps each chain proposes to exchange the states of the adjacent rung pairs of a
random parity (``(0,1), (2,3), ...`` or ``(1,2), (3,4), ...``), each accepted with
``min(1, exp((beta_t - beta_{t+1}) (score_{t+1} - score_t)))``. Only rung 0 is the posterior.

The order scores are exact to rounding (see :mod:`.order_space`); a state's score is re-summed from its
node scores after every step, so no error accumulates.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .order_space import OrderSpace, positions
from .order_table import OrderTable
from .parent_sets import ParentSetTable


def proposal_probabilities(d: int, p_adjacent: float) -> np.ndarray:
    """``(d, d)`` symmetric: entry ``[a, c]`` the probability that a step proposes swapping positions
    ``a`` and ``c`` (zero diagonal; the entries sum to 2)."""
    q = np.full((d, d), (1.0 - p_adjacent) / (d * (d - 1) / 2))
    idx = np.arange(d - 1)
    q[idx, idx + 1] += p_adjacent / (d - 1)
    q[idx + 1, idx] += p_adjacent / (d - 1)
    np.fill_diagonal(q, 0.0)
    return q


def random_orders(required: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, d)`` random orders with every required edge forward (random-priority topological sorts)."""
    d = required.shape[0]
    keys = rng.random((n, d))
    if not required.any():
        return np.argsort(keys, axis=1)
    out = np.empty((n, d), dtype=np.int64)
    for r in range(n):  # initialisation only
        placed = np.zeros(d, dtype=bool)
        for p in range(d):
            ready = ~placed & ~(required & ~placed[:, None]).any(axis=0)
            j = int(np.flatnonzero(ready)[np.argmin(keys[r, ready])])
            out[r, p], placed[j] = j, True
    return out


def check_orders(init: object, d: int, c: int) -> np.ndarray:
    """``(d,)`` or ``(c, d)`` starting orders -> ``(c, d)`` int64; ValueError naming ``init`` otherwise."""
    o = np.asarray(init)
    if o.shape not in ((d,), (c, d)) or not np.issubdtype(o.dtype, np.integer):
        raise ValueError(f"init: expected ({d},) or ({c}, {d}) integer node orders, got {o.shape} {o.dtype}")
    o = np.broadcast_to(o, (c, d)).astype(np.int64)
    if np.any(np.sort(o, axis=1) != np.arange(d)):
        raise ValueError("init: every row must be a permutation of 0..d-1")
    return o


class OrderState(NamedTuple):
    """State of ``C`` chains x ``T`` rungs (rung 0 has ``beta = 1``).

    Attributes:
        position: ``(C, d)`` the orders of rung 0 (what the driver keeps).
        log_density: ``(C,)`` their scores.
        orders: ``(C, T, d)`` int64 every rung's order.
        pos: ``(C, T, d + 1)`` int64 position of each node (last entry ``d``, see
            :func:`~.order_space.positions`).
        node_scores: ``(C, T, d)`` ``log alpha_j(pred_j)``.
        scores: ``(C, T)`` order scores (sum of ``node_scores``).
        step: steps taken so far.
    """

    position: np.ndarray
    log_density: np.ndarray
    orders: np.ndarray
    pos: np.ndarray
    node_scores: np.ndarray
    scores: np.ndarray
    step: int


class OrderInfo(NamedTuple):
    """What one step did: ``accepted`` ``(C,)`` rung-0 moves accepted; ``accepted_rungs`` ``(C, T)``;
    ``swap_tried`` / ``swap_accepted`` ``(C, T - 1)`` exchange proposals between rungs ``t, t+1``."""

    accepted: np.ndarray
    accepted_rungs: np.ndarray
    swap_tried: np.ndarray
    swap_accepted: np.ndarray


class OrderKernel:
    """``init(orders) -> OrderState`` and ``step(rng, state) -> (OrderState, OrderInfo)``.

    Args:
        space: the scored parent sets (:class:`~.order_space.OrderSpace` or a table).
        betas: ``(T,)`` inverse temperatures, ``betas[0] == 1``, decreasing.
        lookup: passed to :class:`~.order_space.OrderTable` (None: tabulate when it fits).
        p_adjacent: probability of an adjacent-position swap (else a random-pair swap).
        swap_every: steps between exchange proposals between rungs.
    """

    def __init__(
        self,
        space: OrderSpace | ParentSetTable,
        betas: np.ndarray,
        p_adjacent: float = 0.5,
        swap_every: int = 1,
        lookup: bool | None = None,
    ) -> None:
        self.tab = OrderTable(space, lookup)
        self.betas = np.asarray(betas, dtype=np.float64)
        self.p_adjacent = float(p_adjacent)
        self.swap_every = int(swap_every)

    def init(self, orders: np.ndarray) -> OrderState:
        """State from ``(C, T, d)`` orders."""
        o = np.asarray(orders, dtype=np.int64)
        c, t, d = o.shape
        ns = self.tab.node_scores(o.reshape(c * t, d)).reshape(o.shape)
        sc = ns.sum(axis=2)
        return OrderState(o[:, 0].copy(), sc[:, 0].copy(), o, positions(o), ns, sc, 0)

    def step(self, rng: np.random.Generator, state: OrderState) -> tuple[OrderState, OrderInfo]:
        c, t, d = state.orders.shape
        b = c * t
        orders = state.orders.reshape(b, d).copy()
        pos = state.pos.reshape(b, d + 1).copy()
        ns = state.node_scores.reshape(b, d).copy()
        # proposal: positions lo < hi
        adjacent = rng.random(b) < self.p_adjacent
        a = rng.integers(0, d, b)
        e = rng.integers(0, d - 1, b)  # also the left position of an adjacent swap
        lo = np.where(adjacent, e, np.minimum(a, e + (e >= a)))
        e += e >= a
        hi = np.where(adjacent, lo + 1, np.maximum(a, e))
        member = np.arange(b)
        u, v = orders[member, lo], orders[member, hi]
        length = hi - lo + 1
        ends = np.cumsum(length)
        starts = ends - length
        flat_m = np.repeat(member, length)
        flat_pos = np.arange(ends[-1]) - np.repeat(starts, length) + lo[flat_m]
        flat_node = orders[flat_m, flat_pos]
        lo_f, hi_f = lo[flat_m], hi[flat_m]
        own = np.where(flat_pos == lo_f, hi_f, np.where(flat_pos == hi_f, lo_f, flat_pos))  # u <-> v
        need = self.tab.needed[flat_node]  # (F, K) the nodes whose place matters
        at = pos[flat_m[:, None], need]
        at = np.where(
            need == u[flat_m, None], hi_f[:, None], np.where(need == v[flat_m, None], lo_f[:, None], at)
        )
        new_ns = self.tab.log_alpha_before(flat_node, at < own[:, None])
        with np.errstate(invalid="ignore"):
            delta = np.add.reduceat(new_ns - ns[flat_m, flat_node], starts)
            beta = np.tile(self.betas, c)
            accept = -rng.standard_exponential(b) < beta * delta
        acc_flat = accept[flat_m]
        ns[flat_m[acc_flat], flat_node[acc_flat]] = new_ns[acc_flat]
        pos[member[accept], u[accept]] = hi[accept]
        pos[member[accept], v[accept]] = lo[accept]
        scores = ns.sum(axis=1)  # exact, no drift from summed deltas
        orders[member[accept], lo[accept]] = v[accept]
        orders[member[accept], hi[accept]] = u[accept]
        orders, pos, ns = orders.reshape(c, t, d), pos.reshape(c, t, d + 1), ns.reshape(c, t, d)
        scores = scores.reshape(c, t)
        tried = np.zeros((c, max(t - 1, 0)), dtype=bool)
        swapped = np.zeros_like(tried)
        if t > 1 and (state.step + 1) % self.swap_every == 0:
            parity = rng.integers(0, 2, c)
            tried = (np.arange(t - 1)[None, :] % 2) == parity[:, None]
            gap = self.betas[:-1] - self.betas[1:]
            log_r = gap[None, :] * (scores[:, 1:] - scores[:, :-1])
            swapped = tried & (-rng.standard_exponential((c, t - 1)) < log_r)
            perm = np.broadcast_to(np.arange(t), (c, t)).copy()
            ci, ti = np.nonzero(swapped)
            perm[ci, ti], perm[ci, ti + 1] = ti + 1, ti
            rows = np.arange(c)[:, None]
            orders, pos, ns, scores = (
                orders[rows, perm],
                pos[rows, perm],
                ns[rows, perm],
                scores[rows, perm],
            )
        acc = accept.reshape(c, t)
        new = OrderState(orders[:, 0].copy(), scores[:, 0].copy(), orders, pos, ns, scores, state.step + 1)
        return new, OrderInfo(acc[:, 0], acc, tried, swapped)
