"""Linear-Gaussian bandit theories: the world of the exploding bandit (Bengio et al., UAI 2025).

A theory is a binary weight vector ``w`` in ``{0, 1}^n_features``. Arm ``a`` with feature vector ``f_a``
pays a reward ``N(w . f_a, sigma^2)``; a reward above ``harm_threshold`` is a harm (an explosion). The
context of a decision is the matrix of arm features ``(n_arms, n_features)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
from scipy.special import ndtr

from .._validate import as_float_array, positive_int
from .base import select_action


@dataclass(frozen=True, eq=False)
class BanditData:
    """Observed pulls.

    Attributes:
        features: ``(n_obs, n_features)`` feature vectors of the arms pulled.
        rewards: ``(n_obs,)`` rewards received.
    """

    features: np.ndarray
    rewards: np.ndarray

    def __post_init__(self) -> None:
        x = as_float_array(self.features, "BanditData.features", ndim=2)
        r = as_float_array(self.rewards, "BanditData.rewards", ndim=1)
        if x.shape[0] != r.shape[0]:
            raise ValueError(
                f"BanditData: features has {x.shape[0]} rows but rewards has {r.shape[0]} entries"
            )
        object.__setattr__(self, "features", x)
        object.__setattr__(self, "rewards", r)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BanditData):
            return NotImplemented
        return np.array_equal(self.features, other.features) and np.array_equal(self.rewards, other.rewards)

    __hash__ = None  # type: ignore[assignment]  # arrays are mutable


def harm_table(max_mean: int, sigma: float, harm_threshold: float) -> np.ndarray:
    """P(reward > threshold) for integer means ``0..max_mean``: ``(max_mean + 1,)``.

    With binary weights and binary features every mean ``w . f`` is an integer, so the harm probability
    of any (theory, arm) pair is a lookup in this table.
    """
    means = np.arange(max_mean + 1, dtype=np.float64)
    return ndtr((means - harm_threshold) / sigma)


@dataclass(frozen=True)
class LinearBanditFamily:
    """All binary weight vectors with a uniform prior and a Gaussian reward likelihood.

    Attributes:
        n_features: length of the weight vector (2**n_features theories).
        n_actions: number of arms.
        sigma: reward noise standard deviation.
        harm_threshold: a reward strictly above this is a harm.
    """

    n_features: int = 10
    n_actions: int = 10
    sigma: float = 1.0
    harm_threshold: float = 4.0
    name: str = "linear-bandit"

    def __post_init__(self) -> None:
        positive_int(self.n_features, "n_features")
        positive_int(self.n_actions, "n_actions")
        if self.n_features > 20:
            raise ValueError("n_features: at most 20 (2**n_features theories are enumerated)")
        if not (np.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"sigma: expected a positive number, got {self.sigma!r}")

    def enumerate(self) -> np.ndarray:
        """Every weight vector: ``(2**n_features, n_features)`` of 0/1 as float64."""
        return np.array(list(product((0.0, 1.0), repeat=self.n_features)))

    def _theories(self, theories: np.ndarray) -> np.ndarray:
        th = as_float_array(theories, "theories", ndim=2)
        if th.shape[1] != self.n_features:
            raise ValueError(f"theories: expected shape (n_theories, {self.n_features}), got {th.shape}")
        if np.any((th != 0) & (th != 1)):
            raise ValueError("theories: weights must be 0 or 1")
        return th

    def _context(self, context: object) -> np.ndarray:
        f = as_float_array(context, "context (arm features)", ndim=2)
        if f.shape != (self.n_actions, self.n_features):
            raise ValueError(
                f"context (arm features): expected shape ({self.n_actions}, {self.n_features}), got {f.shape}"
            )
        return f

    def log_prior(self, theories: np.ndarray) -> np.ndarray:
        """Uniform prior over ``{0,1}^n_features``: ``(n_theories,)``."""
        th = self._theories(theories)
        if np.any((th != 0) & (th != 1)):
            raise ValueError("theories: weights must be 0 or 1")
        return np.full(th.shape[0], -self.n_features * np.log(2.0))

    def log_likelihood(self, theories: np.ndarray, data: BanditData) -> np.ndarray:
        """Gaussian log likelihood of all pulls: ``(n_theories,)``."""
        if not isinstance(data, BanditData):
            raise TypeError("data: expected a BanditData record of (features, rewards)")
        th = self._theories(theories)
        if data.features.shape[1] != self.n_features:
            raise ValueError(
                f"data.features: expected {self.n_features} columns, got {data.features.shape[1]}"
            )
        resid = data.rewards[None, :] - th @ data.features.T  # (n_theories, n_obs)
        n_obs = data.rewards.shape[0]
        const = n_obs * (np.log(self.sigma) + 0.5 * np.log(2.0 * np.pi))
        return -0.5 * np.sum(resid**2, axis=1) / self.sigma**2 - const

    def harm_prob(self, theories: np.ndarray, context: object, action: int | None = None) -> np.ndarray:
        """P(reward > threshold | arm, theory) = 1 - Phi((threshold - w . f_a) / sigma).

        Args:
            theories: ``(n_theories, n_features)``.
            context: arm features ``(n_actions, n_features)``.
            action: an arm index, or None for all arms.

        Returns:
            ``(n_theories, n_actions)``, or ``(n_theories,)`` for a single arm.
        """
        means = self._theories(theories) @ self._context(context).T
        harm = ndtr((means - self.harm_threshold) / self.sigma)
        return select_action(harm, action, self.n_actions)

    def describe(self, theory: np.ndarray) -> str:
        """``w = 0110...`` for a binary weight vector."""
        w = np.asarray(theory).astype(int).ravel()
        return "w = " + "".join(str(v) for v in w)
