"""The Laplace approximation of a smooth log-density: a Gaussian at the mode with the inverse negative
Hessian as covariance.

:func:`fit_laplace` maximises ``log p(x)`` with L-BFGS (SciPy, the analytic gradient supplied), or with
SLSQP inside a ball ``||x|| <= radius`` when the density is flat there and zero outside (the ball prior
of :class:`~bayesguard.theories.reward.LinearRewardFamily`). The Hessian is the central finite difference
of the analytic gradient, all ``2 f`` gradient evaluations in one batched call, then symmetrised.

**What it guarantees.** When ``log p`` is exactly quadratic (a Gaussian target) the fit is the target
itself, up to the optimiser's tolerance and the finite-difference error (which is zero for a quadratic
up to rounding). Otherwise it is a local approximation at the mode; its error is not measured here (the
posterior-quality benchmark measures it against quadrature). Inside a ball, a mode on the boundary makes
the Gaussian a poor fit; draws outside the ball are rejected (the Gaussian is truncated to the ball).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize

from .._validate import as_float_array, positive_int

Density = Callable[[np.ndarray], np.ndarray]  # (n, f) -> (n,)
Gradient = Callable[[np.ndarray], np.ndarray]  # (n, f) -> (n, f)


class LaplaceFit(NamedTuple):
    """A Gaussian ``N(mode, cov)`` fitted at the mode of a log-density.

    Attributes:
        mode: ``(f,)`` the maximiser found.
        cov: ``(f, f)`` the inverse of ``precision``.
        precision: ``(f, f)`` minus the Hessian of the log-density at ``mode`` (positive definite).
        log_density: the log-density at ``mode``.
        converged: the optimiser reported success.
        n_iter: optimiser iterations.
        grad_norm: ``||grad log p(mode)||`` (0 at an interior mode; a ball-constrained mode on the
            boundary has a gradient along the outward normal).
        radius: the ball ``||x|| <= radius`` the density lives in, or None (all of ``R^f``).
    """

    mode: np.ndarray
    cov: np.ndarray
    precision: np.ndarray
    log_density: float
    converged: bool
    n_iter: int
    grad_norm: float
    radius: float | None = None

    @property
    def sd(self) -> np.ndarray:
        """``(f,)`` marginal standard deviations."""
        return np.sqrt(np.diag(self.cov))

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """Log-density of the (untruncated) Gaussian at ``x`` ``(n, f)`` -> ``(n,)``."""
        pts = as_float_array(x, "x", ndim=2)
        f = self.mode.size
        diff = pts - self.mode
        chol = np.linalg.cholesky(self.precision)
        z = diff @ chol  # z^T z = diff^T P diff
        log_det_p = 2.0 * np.sum(np.log(np.diag(chol)))
        return -0.5 * np.sum(z * z, axis=1) + 0.5 * log_det_p - 0.5 * f * math.log(2 * math.pi)

    def sample(self, n: int, rng: np.random.Generator, max_rounds: int = 100) -> np.ndarray:
        """``n`` draws ``(n, f)`` of the Gaussian (truncated to the ball when ``radius`` is set).

        Raises:
            RuntimeError: fewer than ``n`` draws fell inside the ball after ``max_rounds`` rounds.
        """
        n = positive_int(n, "n")
        root = np.linalg.cholesky(self.cov)
        if self.radius is None:
            return self.mode + rng.standard_normal((n, self.mode.size)) @ root.T
        kept: list[np.ndarray] = []
        have = 0
        for _ in range(max_rounds):  # rejection rounds until n draws lie inside the ball
            x = self.mode + rng.standard_normal((2 * n, self.mode.size)) @ root.T
            x = x[np.sum(x * x, axis=1) <= self.radius**2]
            kept.append(x)
            have += x.shape[0]
            if have >= n:
                return np.concatenate(kept)[:n]
        raise RuntimeError(
            f"laplace: fewer than {n} Gaussian draws fell inside the ball of radius {self.radius:g}"
        )


def fd_hessian(grad: Gradient, x: np.ndarray, step: float = 1e-5) -> np.ndarray:
    """Central finite-difference Hessian ``(f, f)`` of the function whose gradient is ``grad`` at ``x``
    ``(f,)``: column ``j`` is ``(g(x + h e_j) - g(x - h e_j)) / 2h`` with ``h = step * max(1, |x_j|)``;
    the ``2 f`` gradients come from one batched call; the result is symmetrised."""
    x = as_float_array(x, "x", ndim=1)
    f = x.size
    h = step * np.maximum(1.0, np.abs(x))
    pts = np.concatenate([x + np.diag(h), x - np.diag(h)])  # (2f, f)
    g = as_float_array(grad(pts), "grad", ndim=2)
    if g.shape != (2 * f, f):
        raise ValueError(f"grad: expected shape ({2 * f}, {f}), got {g.shape}")
    hess = (g[:f] - g[f:]) / (2.0 * h[:, None])  # row j: d grad / d x_j
    return 0.5 * (hess + hess.T)


def _newton_polish(
    log_density: Density,
    grad: Gradient,
    mode: np.ndarray,
    precision: np.ndarray,
    radius: float | None,
    fd_step: float,
) -> tuple[np.ndarray, np.ndarray]:
    """One Newton step from the optimiser's answer (exact for a quadratic), kept only when it stays in
    the ball and does not lower the log-density; the Hessian is then recomputed at the new point."""
    try:
        new = mode + np.linalg.solve(precision, grad(mode[None])[0])
    except np.linalg.LinAlgError:
        return mode, precision
    if radius is not None and new @ new > radius**2:
        return mode, precision
    if not float(log_density(new[None])[0]) >= float(log_density(mode[None])[0]):
        return mode, precision
    return new, -fd_hessian(grad, new, fd_step)


def fit_laplace(
    log_density: Density,
    grad_log_density: Gradient,
    x0: np.ndarray,
    *,
    radius: float | None = None,
    max_iter: int = 500,
    gtol: float = 1e-8,
    fd_step: float = 1e-5,
) -> LaplaceFit:
    """The Laplace approximation of ``log_density`` (unnormalised is fine).

    Args:
        log_density: ``(n, f) -> (n,)``, finite on ``R^f``. With a ball, pass the density's smooth part
            (e.g. the log-likelihood under a prior that is flat inside the ball): the optimiser may
            evaluate it just outside the ball.
        grad_log_density: ``(n, f) -> (n, f)``, its analytic gradient.
        x0: ``(f,)`` starting point (inside the ball when ``radius`` is given).
        radius: maximise over ``||x|| <= radius`` (SLSQP); None: unconstrained (L-BFGS-B).
        max_iter: optimiser iterations at most; gtol: its gradient tolerance.
        fd_step: relative step of the finite-difference Hessian.

    Raises:
        ValueError: the negative Hessian at the mode is not positive definite (a flat or non-concave
            direction: there is no Gaussian to fit; use a sampler instead).
    """
    x0 = as_float_array(x0, "x0", ndim=1)
    positive_int(max_iter, "max_iter")

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        lp = float(log_density(x[None])[0])
        g = grad_log_density(x[None])[0]
        return -lp, -g

    if radius is None:
        res = minimize(
            objective, x0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter, "gtol": gtol}
        )
    else:
        res = minimize(
            objective,
            x0,
            jac=True,
            method="SLSQP",
            constraints=[{"type": "ineq", "fun": lambda x: radius**2 - x @ x, "jac": lambda x: -2.0 * x}],
            options={"maxiter": max_iter, "ftol": gtol},
        )
    mode = np.asarray(res.x, dtype=np.float64)
    if radius is not None and np.linalg.norm(mode) > radius:
        mode = mode * (radius / np.linalg.norm(mode))
    precision = -fd_hessian(grad_log_density, mode, fd_step)
    mode, precision = _newton_polish(log_density, grad_log_density, mode, precision, radius, fd_step)
    try:
        root = np.linalg.cholesky(precision)
    except np.linalg.LinAlgError:
        raise ValueError(
            "laplace: the negative Hessian at the mode is not positive definite (a flat or non-concave "
            "direction, e.g. a ball prior with too little data); use a sampler such as 'emcee' or "
            "'importance'"
        ) from None
    inv_root = np.linalg.inv(root)
    cov = inv_root.T @ inv_root
    g = grad_log_density(mode[None])[0]
    return LaplaceFit(
        mode,
        0.5 * (cov + cov.T),
        precision,
        float(log_density(mode[None])[0]),
        bool(res.success),
        int(res.nit),
        float(np.linalg.norm(g)),
        None if radius is None else float(radius),
    )
