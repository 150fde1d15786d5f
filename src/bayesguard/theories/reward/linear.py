"""Linear reward theories ``r(xi) = w . phi(xi)`` with a Gaussian or uniform-ball prior.

**Scale.** Under a Boltzmann-rational likelihood only ``beta * w`` is identified: doubling ``w`` and
halving ``beta`` leaves every answer probability unchanged. A Gaussian prior ``N(0, s^2 I)`` keeps
``||w||`` near ``s sqrt(f)`` softly; the uniform prior on the ball ``||w|| <= s`` bounds it, so ``beta s``
is the largest rationality the data can express and the posterior of ``w / ||w||`` (the direction, which
alone decides which option is best) is what the data pin down. Neither prior changes which options a
theory ranks first, so the regret harm and the reward-based decision rules are unaffected by the scale.
"""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from scipy.special import gammaln

from ..._validate import parse_option, positive_int
from ._base import RewardFamilyBase
from .feedback import FeedbackData
from .human import HumanModel
from .likelihoods import grad_log_likelihood


class RewardPrior(StrEnum):
    """Prior of a :class:`LinearRewardFamily`: ``"gaussian"`` ``N(0, s^2 I)`` or ``"ball"`` (uniform
    on ``||w|| <= s``)."""

    GAUSSIAN = "gaussian"
    BALL = "ball"

    @classmethod
    def parse(cls, value: str | RewardPrior) -> RewardPrior:
        return parse_option(cls, value, "prior", "prior")


@dataclass(frozen=True, eq=False)
class LinearRewardFamily(RewardFamilyBase):
    """Reward weight vectors ``w`` ``(n_features,)``, a prior, and the feedback seen so far.

    Attributes:
        n_features: length of ``w``.
        n_actions: number of options in a guard context ``(n_actions, n_features)``.
        prior: :class:`RewardPrior` or its name (default ``"gaussian"``).
        scale: the Gaussian's standard deviation ``s``, or the ball's radius (default 1).
        model: the :class:`~.human.HumanModel` of the person giving feedback.
        tolerance: regret ``tau >= 0`` above which an action counts as a harm (default 0).
        data: the :class:`~.feedback.FeedbackData` held (default none).
        feature_names: labels for :meth:`describe`.
    """

    n_features: int
    n_actions: int
    _: KW_ONLY
    prior: RewardPrior | str = RewardPrior.GAUSSIAN
    scale: float = 1.0
    model: HumanModel = field(default_factory=HumanModel)
    tolerance: float = 0.0
    data: FeedbackData = field(default_factory=FeedbackData)
    feature_names: tuple[str, ...] = ()
    name: str = "linear-reward"

    def __post_init__(self) -> None:
        positive_int(self.n_features, "n_features")
        positive_int(self.n_actions, "n_actions")
        object.__setattr__(self, "prior", RewardPrior.parse(self.prior))
        if isinstance(self.scale, bool) or not isinstance(self.scale, int | float | np.number):
            raise TypeError(f"scale: expected a positive number, got {self.scale!r}")
        if not (math.isfinite(float(self.scale)) and float(self.scale) > 0):
            raise ValueError(f"scale: expected a positive finite number, got {self.scale!r}")
        object.__setattr__(self, "scale", float(self.scale))
        self._check_common()

    # ------------------------------------------------------------------ prior
    def log_prior(self, theories: np.ndarray) -> np.ndarray:
        """Normalised log prior density: ``(n_theories,)`` (``-inf`` outside the ball)."""
        w = self._w(theories)
        f, s = self.n_features, self.scale
        if self.prior is RewardPrior.GAUSSIAN:
            return -0.5 * np.sum(w * w, axis=1) / s**2 - f * (math.log(s) + 0.5 * math.log(2 * math.pi))
        log_volume = 0.5 * f * math.log(math.pi) - gammaln(0.5 * f + 1) + f * math.log(s)
        inside = np.sum(w * w, axis=1) <= s * s
        return np.where(inside, -log_volume, -np.inf)

    def grad_log_prior(self, theories: np.ndarray) -> np.ndarray:
        """``(n_theories, n_features)``: ``-w / s^2`` (Gaussian); 0 (ball: flat inside, and 0 by
        convention outside, where the density is 0)."""
        w = self._w(theories)
        if self.prior is RewardPrior.GAUSSIAN:
            return -w / self.scale**2
        return np.zeros_like(w)

    def sample_prior(self, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """``n`` independent prior draws: ``(n, n_features)``."""
        gen = np.random.default_rng(rng)
        n = positive_int(n, "n")
        z = gen.standard_normal((n, self.n_features))
        if self.prior is RewardPrior.GAUSSIAN:
            return self.scale * z
        radius = self.scale * gen.random(n) ** (1.0 / self.n_features)
        return z / np.linalg.norm(z, axis=1, keepdims=True) * radius[:, None]

    # ------------------------------------------------------------------ posterior density
    def grad_log_density(self, theories: np.ndarray, data: Any = None) -> np.ndarray:
        """Gradient of :meth:`log_density` in ``w``: ``(n_theories, n_features)``.

        Analytic for every feedback kind, at a fixed ``beta`` or marginalised over a
        :class:`~.human.RationalityPrior` (the demonstration term is exact wherever the optimal policy of
        ``w`` is unique; ``Q*`` is piecewise linear in ``w``).
        """
        w = self._w(theories)
        every = self.data.concat(self._new_data(data))
        g = self.grad_log_prior(w)
        if every.is_empty:
            return g
        return g + grad_log_likelihood(w, every, self.model)

    def move(self, theories: np.ndarray, steps: int, seed: int) -> np.ndarray:
        """Random-walk Metropolis steps that leave :meth:`log_score` invariant (the SMC move of
        ``Guard.observe``), all theories at once.

        The Gaussian proposal has covariance ``2.38^2 / f`` times the covariance of ``theories`` (fixed
        for the whole move, so each theory follows one Metropolis kernel with a symmetric proposal), or
        ``(scale / 10)^2 I`` when the theories have collapsed onto one point.
        """
        w = self._w(theories).copy()
        steps = positive_int(steps, "steps", minimum=0)
        gen = np.random.default_rng(seed)
        n, f = w.shape
        cov = np.atleast_2d(np.cov(w.T)) if n > 1 else np.zeros((f, f))
        if not np.isfinite(cov).all() or np.trace(cov) <= 1e-24:
            cov = np.eye(f) * (self.scale / 10.0) ** 2 * f / 2.38**2
        vals, vecs = np.linalg.eigh(cov * 2.38**2 / f)
        root = vecs * np.sqrt(np.maximum(vals, 1e-12 * max(vals.max(), 1e-300)))
        lp = self.log_score(w)
        for _ in range(steps):
            prop = w + gen.standard_normal((n, f)) @ root.T
            lp_new = self.log_score(prop)
            with np.errstate(invalid="ignore"):
                accept = np.log(gen.random(n)) < lp_new - lp
            w[accept], lp[accept] = prop[accept], lp_new[accept]
        return w
