"""What every reward family shares: rewards of options, the regret harm, the data it holds and the
conditioning that :meth:`~bayesguard.guard.guard.Guard.observe` uses.

A reward family is a :class:`~bayesguard.theories.base.TheoryFamily` whose theories are weight vectors
``w`` ``(n_theories, n_features)``. It holds the feedback seen so far (``data``), so that

- ``log_score(w) = log p(w) + log p(data | w)`` is the exact unnormalised log posterior;
- ``conditioned(new)`` is the family after ``new`` joins the data, and the guard reweights every theory
  by the exact change of its score;
- ``log_likelihood(w, new) = log p(new | w, data)`` is the predictive likelihood of new feedback. With a
  fixed ``beta`` it is ``log p(new | w)``; with a :class:`~.human.RationalityPrior` the answers share
  one ``beta``, so the data so far inform how much ``new`` says (summing it over batches is exact).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Any

import numpy as np

from ..._validate import as_float_array
from ..base import select_action
from .feedback import FeedbackData, as_feedback
from .human import HumanModel
from .likelihoods import log_likelihood, reward_weights


class RewardFamilyBase(ABC):
    """Shared methods; subclasses are frozen dataclasses with the fields used here and a ``log_prior``.

    Fields used: ``n_features``, ``n_actions``, ``model`` (:class:`~.human.HumanModel`), ``tolerance``
    (the regret ``tau`` above which an action is a harm), ``data`` (:class:`~.feedback.FeedbackData`),
    ``feature_names``.
    """

    n_features: int
    n_actions: int
    model: HumanModel
    tolerance: float
    data: FeedbackData
    feature_names: tuple[str, ...]

    def _check_common(self) -> None:
        if not isinstance(self.model, HumanModel):
            raise TypeError(f"model: expected a HumanModel, got {type(self.model).__name__}")
        tau = float(as_float_array(self.tolerance, "tolerance", ndim=0))
        if tau < 0:
            raise ValueError(f"tolerance: expected a regret tolerance >= 0, got {self.tolerance!r}")
        object.__setattr__(self, "tolerance", tau)
        data = as_feedback(self.data)
        if data.n_features not in (None, self.n_features):
            raise ValueError(
                f"data: expected feedback about {self.n_features} features, got {data.n_features}"
            )
        object.__setattr__(self, "data", data)
        names = tuple(self.feature_names)
        if names and len(names) != self.n_features:
            raise ValueError(f"feature_names: expected {self.n_features} names, got {len(names)}")
        object.__setattr__(self, "feature_names", names)

    @abstractmethod
    def log_prior(self, theories: np.ndarray) -> np.ndarray:
        """``(n_theories,)`` log prior of ``(n_theories, n_features)`` weights (each family defines it)."""

    def _w(self, theories: object) -> np.ndarray:
        return reward_weights(theories, self.n_features, "theories")

    def _new_data(self, data: Any) -> FeedbackData:
        new = as_feedback(data)
        if new.n_features not in (None, self.n_features):
            raise ValueError(
                f"data: expected feedback about {self.n_features} features, got {new.n_features}"
            )
        return new

    # ------------------------------------------------------------------ rewards and harm
    def reward(self, theories: object, features: object) -> np.ndarray:
        """``w . phi`` of each option under each theory: ``(n_theories, f), (n_options, f) ->
        (n_theories, n_options)``."""
        phi = as_float_array(features, "features", ndim=2)
        if phi.shape[1] != self.n_features:
            raise ValueError(f"features: expected shape (n_options, {self.n_features}), got {phi.shape}")
        return self._w(theories) @ phi.T

    def harm_prob(self, theories: np.ndarray, context: Any, action: int | None = None) -> np.ndarray:
        """The regret harm: 1 when the action wastes more than ``tolerance`` of reward under the theory.

        Args:
            theories: ``(n_theories, n_features)``.
            context: ``(n_actions, n_features)`` features of the options the agent could take.
            action: an option index, or None for all.

        Returns:
            ``(n_theories, n_actions)`` (or ``(n_theories,)``) in {0, 1}: 1 where
            ``max_b w . phi_b - w . phi_a > tolerance``. With ``tolerance = 0`` every action that is not
            optimal under ``w`` is a harm; the posterior-predictive harm is then the posterior
            probability that the action is not optimal (beyond ``tolerance``).
        """
        phi = as_float_array(context, "context (option features)", ndim=2)
        if phi.shape != (self.n_actions, self.n_features):
            raise ValueError(
                f"context (option features): expected shape ({self.n_actions}, {self.n_features}), "
                f"got {phi.shape}"
            )
        r = self._w(theories) @ phi.T
        harm = (r.max(axis=1, keepdims=True) - r > self.tolerance).astype(np.float64)
        return select_action(harm, action, self.n_actions)

    def describe(self, theory: np.ndarray) -> str:
        """``w = (speed +0.50, safety -1.20)`` (``w0``, ``w1``, ... without feature names)."""
        w = as_float_array(theory, "theory").ravel()
        if w.size != self.n_features:
            raise ValueError(f"theory: expected {self.n_features} weights, got {w.size}")
        names = self.feature_names or tuple(f"w{i}" for i in range(self.n_features))
        return "w = (" + ", ".join(f"{k} {v:+.3g}" for k, v in zip(names, w, strict=True)) + ")"

    # ------------------------------------------------------------------ data and conditioning
    def log_likelihood(self, theories: np.ndarray, data: Any) -> np.ndarray:
        """``log p(data | w, self.data)``: ``(n_theories,)`` (see the module docstring)."""
        return log_likelihood(self._w(theories), self._new_data(data), self.model, given=self.data)

    def log_density(self, theories: np.ndarray, data: Any = None) -> np.ndarray:
        """Unnormalised log posterior ``log p(w) + log p(self.data + data | w)``: ``(n_theories,)``."""
        w = self._w(theories)
        every = self.data.concat(self._new_data(data))
        lp = np.asarray(self.log_prior(w), dtype=np.float64)
        if every.is_empty:
            return lp
        out = np.full(w.shape[0], -np.inf)
        live = np.isfinite(lp)  # theories the prior rules out need no likelihood
        if live.any():
            out[live] = lp[live] + log_likelihood(w[live], every, self.model)
        return out

    def log_score(self, theories: np.ndarray) -> np.ndarray:
        """The exact unnormalised log posterior given the data held: ``(n_theories,)``."""
        return self.log_density(theories)

    def conditioned(self, data: Any) -> Any:
        """The family after ``data`` (a :class:`~.feedback.FeedbackData` or one record) joins its data."""
        return replace(self, data=self.data.concat(self._new_data(data)))  # type: ignore[type-var]
