"""``P(harm | context, do(action), theory)`` for a batch of linear-Gaussian theories, fast enough to sit
inside every check.

**The context is observed before acting.** A theory is ``x = M (c + e)``, ``M = (I - B^T)^-1``,
``e ~ N(0, D)``; under ``do(a)`` the same noise gives ``x' = m' + L' e`` (``m' = M' c'``, ``L' = M' P``:
edges into the intervened nodes cut, their noise dropped; see
:mod:`~bayesguard.theories.causal.linear_gaussian`). The context ``x_C = m_C + M_C e`` is seen in the
unmutilated world, so the harm is that of ``x'_h`` given ``x_C`` through the shared noise (abduction,
then action, then prediction):

    x'_h | x_C ~ N(m'_h + g . (x_C - m_C), L'_h D L'_h^T - g . S_Ch),
    g = S_CC^-1 S_Ch,   S_CC = M_C D M_C^T,   S_Ch = M_C D L'_h^T.

When no context variable descends from an intervened one, ``M'_C P = M_C`` and ``m'_C = m_C`` (the
ancestors of ``C`` keep their equations), so this equals conditioning the mutilated model on the context
(``evidence_time="post"``, the query for a context seen after acting); otherwise it differs.

**Cached per action.** ``m'_h``, ``m_C``, the gain ``g`` (the regression of ``x'_h`` on ``x_C`` through
the noise) and the conditional standard deviation do not depend on the context's value.
:class:`GaussianHarmModel` computes them once (batched over theories; the pre-action map ``M_C`` once
for all actions); a check is then ``m'_h + g . (x - m_C)`` and one normal tail, ``O(n_actions n m)`` for
``m`` context variables.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from .harm import HarmSpec
from .linear_gaussian import EVIDENCE_TIMES, LinearGaussianTheories, intervened_map, intervened_regression


class GaussianHarmModel:
    """Harm probabilities of ``n`` linear-Gaussian theories under every action of a :class:`HarmSpec`.

    Args:
        spec: the harm event, actions and context variables (continuous).
        theories: ``n`` theories on ``spec.names``.
        evidence_time: ``"pre"`` (default): the context is observed before acting (abduction, module
            docstring); ``"post"``: condition the mutilated model on it (a context seen after acting).

    Attributes:
        mean_h: ``(n_actions, n)`` mean of the harm variable under ``do(action)`` before conditioning.
        mean_x: ``(n_actions, n, m)`` mean of the context variables (before acting: the same for every
            action; with ``"post"``, under ``do(action)``).
        gain: ``(n_actions, n, m)`` regression of the harm variable under ``do(action)`` on the context.
        sd: ``(n_actions, n)`` conditional standard deviation of the harm variable given the context.
    """

    def __init__(
        self, spec: HarmSpec, theories: LinearGaussianTheories, *, evidence_time: str = "pre"
    ) -> None:
        if spec.discrete:
            raise ValueError("spec: a linear-Gaussian harm model needs a continuous spec (no categories)")
        if tuple(theories.names) != spec.names:
            raise ValueError("theories: variable names differ from the spec's")
        if evidence_time not in EVIDENCE_TIMES:
            raise ValueError(f"evidence_time: expected one of {EVIDENCE_TIMES}, got {evidence_time!r}")
        self.spec = spec
        self.n = theories.n
        self.evidence_time = evidence_time
        mask, value = spec.do_arrays()  # (A, d)
        h, e = spec.harm_index, spec.context_index
        m = e.size
        a_n = spec.n_actions
        self.mean_h = np.empty((a_n, self.n))
        self.mean_x = np.empty((a_n, self.n, m))
        self.gain = np.zeros((a_n, self.n, m))
        self.sd = np.empty((a_n, self.n))
        # the pre-action map of the context, x_C = m_C + M_C e, is shared by every action
        pre = intervened_map(theories, rows=e) if evidence_time == "pre" else None
        for k in range(a_n):  # one action at a time keeps the memory at (n, d, d)
            self.mean_h[k], self.mean_x[k], self.gain[k], var_h = intervened_regression(
                theories, h, e, mask[k], value[k], evidence_time=evidence_time, pre=pre
            )
            self.sd[k] = np.sqrt(var_h)

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
