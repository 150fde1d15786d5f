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

**Queries.** A theory is ``x_j = c_j + sum_i B[i, j] x_i + e_j``, ``e_j ~ N(0, sigma_j^2)``, i.e.
``x = M (c + e)`` with ``M = (I - B^T)^-1`` and ``e ~ N(0, D)``, ``D = diag(sigma^2)``. Under
``do(A = a)`` the equations of ``A`` are replaced by ``x_A = a``: ``B'`` is ``B`` with the edges into
``A`` cut, ``c'_A = a`` and ``P = diag(1 - [j in A])`` drops the noise of the intervened nodes, so

    x' = M' (c' + P e),    M' = (I - B'^T)^-1:

the intervened model is an affine map of the *same* noise, ``x' = m' + L' e`` with ``m' = M' c'`` and
``L' = M' P`` (:func:`intervened_map`); its covariance is ``L' D L'^T`` (:func:`intervened_moments`).

**Evidence observed before acting (abduction, the default).** Context ``x_C`` observed *before* the
action is ``x_C = M_C (c + e)`` in the unmutilated model. Conditioning the noise on it and pushing the
same noise through the intervened model is Gaussian regression of ``x'_t = m'_t + L'_t e`` on
``x_C = m_C + M_C e``:

    E[x'_t | x_C] = m'_t + g . (x_C - m_C),   g = S_CC^-1 S_Ct,
    Var[x'_t | x_C] = L'_t D L'_t^T - g . S_Ct,   S_CC = M_C D M_C^T,   S_Ct = M_C D L'_t^T

(:func:`intervened_regression`). If no context variable descends from an intervened one, this is the
old query "condition the mutilated model on ``x'_C = x_C``": the ancestors of ``C`` then contain no
intervened node and keep their equations, so ``M'_C P = M_C`` and ``m'_C = m_C``, i.e. ``x'_C = x_C`` as
functions of ``e``, and conditioning ``e`` on ``x_C`` is conditioning the mutilated model on ``x'_C``.
When some context variable does descend from an intervened one, the two differ: the mutilated query
treats ``x_C`` as observed *after* acting (``evidence_time="post"``).

Everything is batched over theories (arrays ``(n, d, d)``); the only Python loops are over nodes or
actions.
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


EVIDENCE_TIMES = ("pre", "post")


def _do_arrays(d: int, mask: np.ndarray | None, value: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    m = np.zeros(d, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    v = np.zeros(d) if value is None else np.asarray(value, dtype=np.float64)
    if m.shape != (d,) or v.shape != (d,):
        raise ValueError(f"mask/value: expected shape ({d},), got {m.shape} and {v.shape}")
    return m, v


def intervened_map(
    theories: LinearGaussianTheories,
    mask: np.ndarray | None = None,
    value: np.ndarray | None = None,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The intervened model as an affine map of the noise: ``x'_rows = mean + lin @ e``.

    ``mean = M'_rows c'`` and ``lin = M'_rows P`` (module docstring); with no intervention it is the
    observational model ``x = M (c + e)``. The same ``e`` drives every intervention, which is what
    abduction needs.

    Args:
        theories: ``n`` theories on ``d`` variables.
        mask: ``(d,)`` bool, the variables set by ``do()`` (None: none).
        value: ``(d,)`` their values (read where ``mask`` is True).
        rows: ``(r,)`` indices of the variables wanted (None: all ``d``).

    Returns:
        ``mean (n, r)`` and ``lin (n, r, d)``.
    """
    d = theories.d
    mask, value = _do_arrays(d, mask, value)
    rows = np.arange(d) if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1)
    keep = (~mask).astype(np.float64)
    b = theories.weights * keep[None, None, :]  # cut the edges into intervened nodes
    c = np.where(mask[None], value[None], theories.intercept)  # (n, d)
    eye = np.eye(d)
    # row i of M' = (I - B'^T)^-1 is ((I - B')^-1 e_i)^T: one solve with the wanted unit vectors
    targets = np.broadcast_to(eye[:, rows], (theories.n, d, rows.size))
    m_rows = np.swapaxes(np.linalg.solve(eye[None] - b, targets), 1, 2)  # (n, r, d)
    mean = np.einsum("nrj,nj->nr", m_rows, c)
    return mean, m_rows * keep[None, None, :]


def intervened_moments(
    theories: LinearGaussianTheories,
    mask: np.ndarray | None = None,
    value: np.ndarray | None = None,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(n, r)`` and covariance ``(n, r, r)`` of the variables ``rows`` under ``do(mask = value)``
    (arguments as :func:`intervened_map`; the covariance is ``L' D L'^T``)."""
    mean, lin = intervened_map(theories, mask, value, rows)
    return mean, np.einsum("nrj,nj,nsj->nrs", lin, theories.noise_var, lin)


def intervened_regression(
    theories: LinearGaussianTheories,
    target: int,
    given: np.ndarray,
    mask: np.ndarray | None = None,
    value: np.ndarray | None = None,
    *,
    evidence_time: str = "pre",
    pre: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Regression of ``x'_target`` under ``do(mask = value)`` on evidence ``x_given``, for every theory.

    The conditional law is ``N(mean_t + gain . (x_given - mean_g), var)``.

    Args:
        theories: ``n`` theories on ``d`` variables.
        target: index of the variable queried.
        given: ``(m,)`` indices of the evidence variables (may be empty).
        mask, value: the intervention, as in :func:`intervened_map`.
        evidence_time: ``"pre"`` (default): the evidence was observed before acting, in the
            unmutilated model, and the noise is conditioned on it (abduction); ``"post"``: the evidence
            is conditioned on in the mutilated model (observed after acting).
        pre: ``(mean (n, m), lin (n, m, d))`` from ``intervened_map(theories, rows=given)``, to reuse
            across interventions (``"pre"`` only; computed when omitted).

    Returns:
        ``mean_t (n,)``, ``mean_g (n, m)`` (the evidence mean), ``gain (n, m)`` and the conditional
        variance ``var (n,)`` (clipped at 0).
    """
    if evidence_time not in EVIDENCE_TIMES:
        raise ValueError(f"evidence_time: expected one of {EVIDENCE_TIMES}, got {evidence_time!r}")
    g_idx = np.asarray(given, dtype=np.int64).reshape(-1)
    m = g_idx.size
    if evidence_time == "post":
        mean, lin = intervened_map(theories, mask, value, np.concatenate([[target], g_idx]))
        mean_t, lin_t, mean_g, lin_g = mean[:, 0], lin[:, 0], mean[:, 1:], lin[:, 1:]
    else:
        mean, lin = intervened_map(theories, mask, value, np.array([target]))
        mean_t, lin_t = mean[:, 0], lin[:, 0]
        mean_g, lin_g = pre if pre is not None else intervened_map(theories, rows=g_idx)
    var_noise = theories.noise_var
    var_t = np.einsum("nj,nj,nj->n", lin_t, var_noise, lin_t)
    gain = np.zeros((theories.n, m))
    if m:
        s_gg = np.einsum("naj,nj,nbj->nab", lin_g, var_noise, lin_g)  # (n, m, m)
        s_gt = np.einsum("naj,nj,nj->na", lin_g, var_noise, lin_t)  # (n, m)
        gain = np.linalg.solve(s_gg, s_gt[..., None])[..., 0]
        var_t = var_t - np.einsum("nm,nm->n", gain, s_gt)
    return mean_t, mean_g, gain, np.maximum(var_t, 0.0)


def interventional_gaussian(
    theories: LinearGaussianTheories,
    target: str | int,
    do: Mapping[str | int, float] | None = None,
    evidence: Mapping[str | int, float] | None = None,
    *,
    evidence_time: str = "pre",
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``target`` under ``do(...)`` given ``evidence``, for every theory.

    Args:
        theories: ``n`` theories.
        target: the variable queried.
        do: interventions ``{variable: value}``.
        evidence: observed values ``{variable: value}`` (not on intervened variables).
        evidence_time: ``"pre"`` (default): the evidence was observed *before* acting, so the noise is
            conditioned on it in the unmutilated model and then pushed through the intervened one
            (abduction, see the module docstring); ``"post"``: condition the mutilated model on it
            (evidence observed after acting). They agree unless an evidence variable descends from an
            intervened one.

    Returns:
        ``(mean, var)``, each ``(n,)``.
    """
    if evidence_time not in EVIDENCE_TIMES:
        raise ValueError(f"evidence_time: expected one of {EVIDENCE_TIMES}, got {evidence_time!r}")
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
    mask = np.zeros(theories.d, dtype=bool)
    value = np.zeros(theories.d)
    for i, v in do_idx.items():
        mask[i], value[i] = True, v
    e = np.array(sorted(ev_idx), dtype=np.int64)
    mean_t, mean_e, gain, var = intervened_regression(
        theories, t, e, mask, value, evidence_time=evidence_time
    )
    if not ev_idx:
        return mean_t, var
    x_e = np.array([ev_idx[i] for i in e])
    return mean_t + np.einsum("nm,nm->n", gain, x_e[None] - mean_e), var


def prob_above(mean: np.ndarray, var: np.ndarray, threshold: float) -> np.ndarray:
    """``P(Y > threshold)`` for ``Y ~ N(mean, var)`` elementwise (a point mass when ``var == 0``)."""
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, (mean - threshold) / sd, np.where(mean > threshold, np.inf, -np.inf))
    return ndtr(z)
