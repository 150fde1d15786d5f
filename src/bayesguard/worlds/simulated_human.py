"""A simulated human who answers preference queries with the TRUE reward (for experiments: the learner
never sees inside it), with Bradley-Terry noise, mistakes and an optional "equal" answer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from .._validate import as_float_array
from ..theories.reward import HumanModel, Preferences


@dataclass(frozen=True)
class SimulatedHuman:
    """Answers "which of these two do you prefer?" with the TRUE reward.

    Davidson-Bradley-Terry with mistakes, the same model as :class:`~bayesguard.theories.reward.HumanModel`:
    with ``d = w . (left - right)`` the answers (left, right, equal) have probabilities proportional to
    ``(e^{beta d / 2}, e^{-beta d / 2}, nu)``; with probability ``eps`` the answer is uniform over the
    admissible answers (two without "equal", ``nu = 0``). Without "equal": ``P(left) = (1 - eps)
    sigmoid(beta d) + eps / 2``.

    Attributes:
        weights: ``(f,)`` the true reward weights.
        beta: rationality >= 0; eps: mistake rate in [0, 1]; indifference: Davidson's ``nu >= 0``.
    """

    weights: np.ndarray
    beta: float
    eps: float = 0.0
    indifference: float = 0.0

    def __post_init__(self) -> None:
        w = as_float_array(self.weights, "weights", ndim=1).copy()
        w.flags.writeable = False
        object.__setattr__(self, "weights", w)
        HumanModel(float(self.beta), self.eps, self.indifference)  # validates the three numbers

    @property
    def model(self) -> HumanModel:
        """The learner's (correct) model of this human."""
        return HumanModel(float(self.beta), self.eps, self.indifference)

    def probs(self, left: object, right: object) -> np.ndarray:
        """``(m, 3)`` probabilities of (left, right, equal) for ``m`` queries ``(m, f)``, ``(m, f)``."""
        lt = as_float_array(left, "left", ndim=2)
        rt = as_float_array(right, "right", ndim=2)
        if lt.shape != rt.shape or lt.shape[1] != self.weights.size:
            raise ValueError(
                f"left, right: expected two (m, {self.weights.size}) arrays, got {lt.shape}, {rt.shape}"
            )
        d = (lt - rt) @ self.weights
        nu = self.indifference
        logits = np.stack(
            [self.beta * d / 2, -self.beta * d / 2, np.full_like(d, np.log(nu) if nu > 0 else -np.inf)], 1
        )
        p = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
        admissible = np.array([1.0, 1.0, 1.0 if nu > 0 else 0.0])
        return (1.0 - self.eps) * p + self.eps * admissible / admissible.sum()

    def answer(
        self, left: object, right: object, rng: np.random.Generator | int | None = None
    ) -> Preferences:
        """One sampled answer per query, as a :class:`~bayesguard.theories.reward.Preferences` record."""
        gen = np.random.default_rng(rng)
        p = self.probs(left, right)
        ans = (np.cumsum(p, axis=1) <= gen.random(p.shape[0])[:, None]).sum(axis=1)
        return Preferences(np.asarray(left, float), np.asarray(right, float), np.minimum(ans, 2))
