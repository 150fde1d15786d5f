"""The Boltzmann choice models of each feedback kind at one rationality ``beta``, in log space.

Each ``*_terms`` function returns the per-answer log-probabilities ``(n_theories, m)`` (mistakes
included) and, when asked, the gradient of their sum in ``w`` ``(n_theories, n_features)``. The public,
``beta``-marginalised likelihoods are in :mod:`.likelihoods`.

With a mistake rate ``eps`` the probability of an answer ``y`` is ``(1 - eps) P(y) + eps u(y)``, where
``u(y)`` is the probability of ``y`` under uniformly random answering; in log space
``logaddexp(log1p(-eps) + log P(y), log(eps) + log u(y))``. Its gradient is that of ``log P(y)`` times
``rho = (1 - eps) P(y) / ((1 - eps) P(y) + eps u(y))``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, logsumexp

from .feedback import Corrections, Demonstrations, Preferences, Rankings

Terms = tuple[np.ndarray, np.ndarray | None]


def with_mistakes(log_p: np.ndarray, log_u: np.ndarray | float, eps: float) -> np.ndarray:
    """``log((1 - eps) exp(log_p) + eps exp(log_u))``, stable for any ``log_p`` (``-inf`` allowed)."""
    if eps == 0.0:
        return log_p
    if eps == 1.0:
        return np.broadcast_to(log_u, np.shape(log_p)).astype(np.float64)
    return np.logaddexp(np.log1p(-eps) + log_p, np.log(eps) + log_u)


def _rho(log_p: np.ndarray, log_mixed: np.ndarray, eps: float) -> np.ndarray:
    """``(1 - eps) P / P_eps``: how much of the answer's probability the rational part explains."""
    if eps == 0.0:
        return np.ones_like(log_p)
    if eps == 1.0:
        return np.zeros_like(log_p)
    live = np.isfinite(log_mixed)
    return np.where(live, np.exp(np.log1p(-eps) + log_p - np.where(live, log_mixed, 0.0)), 0.0)


# ---------------------------------------------------------------------------------------- preferences
def preference_log_probs(w: np.ndarray, diff: np.ndarray, beta: float, nu: float) -> np.ndarray:
    """Davidson answer log-probabilities without mistakes: ``(n, f), (q, f) -> (n, q, 3)``.

    ``diff = phi(left) - phi(right)``; with ``d = w . diff`` the logits of (left, right, equal) are
    ``(beta d / 2, -beta d / 2, log nu)`` (``nu = 0``: "equal" has probability 0).
    """
    d = w @ diff.T  # (n, q)
    z0, z1 = 0.5 * beta * d, -0.5 * beta * d
    if nu > 0:
        z2 = np.full_like(d, np.log(nu))
        norm = np.logaddexp(np.logaddexp(z0, z1), z2)
    else:
        z2 = np.full_like(d, -np.inf)
        norm = np.logaddexp(z0, z1)
    return np.stack([z0 - norm, z1 - norm, z2 - norm], axis=-1)


def preference_answer_log_probs(
    w: np.ndarray, diff: np.ndarray, beta: float, nu: float, eps: float
) -> np.ndarray:
    """Answer log-probabilities with mistakes over the answer set ({left, right}, plus equal when
    ``nu > 0``): ``(n, q, 3)``; "equal" stays ``-inf`` when it is not an answer."""
    lp = preference_log_probs(w, diff, beta, nu)
    n_answers = 3 if nu > 0 else 2
    out = with_mistakes(lp, -np.log(n_answers), eps)
    if nu == 0:
        out = out.copy()
        out[..., 2] = -np.inf
    return out


def preference_terms(
    w: np.ndarray, prefs: Preferences, beta: float, nu: float, eps: float, grad: bool
) -> Terms:
    """Per-answer log-likelihoods of pairwise preferences ``(n, m)`` and their summed gradient."""
    if nu == 0 and np.any(prefs.answer == 2):
        raise ValueError(
            "Preferences.answer: 'equal' answers (2) need a human model with an equal answer "
            "(HumanModel.indifference > 0)"
        )
    diff = prefs.left - prefs.right
    lp = preference_log_probs(w, diff, beta, nu)  # (n, m, 3)
    y = prefs.answer
    cols = np.arange(y.size)
    log_p = lp[:, cols, y]
    n_answers = 3 if nu > 0 else 2
    log_mixed = with_mistakes(log_p, -np.log(n_answers), eps)
    if not grad:
        return log_mixed, None
    p = np.exp(lp)
    c = np.array([0.5, -0.5, 0.0])[y]  # d z_y / d(beta d)
    coef = beta * _rho(log_p, log_mixed, eps) * (c - 0.5 * (p[..., 0] - p[..., 1]))  # (n, m)
    return log_mixed, coef @ diff


