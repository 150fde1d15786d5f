"""Harm, information and search for the theories of a :class:`~.graph_family.CausalFamily`.

**A graph's harm** ``P(H | x, do(a), G, D)`` integrates its parameters over their posterior:

- discrete (BDeu): exactly, with the posterior-mean tables (:class:`~.discrete_harm.DiscreteHarmModel`,
  tabulated over every context configuration; a context variable that descends from what an action sets
  is refused for that (graph, action), see its module);
- linear-Gaussian (BGe): the average over ``n_param_draws`` parameter draws made from one fixed set of
  standard variates (common random numbers), so the harm is a fixed function of the graph. A person's
  full SCM uses its own parameters.

**For the posterior-predictive bound** each theory of a sample needs an *unbiased, independent* harm
value: :func:`predictive_model` draws fresh parameters for every sampled graph (one draw each), so the
values are i.i.d. draws of ``P(H | x, a, theta)`` with ``theta ~ p(theta | D)`` and the Monte Carlo
bounds of :mod:`bayesguard.marginal` hold for them.

Everything is batched over theories; each distinct theory is computed once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...graphs.keys import unique_graphs
from .discrete_harm import DiscreteHarmModel
from .graph_family import CausalFamily
from .harm_model import GaussianHarmModel
from .linear_gaussian import (
    LinearGaussianTheories,
    intervened_moments,
    parameter_noise,
    parameters_from_noise,
    sample_parameters,
)

#: Harm models kept per family (keyed by the theories they serve).
CACHE_SIZE = 8


def _crn(family: CausalFamily) -> tuple[np.ndarray, np.ndarray]:
    """The family's fixed standard variates ``gamma (k, d)``, ``normal (k, d, d)``."""
    if "crn" not in family._harm_cache:
        rng = np.random.default_rng(family.seed)
        family._harm_cache["crn"] = parameter_noise(family.local, family.n_param_draws, rng)
    return family._harm_cache["crn"]


def _stack(parts: list[LinearGaussianTheories], names: tuple[str, ...]) -> LinearGaussianTheories:
    return LinearGaussianTheories(
        np.concatenate([p.adj for p in parts]),
        np.concatenate([p.weights for p in parts]),
        np.concatenate([p.intercept for p in parts]),
        np.concatenate([p.noise_var for p in parts]),
        names,
    )


def parameter_draws(family: CausalFamily, theories: np.ndarray) -> LinearGaussianTheories:
    """``n * k`` linear-Gaussian theories: ``k = n_param_draws`` common-random-number draws per theory
    (a point theory repeats its own parameters), in theory-major order."""
    k = family.n_param_draws
    adj, pid = family.adjacency(theories), family.point_ids(theories)
    gam, z = _crn(family)
    n = adj.shape[0]
    th = parameters_from_noise(
        family.local,
        np.repeat(adj, k, axis=0),
        np.tile(gam, (n, 1)),
        np.tile(z, (n, 1, 1)),
        family.spec.names,
    )
    for i in np.flatnonzero(pid >= 0):  # people's SCMs keep their own parameters
        pt = family.points[int(pid[i])]
        sl = slice(i * k, (i + 1) * k)
        th.weights[sl], th.intercept[sl], th.noise_var[sl] = pt.weights, pt.intercept, pt.noise_var
    return th


class GraphHarm:
    """``P(H | x, do(a), theory, D)`` of fixed theories in any context.

    Args:
        family: the causal family.
        theories: ``(n, d*d + 1)`` canonical theories.

    ``harm(context, actions=None)`` returns ``(n, n_actions)`` (or the ``actions`` columns).
    """

    def __init__(self, family: CausalFamily, theories: np.ndarray) -> None:
        self.family = family
        keys = family.keys(theories)
        _, first, self.inverse = np.unique(keys, return_index=True, return_inverse=True)
        self.inverse = self.inverse.ravel()
        distinct = theories[first]
        spec = family.spec
        if spec.discrete:
            if np.any(family.point_ids(distinct) >= 0):
                raise ValueError("theories: a discrete family has no point theories")
            self.model: Any = DiscreteHarmModel(spec, family.local, family.adjacency(distinct))
        else:
            self.model = GaussianHarmModel(spec, parameter_draws(family, distinct))
        self.n_distinct = distinct.shape[0]

    def harm(self, context: Any = None, actions: list[int] | None = None) -> np.ndarray:
        fam = self.family
        if fam.spec.discrete:
            h = self.model.harm(context, actions)
        else:
            h = self.model.harm(context)
            h = h.reshape(self.n_distinct, fam.n_param_draws, -1).mean(axis=1)
            h = h if actions is None else h[:, actions]
        return h[self.inverse]


