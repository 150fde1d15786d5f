"""Out-of-distribution scores: how far a context lies from what the data support, batched over contexts.

Two kinds, both "larger = less familiar":

**Epistemic scores** read the posterior's own doubt at a context (theories that agree on the data may
disagree away from it):

- :func:`bald`: the mutual information ``I(Y; T) = H[sum_t w_t p(y|x,t)] - sum_t w_t H[p(y|x,t)]`` (bits)
  between a categorical prediction and the theory (BALD, Houlsby et al. 2011); zero exactly when every
  weighted theory predicts the same distribution;
- :func:`variance_ratio`: for a real-valued prediction, the posterior variance of the per-theory
  predictive mean (epistemic) over the expected per-theory variance (aleatoric);
- :func:`disagreement`: the (weighted) variance of ensemble members' predictions;
- :func:`laplace_variance`: ``phi(x)^T Sigma phi(x)``, the predictive variance of the linear predictor of
  a model linear in features with a Gaussian (Laplace) posterior of covariance ``Sigma``.

**Distance baselines** fitted on the training contexts ``(n, f)`` (no model needed):
:class:`MahalanobisScore` (shrunk covariance) and :class:`KNNScore` (distance to the k-th nearest training
context, standardised features). Each has ``fit(train)``, ``score(x)``, ``loo_scores()`` and
``calibrate(fpr)``, which sets ``threshold`` to the conformal ``(1 - fpr)`` quantile of the leave-one-out
training scores (:func:`conformal_threshold`): a fresh context from the training distribution scores
above it with probability about ``fpr`` (the false-alarm rate; at most ``fpr`` for the kNN score, see
:meth:`KNNScore.calibrate`).

:func:`auroc` measures a score's separation of in- from out-of-distribution contexts, with the DeLong
standard error.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import NamedTuple

import numpy as np
from scipy.linalg import solve_triangular
from scipy.spatial import cKDTree
from scipy.stats import rankdata

from .._validate import as_float_array, positive_int, unit_interval
from .information import categorical_entropy

#: Standardised coordinates are clipped to this magnitude before distances (their squares stay finite);
#: a score that reaches about this size means "astronomically far", not an exact distance.
CLIP = 1e100


def _weights(weights: object, n: int, field: str = "weights") -> np.ndarray:
    """``(n,)`` non-negative weights normalised to sum 1 (uniform when None)."""
    if weights is None:
        return np.full(n, 1.0 / n)
    w = as_float_array(weights, field, ndim=1)
    if w.shape != (n,):
        raise ValueError(f"{field}: expected shape ({n},) (one per theory), got {w.shape}")
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"{field}: expected non-negative weights with a positive sum")
    return w / w.sum()


def bald(probs: object, weights: object = None) -> np.ndarray:
    """Mutual information (bits) between the prediction and the theory, per context.

    Args:
        probs: ``(n_theories, n_contexts, n_classes)`` per-theory predictive distributions (rows summing
            to 1), or ``(n_theories, n_contexts)`` probabilities of a binary event.
        weights: ``(n_theories,)`` posterior weights (default uniform).

    Returns:
        ``(n_contexts,)`` ``H[sum_t w_t p_t] - sum_t w_t H[p_t]`` in bits, in ``[0, log2 n_classes]``.
    """
    p = as_float_array(probs, "probs")
    if p.ndim == 2:
        p = np.stack([1.0 - p, p], axis=-1)
    if p.ndim != 3:
        raise ValueError(f"probs: expected (n_theories, n_contexts[, n_classes]), got shape {p.shape}")
    if np.any(p < 0) or not np.allclose(p.sum(axis=-1), 1.0, atol=1e-6):
        raise ValueError("probs: expected probability vectors (non-negative, summing to 1 on the last axis)")
    w = _weights(weights, p.shape[0])
    mean = np.einsum("t,tck->ck", w, p)
    return np.maximum(categorical_entropy(mean) - w @ categorical_entropy(p), 0.0)


def disagreement(preds: object, weights: object = None) -> np.ndarray:
    """Weighted variance of members' predictions across members, summed over the prediction's axes.

    Args:
        preds: ``(n_members, n_contexts, ...)`` each member's prediction (probabilities, means, ...).
        weights: ``(n_members,)`` member weights (default uniform).

    Returns:
        ``(n_contexts,)`` ``sum_k w_k |pred_k - sum_j w_j pred_j|^2``: zero exactly when the weighted
        members agree.
    """
    x = as_float_array(preds, "preds")
    if x.ndim < 2:
        raise ValueError(f"preds: expected (n_members, n_contexts, ...), got shape {x.shape}")
    w = _weights(weights, x.shape[0])
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    centred = flat - np.einsum("m,mcj->cj", w, flat)[None]
    return np.einsum("m,mcj->c", w, centred**2)


def variance_ratio(means: object, variances: object = None, weights: object = None) -> np.ndarray:
    """Epistemic over aleatoric variance of a real-valued prediction, per context.

    Args:
        means: ``(n_theories, n_contexts)`` each theory's predictive mean ``E[y | x, t]``.
        variances: ``(n_theories, n_contexts)`` each theory's predictive variance ``Var[y | x, t]``
            (positive); None returns the epistemic variance itself.
        weights: ``(n_theories,)`` posterior weights (default uniform).

    Returns:
        ``(n_contexts,)`` ``Var_t[E[y|x,t]] / E_t[Var[y|x,t]]`` (the law of total variance's two parts).
    """
    m = as_float_array(means, "means", ndim=2)
    epistemic = disagreement(m, weights)
    if variances is None:
        return epistemic
    v = as_float_array(variances, "variances", ndim=2)
    if v.shape != m.shape or np.any(v <= 0):
        raise ValueError(f"variances: expected positive values of shape {m.shape}, got {v.shape}")
    return epistemic / (_weights(weights, m.shape[0]) @ v)


def laplace_variance(features: object, cov: object) -> np.ndarray:
    """``phi(x)^T Sigma phi(x)`` per context: the posterior variance of a linear predictor ``w . phi(x)``
    when ``w ~ N(w_map, Sigma)`` (a Laplace posterior).

    Args:
        features: ``(n_contexts, n_features)`` the features ``phi(x)``.
        cov: ``(n_features, n_features)`` symmetric positive semi-definite posterior covariance.

    Returns:
        ``(n_contexts,)`` non-negative variances.
    """
    phi = as_float_array(features, "features", ndim=2)
    s = as_float_array(cov, "cov", ndim=2)
    if s.shape != (phi.shape[1], phi.shape[1]):
        raise ValueError(f"cov: expected shape ({phi.shape[1]}, {phi.shape[1]}), got {s.shape}")
    if not np.allclose(s, s.T, rtol=1e-8, atol=1e-12):
        raise ValueError("cov: expected a symmetric matrix")
    return np.maximum(np.einsum("ci,ij,cj->c", phi, s, phi), 0.0)


def conformal_threshold(scores: object, fpr: float) -> float:
    """The ``ceil((1 - fpr)(n + 1))``-th smallest of ``n`` calibration scores (``inf`` when that rank
    exceeds ``n``: too few scores to promise ``fpr``).

    If a fresh score and the ``n`` calibration scores are exchangeable, the fresh one exceeds this
    threshold with probability at most ``fpr`` (and at least ``fpr - 1/(n + 1)`` without ties).
    """
    s = np.sort(as_float_array(scores, "scores", ndim=1))
    alpha = unit_interval(fpr, "fpr", open_left=True)
    rank = math.ceil((1.0 - alpha) * (s.size + 1) - 1e-12)
    return float(s[rank - 1]) if 1 <= rank <= s.size else math.inf


def _safe_norm(y: np.ndarray) -> np.ndarray:
    """Euclidean norm over the last axis without overflow in the squares."""
    with np.errstate(over="ignore", invalid="ignore"):
        scale = np.max(np.abs(y), axis=-1)
        safe = np.where(scale > 0, scale, 1.0)
        out = scale * np.sqrt(np.sum((y / safe[..., None]) ** 2, axis=-1))
    return np.where(np.isnan(out), np.inf, out)


def _points(x: object, n_features: int, field: str) -> np.ndarray:
    arr = as_float_array(x, field)
    arr = arr.reshape(1, -1) if arr.ndim == 1 else arr
    if arr.ndim != 2 or arr.shape[1] != n_features:
        raise ValueError(f"{field}: expected shape (n, {n_features}), got {np.shape(x)}")
    return arr


class _Calibrated(ABC):
    """``threshold`` (set by :meth:`calibrate`, ``inf`` before) and ``is_out(x)``."""

    threshold: float = math.inf
    fpr: float | None = None

    @abstractmethod
    def loo_scores(self) -> np.ndarray:
        """``(n,)`` leave-one-out scores of the training points."""

    @abstractmethod
    def score(self, x: object) -> np.ndarray:
        """``(m,)`` scores of ``(m, f)`` points: larger is less like the training data."""

    def calibrate(self, fpr: float = 0.01) -> float:
        """Set and return ``threshold``: the conformal ``(1 - fpr)`` quantile of the leave-one-out
        training scores (:func:`conformal_threshold`)."""
        self.threshold = conformal_threshold(self.loo_scores(), fpr)
        self.fpr = float(fpr)
        return self.threshold

    def is_out(self, x: object) -> np.ndarray:
        """``(m,)`` True where ``score(x) > threshold``."""
        return self.score(x) > self.threshold


class MahalanobisScore(_Calibrated):
    """Mahalanobis distance to the training contexts under a shrunk covariance.

    ``Sigma = (1 - shrinkage) S + shrinkage (tr S / f) I`` with ``S`` the sample covariance (``tr S = 0``,
    identical rows: the scale is 1), and ``score(x) = sqrt((x - mu)^T Sigma^-1 (x - mu))``.

    Args:
        shrinkage: in ``[0, 1]``; 0 is the plain sample covariance (needs ``n > f`` distinct rows).
    """

    def __init__(self, shrinkage: float = 0.05) -> None:
        self.shrinkage = unit_interval(shrinkage, "shrinkage")

    def _shrunk(self, cov: np.ndarray) -> np.ndarray:
        f = cov.shape[-1]
        scale = np.trace(cov, axis1=-2, axis2=-1) / f
        scale = np.where(scale > 0, scale, 1.0)
        return (1 - self.shrinkage) * cov + self.shrinkage * scale[..., None, None] * np.eye(f)

    def fit(self, train: object) -> MahalanobisScore:
        """Fit mean and shrunk covariance on ``train`` ``(n, f)`` (``n >= 3``)."""
        x = as_float_array(train, "train", ndim=2)
        if x.shape[0] < 3:
            raise ValueError(f"train: expected at least 3 rows, got {x.shape[0]}")
        self.train = x
        self.mean = x.mean(axis=0)
        self.cov = np.atleast_2d(np.cov(x, rowvar=False))
        self.chol = np.linalg.cholesky(self._shrunk(self.cov))
        self.threshold, self.fpr = math.inf, None
        return self

    def score(self, x: object) -> np.ndarray:
        """``(m,)`` distances of ``x`` ``(m, f)`` (or one ``(f,)`` row) to the training data."""
        pts = _points(x, self.mean.size, "x")
        with np.errstate(over="ignore", invalid="ignore"):
            y = solve_triangular(self.chol, (pts - self.mean).T, lower=True).T
        return _safe_norm(y)

    def loo_scores(self, chunk: int = 1024) -> np.ndarray:
        """``(n,)`` each training row's distance to the fit on the other ``n - 1`` rows (exact refits by
        rank-one downdates of the mean and covariance, batched)."""
        x, n = self.train, self.train.shape[0]
        d = x - self.mean
        out = np.empty(n)
        for lo in range(0, n, chunk):  # chunks bound the (chunk, f, f) memory; not a loop over theories
            di = d[lo : lo + chunk]
            cov = ((n - 1) * self.cov[None] - n / (n - 1) * np.einsum("bi,bj->bij", di, di)) / (n - 2)
            chol = np.linalg.cholesky(self._shrunk(cov))
            y = np.linalg.solve(chol, (n / (n - 1) * di)[..., None])[..., 0]
            out[lo : lo + chunk] = _safe_norm(y)
        return out


class KNNScore(_Calibrated):
    """Distance to the ``k``-th nearest training context, in features standardised by the training
    standard deviations (a constant feature keeps its raw scale).

    Args:
        k: which neighbour (``k = 1``: the nearest).
    """

    def __init__(self, k: int = 5) -> None:
        self.k = positive_int(k, "k")

    def _std(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return np.clip((x - self.center) / self.scale, -CLIP, CLIP)

    def fit(self, train: object) -> KNNScore:
        """Build the tree on ``train`` ``(n, f)`` (``n > k``)."""
        x = as_float_array(train, "train", ndim=2)
        if x.shape[0] <= self.k:
            raise ValueError(f"train: expected more than k = {self.k} rows, got {x.shape[0]}")
        self.train = x
        self.center = x.mean(axis=0)
        sd = x.std(axis=0)
        self.scale = np.where(sd > 0, sd, 1.0)
        self.tree = cKDTree(self._std(x))
        self.threshold, self.fpr = math.inf, None
        return self

    def score(self, x: object) -> np.ndarray:
        """``(m,)`` distance of each row of ``x`` ``(m, f)`` to its ``k``-th nearest training context."""
        pts = _points(x, self.center.size, "x")
        dist, _ = self.tree.query(self._std(pts), k=[self.k])
        return dist[:, 0]

    def loo_scores(self) -> np.ndarray:
        """``(n,)`` each training row's distance to its ``k``-th nearest *other* training row."""
        dist, _ = self.tree.query(self.tree.data, k=[self.k + 1])
        return dist[:, 0]

    def calibrate(self, fpr: float = 0.01) -> float:
        """As :meth:`_Calibrated.calibrate`. For exchangeable data the false-alarm rate is at most
        ``fpr``: in the augmented set (training + the fresh point) each training row's score is at most
        its leave-one-out score (one more candidate neighbour), so comparing with the leave-one-out
        scores only makes the conformal p-value larger."""
        return super().calibrate(fpr)


