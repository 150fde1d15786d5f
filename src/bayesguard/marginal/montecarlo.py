"""Monte Carlo marginaliser: the posterior-predictive harm from theories, with a stated upper bound.

Given per-theory harm probabilities ``h_i = P(H | x, a, theta_i)`` (``(n_theories, n_actions)``):

- ``kind="exact"``: ``theta_i`` are every theory with their exact posterior weights; the mean is exact
  and the bound adds nothing.
- ``kind="samples"``: ``theta_i`` are ``n`` independent draws from a sampler ``q``. The bound is

      upper = mean + w_n(delta) + eps_q,

  where ``w_n`` is the empirical-Bernstein half-width of :mod:`.bounds` and ``eps_q`` the sampler's
  error. **What it promises:** if the draws are i.i.d. from ``q`` and the total-variation distance
  ``TV(q, p(. | D)) <= eps_q``, then ``P(H | x, a, D) <= upper`` with probability at least ``1 - delta``
  over the draws. (For any ``h`` with values in [0, 1], ``|E_q h - E_p h| <= TV(q, p)``.) It is a
  bound on the posterior-predictive harm, i.e. *given the model class and prior*; it says nothing about
  a world outside the family.
- ``kind="weighted"``: self-normalised importance weights. The mean is the weighted mean; the width uses
  the Kish effective sample size in place of ``n`` and the weighted variance. This is an approximation
  with no finite-sample guarantee, and the estimate says so (``guaranteed = False``).

``eps_q`` comes from :func:`sampler_tv_exact` where the exact posterior can be enumerated (``d <= 5``;
with the GFlowNet's exact sampling distribution from
:func:`bayesguard.inference.gflownet.exact.sampler_distribution` there is no sampling noise at all), or
from :func:`sampler_tv_estimate`, which compares the sampled frequencies of distinct graphs with their
exact unnormalised posterior (an estimate, not a bound: it cannot see mass the sampler never visits).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp

from .._validate import probabilities
from .bounds import bernstein_width


class HarmEstimate(NamedTuple):
    """Posterior-predictive harm per action with its bounds.

    Attributes:
        mean: ``(n_actions,)`` the Monte Carlo (or exact) posterior-predictive harm.
        lower: ``(n_actions,)`` lower bound, ``mean - width - sampler_error`` clipped to [0, 1].
        upper: ``(n_actions,)`` upper bound, ``mean + width + sampler_error`` clipped to [0, 1].
        width: ``(n_actions,)`` the finite-sample term alone.
        sampler_error: the stated total-variation error of the sampler (0 for exact).
        n_theories: theories averaged.
        delta: each one-sided bound fails with probability at most ``delta``.
        guaranteed: whether the bound carries the finite-sample guarantee (False for ``weighted``).
    """

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    width: np.ndarray
    sampler_error: float
    n_theories: int
    delta: float
    guaranteed: bool


def monte_carlo_harm(
    harm: np.ndarray,
    *,
    kind: str = "samples",
    log_weights: np.ndarray | None = None,
    delta: float = 0.05,
    sampler_error: float = 0.0,
) -> HarmEstimate:
    """Posterior-predictive harm of ``harm (n_theories, n_actions)`` with a ``1 - delta`` bound.

    Args:
        harm: per-theory harm probabilities in [0, 1].
        kind: ``"exact"``, ``"samples"`` or ``"weighted"`` (as :class:`~bayesguard.posterior.Posterior`).
        log_weights: ``(n_theories,)`` normalised or not; required for ``exact`` and ``weighted``.
        delta: failure probability of each one-sided bound, in (0, 1).
        sampler_error: a bound on ``TV(sampler, posterior)``, in [0, 1].
    """
    h = probabilities(harm, "harm", ndim=2)
    n = h.shape[0]
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta: expected a number in (0, 1), got {delta!r}")
    if not 0.0 <= sampler_error <= 1.0:
        raise ValueError(f"sampler_error: expected a TV distance in [0, 1], got {sampler_error!r}")
    if kind not in ("exact", "samples", "weighted"):
        raise ValueError(f"kind: expected 'exact', 'samples' or 'weighted', got {kind!r}")
    if kind == "samples":
        if n < 2:
            raise ValueError("harm: a Monte Carlo bound needs at least 2 theories")
        mean = h.mean(axis=0)
        width = bernstein_width(h, delta)
        eps, guaranteed = float(sampler_error), True
    else:
        if log_weights is None:
            raise ValueError(f"log_weights: required for kind={kind!r}")
        lw = np.asarray(log_weights, dtype=np.float64)
        if lw.shape != (n,):
            raise ValueError(f"log_weights: expected shape ({n},), got {lw.shape}")
        w = np.exp(lw - logsumexp(lw))
        mean = w @ h
        if kind == "exact":
            width, eps, guaranteed = np.zeros(h.shape[1]), float(sampler_error), True
        else:
            ess = 1.0 / np.sum(w * w)
            var = w @ (h - mean) ** 2 * ess / max(ess - 1.0, 1e-12)
            log_term = np.log(2.0 / delta)
            width = np.sqrt(2.0 * var * log_term / ess) + 7.0 * log_term / (3.0 * max(ess - 1.0, 1e-12))
            eps, guaranteed = float(sampler_error), False
    return HarmEstimate(
        mean=mean,
        lower=np.clip(mean - width - eps, 0.0, 1.0),
        upper=np.clip(mean + width + eps, 0.0, 1.0),
        width=width,
        sampler_error=eps,
        n_theories=n,
        delta=delta,
        guaranteed=guaranteed,
    )


def sampler_tv_exact(sampler_probs: np.ndarray, posterior_probs: np.ndarray) -> float:
    """``TV(q, p) = 0.5 sum |q - p|`` over an enumerated space: ``(n,), (n,) -> float``."""
    q = probabilities(sampler_probs, "sampler_probs", ndim=1)
    p = probabilities(posterior_probs, "posterior_probs", ndim=1)
    if q.shape != p.shape:
        raise ValueError(f"sampler_probs: expected shape {p.shape}, got {q.shape}")
    return float(0.5 * np.abs(q / q.sum() - p / p.sum()).sum())


def sampler_tv_estimate(keys: np.ndarray, log_posterior: np.ndarray) -> float:
    """Estimated ``TV`` between a sampler and the posterior from its draws.

    Args:
        keys: ``(n,)`` a hashable key per draw identifying its graph (e.g. the packed adjacency).
        log_posterior: ``(n,)`` the exact unnormalised log posterior of each draw's graph.

    Returns:
        ``0.5 sum_g |freq(g) - w(g)|`` over the distinct graphs drawn, with ``w`` the posterior
        renormalised on them. Sampling noise inflates it (about ``sqrt(n_distinct / n)``); mass the
        sampler never reaches is invisible to it. Use it as a diagnostic, not a guarantee.
    """
    k = np.asarray(keys)
    lp = np.asarray(log_posterior, dtype=np.float64)
    if k.shape[0] != lp.shape[0]:
        raise ValueError(f"log_posterior: expected {k.shape[0]} values, got {lp.shape[0]}")
    _, first, counts = np.unique(k, axis=0, return_index=True, return_counts=True)
    freq = counts / counts.sum()
    w = np.exp(lp[first] - logsumexp(lp[first]))
    return float(0.5 * np.abs(freq - w).sum())
