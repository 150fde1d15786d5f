"""A causal guard's posterior over graphs from the sampler its ``[sampler]`` names, and its optional
amortised harm network: fitted here, and read back from a bundle's ``gflownet.npz`` / ``amortised.npz``.

The samplers are the library's own (:func:`~bayesguard.inference.exact.exact_structure_posterior`,
:func:`~bayesguard.inference.dp_sampler.dp_posterior`, :func:`~bayesguard.inference.mcmc.structure_mcmc`,
:func:`~bayesguard.inference.order_mcmc.order_mcmc`, :class:`~bayesguard.inference.gflownet.DAGGFlowNet`),
called as ``bench structure-scale`` calls them. The posterior keeps the provenance its sampler reports:
only enumeration is exact; DP draws are reweighted (their error measured against the structure DP up to
``d = 14``); a GFlowNet's error is measured exactly up to ``d = 4``; an MCMC posterior (and a GFlowNet's
above ``d = 4``) has its edge-marginal error measured against the exact structure DP when ``d <=
MEASURE_MAX_D`` (an estimate, never a bound), else it stays unknown.
"""

from __future__ import annotations

from math import comb
from pathlib import Path
from typing import Any

import numpy as np

from ..guard.causal_guard import MEASURE_MAX_D
from ..inference.parent_sets import default_max_parents as library_max_parents
from ..posterior import Posterior
from ..theories.causal.graph_family import CausalFamily
from ..theories.causal.harm import HarmSpec
from .config import FitConfig, Sampler

#: Enumeration (``sampler.method = "exact"``) up to this many variables.
EXACT_MAX_D = 5
#: The DP is refused when its estimated memory exceeds this many bytes.
DP_MAX_BYTES = 2 << 30
#: The DP sampler measures its draws against the structure DP (``40 * 3^d`` bytes) up to this ``d``.
DP_MEASURE_MAX_D = 14


def default_max_parents(cfg: FitConfig, d: int) -> int | None:
    """``sampler.max_parents`` as given, else the method's default at ``d`` variables (None: no bound)."""
    if cfg.max_parents is not None:
        return min(cfg.max_parents, d - 1)
    if cfg.sampler in (Sampler.DP, Sampler.ORDER_MCMC):
        return library_max_parents(d)  # as bench structure-scale
    return None


