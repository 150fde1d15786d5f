"""How much of the doubt about harm is "I don't know", and which safe experiment would resolve it.

**Uncertainty split** (in bits). With theory weights ``w_t`` and per-theory harm ``h_t``, the harm event
``H`` has predictive probability ``hbar = sum_t w_t h_t`` and

    total = H_b(hbar),   aleatoric = sum_t w_t H_b(h_t),   epistemic = total - aleatoric = I(H; T),

where ``H_b`` is the binary entropy. The epistemic part is the mutual information between the harm
event and the theory: zero exactly when every theory with weight predicts the same ``h``.

**Expected information gain of an experiment.** Running the safe intervention ``do(e)`` once yields a
row ``y`` of the variables not set by it. For theories ``t`` with weights ``w_t`` (those in play) the
gain is ``I(Y; T) = E_{t ~ w} E_{y ~ p(y|t)} [log p(y | t) - log sum_s w_s p(y | s)]``, estimated by
Monte Carlo with each theory's ``y | t`` a Gaussian (moment-matched over its parameter draws), or exactly
for a categorical ``y`` (:func:`discrete_eig`). It is at
most the entropy of ``w``, reached when one observation identifies the theory.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


def binary_entropy(p: np.ndarray) -> np.ndarray:
    """``H_b(p)`` in bits, elementwise (0 at 0 and 1)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    return np.nan_to_num(h, nan=0.0)


def uncertainty_split(weights: np.ndarray, harm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(total, epistemic, aleatoric)`` in bits, each ``(n_actions,)``.

    Args:
        weights: ``(n_theories,)`` non-negative, summing to 1.
        harm: ``(n_theories, n_actions)`` per-theory harm probabilities.
    """
    w = np.asarray(weights, dtype=np.float64)
    h = np.asarray(harm, dtype=np.float64)
    total = binary_entropy(w @ h)
    aleatoric = w @ binary_entropy(h)
    return total, np.maximum(total - aleatoric, 0.0), aleatoric


def gaussian_eig(
    weights: np.ndarray,
    mean: np.ndarray,
    cov: np.ndarray,
    n_samples: int = 256,
    rng: np.random.Generator | int | None = None,
) -> float:
    """Expected information gain (bits) about the theory from one draw of ``y``.

    Args:
        weights: ``(n,)`` theory weights, summing to 1.
        mean: ``(n, k)`` mean of ``y`` under each theory.
        cov: ``(n, k, k)`` covariance of ``y`` under each theory (positive definite).
        n_samples: Monte Carlo draws of ``y`` per theory.
        rng: seed or generator.
    """
    rng = np.random.default_rng(rng)
    w = np.asarray(weights, dtype=np.float64)
    n, k = mean.shape
    if n == 1 or k == 0:
        return 0.0
    jitter = 1e-9 * np.eye(k)
    chol = np.linalg.cholesky(cov + jitter)  # (n, k, k)
    z = rng.standard_normal((n, n_samples, k))
    y = mean[:, None, :] + np.einsum("nij,nsj->nsi", chol, z)  # (n, S, k) draws of y | t
    # log N(y | mean_s, cov_s) for every draw and every theory s: (n, S, n)
    diff = y[:, :, None, :] - mean[None, None]  # (n, S, n, k)
    sol = np.linalg.solve(chol[None, None], diff[..., None])[..., 0]  # L^-1 (y - mu)
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)  # (n,)
    logp = -0.5 * (np.sum(sol**2, axis=-1) + logdet[None, None] + k * np.log(2 * np.pi))
    own = logp[np.arange(n), :, np.arange(n)]  # (n, S): log p(y | t) at its own theory
    with np.errstate(divide="ignore"):
        mix = logsumexp(logp + np.log(w)[None, None], axis=-1)  # (n, S)
    gain = np.where(w > 0, (own - mix).mean(axis=1), 0.0)
    return float(max(w @ gain, 0.0) / np.log(2))


def categorical_entropy(p: np.ndarray) -> np.ndarray:
    """Entropy in bits of each row of ``p (..., K)`` (rows summing to 1)."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log2(p), 0.0)
    return terms.sum(axis=-1)


def discrete_eig(weights: np.ndarray, probs: np.ndarray) -> float:
    """Exact expected information gain (bits) about the theory from one categorical outcome ``y``.

    ``I(Y; T) = H(sum_t w_t p_t) - sum_t w_t H(p_t)``.

    Args:
        weights: ``(n,)`` theory weights, summing to 1.
        probs: ``(n, K)`` distribution of ``y`` under each theory.
    """
    w = np.asarray(weights, dtype=np.float64)
    p = np.asarray(probs, dtype=np.float64)
    return float(max(categorical_entropy(w @ p) - w @ categorical_entropy(p), 0.0))
