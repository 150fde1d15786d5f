"""Synthetic structural causal models: random ground truths on an Erdős–Rényi DAG and ancestral samples.

- :func:`sample_linear_gaussian_scm`, :func:`sample_discrete_scm`: vectorised over samples.

Shapes: ``N`` rows (samples), ``d`` variables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import positive_int
from ..graphs.dag import _rng, random_dag_er, topological_order


def _names(d: int, names: object | None, field: str = "names") -> tuple[str, ...]:
    if names is None:
        return tuple(f"X{j}" for j in range(d))
    if isinstance(names, str):
        raise TypeError(f"{field}: expected a sequence of {d} column names, got a single string")
    out = tuple(str(n) for n in names)  # type: ignore[attr-defined]
    if len(out) != d:
        raise ValueError(f"{field}: expected {d} names (one per column), got {len(out)}")
    if len(set(out)) != d:
        dup = next(n for n in out if out.count(n) > 1)
        raise ValueError(f"{field}: names must be distinct, {dup!r} appears more than once")
    return out


@dataclass(frozen=True)
class SyntheticSCM:
    """A linear-Gaussian structural causal model and samples from it.

    Row-vector form: ``x = x @ weights + e`` with ``e ~ N(0, diag(noise_std**2))``, so node ``j`` is
    ``x_j = sum_i weights[i, j] x_i + e_j`` and ``weights[i, j] != 0`` only on edges ``i -> j``.

    Attributes:
        adj: ``(d, d)`` bool, the true DAG.
        weights: ``(d, d)`` float64 edge coefficients (zero off the edges).
        noise_std: ``(d,)`` float64 standard deviations of the noise terms.
        data: ``(N, d)`` float64 samples.
        names: ``d`` column names.
    """

    adj: np.ndarray
    weights: np.ndarray
    noise_std: np.ndarray
    data: np.ndarray
    names: tuple[str, ...]

    def implied_covariance(self) -> np.ndarray:
        """``(d, d)`` covariance of ``x``: ``(I - W)^-T diag(noise_std**2) (I - W)^-1``."""
        inv = np.linalg.inv(np.eye(self.weights.shape[0]) - self.weights)
        return inv.T @ np.diag(self.noise_std**2) @ inv


@dataclass(frozen=True)
class SyntheticDiscreteSCM:
    """A categorical Bayesian network with Dirichlet-drawn conditional probability tables, and samples.

    Attributes:
        adj: ``(d, d)`` bool, the true DAG.
        arities: ``(d,)`` int64 number of states of each variable.
        cpts: ``d`` arrays; ``cpts[j]`` is ``(q_j, arities[j])`` with ``q_j`` the product of the parents'
            arities; row ``c`` is ``P(x_j | parents = c)`` where ``c = np.ravel_multi_index(x[parents],
            arities[parents])`` over the parents in increasing index order (a single row when no parents).
        data: ``(N, d)`` int64 codes, column ``j`` in ``0..arities[j] - 1``.
        names: ``d`` column names.
    """

    adj: np.ndarray
    arities: np.ndarray
    cpts: tuple[np.ndarray, ...]
    data: np.ndarray
    names: tuple[str, ...]


def _weight_range(value: object) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"weight_range: expected a pair (low, high) of numbers, got {value!r}") from exc
    if not (np.isfinite(low) and np.isfinite(high) and 0.0 <= low <= high):
        raise ValueError(f"weight_range: expected 0 <= low <= high (finite), got {value!r}")
    return low, high


def sample_linear_gaussian_scm(
    d: int,
    n_samples: int,
    expected_edges: float,
    seed: np.random.Generator | int | None = None,
    weight_range: tuple[float, float] = (0.5, 2.0),
    noise_std: float | np.ndarray = 1.0,
    names: list[str] | tuple[str, ...] | None = None,
) -> SyntheticSCM:
    """Draw a random linear-Gaussian SCM on an Erdős–Rényi DAG and ``n_samples`` ancestral samples.

    Edge weights are ``sign * U(low, high)`` with a random sign; samples are ``x = e (I - W)^-1``
    for all rows at once.

    Args:
        d: number of variables, ``>= 1``.
        n_samples: number of rows ``N``, ``>= 1``.
        expected_edges: expected number of edges of the DAG, in ``[0, d(d-1)/2]``.
        seed: numpy Generator, int seed, or None.
        weight_range: ``(low, high)`` range of the absolute edge weights, ``0 <= low <= high``.
        noise_std: positive noise standard deviation, a number or ``(d,)`` array.
        names: ``d`` column names; default ``X0..X{d-1}``.

    Returns:
        :class:`SyntheticSCM` with ``data`` of shape ``(N, d)``.
    """
    d = positive_int(d, "d")
    n_samples = positive_int(n_samples, "n_samples")
    low, high = _weight_range(weight_range)
    sigma = np.asarray(noise_std, dtype=np.float64)
    if sigma.ndim == 0:
        sigma = np.full(d, float(sigma))
    if sigma.shape != (d,):
        raise ValueError(f"noise_std: expected a number or an array of shape ({d},), got shape {sigma.shape}")
    if not (np.all(np.isfinite(sigma)) and np.all(sigma > 0)):
        raise ValueError(f"noise_std: expected positive finite standard deviations, got {sigma.tolist()}")
    labels = _names(d, names)
    gen = _rng(seed)
    adj = random_dag_er(d, expected_edges, gen)
    magnitude = gen.uniform(low, high, size=(d, d))
    sign = np.where(gen.random((d, d)) < 0.5, -1.0, 1.0)
    weights = np.where(adj, sign * magnitude, 0.0)
    noise = gen.standard_normal((n_samples, d)) * sigma
    # x (I - W) = e  <=>  (I - W)^T x^T = e^T ; I - W is invertible because W is nilpotent (a DAG).
    data = np.linalg.solve((np.eye(d) - weights).T, noise.T).T
    return SyntheticSCM(adj=adj, weights=weights, noise_std=sigma, data=data, names=labels)


def _arities(value: object, d: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"arities: expected an integer or {d} integers >= 2, got {value!r}")
    arr = np.broadcast_to(arr, (d,)).astype(np.int64) if arr.ndim == 0 else arr.astype(np.int64)
    if arr.shape != (d,):
        raise ValueError(f"arities: expected an integer or shape ({d},), got shape {arr.shape}")
    if (arr < 2).any():
        raise ValueError(f"arities: expected integers >= 2, got {arr.tolist()}")
    return arr


def sample_discrete_scm(
    d: int,
    n_samples: int,
    expected_edges: float,
    arities: int | list[int] | np.ndarray = 2,
    seed: np.random.Generator | int | None = None,
    dirichlet_alpha: float = 1.0,
    names: list[str] | tuple[str, ...] | None = None,
) -> SyntheticDiscreteSCM:
    """Draw a random categorical Bayesian network on an Erdős–Rényi DAG and ancestral samples.

    Each row of each conditional probability table is ``Dirichlet(dirichlet_alpha * ones(r_j))``.
    Sampling loops over the nodes in topological order and is vectorised over the ``N`` samples.

    Args:
        d: number of variables, ``>= 1``.
        n_samples: number of rows ``N``, ``>= 1``.
        expected_edges: expected number of edges of the DAG, in ``[0, d(d-1)/2]``.
        arities: number of states, one integer ``>= 2`` for all variables or ``(d,)``.
        seed: numpy Generator, int seed, or None.
        dirichlet_alpha: concentration of the Dirichlet prior of each table row, ``> 0``.
        names: ``d`` column names; default ``X0..X{d-1}``.

    Returns:
        :class:`SyntheticDiscreteSCM` with ``data`` of shape ``(N, d)`` int64.
    """
    d = positive_int(d, "d")
    n_samples = positive_int(n_samples, "n_samples")
    r = _arities(arities, d)
    alpha = float(dirichlet_alpha)
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"dirichlet_alpha: expected a positive number, got {dirichlet_alpha!r}")
    labels = _names(d, names)
    gen = _rng(seed)
    adj = random_dag_er(d, expected_edges, gen)
    cpts: list[np.ndarray] = []
    for j in range(d):
        q = int(np.prod(r[adj[:, j]]))
        cpts.append(gen.dirichlet(np.full(int(r[j]), alpha), size=q))
    data = np.zeros((n_samples, d), dtype=np.int64)
    for j in topological_order(adj):
        parents = np.flatnonzero(adj[:, j])
        config = np.ravel_multi_index(tuple(data[:, parents].T), tuple(r[parents])) if parents.size else 0
        cdf = np.cumsum(np.broadcast_to(cpts[j][config], (n_samples, r[j])), axis=1)
        u = gen.random((n_samples, 1))
        data[:, j] = np.minimum((cdf < u).sum(axis=1), r[j] - 1)
    return SyntheticDiscreteSCM(adj=adj, arities=r, cpts=tuple(cpts), data=data, names=labels)


# --------------------------------------------------------------------------------------------------
# Table validation
