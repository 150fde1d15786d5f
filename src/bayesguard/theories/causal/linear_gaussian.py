"""Full linear-Gaussian theories (graph + coefficients + noise) and exact interventional queries.

**Parameters given a graph.** Under the BGe model the posterior of the covariance is inverse-Wishart
with ``alpha_w + N`` degrees of freedom and scale ``R`` (:class:`~.scores.BGeScore`). For node ``j``
with parents ``pa`` (``p`` of them) the block of the family ``F = pa ∪ {j}`` is inverse-Wishart with
``alpha_w + N - d + p + 1`` degrees of freedom and scale ``R_FF``, which gives the conditional of ``j``:

    sigma_j^2 ~ InvGamma((alpha_w + N - d + 1) / 2, (R_jj - R_j,pa R_pa,pa^-1 R_pa,j) / 2)
    b_j | sigma_j^2 ~ N(R_pa,pa^-1 R_pa,j, sigma_j^2 R_pa,pa^-1)

(the Schur-complement properties of the inverse-Wishart). The intercept is
``c_j = mu'_j - b_j . mu'_pa`` with the mean fixed at its posterior mean
``mu' = (alpha_mu mu0 + N xbar) / (alpha_mu + N)`` (its remaining uncertainty is O(1/N) and ignored).

**Queries.** A theory is ``x_j = c_j + sum_i B[i, j] x_i + e_j``, ``e_j ~ N(0, sigma_j^2)``. Under
``do(A = a)`` the equation of ``A`` is replaced by ``x_A = a``; the joint law of the mutilated model is
Gaussian, ``x = (I - B^T)^-1 (c + e)``, and conditioning on evidence ``X = x`` is Gaussian conditioning.
Everything is batched over theories (arrays ``(n, d, d)``); the only Python loop is over nodes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from .scores import BGeScore


@dataclass(frozen=True)
class LinearGaussianTheories:
    """A batch of ``n`` linear-Gaussian SCMs on ``d`` named variables.

    Attributes:
        adj: ``(n, d, d)`` bool graphs (``adj[k, i, j]``: edge ``i -> j``).
        weights: ``(n, d, d)`` coefficients, zero off the edges.
        intercept: ``(n, d)``.
        noise_var: ``(n, d)`` noise variances (> 0).
        names: the ``d`` variable names.
    """

    adj: np.ndarray
    weights: np.ndarray
    intercept: np.ndarray
    noise_var: np.ndarray
    names: tuple[str, ...]

    @property
    def n(self) -> int:
        return int(self.adj.shape[0])

    @property
    def d(self) -> int:
        return int(self.adj.shape[1])

    def index(self, name: str | int, field: str) -> int:
        """Column index of a variable given by name or index; errors name ``field``."""
        if isinstance(name, str):
            if name not in self.names:
                raise ValueError(f"{field}: unknown variable {name!r}; known: {list(self.names)}")
            return self.names.index(name)
        if isinstance(name, int | np.integer) and 0 <= int(name) < self.d:
            return int(name)
        raise ValueError(f"{field}: expected a variable name or an index in [0, {self.d}), got {name!r}")

    def describe(self, k: int, digits: int = 2) -> str:
        """One theory as readable structural equations."""
        lines = []
        for j, name in enumerate(self.names):
            terms = [f"{self.intercept[k, j]:.{digits}f}"]
            for i in np.flatnonzero(self.adj[k, :, j]):
                terms.append(f"{self.weights[k, i, j]:+.{digits}f}*{self.names[i]}")
            lines.append(f"{name} = {' '.join(terms)} + N(0, {self.noise_var[k, j]:.{digits}g})")
        return "; ".join(lines)


def sample_parameters(
    score: BGeScore,
    adj: np.ndarray,
    rng: np.random.Generator | int | None = None,
    names: Sequence[str] | None = None,
) -> LinearGaussianTheories:
    """Draw coefficients and noise for each graph from the BGe parameter posterior.

    Args:
        score: the BGe score of the data (holds ``R``, the posterior mean and the hyperparameters).
        adj: ``(n, d, d)`` acyclic graphs.
        rng: a generator or seed.
        names: variable names (default ``x0..``).
    """
    a = np.asarray(adj, dtype=bool)
    if a.ndim != 3 or a.shape[1:] != (score.d, score.d):
        raise ValueError(f"adj: expected shape (n, {score.d}, {score.d}), got {a.shape}")
    gam, z = parameter_noise(score, a.shape[0], rng)
    return parameters_from_noise(score, a, gam, z, names)


def _node_score(score: BGeScore, j: int) -> BGeScore:
    """The BGe score that holds node ``j``'s rows (an interventional score keeps one per row set)."""
    return score.node_score(j) if hasattr(score, "node_score") else score


