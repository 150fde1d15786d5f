"""The BGe score: continuous data, Gaussian DAG models with a Normal-Wishart parameter prior (Geiger &
Heckerman 2002), in the corrected form and parametrisation of Kuipers, Moffa & Heckerman (2014).
Score equivalent; see :mod:`.scores` for the decomposition and shapes."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln

from bayesguard._validate import as_float_array

from .score_checks import (
    _as_index_array,
    _check_bits,
    _check_one,
    _check_pairs,
    _check_rows,
    _mask_bits,
    _positive_float,
)

_LOG_PI = math.log(math.pi)


def _log_multigamma(a: float, p: int) -> float:
    """``log Gamma_p(a) = p(p-1)/4 log(pi) + sum_{i=1..p} log Gamma(a + (1 - i)/2)``."""
    return p * (p - 1) / 4.0 * _LOG_PI + float(np.sum(gammaln(a + (1.0 - np.arange(1, p + 1)) / 2.0)))


class BGeScore:
    """BGe score: the marginal likelihood of Gaussian DAG models under a Normal-Wishart prior.

    Model (Geiger & Heckerman 2002; Kuipers, Moffa & Heckerman 2014): rows ``x ~ N(mu, W^{-1})`` with
    ``mu | W ~ N(mu0, (alpha_mu W)^{-1})`` and ``W ~ Wishart(alpha_w, T^{-1})``, ``T = t I`` and

        t = alpha_mu (alpha_w - d - 1) / (alpha_mu + 1)

    (so that the prior expected covariance is the identity). With the sample mean ``xbar`` and scatter
    ``S_N = sum_i (x_i - xbar)(x_i - xbar)^T`` the posterior scale matrix is

        R = T + S_N + N alpha_mu / (N + alpha_mu) (xbar - mu0)(xbar - mu0)^T            (d, d)

    and the marginal likelihood of the ``l`` variables of a set ``Y`` is (Kuipers et al. 2014, eq. (2))

        p(D_Y) = (alpha_mu / (N + alpha_mu))^{l/2} pi^{-l N / 2}
                 Gamma_l((N + alpha_w - d + l)/2) / Gamma_l((alpha_w - d + l)/2)
                 det(T_YY)^{(alpha_w - d + l)/2} / det(R_YY)^{(N + alpha_w - d + l)/2},

    with ``Gamma_l`` the multivariate gamma function and ``p(D_{})`` = 1. The local score is

        local(j, pa) = log p(D_{pa u {j}}) - log p(D_pa).

    Args:
        data: ``(N, d)`` float, ``N >= 2``, finite, no constant column.
        alpha_mu: prior pseudo-count of the mean, ``> 0``.
        alpha_w: Wishart degrees of freedom, ``> d + 1``; default ``d + 2``.
        mu0: ``(d,)`` prior mean; default zeros.
    """

    def __init__(
        self,
        data: np.ndarray,
        alpha_mu: float = 1.0,
        alpha_w: float | None = None,
        mu0: np.ndarray | None = None,
    ) -> None:
        x = as_float_array(data, "data", ndim=2)
        n_rows, d = x.shape
        _check_rows(n_rows, d)
        const = np.flatnonzero(np.ptp(x, axis=0) == 0.0)
        if const.size:
            raise ValueError(
                f"data: column {int(const[0])} is constant; BGe needs every column to vary "
                "(drop it or add it as a known constant)"
            )
        self.alpha_mu = _positive_float(alpha_mu, "alpha_mu")
        if alpha_w is None:
            alpha_w = d + 2.0
        if isinstance(alpha_w, bool) or not isinstance(alpha_w, int | float | np.integer | np.floating):
            raise TypeError(f"alpha_w: expected a number > d + 1 = {d + 1}, got {type(alpha_w).__name__}")
        if not (math.isfinite(float(alpha_w)) and float(alpha_w) > d + 1):
            raise ValueError(f"alpha_w: expected a number > d + 1 = {d + 1}, got {alpha_w!r}")
        self.alpha_w = float(alpha_w)
        if mu0 is None:
            self.mu0 = np.zeros(d)
        else:
            self.mu0 = as_float_array(mu0, "mu0", ndim=1)
            if self.mu0.shape != (d,):
                raise ValueError(f"mu0: expected shape ({d},), got {self.mu0.shape}")
        self.d = d
        self.n_rows = n_rows
        self.t = self.alpha_mu * (self.alpha_w - d - 1) / (self.alpha_mu + 1)

        xbar = x.mean(axis=0)
        self.xbar = xbar  # (d,) sample mean, for the parameter posterior
        centred = x - xbar
        diff = xbar - self.mu0
        scatter = centred.T @ centred
        self.R = (
            self.t * np.eye(d)
            + scatter
            + (n_rows * self.alpha_mu / (n_rows + self.alpha_mu)) * np.outer(diff, diff)
        )  # (d, d)
        # Everything in log p(D_Y) except the log-determinant of R_YY, per set size l = 0..d.
        self._const = np.zeros(d + 1)
        self._power = np.zeros(d + 1)  # exponent of det(R_YY)
        for ell in range(1, d + 1):
            a0 = (self.alpha_w - d + ell) / 2.0
            an = (n_rows + self.alpha_w - d + ell) / 2.0
            self._const[ell] = (
                ell / 2.0 * math.log(self.alpha_mu / (n_rows + self.alpha_mu))
                - ell * n_rows / 2.0 * _LOG_PI
                + _log_multigamma(an, ell)
                - _log_multigamma(a0, ell)
                + a0 * ell * math.log(self.t)
            )
            self._power[ell] = an

    def log_marginal_sets(self, set_masks: np.ndarray) -> np.ndarray:
        """``log p(D_Y)`` for ``(m,) int64`` variable-set bitmasks; the empty set gives 0. -> ``(m,)``."""
        masks = _as_index_array(set_masks, "set_masks")
        if masks.size and ((masks < 0) | (masks >= (1 << self.d))).any():
            raise ValueError(f"set_masks: expected bitmasks in [0, 2**{self.d})")
        return self._log_marginal_bits(_mask_bits(masks, self.d))

    def _log_marginal_bits(self, bits: np.ndarray) -> np.ndarray:
        """``log p(D_Y)`` for ``(m, d)`` boolean variable sets -> ``(m,)``."""
        out = np.zeros(bits.shape[0])
        sizes = bits.sum(axis=1)
        for ell in np.unique(sizes):
            if ell == 0:
                continue
            rows = np.flatnonzero(sizes == ell)
            idx = np.argsort(~bits[rows], axis=1, kind="stable")[:, :ell]  # members, ascending
            sub = self.R[idx[:, :, None], idx[:, None, :]]  # (m_l, l, l)
            _, logdet = np.linalg.slogdet(sub)
            out[rows] = self._const[ell] - self._power[ell] * logdet
        return out

    def local_many(self, nodes: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Local scores ``log p(D_j | D_pa)``: ``nodes (m,)``, ``masks (m,)`` int64 -> ``(m,)`` float64."""
        nodes_arr, masks_arr = _check_pairs(nodes, masks, self.d)
        family = masks_arr | (np.int64(1) << nodes_arr)
        sets, inverse = np.unique(np.concatenate([family, masks_arr]), return_inverse=True)
        logp = self.log_marginal_sets(sets)[inverse.ravel()]
        m = nodes_arr.shape[0]
        return logp[:m] - logp[m:]

    def local_bits(self, nodes: np.ndarray, parents: np.ndarray) -> np.ndarray:
        """Local scores of parent sets given as rows of a boolean matrix (any ``d``, no bitmasks):
        ``nodes (m,)``, ``parents (m, d) bool`` -> ``(m,)`` float64."""
        nodes_arr, bits = _check_bits(nodes, parents, self.d)
        family = bits.copy()
        family[np.arange(nodes_arr.size), nodes_arr] = True
        return self._log_marginal_bits(family) - self._log_marginal_bits(bits)

    def local(self, node: int, parent_mask: int) -> float:
        """Local score ``log p(D_node | D_pa)`` of one node and parent bitmask."""
        node_i, mask_i = _check_one(node, parent_mask, self.d)
        return float(self.local_many(np.array([node_i]), np.array([mask_i]))[0])

    def __repr__(self) -> str:
        return (
            f"BGeScore(N={self.n_rows}, d={self.d}, alpha_mu={self.alpha_mu:g}, alpha_w={self.alpha_w:g}, "
            f"t={self.t:g})"
        )


# --------------------------------------------------------------------------------------------------
# BDeu
