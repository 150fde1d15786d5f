"""Order MCMC (Friedman & Koller 2003) on a pruned candidate-parent space, with Metropolis coupling.

The chains move over node orders, not DAGs (:mod:`.order_kernel`): an order stands for every DAG
consistent with it, scored by summing over each node's admissible parent sets inside its predecessors
(an :class:`~.order_space.OrderSpace`: at most ``max_parents`` parents per node, drawn from its
candidate parents, :func:`~.candidates.candidate_parents`, plus optionally one other parent). The sum
over the parent sets smooths the landscape: one order move changes many DAGs at once, and the chains
mix at ``d = 20-50`` where edge-flip structure MCMC does not (``benchmarks/order_mcmc_mixing.py``).

**The target is not the DAG posterior of** :func:`~.mcmc.structure_mcmc`. Sampling an order, then a DAG
given the order, draws DAGs from the *order-modular* posterior
``p(G | D) prop. p(D | G) p(G) * #linear extensions of G``: a DAG consistent with more orders (e.g. the
empty graph, or a sparse one) weighs more than under the structure prior alone. Its exact edge
marginals come from the dynamic programme of Koivisto & Sood (2004) over the same parent sets
(:mod:`.dp_order` at ``d <= 20``); the in-degree bound and the candidate pruning restrict it further.

Per kept order (rung 0 only) the result holds one DAG drawn from the exact conditional (each node's set
drawn ``prop. exp(score)`` among those inside its predecessors) and the Rao-Blackwellised edge
probabilities ``P(i -> j | order)``, exact given the order: their average is the edge-marginal estimate
(much lower variance than DAG frequencies). Diagnostics over the chains: split-R-hat and bulk ESS of
every edge indicator of the drawn DAGs and of the order log-score (:mod:`.driver`), acceptance of the
moves per rung, and acceptance of the exchanges between rungs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from .._validate import positive_int
from ..posterior import Posterior, SamplerError
from .candidates import METHODS, candidate_parents, expand_candidates
from .driver import chain_diagnostics, run_chains
from .order_kernel import OrderInfo, OrderKernel, check_orders, random_orders
from .order_space import MAX_LOOKUP, OrderSpace, OrderTable, lookup_width
from .parent_sets import ParentSetTable, check_candidates

__all__ = ["OrderMCMCConfig", "OrderMCMCResult", "order_log_score", "order_mcmc"]


def _number(value: object, field: str, low: float, high: float, *, open_low: bool, open_high: bool) -> float:
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
        thin: keep every ``thin``-th order of rung 0.
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
        positive_int(self.max_parents, "max_parents", 0)
        positive_int(self.n_candidates, "n_candidates")
        _number(self.beta_min, "beta_min", 0.0, 1.0, open_low=True, open_high=False)
        _number(self.p_adjacent, "p_adjacent", 0.0, 1.0, open_low=False, open_high=False)
        _number(self.burn_in_fraction, "burn_in_fraction", 0.0, 1.0, open_low=False, open_high=True)
        positive_int(self.expand_rounds, "expand_rounds", 0)
        _number(self.pilot_fraction, "pilot_fraction", 0.0, 1.0, open_low=True, open_high=True)
        _number(self.expand_threshold, "expand_threshold", 0.0, 1.0, open_low=True, open_high=False)
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


def _width_cap(d: int, config: OrderMCMCConfig) -> int:
    """Most candidates per node: ``config.max_candidates``, or what keeps the lookup tables in memory."""
    if config.max_candidates is not None:
        return config.max_candidates
    return max(1, lookup_width(d, config.plus_one))


def _resolve_space(
    score: object, config: OrderMCMCConfig, candidates: object, table: OrderSpace | ParentSetTable | None
) -> tuple[OrderSpace, bool]:
    """The space to run on and whether it was pruned automatically (then it may be expanded)."""
    d = int(score.d)
    if table is not None:
        if isinstance(table, ParentSetTable):
            table = OrderSpace.from_table(table)
        if not isinstance(table, OrderSpace) or table.d != d:
            raise ValueError(f"table: expected a ParentSetTable or OrderSpace over the score's {d} nodes")
        return table, False
    if isinstance(candidates, str):
        if candidates not in ("auto", "all", "pruned"):
            raise ValueError(
                f"candidates: expected 'auto', 'all', 'pruned' or a (d, d) bool matrix, got {candidates!r}"
            )
        small = d * (1 << (d - 1)) <= MAX_LOOKUP or d - 1 <= config.n_candidates
        if candidates == "all" or (candidates == "auto" and small):
            return OrderSpace.build(score, None, config.max_parents, False), False
        k, width = min(3, d - 1), _width_cap(d, config)
        n_cand = min(config.n_candidates, width)
        cand = candidate_parents(score, n_cand, method=config.candidate_method, max_parents=k)
        return OrderSpace.build(score, cand, config.max_parents, config.plus_one), True
    cand = check_candidates(candidates, d)
    return OrderSpace.build(score, cand, config.max_parents, config.plus_one), False


def _run(
    space: OrderSpace,
    config: OrderMCMCConfig,
    start: np.ndarray,
    rng: np.random.Generator,
    n_steps: int,
    time_budget: float | None,
    progress: bool,
) -> OrderMCMCResult:
    """One run of the coupled chains on ``space`` from ``(C, T, d)`` starting orders."""
    c, t, d = start.shape
    kernel = OrderKernel(space, config.betas, config.p_adjacent, config.swap_every)
    state = kernel.init(start)
    if not np.all(np.isfinite(state.scores)):
        raise ValueError(
            "init: a starting order has zero posterior mass (check required edges and candidates)"
        )
    moves = np.zeros(t)
    tried = np.zeros(max(t - 1, 0))
    swapped = np.zeros(max(t - 1, 0))

    def record(_: object, info: OrderInfo) -> None:
        moves[:] += info.accepted_rungs.mean(axis=0)
        tried[:] += info.swap_tried.sum(axis=0)
        swapped[:] += info.swap_accepted.sum(axis=0)

    run = run_chains(
        kernel,
        state,
        n_steps=n_steps,
        thin=config.thin,
        seed=rng,
        time_budget=time_budget,
        progress=progress,
        desc="order MCMC",
        on_step=record,
    )
    n_all = run.positions.shape[1]
    cut = int(np.floor(config.burn_in_fraction * n_all))
    if n_all - cut < 4:
        raise ValueError("n_steps/time_budget: under 4 orders kept after burn-in; run longer or thin less")
    t0 = time.perf_counter()
    orders = run.positions[:, cut:]
    n = orders.shape[1]
    samples = np.empty((c, n, d, d), dtype=bool)
    dag_scores = np.empty((c, n))
    chain_probs = np.empty((c, d, d))
    for k in range(c):  # one pass per chain over its kept orders (blocked inside)
        samples[k], dag_scores[k], chain_probs[k] = kernel.tab.draws(orders[k], rng)
    chain_probs /= n
    diag = chain_diagnostics(samples, run.log_density[:, cut:])
    swap_rate = swapped / np.maximum(tried, 1)
    return OrderMCMCResult(
        orders,
        run.log_density[:, cut:],
        samples,
        dag_scores,
        chain_probs,
        run.acceptance,
        moves / max(run.n_steps, 1),
        np.where(tried > 0, swap_rate, np.nan),
        config.betas,
        diag["r_hat"],
        diag["ess"],
        float(diag["r_hat_log_density"]),
        float(diag["ess_log_density"]),
        run.n_steps,
        run.seconds,
        time.perf_counter() - t0,
        run.kept_seconds[cut:],
        space,
        final_orders=run.state.orders,
    )


def order_mcmc(
    score: object,
    config: OrderMCMCConfig | None = None,
    *,
    n_steps: int = 100_000,
    time_budget: float | None = None,
    seed: int = 0,
    progress: bool = True,
    candidates: object = "auto",
    table: OrderSpace | ParentSetTable | None = None,
    init: np.ndarray | None = None,
) -> OrderMCMCResult:
    """Run ``C`` Metropolis-coupled order-MCMC chains (``T`` rungs each) in one vectorised batch.

    With ``candidates="auto"`` at ``d <= 20`` every other node is a candidate (the ``alpha`` lookup
    tables fit); above, ``config.n_candidates`` per node (at most the ``max_candidates`` cap) are chosen by
    :func:`~.candidates.candidate_parents`, the space gets the plus-one sets (``config.plus_one``), and
    ``config.expand_rounds`` pilot runs, each of ``config.pilot_fraction`` of the steps and of the time
    budget, widen the candidates with :func:`~.candidates.expand_candidates` before the main run, which
    starts from the pilot's last orders.

    Args:
        score: decomposable score plus structure prior (``d``, ``local_many``; a
            :class:`~bayesguard.theories.causal.structure.StructureScore`); its prior's required edges
            stay forward in every starting order.
        config: :class:`OrderMCMCConfig` (defaults when None).
        n_steps: steps per chain of the main run (every rung moves once per step).
        time_budget: stop sampling after about this many seconds in all (candidate choice, tables and
            pilots included); the DAG draws and edge probabilities of the kept orders come after it
            (``result.post_seconds``).
        seed: random seed (starting orders, moves, DAG draws).
        progress: show a tqdm progress bar.
        candidates: ``"auto"`` (``"all"`` at ``d <= 20``, else ``"pruned"``), ``"all"``, ``"pruned"``
            (chosen, plus-one, expanded as above), or a ``(d, d)`` bool matrix (plus-one sets added when
            ``config.plus_one``; no expansion). Ignored when ``table`` is given.
        table: a ready :class:`~.order_space.OrderSpace` or :class:`ParentSetTable` of the score.
        init: ``(d,)`` or ``(C, d)`` starting orders (every rung of chain ``c`` starts from ``init[c]``);
            default random orders with the prior's required edges forward.
    """
    t_start = time.perf_counter()
    config = OrderMCMCConfig() if config is None else config
    if not isinstance(config, OrderMCMCConfig):
        raise TypeError(f"config: expected an OrderMCMCConfig, got {type(config).__name__}")
    if not hasattr(score, "d") or not hasattr(score, "local_many"):
        raise TypeError("score: expected a decomposable score with d and local_many (a StructureScore)")
    d = int(score.d)
    if d < 2:
        raise ValueError("score.d: order MCMC needs at least 2 variables")
    n_steps = positive_int(n_steps, "n_steps")
    if time_budget is not None:
        time_budget = _number(time_budget, "time_budget", 0.0, np.inf, open_low=True, open_high=True)
    c, t = config.n_chains, config.n_rungs
    rng = np.random.default_rng(seed)
    space, pruned = _resolve_space(score, config, candidates, table)
    prior = getattr(score, "prior", None)
    required = np.zeros((d, d), bool) if prior is None else np.asarray(prior.required, bool)
    if init is None:
        start = random_orders(required, c * t, rng).reshape(c, t, d)
    else:
        start = np.repeat(check_orders(init, d, c)[:, None], t, axis=1)
    added: list[int] = []
    rounds = config.expand_rounds if pruned and space.plus_one else 0
    for _ in range(rounds):
        pilot_budget = None if time_budget is None else config.pilot_fraction * time_budget
        steps = max(1, int(config.pilot_fraction * n_steps))
        pilot = _run(space, config, start, rng, steps, pilot_budget, progress)
        start = pilot.final_orders
        new, more = expand_candidates(
            space.candidates,
            pilot.edge_marginals(),
            threshold=config.expand_threshold,
            max_candidates=_width_cap(d, config),
        )
        added.append(int(more.sum()))
        if not more.any():
            break
        space = OrderSpace.build(score, new, config.max_parents, config.plus_one)
    pilot_seconds = time.perf_counter() - t_start
    if time_budget is not None:
        time_budget = max(time_budget - pilot_seconds, 1e-3)
    result = _run(space, config, start, rng, n_steps, time_budget, progress)
    return replace(result, expansion=tuple(added), pilot_seconds=pilot_seconds)


def order_log_score(space: OrderSpace | ParentSetTable, orders: np.ndarray) -> np.ndarray:
    """Order log-scores ``sum_j log alpha_j(pred_j)`` of ``(n, d)`` orders -> ``(n,)``."""
    return OrderTable(space).order_scores(orders)
