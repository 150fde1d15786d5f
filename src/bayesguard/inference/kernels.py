"""The edge-flip Metropolis-Hastings kernel over DAGs, written once and vectorised over ``K`` chains.

A move picks an unordered pair ``{i, j}`` (``i < j``) uniformly among the ``P = d(d-1)/2`` pairs and moves
its state among *none*, ``i -> j`` and ``j -> i`` to one of the two other states uniformly, so every
move has probability ``1 / (2P)`` and the proposal is symmetric (Madigan & York 1995). A proposal that
creates a cycle has target mass 0 and is rejected without being scored; the others are accepted with
probability ``min(1, pi(G') / pi(G))`` (any finite proposal is accepted from a state of mass 0).

The kernel follows the ``init`` / ``step`` form (as in BlackJAX): ``init(position, target) -> State`` and
``step(rng, state, target) -> (State, Info)``, with :func:`edge_flip` binding a target into
``kernel.init(position)`` / ``kernel.step(rng, state)``. The *target* is a parameter, described by a
:class:`GraphTarget` (per-graph *terms* and how they combine into the log-density):

- :class:`DensityTarget`: any log-density callable ``(n, d, d) -> (n,)``;
- :class:`DecomposableTarget`: ``sum_j local(j, pa_j)`` (structure posteriors); a move re-scores only the
  two nodes of its pair, so a step costs two local-score lookups per chain;
- :func:`tilted_target`: ``log p(G | D) + beta * log h(G)`` (the harm-seeking search).

:func:`move_table` lists the moves of a graph with their proposal probabilities and :func:`transitions`
the resulting transition probabilities, both through the code that :func:`step` runs, so that a test can
build the exact transition matrix of the kernel it tests.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from ..graphs.dag import is_acyclic, parent_masks, reaches

GraphFn = Callable[[np.ndarray], np.ndarray]

N_CHOICES = 2  # each pair moves to one of its two other states


class LocalScore(Protocol):
    """A decomposable log posterior score over DAGs on ``d`` nodes (score plus prior)."""

    d: int

    def local_many(self, nodes: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """``(m,)`` node indices and ``(m,)`` int64 parent bitmasks -> ``(m,)`` local log scores."""
        ...


@runtime_checkable
class GraphTarget(Protocol):
    """An unnormalised log-density over DAGs, given as ``m`` terms per graph.

    ``scores_cyclic``: whether :meth:`move_terms` may be called on cyclic graphs (their terms are then
    ignored); :func:`step` then scores every proposal in one batch instead of gathering the acyclic ones.
    """

    scores_cyclic: bool

    def terms(self, adj: np.ndarray) -> np.ndarray:
        """``(n, d, d)`` acyclic graphs -> ``(n, m)`` float terms."""
        ...

    def log_density(self, terms: np.ndarray) -> np.ndarray:
        """``(n, m)`` terms -> ``(n,)`` log-density (``-inf`` for mass 0)."""
        ...

    def move_terms(
        self, adj: np.ndarray, terms: np.ndarray, proposed: np.ndarray, i: np.ndarray, j: np.ndarray
    ) -> np.ndarray:
        """Terms ``(n, m)`` of ``proposed`` ``(n, d, d)``, which differs from ``adj`` (with ``terms``) only on
        the pairs ``{i[k], j[k]}``."""
        ...


def _column(values: object, n: int, field: str) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64)
    if out.shape != (n,):
        raise ValueError(f"{field}: expected {n} values (one per graph), got shape {out.shape}")
    return out


@dataclass(frozen=True)
class DensityTarget:
    """A log-density callable ``fn: (n, d, d) -> (n,)``; its single term is the log-density."""

    fn: GraphFn
    scores_cyclic = False

    def terms(self, adj: np.ndarray) -> np.ndarray:
        return _column(self.fn(adj), adj.shape[0], "log_density")[:, None]

    def log_density(self, terms: np.ndarray) -> np.ndarray:
        return terms[:, 0]

    def move_terms(
        self, adj: np.ndarray, terms: np.ndarray, proposed: np.ndarray, i: np.ndarray, j: np.ndarray
    ) -> np.ndarray:
        return self.terms(proposed)


@dataclass(frozen=True)
class TiltedTarget:
    """``log p(G | D) + beta * log h(G)``; terms ``(n, 2)``: the log posterior and the harm ``h``."""

    log_posterior: GraphFn
    harm: GraphFn
    beta: float
    scores_cyclic = False

    def terms(self, adj: np.ndarray) -> np.ndarray:
        n = adj.shape[0]
        return np.stack(
            [_column(self.log_posterior(adj), n, "log_posterior"), _column(self.harm(adj), n, "harm")], 1
        )

    def log_density(self, terms: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return terms[:, 0] + self.beta * np.log(terms[:, 1])

    def move_terms(
        self, adj: np.ndarray, terms: np.ndarray, proposed: np.ndarray, i: np.ndarray, j: np.ndarray
    ) -> np.ndarray:
        return self.terms(proposed)


def tilted_target(log_posterior: GraphFn, harm: GraphFn, beta: float = 1.0) -> TiltedTarget:
    """The harm-tilted target ``p(G | D) * h(G) ** beta`` of the search (``beta > 0``)."""
    if isinstance(beta, bool) or not isinstance(beta, int | float | np.integer | np.floating):
        raise TypeError(f"beta: expected a positive number, got {type(beta).__name__}")
    if not (np.isfinite(beta) and beta > 0):
        raise ValueError(f"beta: expected a positive number, got {beta!r}")
    return TiltedTarget(log_posterior, harm, float(beta))


@dataclass(frozen=True)
class DecomposableTarget:
    """``sum_j local(j, pa_j)``; terms ``(n, d)``: each node's local score. A move changes the parent sets
    of the two nodes of its pair only, so :meth:`move_terms` looks up two local scores per graph."""

    score: LocalScore
    scores_cyclic = True  # a local score is defined for any parent set

    def terms(self, adj: np.ndarray) -> np.ndarray:
        n, d, _ = adj.shape
        masks = parent_masks(adj)  # (n, d) parent bitmask of node j
        return self.score.local_many(np.tile(np.arange(d), n), masks.ravel()).reshape(n, d)

    def log_density(self, terms: np.ndarray) -> np.ndarray:
        return terms.sum(axis=1)

    def move_terms(
        self, adj: np.ndarray, terms: np.ndarray, proposed: np.ndarray, i: np.ndarray, j: np.ndarray
    ) -> np.ndarray:
        n, d, _ = proposed.shape
        rows, rows2 = _rows(n)
        nodes = np.concatenate([i, j])
        cols = proposed[rows2, :, nodes]  # (2n, d) parents of i then of j
        new = self.score.local_many(nodes, cols @ _bits(d)).reshape(2, n)
        out = terms.copy()
        out[rows, i] = new[0]
        out[rows, j] = new[1]
        return out


def as_target(target: GraphTarget | LocalScore | GraphFn) -> GraphTarget:
    """A :class:`GraphTarget` from a target, a decomposable score (``d``, ``local_many``) or a callable."""
    if isinstance(target, GraphTarget):
        return target
    if hasattr(target, "local_many") and hasattr(target, "d"):
        return DecomposableTarget(target)  # type: ignore[arg-type]
    if callable(target):
        return DensityTarget(target)
    raise TypeError(
        "log_density: expected a GraphTarget, a decomposable score (d, local_many) or a callable "
        f"(n, d, d) -> (n,), got {type(target).__name__}"
    )


class EdgeFlipState(NamedTuple):
    """States of ``K`` chains.

    Attributes:
        adj: ``(K, d, d)`` bool current graphs.
        log_density: ``(K,)`` their unnormalised log-density.
        terms: ``(K, m)`` their target terms (e.g. local scores, or log posterior and harm).
    """

    adj: np.ndarray
    log_density: np.ndarray
    terms: np.ndarray

    @property
    def position(self) -> np.ndarray:
        """The graphs ``(K, d, d)`` (the name the driver records)."""
        return self.adj


class EdgeFlipInfo(NamedTuple):
    """What one step did, per chain.

    Attributes:
        accepted: ``(K,)`` bool, the chain moved to its proposal.
        scored: ``(K,)`` bool, the proposal was acyclic and the target scored it.
        proposed: ``(K, d, d)`` bool proposals (cyclic ones included).
        proposed_terms: ``(K, m)`` their terms (meaningful only where ``scored``).
        proposed_log_density: ``(K,)`` their log-density (``-inf`` where not scored).
        acceptance_probability: ``(K,)`` the Metropolis probability ``min(1, pi(G') / pi(G))`` (0 if cyclic).
    """

    accepted: np.ndarray
    scored: np.ndarray
    proposed: np.ndarray
    proposed_terms: np.ndarray
    proposed_log_density: np.ndarray
    acceptance_probability: np.ndarray


@functools.cache
def _bits(d: int) -> np.ndarray:
    out = np.int64(1) << np.arange(d, dtype=np.int64)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=64)
def _rows(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``arange(n)`` and ``arange(n)`` twice over, read-only."""
    rows = np.arange(n)
    rows2 = np.concatenate([rows, rows])
    rows.flags.writeable = False
    rows2.flags.writeable = False
    return rows, rows2


@functools.cache
def _pairs(d: int) -> tuple[np.ndarray, np.ndarray]:
    iu, ju = np.triu_indices(d, 1)
    iu.flags.writeable = False
    ju.flags.writeable = False
    return iu, ju


def proposal_probability(d: int) -> float:
    """Probability of each of the ``2P = d(d-1)`` moves of a graph on ``d`` nodes: ``1 / (2P)``."""
    return 1.0 / (_pairs(d)[0].size * N_CHOICES)


def apply_moves(
    adj: np.ndarray, pair: np.ndarray, choice: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Apply move ``(pair, choice)`` to each graph.

    Args:
        adj: ``(n, d, d)`` bool DAGs.
        pair: ``(n,)`` index into the pairs ``np.triu_indices(d, 1)``.
        choice: ``(n,)`` 0 or 1: which of the two other states of the pair to move to.

    Returns:
        ``(proposed, i, j, acyclic)``: ``(n, d, d)`` graphs, ``(n,)`` the pair's nodes (``i < j``) and
        ``(n,)`` whether the proposal is acyclic.
    """
    n = adj.shape[0]
    iu, ju = _pairs(adj.shape[1])
    i, j = iu[pair], ju[pair]
    rows = _rows(n)[0]
    state = adj[rows, i, j] * 1 + adj[rows, j, i] * 2  # 0 none, 1 i->j, 2 j->i
    new = (state + 1 + choice) % 3
    proposed = adj.copy()
    proposed[rows, i, j] = new == 1
    proposed[rows, j, i] = new == 2
    # the added edge a -> b closes a cycle iff b reaches a (a shortest such path avoids the new edge)
    start = np.where(new == 1, j, i)
    end = i + j - start
    # one batched test for all graphs (cheaper than gathering the adding moves); a removal is acyclic
    acyclic = ~(reaches(proposed, start, end) & (new != 0))
    return proposed, i, j, acyclic


def acceptance_probability(current: np.ndarray, proposed: np.ndarray) -> np.ndarray:
    """Metropolis probability ``min(1, exp(proposed - current))`` ``(K,)`` from log-densities ``(K,)``: 0 for
    a proposal of mass 0 (or NaN), 1 for a finite proposal from a state of mass 0."""
    diff = proposed - current
    if np.isfinite(diff).all():  # both finite (the common case)
        return np.exp(np.minimum(diff, 0.0))
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.exp(np.minimum(diff, 0.0))
    return np.where(np.isfinite(proposed), np.where(np.isfinite(current), diff, 1.0), 0.0)


def init(
    position: object, target: GraphTarget | LocalScore | GraphFn, *, field: str = "position"
) -> EdgeFlipState:
    """Chains started at ``position`` ``(K, d, d)`` acyclic graphs (``d >= 2``), scored by ``target``.

    A state of mass 0 is allowed (the chain then accepts any finite proposal); ``field`` names the
    argument in error messages.
    """
    tgt = as_target(target)
    adj = np.array(position, dtype=bool)
    if adj.ndim != 3 or adj.shape[1] != adj.shape[2] or adj.shape[1] < 2 or adj.shape[0] < 1:
        raise ValueError(f"{field}: expected (K, d, d) graphs with K >= 1 and d >= 2, got shape {adj.shape}")
    if not is_acyclic(adj).all():
        raise ValueError(f"{field}: starting graphs must be acyclic")
    terms = np.asarray(tgt.terms(adj), dtype=np.float64)
    return EdgeFlipState(adj, tgt.log_density(terms), terms)


def step(
    rng: np.random.Generator, state: EdgeFlipState, target: GraphTarget
) -> tuple[EdgeFlipState, EdgeFlipInfo]:
    """One edge-flip Metropolis-Hastings step of every chain.

    Draws, in this order, the pairs ``(K,)``, the choices ``(K,)`` and the uniforms ``(K,)``, so a chain's
    randomness does not depend on the other chains' states. Cyclic proposals are rejected; the target
    scores only the acyclic ones unless it declares ``scores_cyclic`` (then all in one batch).
    """
    adj, old_ld, old_terms = state
    k, d, _ = adj.shape
    pair = rng.integers(0, _pairs(d)[0].size, k)
    choice = rng.integers(0, N_CHOICES, k)
    u = rng.random(k)
    proposed, i, j, acyclic = apply_moves(adj, pair, choice)
    all_acyclic = bool(acyclic.all())
    if target.scores_cyclic or all_acyclic:
        new_terms = np.asarray(target.move_terms(adj, old_terms, proposed, i, j), dtype=np.float64)
        new_ld = target.log_density(new_terms)
    else:
        new_terms = np.full(old_terms.shape, np.nan)
        new_ld = np.full(k, -np.inf)
        idx = np.flatnonzero(acyclic)
        if idx.size:
            sub = target.move_terms(adj[idx], old_terms[idx], proposed[idx], i[idx], j[idx])
            new_terms[idx] = sub
            new_ld[idx] = target.log_density(new_terms[idx])
    alpha = acceptance_probability(old_ld, new_ld)
    if not all_acyclic:  # a cyclic proposal has mass 0 whatever its terms
        alpha = alpha * acyclic
        new_ld = np.where(acyclic, new_ld, -np.inf)
    accept = u < alpha
    new_state = EdgeFlipState(
        np.where(accept[:, None, None], proposed, adj),
        np.where(accept, new_ld, old_ld),
        np.where(accept[:, None], new_terms, old_terms),
    )
    return new_state, EdgeFlipInfo(accept, acyclic, proposed, new_terms, new_ld, alpha)


def move_table(adj: object) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every move of one DAG ``(d, d)``, through :func:`apply_moves`.

    Returns:
        ``(proposed, probability, acyclic, i, j)``: the ``2P`` proposed graphs ``(2P, d, d)``, the
        probability that :func:`step` proposes each ``(2P,)``, whether it is acyclic and its pair's nodes.
    """
    a = np.asarray(adj, dtype=bool)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 2:
        raise ValueError(f"adj: expected one (d, d) graph with d >= 2, got shape {a.shape}")
    d = a.shape[0]
    n_pairs = _pairs(d)[0].size
    pair = np.repeat(np.arange(n_pairs), N_CHOICES)
    choice = np.tile(np.arange(N_CHOICES), n_pairs)
    proposed, i, j, acyclic = apply_moves(np.broadcast_to(a, (pair.size, d, d)), pair, choice)
    return proposed, np.full(pair.size, proposal_probability(d)), acyclic, i, j


def transitions(adj: object, target: GraphTarget | LocalScore | GraphFn) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's transition probabilities out of one DAG ``(d, d)`` to the graphs it can move to.

    Returns:
        ``(graphs, probability)``: the acyclic proposals ``(m, d, d)`` and ``(m,)`` their proposal
        probability times the acceptance probability; the rest of the mass stays on ``adj``.
    """
    tgt = as_target(target)
    state = init(np.asarray(adj, dtype=bool)[None], tgt, field="adj")
    proposed, prob, acyclic, i, j = move_table(state.adj[0])
    proposed, prob, i, j = proposed[acyclic], prob[acyclic], i[acyclic], j[acyclic]
    m = proposed.shape[0]
    current = np.broadcast_to(state.adj, (m, *state.adj.shape[1:]))
    terms = tgt.move_terms(current, np.repeat(state.terms, m, axis=0), proposed, i, j)
    alpha = acceptance_probability(np.repeat(state.log_density, m), tgt.log_density(terms))
    return proposed, prob * alpha


class EdgeFlipKernel(NamedTuple):
    """The kernel bound to a target: ``init(position) -> State``, ``step(rng, state) -> (State, Info)``."""

    init: Callable[..., EdgeFlipState]
    step: Callable[[np.random.Generator, EdgeFlipState], tuple[EdgeFlipState, EdgeFlipInfo]]
    target: GraphTarget


def edge_flip(target: GraphTarget | LocalScore | GraphFn) -> EdgeFlipKernel:
    """The edge-flip kernel on ``target`` (see :func:`as_target` for what a target may be)."""
    tgt = as_target(target)
    return EdgeFlipKernel(functools.partial(init, target=tgt), functools.partial(step, target=tgt), tgt)
