"""``P(harm | context, do(action), theory)`` for a batch of linear-Gaussian theories, fast enough to sit
inside every check.

For each action the mutilated model's mean ``(n, d)`` and covariance ``(n, d, d)`` do not depend on the
context, and neither do the Gaussian-conditioning gain and conditional variance of the harm variable
given the context variables. :class:`GaussianHarmModel` computes them once (batched over actions and
theories); a check is then ``mean_H + gain . (x - mean_X)`` and one normal tail, ``O(n_actions n m)``
for ``m`` context variables.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from .harm import HarmSpec
from .linear_gaussian import LinearGaussianTheories


class GaussianHarmModel:
    """Harm probabilities of ``n`` linear-Gaussian theories under every action of a :class:`HarmSpec`.

    Args:
        spec: the harm event, actions and context variables (continuous).
        theories: ``n`` theories on ``spec.names``.

    Attributes:
        mean_h: ``(n_actions, n)`` mean of the harm variable under ``do(action)`` before conditioning.
        mean_x: ``(n_actions, n, m)`` mean of the context variables under ``do(action)``.
        gain: ``(n_actions, n, m)`` regression of the harm variable on the context.
        sd: ``(n_actions, n)`` conditional standard deviation of the harm variable given the context.
    """

    def __init__(self, spec: HarmSpec, theories: LinearGaussianTheories) -> None:
        if spec.discrete:
            raise ValueError("spec: a linear-Gaussian harm model needs a continuous spec (no categories)")
        if tuple(theories.names) != spec.names:
            raise ValueError("theories: variable names differ from the spec's")
        self.spec = spec
        self.n = theories.n
        mask, value = spec.do_arrays()  # (A, d)
        h, e = spec.harm_index, spec.context_index
        m = e.size
        a_n = spec.n_actions
        self.mean_h = np.empty((a_n, self.n))
        self.mean_x = np.empty((a_n, self.n, m))
        self.gain = np.zeros((a_n, self.n, m))
        self.sd = np.empty((a_n, self.n))
        eye = np.eye(spec.d)
        targets = eye[:, np.concatenate([[h], e])]  # (d, 1 + m): unit vectors of the rows needed
        for k in range(a_n):  # one action at a time keeps the memory at (n, d, d)
            keep = (~mask[k]).astype(np.float64)
            b = theories.weights * keep[None, None, :]  # cut the edges into intervened nodes
            c = np.where(mask[k][None], value[k][None], theories.intercept)  # (n, d)
            var = theories.noise_var * keep[None]
            # x = (I - B^T)^-1 (c + e); row i of that inverse is (I - B)^-1 e_i
            rows = np.swapaxes(
                np.linalg.solve(eye[None] - b, np.broadcast_to(targets, (self.n, *targets.shape))), 1, 2
            )
            mean = np.einsum("nrj,nj->nr", rows, c)  # (n, 1 + m)
            cov = np.einsum("nrj,nj,nsj->nrs", rows, var, rows)  # (n, 1 + m, 1 + m)
            self.mean_h[k], self.mean_x[k] = mean[:, 0], mean[:, 1:]
            var_h = cov[:, 0, 0]
            if m:
                s_ee, s_he = cov[:, 1:, 1:], cov[:, 0, 1:]
                self.gain[k] = np.linalg.solve(s_ee, s_he[..., None])[..., 0]
                var_h = var_h - np.einsum("nm,nm->n", self.gain[k], s_he)
            self.sd[k] = np.sqrt(np.maximum(var_h, 0.0))

    def _tail(self, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
        t = float(self.spec.harm.value)
        sign = 1.0 if self.spec.harm.upper else -1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(sd > 0, sign * (mean - t) / sd, np.where(sign * (mean - t) > 0, np.inf, -np.inf))
        return ndtr(z)

    def harm(self, context: object = None) -> np.ndarray:
        """``(n, n_actions)`` harm probabilities of every theory in one context (validated)."""
        x = self.spec.context_values(context)
        if x.ndim != 1:
            m = len(self.spec.context)
            raise ValueError(f"context: expected one context of shape ({m},), got {x.shape}")
        mean = self.mean_h + np.einsum("anm,anm->an", self.gain, x[None, None] - self.mean_x)
        return self._tail(mean, self.sd).T

    def harm_pairs(self, theory: np.ndarray, contexts: np.ndarray) -> np.ndarray:
        """Harm of theory ``theory[b]`` in context ``contexts[b]``: ``(B,), (B, m) -> (B, n_actions)``."""
        idx = np.asarray(theory, dtype=np.int64)
        x = np.asarray(contexts, dtype=np.float64)
        g = self.gain[:, idx]  # (A, B, m)
        mean = self.mean_h[:, idx] + np.einsum("abm,abm->ab", g, x[None] - self.mean_x[:, idx])
        return self._tail(mean, self.sd[:, idx]).T

    def harm_batch(self, contexts: np.ndarray) -> np.ndarray:
        """Every theory in every context: ``(B, m) -> (B, n, n_actions)``."""
        x = np.asarray(contexts, dtype=np.float64)
        diff = x[:, None, None, :] - self.mean_x[None]  # (B, A, n, m)
        mean = self.mean_h[None] + np.einsum("anm,banm->ban", self.gain, diff)
        return np.swapaxes(self._tail(mean, self.sd[None]), 1, 2)
