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
        keep = (~mask).astype(np.float64)
        b = theories.weights[None] * keep[:, None, None, :]  # cut the edges into intervened nodes
        c = np.where(mask[:, None, :], value[:, None, :], theories.intercept[None])  # (A, n, d)
        var = theories.noise_var[None] * keep[:, None, :]
        d = spec.d
        inv = np.linalg.inv(np.eye(d) - np.swapaxes(b, -1, -2))  # (A, n, d, d): x = inv (c + e)
        h, e = spec.harm_index, spec.context_index
        mean = np.einsum("anij,anj->ani", inv, c)
        row_h = inv[:, :, h, :]  # (A, n, d)
        var_h = np.einsum("anj,anj->an", row_h * var, row_h)
        self.mean_h = mean[:, :, h]
        self.mean_x = mean[:, :, e]
        if e.size:
            rows_e = inv[:, :, e, :]  # (A, n, m, d)
            s_ee = np.einsum("anmj,anj,ankj->anmk", rows_e, var, rows_e)
            s_he = np.einsum("anj,anj,anmj->anm", row_h, var, rows_e)
            self.gain = np.linalg.solve(s_ee, s_he[..., None])[..., 0]
            var_h = var_h - np.einsum("anm,anm->an", self.gain, s_he)
        else:
            self.gain = np.zeros((spec.n_actions, self.n, 0))
        self.sd = np.sqrt(np.maximum(var_h, 0.0))

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
