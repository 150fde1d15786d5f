"""Log-likelihoods of human feedback, batched over reward theories ``w`` ``(n_theories, n_features)``.

The reward of a thing with features ``phi`` is ``r = w . phi``. Every kind of feedback is a
Boltzmann-rational choice with rationality ``beta`` and mistake rate ``eps`` (:class:`~.human.HumanModel`;
formulas in :mod:`.choice`):

- **pairwise preferences**: Bradley-Terry with Davidson's "equal" answer, logits
  ``(beta d / 2, -beta d / 2, log nu)`` for (left, right, equal), ``d = r(left) - r(right)``;
- **rankings**: Plackett-Luce, ``prod_i exp(beta r_{o_i}) / sum_{j >= i} exp(beta r_{o_j})``;
- **demonstrations**: Bayesian IRL (Ramachandran & Amir, 2007),
  ``P(a | s, w) = exp(beta Q*_w(s,a)) / sum_b exp(beta Q*_w(s,b))``;
- **corrections and stop signals**: a choice among the agent's proposal and the alternatives
  (:class:`~.feedback.Corrections`).

When ``beta`` has a :class:`~.human.RationalityPrior` the likelihood is the exact mixture
``log sum_k p(beta_k) p(D | w, beta_k)``, computed with ``logsumexp``; the loop runs over the ``beta``
grid, never over theories. Everything is in log space and stays finite for large ``beta`` and large
features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logsumexp

from ..._validate import as_float_array
from .choice import (
    correction_terms,
    demonstration_terms,
    preference_answer_log_probs,
    preference_terms,
    ranking_terms,
)
from .feedback import Corrections, Demonstrations, FeedbackData, Preferences, Rankings, as_feedback
from .human import HumanModel


def _model(model: HumanModel | None) -> HumanModel:
    if model is None:
        return HumanModel()
    if not isinstance(model, HumanModel):
        raise TypeError(f"model: expected a HumanModel, got {type(model).__name__}")
    return model


def reward_weights(w: object, n_features: int | None = None, field: str = "w") -> np.ndarray:
    """Validate reward theories: ``(n_theories, n_features)`` float64."""
    arr = as_float_array(w, field, ndim=2)
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{field}: expected shape (n_theories, {n_features}), got {arr.shape}")
    return arr


def _by_beta(
    w: object, data: Any, model: HumanModel | None, grad: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Log-likelihood at each ``beta_k`` ``(n, k)``, and its gradient ``(n, k, f)`` when asked."""
    m = _model(model)
    fb = as_feedback(data)
    wt = reward_weights(w, fb.n_features)
    n, f = wt.shape
    betas = m.rationality.betas
    ll = np.zeros((n, betas.size))  # type: ignore[union-attr]
    g = np.zeros((n, betas.size, f)) if grad else None  # type: ignore[union-attr]
    q = q_grad = None
    if fb.demonstrations is not None:
        mdp = fb.demonstrations.mdp
        q, q_grad = mdp.q_values_and_grad(wt) if grad else (mdp.q_values(wt), None)
    for k, beta in enumerate(betas):  # type: ignore[arg-type]  # over the beta grid
        b = float(beta)
        parts = []
        if fb.preferences is not None:
            parts.append(preference_terms(wt, fb.preferences, b, m.indifference, m.eps, grad))
        if fb.rankings is not None:
            parts.append(ranking_terms(wt, fb.rankings, b, m.eps, grad))
        if fb.demonstrations is not None:
            parts.append(demonstration_terms(q, q_grad, fb.demonstrations, b, m.eps))  # type: ignore[arg-type]
        if fb.corrections is not None:
            parts.append(correction_terms(wt, fb.corrections, b, m.eps, grad))
        for lp, gr in parts:
            ll[:, k] += lp.sum(axis=1)
            if g is not None:
                g[:, k] += gr
    return ll, g


def log_likelihood_by_beta(w: object, data: Any, model: HumanModel | None = None) -> np.ndarray:
    """``log p(D | w, beta_k)`` for every theory and grid value: ``(n_theories, k)``."""
    return _by_beta(w, data, model, grad=False)[0]


def log_likelihood(w: object, data: Any, model: HumanModel | None = None, given: Any = None) -> np.ndarray:
    """``log p(D | w)`` with ``beta`` marginalised exactly: ``(n_theories,)``.

    Args:
        w: ``(n_theories, n_features)`` reward weights.
        data: a :class:`~.feedback.FeedbackData` or a single record.
        model: the :class:`~.human.HumanModel` (default: ``beta = 1``, no mistakes, no "equal").
        given: earlier feedback ``D0``: returns the predictive ``log p(D | w, D0)``, which differs from
            ``log p(D | w)`` only when ``beta`` is uncertain (then ``D0`` informs ``beta``). Summing it
            over successive batches gives ``log p(D0, D1, ... | w)`` exactly.
    """
    m = _model(model)
    ll = log_likelihood_by_beta(w, data, m)
    if m.beta_fixed:
        return ll[:, 0]
    lw = m.rationality.log_weights
    if given is None or as_feedback(given).is_empty:
        return logsumexp(lw + ll, axis=1)
    prior = lw + log_likelihood_by_beta(w, given, m)
    return logsumexp(prior + ll, axis=1) - logsumexp(prior, axis=1)