# ---------------------------------------------------------------------------------------- choices
def choice_terms(
    w: np.ndarray, options: np.ndarray, event: np.ndarray, beta: float, eps: float, grad: bool
) -> Terms:
    """Log-probability that a Boltzmann choice among ``K`` options falls in ``event``.

    Args:
        w: ``(n, f)``; options: ``(m, K, f)``; event: ``(m, K)`` bool, the options that make up the
            observed answer at each point (one option, or several for a bare stop).

    Returns:
        ``(n, m)`` log-probabilities ``log sum_{j in event} softmax(beta r)_j`` with mistakes (a mistake
        picks one of the ``K`` options uniformly), and the summed gradient ``(n, f)``:
        ``beta rho (E_{p | event}[phi] - E_p[phi])``.
    """
    z = beta * np.einsum("nf,mkf->nmk", w, options)
    lp = z - logsumexp(z, axis=-1, keepdims=True)
    masked = np.where(event, lp, -np.inf)
    log_p = logsumexp(masked, axis=-1)
    k = options.shape[1]
    log_mixed = with_mistakes(log_p, np.log(event.sum(axis=1) / k), eps)
    if not grad:
        return log_mixed, None
    p = np.exp(lp)
    p_event = np.exp(masked - log_p[..., None])
    coef = beta * _rho(log_p, log_mixed, eps)[..., None] * (p_event - p)  # (n, m, K)
    return log_mixed, np.einsum("nmk,mkf->nf", coef, options)


def correction_terms(w: np.ndarray, corr: Corrections, beta: float, eps: float, grad: bool) -> Terms:
    """Corrections and stop signals as Boltzmann choices (see :class:`~.feedback.Corrections`)."""
    k = corr.options.shape[1]
    event = corr.chosen[:, None] == np.arange(k)[None, :]
    event[corr.chosen == -1, 1:] = True  # a bare stop: any option but the proposal
    return choice_terms(w, corr.options, event, beta, eps, grad)


def ranking_terms(w: np.ndarray, rankings: Rankings, beta: float, eps: float, grad: bool) -> Terms:
    """Plackett-Luce: ``P(order) = prod_i exp(beta r_{o_i}) / sum_{j >= i} exp(beta r_{o_j})``.

    A mistake answers with a uniformly random permutation (probability ``1 / L!``).
    """
    m, n_items, _ = rankings.items.shape
    x = rankings.items[np.arange(m)[:, None], rankings.order]  # (m, L, f), best first
    z = beta * np.einsum("nf,mlf->nml", w, x)
    suffix = np.flip(np.logaddexp.accumulate(np.flip(z, axis=-1), axis=-1), axis=-1)  # lse_{j >= i}
    log_p = np.sum(z - suffix, axis=-1)
    log_mixed = with_mistakes(log_p, -gammaln(n_items + 1), eps)
    if not grad:
        return log_mixed, None
    upper = np.triu(np.ones((n_items, n_items), dtype=bool))  # j >= i
    stage = np.exp(np.where(upper, z[..., None, :] - suffix[..., :, None], -np.inf))  # (n, m, i, j)
    coef = beta * _rho(log_p, log_mixed, eps)[..., None] * (1.0 - stage.sum(axis=-2))  # (n, m, L)
    return log_mixed, np.einsum("nml,mlf->nf", coef, x)


def demonstration_terms(
    q: np.ndarray, q_grad: np.ndarray | None, demos: Demonstrations, beta: float, eps: float
) -> Terms:
    """Bayesian IRL: ``P(a | s) = exp(beta Q*(s,a)) / sum_b exp(beta Q*(s,b))``.

    Args:
        q: ``(n, S, A)`` optimal action values; q_grad: ``(n, S, A, f)`` their gradient, or None.

    A mistake takes a uniformly random action (probability ``1 / A``).
    """
    z = beta * q[:, demos.states, :]  # (n, m, A)
    lp = z - logsumexp(z, axis=-1, keepdims=True)
    log_p = lp[:, np.arange(demos.states.size), demos.actions]
    log_mixed = with_mistakes(log_p, -np.log(q.shape[2]), eps)
    if q_grad is None:
        return log_mixed, None
    onehot = np.zeros(lp.shape[1:])
    onehot[np.arange(demos.states.size), demos.actions] = 1.0
    coef = beta * _rho(log_p, log_mixed, eps)[..., None] * (onehot - np.exp(lp))  # (n, m, A)
    at_state = np.zeros((demos.states.size, q.shape[1]))
    at_state[np.arange(demos.states.size), demos.states] = 1.0
    per_state = np.einsum("nma,ms->nsa", coef, at_state)
    return log_mixed, np.einsum("nsa,nsaf->nf", per_state, q_grad)
