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

import numpy as np

from ..posterior import Posterior
from ..theories.causal.graph_family import CausalFamily
from ..theories.causal.harm import HarmSpec
from ..theories.causal.prior import StructurePrior
from .configs import BoundConfig, SearchConfig
from .guard import Guard
from .support import SupportConfig

#: By default a sampled posterior's error is measured against the exact DP up to this many variables.
MEASURE_MAX_D = 12


def _measured(
    posterior: Posterior, family: CausalFamily, measure: bool | None, stated: float | None
) -> Posterior:
    """``posterior`` with its edge-marginal error against the family's exact structure DP, when asked
    (or by default: sampled graphs, no stated error, no known bound, ``d <= MEASURE_MAX_D``)."""
    th = np.asarray(posterior.theories)
    plain = th.ndim == 3 and not posterior.is_exact
    d = family.score.d
    if measure is None:
        measure = plain and stated is None and not posterior.sampler_error.is_bound and d <= MEASURE_MAX_D
    if not measure:
        return posterior
    if not plain:
        raise ValueError("measure_error: needs a sampled posterior over plain graphs (n, d, d)")
    from ..inference.dp_sampler import measure_against_dp
    from ..inference.dp_structure import structure_dp

    return measure_against_dp(posterior, structure_dp(family.score), strict=False)


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
    measure_error: bool | None = None,
    support: SupportConfig | None = None,
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
        measure_error: measure a sampled posterior's error against the exact structure DP of the
            family's score (its edge-marginal max error becomes the posterior's ``sampler_error``, an
            estimate; :func:`~bayesguard.inference.dp_sampler.measure_against_dp`). None (default):
            when no ``sampler_error`` is stated, the posterior carries no known bound, and
            ``d <= MEASURE_MAX_D`` (the DP visits ``3^d`` pairs).
        support: :class:`~bayesguard.guard.support.SupportConfig` (default: contexts unlike the data's
            context columns are ASKed, never ALLOWed).
    """
    if amortised is not None and spec.discrete:
        raise ValueError("amortised: the amortised marginaliser takes continuous contexts only")
    family = CausalFamily(spec, data, prior, ess=ess, n_param_draws=n_param_draws, seed=seed)
    posterior = _measured(posterior, family, measure_error, sampler_error)
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
        support=support,
    )
    if extra_graphs is not None and len(extra_graphs):
        guard.posterior = guard._merge(
            guard.posterior, family.as_theories(extra_graphs), "search", ["search"]
        )
    return guard
