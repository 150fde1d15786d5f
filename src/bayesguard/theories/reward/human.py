"""How a human answers: the rationality ``beta`` (fixed, or a finite prior over it), the mistake rate
``eps`` and the Davidson indifference ``nu`` of the "equal" answer.

Every feedback likelihood of :mod:`.likelihoods` is a Boltzmann-rational choice: among the answers the
human could give, answer ``y`` has probability ``proportional to exp(beta * u_y(w))`` for a utility
``u_y`` that is linear in the reward weights ``w``. ``beta = 0`` is a human who answers at random,
``beta -> inf`` one who always picks the best answer. With probability ``eps`` the human makes a
mistake and answers uniformly at random over the answers the query admits, so the answer probability
is ``(1 - eps) * P_beta(y | w) + eps / n_answers``.

When ``beta`` is uncertain it is given a :class:`RationalityPrior`, a finite grid of values with prior
weights. One human answers every question with one ``beta``, so the likelihood of a data set ``D`` is
the exact mixture ``p(D | w) = sum_k p(beta_k) p(D | w, beta_k)`` (it does not factorise over answers:
the answers so far tell about ``beta``, and so about how much the next answer says about ``w``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..._validate import as_float_array, probabilities, unit_interval


@dataclass(frozen=True, eq=False)
class RationalityPrior:
    """A finite prior over the rationality ``beta``.

    Attributes:
        betas: ``(k,)`` distinct non-negative, finite values of ``beta``; None gives the default grid
            :meth:`log_uniform` ``(0.1, 10, 9)``.
        weights: ``(k,)`` prior probabilities summing to 1; None gives equal weights.
    """

    betas: np.ndarray | None = None
    weights: np.ndarray | None = None
    _log_weights: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        betas = np.geomspace(0.1, 10.0, 9) if self.betas is None else self.betas
        b = as_float_array(betas, "betas", ndim=1)
        if b.size == 0 or np.any(b < 0) or np.unique(b).size != b.size:
            raise ValueError(f"betas: expected distinct non-negative numbers (k,), got {b.tolist()}")
        if self.weights is None:
            p = np.full(b.size, 1.0 / b.size)
        else:
            p = probabilities(self.weights, "weights", ndim=1)
            if p.shape != b.shape or not np.isclose(p.sum(), 1.0, atol=1e-9):
                raise ValueError(f"weights: expected {b.size} probabilities summing to 1, got {p.tolist()}")
        b, p = b.copy(), p.copy()
        for arr in (b, p):
            arr.flags.writeable = False
        object.__setattr__(self, "betas", b)
        object.__setattr__(self, "weights", p)
        with np.errstate(divide="ignore"):
            object.__setattr__(self, "_log_weights", np.log(p))

    @classmethod
    def log_uniform(cls, low: float = 0.1, high: float = 10.0, n: int = 9) -> RationalityPrior:
        """``n`` values evenly spaced in ``log beta`` on ``[low, high]``, equal weights."""
        if not (math.isfinite(low) and math.isfinite(high) and 0 < low < high):
            raise ValueError(f"low, high: expected 0 < low < high, got {low!r}, {high!r}")
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"n: expected an integer >= 2, got {n!r}")
        return cls(np.geomspace(low, high, n))

    @classmethod
    def fixed(cls, beta: float) -> RationalityPrior:
        """A point mass at ``beta``."""
        return cls(np.array([beta], dtype=np.float64))

    @property
    def log_weights(self) -> np.ndarray:
        """``(k,)`` log prior weights (``-inf`` for zero weight)."""
        return self._log_weights

    @property
    def size(self) -> int:
        return int(self.betas.size)  # type: ignore[union-attr]

    def __repr__(self) -> str:
        b = ", ".join(f"{v:.3g}" for v in self.betas)  # type: ignore[union-attr]
        return f"RationalityPrior(betas=[{b}])"


@dataclass(frozen=True)
class HumanModel:
    """The model of the human who gives feedback (shared by every kind of feedback).

    Attributes:
        beta: the rationality, a non-negative number or a :class:`RationalityPrior` (default 1.0).
        eps: the mistake rate in [0, 1]: with probability ``eps`` the answer is uniformly random over the
            answers the query admits (default 0).
        indifference: Davidson's ``nu >= 0`` for the "equal" answer of a pairwise preference (default 0:
            no equal answer; the answer set is {left, right}). With ``nu > 0``, given a reward difference
            ``d = r(left) - r(right)``, the three answers have logits ``(beta*d/2, -beta*d/2, log nu)``:
            ``P(left) : P(right) : P(equal) = e^{beta d/2} : e^{-beta d/2} : nu``. At ``d = 0`` the human
            says "equal" with probability ``nu / (2 + nu)``; as ``|beta d|`` grows "equal" vanishes
            like ``nu e^{-beta |d| / 2}`` (Davidson, 1970).
    """

    beta: float | RationalityPrior = 1.0
    eps: float = 0.0
    indifference: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.beta, RationalityPrior):
            if isinstance(self.beta, bool) or not isinstance(self.beta, int | float | np.number):
                raise TypeError(f"beta: expected a number >= 0 or a RationalityPrior, got {self.beta!r}")
            if not (math.isfinite(float(self.beta)) and float(self.beta) >= 0):
                raise ValueError(f"beta: expected a finite number >= 0, got {self.beta!r}")
            object.__setattr__(self, "beta", float(self.beta))
        object.__setattr__(self, "eps", unit_interval(self.eps, "eps"))
        nu = self.indifference
        if isinstance(nu, bool) or not isinstance(nu, int | float | np.number):
            raise TypeError(f"indifference: expected a number >= 0, got {nu!r}")
        if not (math.isfinite(float(nu)) and float(nu) >= 0):
            raise ValueError(f"indifference: expected a finite number >= 0, got {nu!r}")
        object.__setattr__(self, "indifference", float(nu))

    @property
    def rationality(self) -> RationalityPrior:
        """``beta`` as a :class:`RationalityPrior` (a point mass when ``beta`` is fixed)."""
        if isinstance(self.beta, RationalityPrior):
            return self.beta
        return RationalityPrior.fixed(self.beta)

    @property
    def beta_fixed(self) -> bool:
        """True when ``beta`` is one known value (then the likelihood factorises over answers)."""
        return not isinstance(self.beta, RationalityPrior) or self.beta.size == 1

    @property
    def n_preference_answers(self) -> int:
        """3 when "equal" is an answer (``indifference > 0``), else 2."""
        return 3 if self.indifference > 0 else 2