class AUROC(NamedTuple):
    """Area under the ROC curve of a score separating out- (positive) from in-distribution contexts,
    ``P(s_out > s_in) + P(s_out = s_in) / 2``, and its DeLong standard error."""

    value: float
    se: float


def auroc(in_scores: object, out_scores: object) -> AUROC:
    """AUROC (ties count one half) with the DeLong (1988) standard error.

    Args:
        in_scores: ``(n_in,)`` scores of in-distribution contexts (negatives).
        out_scores: ``(n_out,)`` scores of out-of-distribution contexts (positives); larger = more OOD.
    """
    neg = as_float_array(in_scores, "in_scores", ndim=1)
    pos = as_float_array(out_scores, "out_scores", ndim=1)
    m, n = pos.size, neg.size
    if m == 0 or n == 0:
        raise ValueError("in_scores, out_scores: both need at least one score")
    all_ranks = rankdata(np.r_[pos, neg])
    r_pos, r_neg = all_ranks[:m], all_ranks[m:]
    v10 = (r_pos - rankdata(pos)) / n  # per positive: fraction of negatives below it (ties 1/2)
    v01 = 1.0 - (r_neg - rankdata(neg)) / m  # per negative: fraction of positives above it
    value = float(v10.mean())
    var = (v10.var(ddof=1) / m if m > 1 else 0.0) + (v01.var(ddof=1) / n if n > 1 else 0.0)
    return AUROC(value, float(math.sqrt(max(var, 0.0))))
