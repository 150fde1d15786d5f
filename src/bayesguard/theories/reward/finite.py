"""A finite set of candidate reward functions: the exact posterior is an enumeration.

Theories are the candidate weight vectors themselves, ``(n_theories, n_features)`` rows of
``candidates``, so every reward tool works on them unchanged. The posterior over the candidates is
exact: ``p(w_k | D) proportional to p(w_k) p(D | w_k)`` (with ``beta`` marginalised exactly when it is
uncertain), and :meth:`Guard.observe <bayesguard.guard.guard.Guard.observe>` keeps it exact as answers
arrive one by one.

Typical use::

    fam = FiniteRewardFamily(candidates, n_actions=3)
    guard = Guard(fam, exact_posterior(fam))    # or Guard(fam.conditioned(D), exact_posterior(fam, D))
    guard.check(option_features, action)
    guard.observe(Preferences(left, right, answer))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field

import numpy as np

from ..._validate import as_float_array, positive_int, probabilities
from ...posterior import Posterior
from ._base import RewardFamilyBase
from .feedback import FeedbackData
from .human import HumanModel


def _row_keys(w: np.ndarray) -> list[bytes]:
    rows = np.ascontiguousarray(w + 0.0)  # + 0.0 maps -0.0 to 0.0
    return [r.tobytes() for r in rows]


@dataclass(frozen=True, eq=False)
class FiniteRewardFamily(RewardFamilyBase):
    """An enumerable family of ``K`` candidate reward weight vectors.

    Attributes:
        candidates: ``(K, n_features)`` distinct weight vectors.
        prior: ``(K,)`` prior probabilities summing to 1 (uniform when None).
        n_actions: number of options in a guard context ``(n_actions, n_features)``.
        model: the :class:`~.human.HumanModel` of the person giving feedback.
        tolerance: regret ``tau >= 0`` above which an action counts as a harm (default 0).
        data: the :class:`~.feedback.FeedbackData` held (default none).
        feature_names: labels for :meth:`describe`; theory_names: ``K`` labels of the candidates.
    """

    candidates: np.ndarray
    prior: np.ndarray | None = None
    _: KW_ONLY
    n_actions: int
    model: HumanModel = field(default_factory=HumanModel)
    tolerance: float = 0.0
    data: FeedbackData = field(default_factory=FeedbackData)
    feature_names: tuple[str, ...] = ()
    theory_names: Sequence[str] = ()
    name: str = "finite-reward"
    _lookup: dict[bytes, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        cand = as_float_array(self.candidates, "candidates", ndim=2) + 0.0
        k, f = cand.shape
        if k == 0 or f == 0:
            raise ValueError(
                f"candidates: expected shape (K, n_features) with K, n_features >= 1, got {cand.shape}"
            )
        lookup = {key: i for i, key in enumerate(_row_keys(cand))}
        if len(lookup) != k:
            raise ValueError("candidates: the weight vectors must be distinct")
        if self.prior is None:
            prior = np.full(k, 1.0 / k)
        else:
            prior = probabilities(self.prior, "prior", ndim=1)
            if prior.shape != (k,) or not np.isclose(prior.sum(), 1.0, atol=1e-9):
                raise ValueError(f"prior: expected {k} probabilities summing to 1")
        positive_int(self.n_actions, "n_actions")
        if self.theory_names and len(self.theory_names) != k:
            raise ValueError(f"theory_names: expected {k} names, got {len(self.theory_names)}")
        prior = prior.copy()
        for arr in (cand, prior):
            arr.flags.writeable = False
        object.__setattr__(self, "candidates", cand)
        object.__setattr__(self, "prior", prior)
        object.__setattr__(self, "theory_names", tuple(self.theory_names))
        object.__setattr__(self, "_lookup", lookup)
        self._check_common()

    @property
    def n_features(self) -> int:  # type: ignore[override]
        return int(self.candidates.shape[1])

    @property
    def n_theories(self) -> int:
        return int(self.candidates.shape[0])

    def enumerate(self) -> np.ndarray:
        """Every candidate: ``(K, n_features)`` (a copy)."""
        return self.candidates.copy()

    def index(self, theories: object) -> np.ndarray:
        """Position of each theory among the candidates: ``(n_theories,)``, ``-1`` for a non-candidate."""
        return np.array([self._lookup.get(key, -1) for key in _row_keys(self._w(theories))], dtype=np.int64)

    def log_prior(self, theories: np.ndarray) -> np.ndarray:
        """``(n_theories,)`` log prior of each theory; ``-inf`` for a vector that is not a candidate."""
        idx = self.index(theories)
        out = np.full(idx.size, -np.inf)
        ok = idx >= 0
        with np.errstate(divide="ignore"):
            out[ok] = np.log(self.prior[idx[ok]])  # type: ignore[index]
        return out

    def posterior(self) -> Posterior:
        """The exact posterior over the candidates given the data held (a :class:`Posterior` of kind
        ``"exact"``, accepted by a guard over this family)."""
        theories = self.enumerate()
        return Posterior.from_log_weights(theories, self.log_score(theories), "exact", self.name)

    def describe(self, theory: np.ndarray) -> str:
        """The candidate's name (when given) and its weights."""
        text = super().describe(theory)
        if self.theory_names:
            i = int(self.index(np.asarray(theory, dtype=np.float64).reshape(1, -1))[0])
            if i >= 0:
                return f"{self.theory_names[i]}: {text}"
        return text

    def __repr__(self) -> str:
        return f"FiniteRewardFamily(K={self.n_theories}, f={self.n_features}, answers={len(self.data)})"