def harm_model(family: CausalFamily, theories: np.ndarray) -> GraphHarm:
    """The (cached) :class:`GraphHarm` of ``theories``."""
    key = ("harm", theories.shape, hash(theories.tobytes()))
    cache = family._harm_cache
    if key not in cache:
        if len(cache) > CACHE_SIZE:
            for old in [k for k in cache if k != "crn"][: len(cache) // 2]:
                del cache[old]
        cache[key] = GraphHarm(family, theories)
    return cache[key]


class PredictiveHarm:
    """One independent parameter draw per theory row (linear-Gaussian), for unbiased Monte Carlo values
    of the posterior-predictive harm; a discrete graph's harm is already exact."""

    def __init__(self, family: CausalFamily, theories: np.ndarray, rng: np.random.Generator) -> None:
        self.family = family
        if family.spec.discrete:
            self.exact: GraphHarm | None = harm_model(family, theories)
            return
        self.exact = None
        adj, pid = family.adjacency(theories), family.point_ids(theories)
        th = sample_parameters(family.local, adj, rng, family.spec.names)
        for i in np.flatnonzero(pid >= 0):
            pt = family.points[int(pid[i])]
            th.weights[i], th.intercept[i], th.noise_var[i] = pt.weights[0], pt.intercept[0], pt.noise_var[0]
        self.model = GaussianHarmModel(family.spec, th)

    def harm(self, context: Any = None, actions: list[int] | None = None) -> np.ndarray:
        if self.exact is not None:
            return self.exact.harm(context, actions)
        h = self.model.harm(context)
        return h if actions is None else h[:, actions]

    def harm_batch(self, contexts: np.ndarray) -> np.ndarray:
        """``(B, m) -> (B, n, n_actions)`` (linear-Gaussian; for the amortised marginaliser)."""
        return self.model.harm_batch(contexts)


def predictive_model(family: CausalFamily, theories: np.ndarray, rng: np.random.Generator) -> PredictiveHarm:
    return PredictiveHarm(family, theories, rng)


def information_gain(
    family: CausalFamily,
    theories: np.ndarray,
    weights: np.ndarray,
    action: int,
    context: Any,
    rng: np.random.Generator,
    n_samples: int = 64,
) -> float:
    """Bits about which of ``theories`` holds from one run of ``action`` in ``context``: exact for
    discrete outcomes; for linear-Gaussian theories the outcome (every variable the action does not set)
    is moment-matched to a Gaussian per theory over its parameter draws (the context is not used)."""
    from ...marginal.information import discrete_eig, gaussian_eig

    spec = family.spec
    if spec.discrete:
        model = harm_model(family, theories).model
        idx = np.arange(theories.shape[0])
        x = spec.context_values(context)
        return discrete_eig(weights, model.outcome_probs(model.inverse[idx], action, x))
    k = family.n_param_draws
    th = parameter_draws(family, theories)
    mask, value = spec.do_arrays()
    free = np.flatnonzero(~mask[action])
    mean, cov = intervened_moments(th, mask[action], value[action], rows=free)
    n = theories.shape[0]
    mean = mean.reshape(n, k, -1)
    cov = cov.reshape(n, k, free.size, free.size)
    centred = mean - mean.mean(axis=1, keepdims=True)
    spread = np.einsum("nki,nkj->nij", centred, centred) / k
    return gaussian_eig(weights, mean.mean(axis=1), cov.mean(axis=1) + spread, n_samples, rng)


def graph_harm(family: CausalFamily, graphs: np.ndarray, context: Any, action: int) -> np.ndarray:
    """Harm of arbitrary graphs ``(n, d, d)`` for one action: ``(n,)``, a fixed function of the graph
    (the target of the harm-seeking search); each distinct graph is computed once per call."""
    distinct, _, inverse = unique_graphs(graphs)
    sub = family.spec.restrict(action)
    th = family.as_theories(distinct)
    if family.spec.discrete:
        model = DiscreteHarmModel(sub, family.local, distinct)
        cfg = int(model.config(sub.context_values(context)))
        # a refused (graph, action) pair counts as harmful for the search: it cannot be cleared
        h = np.where(model.refused[0], 1.0, model.table[0, :, cfg])[model.inverse]
    else:
        h = GaussianHarmModel(sub, parameter_draws(family, th)).harm(context)[:, 0]
        h = h.reshape(distinct.shape[0], family.n_param_draws).mean(axis=1)
    return h[inverse]