def grad_log_likelihood(w: object, data: Any, model: HumanModel | None = None) -> np.ndarray:
    """Gradient in ``w`` of :func:`log_likelihood` (``given=None``): ``(n_theories, n_features)``.

    Analytic: ``sum_k p(beta_k | w, D) grad log p(D | w, beta_k)``. The demonstration term uses the
    gradient of ``Q*`` (feature expectations of the greedy policy), exact wherever that policy is unique.
    """
    m = _model(model)
    ll, g = _by_beta(w, data, m, grad=True)
    post = np.exp(_log_beta_posterior(ll, m))
    return np.einsum("nk,nkf->nf", post, g)  # type: ignore[arg-type]


def _log_beta_posterior(ll: np.ndarray, model: HumanModel) -> np.ndarray:
    joint = model.rationality.log_weights + ll
    return joint - logsumexp(joint, axis=1, keepdims=True)


def beta_posterior(w: object, data: Any, model: HumanModel | None = None) -> np.ndarray:
    """``p(beta_k | w, D)`` for each theory: ``(n_theories, k)``, rows summing to 1."""
    m = _model(model)
    return np.exp(_log_beta_posterior(log_likelihood_by_beta(w, data, m), m))


def answer_log_probs(
    w: object, left: object, right: object, model: HumanModel | None = None, given: Any = None
) -> np.ndarray:
    """Log-probability of each answer (left, right, equal) to each query: ``(n_theories, q, 3)``.

    Args:
        w: ``(n_theories, f)``; left, right: ``(q, f)`` features of the options of each query.
        model: the human model (mistakes included; "equal" is ``-inf`` when ``indifference == 0``).
        given: feedback so far; with an uncertain ``beta`` each theory's ``beta`` is weighted by
            ``p(beta | w, given)``, so the result is the exact predictive ``log P(answer | w, given)``.
    """
    m = _model(model)
    lt = as_float_array(left, "left", ndim=2)
    rt = as_float_array(right, "right", ndim=2)
    if rt.shape != lt.shape:
        raise ValueError(f"right: expected shape {lt.shape} like left, got {rt.shape}")
    wt = reward_weights(w, lt.shape[1])
    diff = lt - rt
    prior = m.rationality
    if given is None or as_feedback(given).is_empty:
        log_r = np.broadcast_to(prior.log_weights, (wt.shape[0], prior.size))
    else:
        log_r = _log_beta_posterior(log_likelihood_by_beta(wt, given, m), m)
    per_beta = [
        log_r[:, k, None, None] + preference_answer_log_probs(wt, diff, float(b), m.indifference, m.eps)
        for k, b in enumerate(prior.betas)  # type: ignore[arg-type]
    ]
    return logsumexp(np.stack(per_beta), axis=0)


def answer_probs(
    w: object, left: object, right: object, model: HumanModel | None = None, given: Any = None
) -> np.ndarray:
    """``P(answer | theory, query)`` for answers (left, right, equal): ``(n_theories, q, 3)``, each
    ``[t, q, :]`` summing to 1 (see :func:`answer_log_probs`)."""
    return np.exp(answer_log_probs(w, left, right, model, given))


def preference_log_likelihood(w: object, prefs: Preferences, model: HumanModel | None = None) -> np.ndarray:
    """``log p(preferences | w)``: ``(n_theories,)``."""
    return log_likelihood(w, FeedbackData(preferences=prefs), model)


def ranking_log_likelihood(w: object, rankings: Rankings, model: HumanModel | None = None) -> np.ndarray:
    """``log p(rankings | w)`` under Plackett-Luce: ``(n_theories,)``."""
    return log_likelihood(w, FeedbackData(rankings=rankings), model)


def demonstration_log_likelihood(
    w: object, demos: Demonstrations, model: HumanModel | None = None
) -> np.ndarray:
    """``log p(demonstrations | w)`` (Bayesian IRL): ``(n_theories,)``."""
    return log_likelihood(w, FeedbackData(demonstrations=demos), model)


def correction_log_likelihood(w: object, corr: Corrections, model: HumanModel | None = None) -> np.ndarray:
    """``log p(corrections and stops | w)``: ``(n_theories,)``."""
    return log_likelihood(w, FeedbackData(corrections=corr), model)