def parameter_noise(
    score: BGeScore, n: int, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The standard variates behind ``n`` parameter draws: ``gamma (n, d)`` and ``normal (n, d, d)``.

    Reusing the same variates for different graphs (common random numbers) makes a Monte Carlo average
    over parameters a deterministic function of the graph, which a Metropolis-Hastings search needs.
    """
    rng = np.random.default_rng(rng)
    d = score.d
    shape = np.array(
        [(_node_score(score, j).alpha_w + _node_score(score, j).n_rows - d + 1) / 2.0 for j in range(d)]
    )
    return rng.gamma(shape[None, :], 1.0, (n, d)), rng.standard_normal((n, d, d))


def parameters_from_noise(
    score: BGeScore,
    adj: np.ndarray,
    gam: np.ndarray,
    z: np.ndarray,
    names: Sequence[str] | None = None,
) -> LinearGaussianTheories:
    """Parameters of graphs ``adj (n, d, d)`` from the variates of :func:`parameter_noise`.

    ``gam (n, d)`` and ``z (n, d, d)`` (or ``(1, ...)``, shared by every graph) are transformed into the
    BGe posterior's ``sigma_j^2`` and ``b_j`` (see the module docstring).
    """
    a = np.asarray(adj, dtype=bool)
    n, d = a.shape[0], score.d
    names = tuple(names) if names is not None else tuple(f"x{i}" for i in range(d))
    gam = np.broadcast_to(gam, (n, d))
    z = np.broadcast_to(z, (n, d, d))
    weights = np.zeros((n, d, d))
    noise = np.zeros((n, d))
    intercept = np.zeros((n, d))
    eye = np.eye(d)
    for j in range(d):
        sj = _node_score(score, j)
        r = sj.R
        mu_post = (sj.alpha_mu * sj.mu0 + sj.n_rows * sj.xbar) / (sj.alpha_mu + sj.n_rows)
        m = a[:, :, j].astype(np.float64)  # (n, d) parent indicators
        mm = m[:, :, None] * m[:, None, :]
        big = r[None] * mm + eye[None] * (1.0 - m)[:, :, None]  # R_pa,pa embedded, identity elsewhere
        rhs = r[None, :, j] * m  # (n, d)
        b_mean = np.linalg.solve(big, rhs[:, :, None])[:, :, 0]
        schur = r[j, j] - np.einsum("nd,nd->n", rhs, b_mean)
        var = schur / 2.0 / gam[:, j]  # InvGamma(shape, schur / 2)
        chol = np.linalg.cholesky(big)  # big = L L^T; y = L^-T z ~ N(0, big^-1)
        y = np.linalg.solve(np.swapaxes(chol, 1, 2), z[:, :, j, None])[:, :, 0]
        weights[:, :, j] = (b_mean + np.sqrt(var)[:, None] * y) * m
        noise[:, j] = var
        intercept[:, j] = mu_post[j] - weights[:, :, j] @ mu_post
    return LinearGaussianTheories(a.copy(), weights, intercept, noise, names)


def log_likelihood(
    theories: LinearGaussianTheories, values: np.ndarray, intervened: np.ndarray | None = None
) -> np.ndarray:
    """Gaussian log density of the rows ``values (N, d)`` under each SCM: ``(n,)``.

    Cells with ``intervened (N, d)`` True were set from outside and are not scored (their equation was
    replaced by the intervention), so observational and interventional rows are scored alike.
    """
    x = np.asarray(values, dtype=np.float64)
    mean = theories.intercept[:, None, :] + np.einsum("ni,kij->knj", x, theories.weights)  # (n, N, d)
    var = theories.noise_var[:, None, :]
    logpdf = -0.5 * ((x[None] - mean) ** 2 / var + np.log(2 * np.pi * var))
    if intervened is not None:
        logpdf = np.where(np.asarray(intervened, dtype=bool)[None], 0.0, logpdf)
    return logpdf.sum(axis=(1, 2))


def interventional_gaussian(
    theories: LinearGaussianTheories,
    target: str | int,
    do: Mapping[str | int, float] | None = None,
    evidence: Mapping[str | int, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``target`` under ``do(...)`` given ``evidence``, for every theory.

    Args:
        theories: ``n`` theories.
        target: the variable queried.
        do: interventions ``{variable: value}``.
        evidence: observed values ``{variable: value}`` (not on intervened variables).

    Returns:
        ``(mean, var)``, each ``(n,)``.
    """
    do = dict(do or {})
    evidence = dict(evidence or {})
    t = theories.index(target, "target")
    do_idx = {theories.index(k, "do"): float(v) for k, v in do.items()}
    ev_idx = {theories.index(k, "evidence"): float(v) for k, v in evidence.items()}
    clash = set(do_idx) & set(ev_idx)
    if clash:
        raise ValueError(f"evidence: {theories.names[min(clash)]!r} is also intervened on")
    if t in ev_idx:
        raise ValueError(f"evidence: the target {theories.names[t]!r} is observed")
    for v in list(do_idx.values()) + list(ev_idx.values()):
        if not np.isfinite(v):
            raise ValueError("do/evidence: values must be finite numbers")
    d = theories.d
    b = theories.weights.copy()
    c = theories.intercept.copy()
    var = theories.noise_var.copy()
    for i, v in do_idx.items():
        b[:, :, i] = 0.0
        c[:, i] = v
        var[:, i] = 0.0
    inv = np.linalg.inv(np.eye(d)[None] - np.swapaxes(b, 1, 2))  # (n, d, d): x = inv (c + e)
    mean = np.einsum("nij,nj->ni", inv, c)
    cov = np.einsum("nij,nj,nkj->nik", inv, var, inv)
    if not ev_idx:
        return mean[:, t], cov[:, t, t]
    e = np.array(sorted(ev_idx))
    x_e = np.array([ev_idx[i] for i in e])
    s_ee = cov[:, e[:, None], e[None, :]]  # (n, m, m)
    s_te = cov[:, t, e]  # (n, m)
    gain = np.linalg.solve(s_ee, s_te[:, :, None])[:, :, 0]  # (n, m)
    cond_mean = mean[:, t] + np.einsum("nm,nm->n", gain, x_e[None] - mean[:, e])
    cond_var = cov[:, t, t] - np.einsum("nm,nm->n", gain, s_te)
    return cond_mean, np.maximum(cond_var, 0.0)


def prob_above(mean: np.ndarray, var: np.ndarray, threshold: float) -> np.ndarray:
    """``P(Y > threshold)`` for ``Y ~ N(mean, var)`` elementwise (a point mass when ``var == 0``)."""
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, (mean - threshold) / sd, np.where(mean > threshold, np.inf, -np.inf))
    return ndtr(z)