def dp_memory_bytes(d: int, max_parents: int | None, n_draws: int = 1000) -> int:
    """The DP sampler's estimated peak memory at ``d`` variables and in-degree ``max_parents`` (None:
    ``d - 1``): the order DP's ``(d + 4) 2^d`` floats and three more ``2^d`` work arrays, the scored
    parent-set table (16 bytes a set), the reweighting of the draws by their numbers of topological
    orders (:func:`~bayesguard.inference.dp_sampler.log_linear_extensions`: per chunk of up to 256 draws a
    ``2^d`` table and two ``d x C(d, d/2)`` work arrays each) and, up to ``d = 14``, the structure DP that
    measures the draws (``40 * 3^d``)."""
    k = d - 1 if max_parents is None else min(max_parents, d - 1)
    sets = d * sum(comb(d - 1, s) for s in range(k + 1))
    chunk = min(256, n_draws)
    reweight = chunk * 8 * ((1 << d) + 2 * d * comb(d, d // 2))
    measure = 40 * 3**d if d <= DP_MEASURE_MAX_D else 0
    return (d + 7) * (1 << d) * 8 + 16 * sets + max(reweight, measure)


def _check_dp(d: int, k: int | None, n_draws: int) -> None:
    from ..inference.dp_order import MAX_D

    if d > MAX_D:
        raise ValueError(f"sampler.method: 'dp' runs on d <= {MAX_D} variables (2^d subsets); d = {d}")
    need = dp_memory_bytes(d, k, n_draws)
    if need > DP_MAX_BYTES:
        raise ValueError(
            f"sampler.max_parents: the DP at d = {d} with max_parents = {d - 1 if k is None else k} needs "
            f"about {need / 2**30:.1f} GiB (limit {DP_MAX_BYTES / 2**30:.0f} GiB); lower "
            "sampler.max_parents (or sampler.n_draws, whose reweighting needs 2^d floats a draw), or use "
            "'order-mcmc'"
        )


def _measured(posterior: Posterior, family: CausalFamily) -> Posterior:
    """A sampled posterior's edge-marginal error against the exact structure DP (the posterior the guard
    assumes; the prior mismatch of an order sampler included), when ``d <= MEASURE_MAX_D``."""
    if family.score.d > MEASURE_MAX_D:
        return posterior
    from ..inference.dp_sampler import measure_against_dp
    from ..inference.dp_structure import structure_dp

    return measure_against_dp(posterior, structure_dp(family.score), strict=False)


def causal_posterior(cfg: FitConfig, family: CausalFamily) -> tuple[Posterior, Any]:
    """The posterior over graphs ``(n, d, d)`` that ``cfg``'s sampler gives for ``family``'s score, and the
    trained :class:`~bayesguard.inference.gflownet.DAGGFlowNet` (None for the other samplers)."""
    score, d = family.score, family.score.d
    k = default_max_parents(cfg, d)
    if cfg.sampler is Sampler.EXACT:
        if d > EXACT_MAX_D:
            raise ValueError(
                f"sampler.method: 'exact' enumerates DAGs on d <= {EXACT_MAX_D} variables; d = {d}: use "
                "'dp' (d <= 24, with sampler.max_parents above 15), 'order-mcmc', 'mcmc' or 'gflownet'"
            )
        from ..inference.exact import exact_structure_posterior

        return exact_structure_posterior(score), None
    if cfg.sampler is Sampler.DP:
        _check_dp(d, k, cfg.n_draws)
        from ..inference.dp_sampler import dp_posterior

        return dp_posterior(score, cfg.n_draws, max_parents=k, seed=cfg.seed), None
    if cfg.sampler is Sampler.MCMC:
        from ..inference.mcmc import structure_mcmc
        from ..inference.parent_sets import BoundedScore

        run = structure_mcmc(
            score if k is None else BoundedScore(score, k),
            n_chains=max(cfg.n_chains, 2),
            n_steps=cfg.n_steps,
            seed=cfg.seed,
            time_budget=cfg.seconds,
            progress=False,
        )
        return _measured(run.posterior(), family), None
    if cfg.sampler is Sampler.ORDER_MCMC:
        from ..inference.order_mcmc import OrderMCMCConfig, order_mcmc

        config = OrderMCMCConfig(n_chains=max(cfg.n_chains, 2), max_parents=d - 1 if k is None else k)
        run = order_mcmc(
            score, config, n_steps=cfg.n_steps, time_budget=cfg.seconds, seed=cfg.seed, progress=False
        )
        return _measured(run.posterior(), family), None
    return _gflownet(cfg, family, k)


def _gflownet(cfg: FitConfig, family: CausalFamily, k: int | None) -> tuple[Posterior, Any]:
    from ..inference.gflownet import DAGGFlowNet, GFlowNetConfig

    d = family.score.d
    config = GFlowNetConfig(
        hidden=cfg.sampler_hidden,
        layers=cfg.sampler_layers,
        seed=cfg.seed,
        explore_stop=1.0 / (1.0 + d),
        stop_bias=float(np.log(d)),
    )
    model = DAGGFlowNet(family.score, config, max_parents=k)
    model.train(steps=cfg.n_steps, seconds=cfg.seconds, progress=False)
    posterior = model.posterior(cfg.n_draws, seed=cfg.seed)
    if not posterior.sampler_error.known:
        posterior = _measured(posterior, family)
    return posterior, model


def load_gflownet(path: Path, family: CausalFamily) -> Any:
    """The GFlowNet saved in a bundle's ``gflownet.npz`` for ``family``'s structure problem (checksummed,
    every field validated, no pickle); ValueError naming the file otherwise."""
    from ..inference.gflownet import DAGGFlowNet

    return DAGGFlowNet.load(path, family.score)


# ---------------------------------------------------------------------------- amortised harm network
def train_amortised(
    cfg: FitConfig, spec: HarmSpec, family: CausalFamily, posterior: Posterior, values: np.ndarray
) -> Any:
    """An :class:`~bayesguard.marginal.amortised.AmortisedHarm` for ``spec``, trained on theories drawn
    from ``posterior`` (a graph by its weight, then its parameters from the BGe posterior) at contexts
    from the data rows ``values (N, d)``, then validated (its error margin set) at
    ``validation_contexts`` data rows against ``validation_theories`` fresh theories."""
    from ..marginal.amortised import AmortisedHarm
    from ..theories.causal.linear_gaussian import sample_parameters

    am = cfg.amortised
    if am is None:
        raise ValueError("amortised: the config has no [amortised] section")
    graphs, probs = np.asarray(posterior.theories), posterior.probs

    def draw(rng: np.random.Generator, n: int) -> Any:
        return sample_parameters(
            family.local, graphs[rng.choice(graphs.shape[0], n, p=probs)], rng, spec.names
        )

    contexts = np.asarray(values, dtype=np.float64)[:, spec.context_index]
    net = AmortisedHarm(spec, hidden=am.hidden, layers=am.layers, seed=am.seed)
    net.fit(draw, contexts, steps=am.steps, seconds=am.seconds, batch=am.batch)
    rows = np.random.default_rng(am.seed).choice(contexts.shape[0], am.validation_contexts)
    net.validate(draw, contexts[rows], n_theories=am.validation_theories, delta=cfg.delta)
    return net


def load_amortised(cfg: FitConfig, spec: HarmSpec, path: Path) -> Any:
    """The network saved in a bundle's ``amortised.npz``, for ``spec`` and ``cfg``'s ``[amortised]`` sizes
    (checksummed, every field validated, no pickle); ValueError naming the file when it does not fit or
    carries no error margin."""
    from ..marginal.amortised import AmortisedHarm

    am = cfg.amortised
    if am is None:
        raise ValueError(f"{path}: the config has no [amortised] section")
    net = AmortisedHarm(spec, hidden=am.hidden, layers=am.layers, seed=am.seed).load(path)
    if net.error_margin is None:
        raise ValueError(f"{path}: error_margin: the network was not validated (it is part of the bound)")
    return net
