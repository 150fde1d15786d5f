"""``CausalGuard(spec, data, posterior, ...)``: the one :class:`~bayesguard.guard.guard.Guard` over a
:class:`~bayesguard.theories.causal.graph_family.CausalFamily`, built from the harm question, the data
and a posterior over graphs (exact, MCMC or GFlowNet) in one call.

The guard computes, for a context ``x`` and each action ``a``, the cautious estimate
``max_{G in M_alpha} P(H | x, a, G, D)`` over the posterior's graphs and those that search and people
add (weighted by their exact score), a ``1 - delta`` upper bound on the posterior-predictive harm, and
their larger value; ALLOW when it is at most ``C``, ASK when plausible theories disagree, REJECT
otherwise (see :func:`~bayesguard.guard.rules.decide`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..posterior import Posterior
from ..theories.causal.graph_family import CausalFamily
from ..theories.causal.harm import HarmSpec
from ..theories.causal.prior import StructurePrior
from .configs import BoundConfig, SearchConfig
from .guard import Guard


def CausalGuard(  # noqa: N802  (a constructor function, kept under the class name it replaced)
    spec: HarmSpec,
    data: Any,
    posterior: Posterior,
    *,
    prior: StructurePrior | None = None,
    threshold: float = 0.05,
    alpha: float = 0.01,
    delta: float = 0.05,
    sampler_error: float | None = None,
    n_theories: int = 1000,
    n_param_draws: int = 16,
    search: bool = False,
    search_steps: int = 150,
    search_chains: int = 32,
    search_beta: float = 1.0,
    human_theories: Sequence[Any] = (),
    extra_graphs: Any = None,
    amortised: Any = None,
    ess: float = 1.0,
    seed: int = 0,
    audit_path: str | Path | None = None,
) -> Guard:
    """A :class:`Guard` on causal theories.

    Args:
        spec: the harm event, the actions (interventions) and the context variables; a spec with
            ``categories`` makes the guard discrete (BDeu).
        data: ``(N, d)`` in the order of ``spec.names``, a validated Table, or ``CausalData``.
        posterior: a posterior over graphs ``(n, d, d)`` (exact, or sampled by MCMC / GFlowNet).
        prior: the structure prior the posterior was computed with (default uniform over DAGs).
        threshold, alpha: ``C`` and the cautious set's ``alpha``.
        delta, sampler_error, n_theories, amortised: see :class:`BoundConfig`.
        n_param_draws: linear-Gaussian: parameter draws behind each graph's harm.
        search, search_steps, search_chains, search_beta: see :class:`SearchConfig`.
        human_theories: people's theories (:class:`~bayesguard.theories.causal.human.HumanTheory`).
        extra_graphs: ``(m, d, d)`` graphs found by an earlier search, added with source ``"search"``.
        ess: the BDeu equivalent sample size (discrete).
        seed, audit_path: as :class:`Guard`.
    """
    if amortised is not None and spec.discrete:
        raise ValueError("amortised: the amortised marginaliser takes continuous contexts only")
    family = CausalFamily(spec, data, prior, ess=ess, n_param_draws=n_param_draws, seed=seed)
    guard = Guard(
        family,
        posterior,
        "cautious",
        threshold,
        alpha=alpha,
        bound=BoundConfig(delta, n_theories, sampler_error, amortised),
        search=SearchConfig(bool(search), search_steps, search_chains, search_beta),
        human_theories=human_theories,
        seed=seed,
        audit_path=audit_path,
    )
    if extra_graphs is not None and len(extra_graphs):
        guard.posterior = guard._merge(
            guard.posterior, family.as_theories(extra_graphs), "search", ["search"]
        )
    return guard
