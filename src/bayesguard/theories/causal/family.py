"""Causal Bayesian networks as a :class:`~bayesguard.theories.base.TheoryFamily` (linear-Gaussian).

A theory is a whole SCM: graph, coefficients, intercepts and noise variances, packed into one float
vector so that a batch of theories is an ``(n, 2 d^2 + 2 d)`` array (see :func:`pack` / :func:`unpack`).
Posteriors over these theories come from a structure sampler (exact, MCMC or GFlowNet) followed by the
conjugate parameter posterior of each graph (:func:`theories_from_graphs`).

- ``log_prior``: the structure prior of each theory's graph (the parameter prior is the BGe
  Normal-Wishart; it is what produced the parameters and is not re-scored here);
- ``log_likelihood``: the Gaussian log density of :class:`CausalData` rows under each SCM; intervened
  cells (``data.intervened``) are not scored (their value was set from outside), so observational and
  interventional data update the posterior alike;
- ``harm_prob``: ``P(harm_variable > harm_threshold | do(action), evidence = context, theory)``, exact
  (Gaussian), for every action of ``actions`` (each a dict ``{variable: value}``; ``{}`` is "do nothing").
  The context is observed before acting: the noise is conditioned on it in the unmutilated SCM and the
  same noise is pushed through the intervened one (abduction; see
  :func:`~.linear_gaussian.interventional_gaussian`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..._validate import as_float_array
from ..base import select_action
from .linear_gaussian import (
    LinearGaussianTheories,
    interventional_gaussian,
    log_likelihood,
    prob_above,
    sample_parameters,
)
from .prior import StructurePrior, resolve_prior
from .scores import BGeScore


def pack(theories: LinearGaussianTheories) -> np.ndarray:
    """``n`` theories -> ``(n, 2 d^2 + 2 d)`` float64: adj, weights, intercept, noise variances."""
    n, d = theories.n, theories.d
    return np.concatenate(
        [
            theories.adj.reshape(n, d * d).astype(np.float64),
            theories.weights.reshape(n, d * d),
            theories.intercept,
            theories.noise_var,
        ],
        axis=1,
    )


def unpack(packed: np.ndarray, names: Sequence[str]) -> LinearGaussianTheories:
    """Inverse of :func:`pack`: ``(n, 2 d^2 + 2 d)`` -> theories on the ``d`` named variables."""
    d = len(names)
    arr = as_float_array(packed, "theories")
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 2 * d * d + 2 * d:
        raise ValueError(f"theories: expected shape (n, {2 * d * d + 2 * d}) for d = {d}, got {arr.shape}")
    n = arr.shape[0]
    adj = arr[:, : d * d].reshape(n, d, d) > 0.5
    weights = arr[:, d * d : 2 * d * d].reshape(n, d, d)
    intercept = arr[:, 2 * d * d : 2 * d * d + d]
    noise = arr[:, 2 * d * d + d :]
    if np.any(noise <= 0):
        raise ValueError("theories: noise variances must be positive")
    return LinearGaussianTheories(adj, weights, intercept, noise, tuple(names))


@dataclass(frozen=True)
class CausalData:
    """Rows of observations, some cells set by intervention.

    Attributes:
        values: ``(N, d)`` float64.
        intervened: ``(N, d)`` bool, True where the cell's value was set by ``do()`` (default: none).
    """

    values: np.ndarray
    intervened: np.ndarray | None = None

    def __post_init__(self) -> None:
        v = as_float_array(self.values, "CausalData.values", ndim=2)
        iv = (
            np.zeros(v.shape, dtype=bool)
            if self.intervened is None
            else np.asarray(self.intervened, dtype=bool)
        )
        if iv.shape != v.shape:
            raise ValueError(f"CausalData.intervened: expected shape {v.shape}, got {iv.shape}")
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "intervened", iv)


@dataclass(frozen=True)
class LinearGaussianFamily:
    """Linear-Gaussian causal theories with a harm event ``harm_variable > harm_threshold``.

    Attributes:
        names: the ``d`` variable names.
        actions: the agent's options, each a ``{variable: value}`` intervention (``{}``: do nothing).
        harm_variable: the variable whose exceedance is harm.
        harm_threshold: harm is ``harm_variable > harm_threshold``.
        prior: the structure prior (default: uniform over DAGs).
    """

    names: tuple[str, ...]
    actions: tuple[Mapping[str, float], ...]
    harm_variable: str
    harm_threshold: float
    prior: StructurePrior | None = None
    name: str = "linear-gaussian-cbn"

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        object.__setattr__(self, "names", names)
        if self.harm_variable not in names:
            raise ValueError(f"harm_variable: unknown variable {self.harm_variable!r}; known: {list(names)}")
        if not np.isfinite(self.harm_threshold):
            raise ValueError("harm_threshold: expected a finite number")
        acts = tuple(dict(a) for a in self.actions)
        if not acts:
            raise ValueError("actions: expected at least one action (an intervention dict; {} = do nothing)")
        for k, a in enumerate(acts):
            for var, val in a.items():
                if var not in names:
                    raise ValueError(f"actions[{k}]: unknown variable {var!r}; known: {list(names)}")
                if var == self.harm_variable:
                    raise ValueError(
                        f"actions[{k}]: intervening on the harm variable {var!r} is not an action"
                    )
                if not np.isfinite(float(val)):
                    raise ValueError(f"actions[{k}]: value of {var!r} must be a finite number")
        object.__setattr__(self, "actions", acts)
        object.__setattr__(self, "prior", resolve_prior(self.prior, names, "family"))

    @property
    def d(self) -> int:
        return len(self.names)

    @property
    def n_actions(self) -> int:
        return len(self.actions)

    def log_prior(self, theories: np.ndarray) -> np.ndarray:
        """Structure log prior of each theory's graph: ``(n, 2 d^2 + 2 d) -> (n,)``."""
        return self.prior.log_prior(unpack(theories, self.names).adj)  # type: ignore[union-attr]

    def log_likelihood(self, theories: np.ndarray, data: CausalData) -> np.ndarray:
        """Gaussian log density of the non-intervened cells of ``data`` under each SCM: ``(n,)``."""
        if not isinstance(data, CausalData):
            raise TypeError("data: expected a CausalData record of (values, intervened)")
        if data.values.shape[1] != self.d:
            raise ValueError(f"data.values: expected {self.d} columns, got {data.values.shape[1]}")
        return log_likelihood(unpack(theories, self.names), data.values, data.intervened)

    def harm_prob(
        self, theories: np.ndarray, context: Mapping[str, float] | None = None, action: int | None = None
    ) -> np.ndarray:
        """``P(harm | do(action), evidence = context, theory)``: ``(n, n_actions)`` or ``(n,)``.

        ``context`` was observed before acting (``evidence_time="pre"``: abduction, then intervention).
        """
        th = unpack(theories, self.names)
        evidence = dict(context or {})
        out = np.empty((th.n, self.n_actions))
        for k, act in enumerate(self.actions):  # a loop over actions; theories are batched inside
            mean, var = interventional_gaussian(th, self.harm_variable, do=act, evidence=evidence)
            out[:, k] = prob_above(mean, var, self.harm_threshold)
        return select_action(out, action, self.n_actions)

    def describe(self, theory: np.ndarray) -> str:
        """The theory's structural equations."""
        return unpack(np.asarray(theory)[None], self.names).describe(0)


def theories_from_graphs(
    family: LinearGaussianFamily,
    score: BGeScore,
    adj: np.ndarray,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Full theories for sampled graphs: parameters from the BGe posterior, packed ``(n, 2 d^2 + 2 d)``."""
    return pack(sample_parameters(score, adj, rng, family.names))
