"""Confidence bounds for the mean of values in [0, 1] from ``n`` i.i.d. draws.

The posterior-predictive harm ``P(H | x, a, D) = E_{theta ~ p(theta | D)} P(H | x, a, theta)`` is the
mean of a [0, 1]-valued function of a random theory, so a Monte Carlo average over ``n`` theories drawn
independently from the posterior carries these guarantees:

- **Empirical Bernstein** (Maurer & Pontil 2009, Theorem 4): with probability at least ``1 - delta``,

      mu <= mean + sqrt(2 V ln(2 / delta) / n) + 7 ln(2 / delta) / (3 (n - 1)),

  where ``V`` is the unbiased sample variance. It adapts to the spread: when every theory agrees the
  width falls as ``1 / n`` rather than ``1 / sqrt(n)``. Needs ``n >= 2``.
- **Hoeffding**: with probability at least ``1 - delta``, ``mu <= mean + sqrt(ln(1 / delta) / (2 n))``.

The lower bounds are the mirror images (apply the bound to ``1 - X``). Each one-sided bound holds with
probability ``1 - delta`` on its own; an interval made of both holds with ``1 - 2 delta``.

Assumptions: the draws are independent and identically distributed *from the distribution whose mean
is wanted*. Correlated draws (an MCMC chain) or draws from an approximate sampler need more: thin the
chain until it is close to independent, and add the sampler's error (see
:mod:`bayesguard.marginal.montecarlo`).
"""

from __future__ import annotations

import numpy as np

METHODS = ("bernstein", "hoeffding")


def _check(values: np.ndarray, delta: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim < 1 or v.shape[0] < 2:
        raise ValueError(f"values: expected at least 2 draws along axis 0, got shape {v.shape}")
    if not np.all(np.isfinite(v)) or v.min() < 0.0 or v.max() > 1.0:
        raise ValueError("values: a bound for a mean needs values in [0, 1]")
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta: expected a number in (0, 1), got {delta!r}")
    return v


def bernstein_width(values: np.ndarray, delta: float) -> np.ndarray:
    """Empirical-Bernstein half-width for the mean of ``values (n, ...)``: ``(...)``."""
    v = _check(values, delta)
    n = v.shape[0]
    log_term = np.log(2.0 / delta)
    var = v.var(axis=0, ddof=1)
    return np.sqrt(2.0 * var * log_term / n) + 7.0 * log_term / (3.0 * (n - 1))


def hoeffding_width(values: np.ndarray, delta: float) -> np.ndarray:
    """Hoeffding half-width ``sqrt(ln(1 / delta) / (2 n))``, broadcast to ``(...)``."""
    v = _check(values, delta)
    return np.full(v.shape[1:], np.sqrt(np.log(1.0 / delta) / (2.0 * v.shape[0])))


def mean_bounds(values: np.ndarray, delta: float, method: str = "bernstein") -> tuple[np.ndarray, ...]:
    """``(mean, lower, upper)`` of ``values (n, ...)``, each ``(...)``, clipped to [0, 1].

    ``upper`` is a ``1 - delta`` upper confidence bound on the true mean, ``lower`` a ``1 - delta`` lower
    confidence bound (see the module docstring for the assumptions).
    """
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    v = _check(values, delta)
    width = bernstein_width(v, delta) if method == "bernstein" else hoeffding_width(v, delta)
    mean = v.mean(axis=0)
    return mean, np.clip(mean - width, 0.0, 1.0), np.clip(mean + width, 0.0, 1.0)
