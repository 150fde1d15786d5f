"""Exact reference posteriors of linear rewards in 2 or 3 dimensions, by quadrature on a grid, and the
marginal summaries (mean, sd, central intervals, interval mass) that the posterior-quality benchmark
(:mod:`.reward_posterior`) compares every method with.

The grid is a box centred on the Laplace mode, ``width`` Laplace standard deviations each side (cut to
``cap`` prior scales), with ``n`` midpoints per axis; it is widened (up to three times) while more than
``tol`` of the mass lies in the outermost cells. Each coordinate's marginal is the sum of the cell masses
over the other axes; its CDF is linear within a cell (the cell's mass spread evenly over it), so
quantiles and interval masses are read by linear interpolation. For a smooth posterior the midpoint rule
on a grid of spacing ``h`` is accurate to ``O(h^2)`` in the moments and the quantiles.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..inference.reward_posterior import laplace_fit
from ..theories.reward.feedback import Preferences
from ..theories.reward.linear import LinearRewardFamily

_CHUNK = 1 << 16  # grid points scored per call


class Marginals(NamedTuple):
    """Per-coordinate marginals of a posterior on a grid.

    Attributes:
        edges: ``(f, n + 1)`` cell edges of each axis.
        cdf: ``(f, n + 1)`` the marginal CDF at the edges (0 to 1).
        mean: ``(f,)``; sd: ``(f,)``.
        edge_mass: the mass in the outermost cells of the box (the quadrature's truncation check).
    """

    edges: np.ndarray
    cdf: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    edge_mass: float

    def quantile(self, q: float) -> np.ndarray:
        """``(f,)`` the ``q``-quantile of each marginal."""
        return np.array([np.interp(q, c, e) for c, e in zip(self.cdf, self.edges, strict=True)])

    def mass(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """``(f,)`` exact marginal mass of the intervals ``[lo_i, hi_i]``."""
        return np.array(
            [
                np.interp(h, e, c) - np.interp(low, e, c)
                for low, h, c, e in zip(lo, hi, self.cdf, self.edges, strict=True)
            ]
        )


def _marginals(log_p: np.ndarray, axes: list[np.ndarray]) -> Marginals:
    f = len(axes)
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    edges, cdf, mean, sd = [], [], [], []
    for i, g in enumerate(axes):
        marg = p.sum(axis=tuple(j for j in range(f) if j != i))
        h = g[1] - g[0]
        edges.append(np.concatenate([g - h / 2, [g[-1] + h / 2]]))
        cdf.append(np.concatenate([[0.0], np.cumsum(marg)]))
        mu = float(marg @ g)
        mean.append(mu)
        sd.append(float(np.sqrt(marg @ (g - mu) ** 2)))
    inner = p[(slice(1, -1),) * f].sum()
    return Marginals(np.array(edges), np.array(cdf), np.array(mean), np.array(sd), float(1.0 - inner))


def bradley_terry_log_posterior(
    prefs: Preferences, beta: float, scale: float
) -> Callable[[np.ndarray], np.ndarray]:
    """The unnormalised log posterior ``(n, f) -> (n,)`` of a Gaussian prior ``N(0, scale^2 I)`` and
    Bradley-Terry answers (left or right, no mistakes): ``-|w|^2 / 2 s^2 - sum_i log(1 + exp(-beta y_i
    w . (l_i - r_i)))`` with ``y_i = +1`` for left and ``-1`` for right; written independently of the
    family's likelihood code, so that the reference does not share its code with the methods."""
    if np.any(prefs.answer == 2):
        raise ValueError("prefs.answer: the Bradley-Terry reference takes left (0) or right (1) answers only")
    signed = (prefs.left - prefs.right) * np.where(prefs.answer == 0, 1.0, -1.0)[:, None]  # (m, f)

    def log_post(w: np.ndarray) -> np.ndarray:
        return -0.5 * np.sum(w * w, axis=1) / scale**2 - np.logaddexp(0.0, -beta * (w @ signed.T)).sum(axis=1)

    return log_post


def quadrature(
    family: LinearRewardFamily,
    n: int,
    width: float = 6.0,
    cap: float = 8.0,
    tol: float = 1e-7,
    log_density: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Marginals:
    """Marginals of ``family``'s posterior by quadrature on an ``n ** f`` grid (see the module docstring);
    ``log_density`` ``(n, f) -> (n,)`` replaces ``family.log_score`` (e.g.
    :func:`bradley_terry_log_posterior`), the family still placing the grid.

    Raises:
        ValueError: more than 3 features (the grid would be too large).
    """
    f = family.n_features
    if f > 3:
        raise ValueError(f"family.n_features: quadrature is for 1 to 3 features, got {f}")
    try:
        fit = laplace_fit(family)
        centre, half = fit.mode, width * fit.sd
    except ValueError:  # no curvature (ball prior, no data): the prior box
        centre, half = np.zeros(f), np.full(f, family.scale)
    for _ in range(4):  # widen while the outermost cells hold mass
        lo = np.maximum(centre - half, -cap * family.scale)
        hi = np.minimum(centre + half, cap * family.scale)
        axes = [lo[i] + (hi[i] - lo[i]) * (np.arange(n) + 0.5) / n for i in range(f)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, f)
        score = family.log_score if log_density is None else log_density
        log_p = np.concatenate([score(grid[k : k + _CHUNK]) for k in range(0, len(grid), _CHUNK)])
        marg = _marginals(log_p.reshape((n,) * f), axes)
        if marg.edge_mass <= tol:
            break
        half = half * 1.5
    return marg


def weighted_quantile(x: np.ndarray, p: np.ndarray, q: float) -> np.ndarray:
    """``(f,)`` the ``q``-quantile of each column of draws ``x`` ``(n, f)`` with weights ``p`` ``(n,)``
    (summing to 1): the inverse of the weighted empirical CDF, midpoint-interpolated."""
    out = np.empty(x.shape[1])
    for i in range(x.shape[1]):  # over coordinates (2 or 3)
        order = np.argsort(x[:, i], kind="stable")
        xs, ps = x[order, i], p[order]
        mid = np.cumsum(ps) - 0.5 * ps
        out[i] = np.interp(q, mid, xs)
    return out
