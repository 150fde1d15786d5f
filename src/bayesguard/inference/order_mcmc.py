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
from dataclasses import replace

import numpy as np

from .._validate import positive_int
from .candidates import candidate_parents, expand_candidates
from .driver import chain_diagnostics, run_chains
from .order_kernel import OrderInfo, OrderKernel, check_orders, random_orders
from .order_result import OrderMCMCConfig, OrderMCMCResult, check_number
from .order_space import MAX_LOOKUP, OrderSpace, lookup_width
from .order_table import OrderTable
from .parent_sets import ParentSetTable, check_candidates

__all__ = ["OrderMCMCConfig", "OrderMCMCResult", "order_log_score", "order_mcmc"]

#: Steps timed before a budgeted run to choose its thinning (they count as burn-in).
WARM_UP = 64


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
    thin = config.thin
    if time_budget is not None:  # thin so that about max_kept orders per chain are kept
        t0 = time.perf_counter()
        for _ in range(WARM_UP):
            state, _ = kernel.step(rng, state)
        per_step = (time.perf_counter() - t0) / WARM_UP
        time_budget = max(time_budget - (time.perf_counter() - t0), 1e-3)
        thin = max(thin, int(np.ceil(time_budget / per_step / config.max_kept)))

    def record(_: object, info: OrderInfo) -> None:
        moves[:] += info.accepted_rungs.mean(axis=0)
        tried[:] += info.swap_tried.sum(axis=0)
        swapped[:] += info.swap_accepted.sum(axis=0)

    run = run_chains(
        kernel,
        state,
        n_steps=n_steps,
        thin=thin,
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
        time_budget = check_number(time_budget, "time_budget", 0.0, np.inf, open_low=True, open_high=True)
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
