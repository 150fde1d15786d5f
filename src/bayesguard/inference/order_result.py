"""The settings and the result of :func:`~.order_mcmc.order_mcmc`: what a run is asked to do and what it
returns (kept orders, one exact DAG draw per order, Rao-Blackwellised edge probabilities, diagnostics)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validate import positive_int
from ..posterior import Posterior, SamplerError
from .candidates import METHODS
from .order_space import OrderSpace

__all__ = ["OrderMCMCConfig", "OrderMCMCResult"]


def check_number(
    value: object, field: str, low: float, high: float, *, open_low: bool, open_high: bool
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{field}: expected a number, got {type(value).__name__}")
    x = float(value)
    ok = (x > low if open_low else x >= low) and (x < high if open_high else x <= high)
    if not (np.isfinite(x) and ok):
        lb, rb = "(" if open_low else "[", ")" if open_high else "]"
        raise ValueError(f"{field}: expected a number in {lb}{low:g}, {high:g}{rb}, got {value!r}")
    return x


@dataclass(frozen=True)
class OrderMCMCConfig:
    """Settings of :func:`order_mcmc`.

    Attributes:
        n_chains: independent chains ``C`` (``>= 2`` for R-hat; 4 by default).
        n_rungs: tempered rungs ``T`` per chain (1: no coupling).
        beta_min: inverse temperature of the hottest rung, in ``(0, 1]``; rungs are geometric in
            ``[beta_min, 1]``.
        p_adjacent: probability that a move swaps two adjacent positions (else two random positions).
        swap_every: steps between exchange proposals between rungs.
        thin: keep every ``thin``-th order of rung 0 (the least thinning).
        max_kept: with a time budget, most orders kept per chain: the thinning grows, from the speed of
            a timed warm-up of 64 steps, so that about this many are kept (each kept order costs a DAG
            draw and its Rao-Blackwellised edge probabilities afterwards, 18 ms at ``d = 100``).
        burn_in_fraction: fraction of the kept orders dropped at the start, in ``[0, 1)``.
        max_parents: in-degree bound ``k`` of the parent sets.
        n_candidates: candidate parents per node ``K`` when they are chosen automatically.
        candidate_method: ``"greedy"`` or ``"pairwise"`` (:func:`~.candidates.candidate_parents`).
        plus_one: add the sets with one non-candidate parent (:class:`~.order_space.OrderSpace`)
            when the candidates are pruned.
        expand_rounds: pilot runs that widen automatically pruned candidates before the main run.
        pilot_fraction: share of ``n_steps`` and of the time budget each pilot run gets.
        expand_threshold: edge marginal from which a non-candidate parent joins the candidates.
        max_candidates: most candidates per node of an automatically pruned space, before and after
            expansion (None: as many as keep the ``alpha`` lookup tables within
            :data:`~.order_space.MAX_LOOKUP`, 13 at ``d = 50`` and 12 at ``d = 62`` with plus-one sets;
            beyond that each step sums table rows instead, about 10 times slower).
    """

    n_chains: int = 4
    n_rungs: int = 4
    beta_min: float = 0.3
    p_adjacent: float = 0.5
    swap_every: int = 1
    thin: int = 10
    max_kept: int = 4000
    burn_in_fraction: float = 0.5
    max_parents: int = 3
    n_candidates: int = 12
    candidate_method: str = "greedy"
    plus_one: bool = True
    expand_rounds: int = 1
    pilot_fraction: float = 0.2
    expand_threshold: float = 0.05
    max_candidates: int | None = None

    def __post_init__(self) -> None:
        positive_int(self.n_chains, "n_chains")
        positive_int(self.n_rungs, "n_rungs")
        positive_int(self.swap_every, "swap_every")
        positive_int(self.thin, "thin")
        positive_int(self.max_kept, "max_kept")
        positive_int(self.max_parents, "max_parents", 0)
        positive_int(self.n_candidates, "n_candidates")
        check_number(self.beta_min, "beta_min", 0.0, 1.0, open_low=True, open_high=False)
        check_number(self.p_adjacent, "p_adjacent", 0.0, 1.0, open_low=False, open_high=False)
        check_number(self.burn_in_fraction, "burn_in_fraction", 0.0, 1.0, open_low=False, open_high=True)
        positive_int(self.expand_rounds, "expand_rounds", 0)
        check_number(self.pilot_fraction, "pilot_fraction", 0.0, 1.0, open_low=True, open_high=True)
        check_number(self.expand_threshold, "expand_threshold", 0.0, 1.0, open_low=True, open_high=False)
        if self.max_candidates is not None:
            positive_int(self.max_candidates, "max_candidates")
        if self.candidate_method not in METHODS:
            raise ValueError(f"candidate_method: expected one of {METHODS}, got {self.candidate_method!r}")

    @property
    def betas(self) -> np.ndarray:
        """``(n_rungs,)`` inverse temperatures, ``1`` first, geometric down to ``beta_min``."""
        if self.n_rungs == 1:
            return np.ones(1)
        return self.beta_min ** (np.arange(self.n_rungs) / (self.n_rungs - 1))


@dataclass(frozen=True)
class OrderMCMCResult:
    """Kept draws of an order-MCMC run (rung 0, after burn-in).

    Attributes:
        orders: ``(C, n_kept, d)`` node orders (``orders[c, s, p]`` the node at position ``p``).
        log_scores: ``(C, n_kept)`` order log-scores ``sum_j log alpha_j(pred_j)`` (unnormalised).
        samples: ``(C, n_kept, d, d)`` bool, one DAG drawn from each order's exact conditional.
        dag_log_scores: ``(C, n_kept)`` summed local score plus prior of each DAG.
        chain_edge_probs: ``(C, d, d)`` per-chain mean of the Rao-Blackwellised ``P(i -> j | order)``.
        acceptance: ``(C,)`` fraction of rung-0 moves accepted.
        rung_acceptance: ``(T,)`` fraction of moves accepted per rung.
        swap_acceptance: ``(T - 1,)`` fraction of exchanges accepted between rungs ``t`` and ``t + 1``.
        betas: ``(T,)`` inverse temperatures.
        r_hat_edges, ess_edges: ``(d, d)`` split-R-hat and bulk ESS of each edge indicator of
            ``samples`` (NaN where every draw agrees).
        r_hat_score, ess_score: the same for the order log-score.
        n_steps: steps run per chain; seconds: wall-clock time of the chains; post_seconds: of the
            DAG draws and edge probabilities; kept_seconds: ``(n_kept,)`` when each draw was kept.
        space: the :class:`~.order_space.OrderSpace` the chains ran on (after any expansion).
        final_orders: ``(C, T, d)`` every rung's last order.
        expansion: candidate parents added by each expansion round before the main run.
        pilot_seconds: time spent before the main run (candidates, tables, pilot runs).
    """

    orders: np.ndarray
    log_scores: np.ndarray
    samples: np.ndarray
    dag_log_scores: np.ndarray
    chain_edge_probs: np.ndarray
    acceptance: np.ndarray
    rung_acceptance: np.ndarray
    swap_acceptance: np.ndarray
    betas: np.ndarray
    r_hat_edges: np.ndarray
    ess_edges: np.ndarray
    r_hat_score: float
    ess_score: float
    n_steps: int
    seconds: float
    post_seconds: float
    kept_seconds: np.ndarray
    space: OrderSpace
    final_orders: np.ndarray | None = field(default=None, repr=False)
    expansion: tuple[int, ...] = ()
    pilot_seconds: float = 0.0

    @property
    def max_r_hat(self) -> float:
        """Largest split-R-hat over edges and the order score (NaNs ignored)."""
        vals = np.append(self.r_hat_edges[np.isfinite(self.r_hat_edges)], self.r_hat_score)
        return float(np.nanmax(vals)) if np.isfinite(vals).any() else float("nan")

    @property
    def min_ess(self) -> float:
        """Smallest bulk ESS over edges and the order score (NaNs ignored)."""
        vals = np.append(self.ess_edges[np.isfinite(self.ess_edges)], self.ess_score)
        return float(np.nanmin(vals)) if np.isfinite(vals).any() else float("nan")

    def diagnostics(self) -> dict[str, float]:
        """Summary of the run's convergence diagnostics (over all chains after burn-in)."""
        r_edges = self.r_hat_edges[np.isfinite(self.r_hat_edges)]
        return {
            "n_chains": float(self.orders.shape[0]),
            "n_rungs": float(self.betas.size),
            "n_kept": float(self.orders.shape[1]),
            "n_steps": float(self.n_steps),
            "steps_per_s": self.n_steps / self.seconds if self.seconds > 0 else float("nan"),
            "acceptance": float(np.mean(self.acceptance)),
            "swap_acceptance_min": float(self.swap_acceptance.min()) if self.swap_acceptance.size else 1.0,
            "max_r_hat": self.max_r_hat,
            "max_r_hat_edges": float(r_edges.max()) if r_edges.size else float("nan"),
            "r_hat_score": self.r_hat_score,
            "min_ess": self.min_ess,
            "ess_score": self.ess_score,
            "n_parent_sets": float(self.space.n_sets),
            "max_candidates": float(self.space.candidates.sum(axis=0).max()),
            "candidates_added": float(sum(self.expansion)),
            "seconds": self.seconds,
        }

    def edge_marginals(self, rao_blackwell: bool = True) -> np.ndarray:
        """``(d, d)`` posterior edge probabilities: the mean Rao-Blackwellised ``P(i -> j | order)``
        (default), or the frequency of each edge in the drawn DAGs."""
        if rao_blackwell:
            return self.chain_edge_probs.mean(axis=0)
        d = self.samples.shape[-1]
        return self.samples.reshape(-1, d, d).mean(axis=0)

    def sampler_error(self) -> SamplerError:
        """Between-chain estimate of the error: the largest difference, over edges, between one chain's
        Rao-Blackwellised edge marginal and the mean of the other chains'.

        ``|P_q(edge) - P_p(edge)| <= TV(q, p)`` for any edge, so disagreement between chains shows how far
        they are from each other; an estimate from finite correlated draws, blind to mass no chain
        visited (and to what the candidate pruning removed): never a bound.
        """
        k = self.chain_edge_probs.shape[0]
        if k < 2:
            return SamplerError.unknown("a single chain: no between-chain estimate")
        total = self.chain_edge_probs.sum(axis=0)
        others = (total[None] - self.chain_edge_probs) / (k - 1)
        gap = float(np.abs(self.chain_edge_probs - others).max())
        return SamplerError(
            min(gap, 1.0),
            f"between-chain Rao-Blackwellised edge-marginal disagreement over {k} chains",
            False,
        )

    def posterior(self, family: str | None = "causal-dag") -> Posterior:
        """All chains' DAG draws pooled as an equal-weight :class:`Posterior` (method ``"order-mcmc"``,
        correlated draws, between-chain :meth:`sampler_error`). Its target is the order-modular posterior."""
        d = self.samples.shape[-1]
        return Posterior.from_samples(
            self.samples.reshape(-1, d, d),
            family,
            method="order-mcmc",
            sampler_error=self.sampler_error(),
            independent=False,
        )
