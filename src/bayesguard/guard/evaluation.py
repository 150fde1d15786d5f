"""The numbers behind one check, batched over theories: per-theory harm, the cautious set over distinct
theories, the posterior-predictive harm with its bound, and the uncertainty split.

:class:`Prepared` holds what depends only on the posterior (rebuilt when it changes); :func:`evaluate`
turns a context into an :class:`Evaluation` for every action. The decision itself is
:func:`~bayesguard.guard.rules.decide`, applied by the guard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from scipy.special import logsumexp

from ..marginal.information import uncertainty_split
from ..marginal.montecarlo import monte_carlo_harm
from ..posterior import Posterior, SamplerError
from .rules import Rule, cautious_members, harm_estimate


class _HarmAdapter:
    """``family.harm_prob`` behind the ``harm(context, actions)`` interface of a harm model."""

    def __init__(self, family: Any, theories: np.ndarray) -> None:
        self.family, self.theories = family, theories

    def harm(self, context: Any, actions: list[int] | None = None) -> np.ndarray:
        h = np.asarray(self.family.harm_prob(self.theories, context), dtype=np.float64)
        n, a = self.theories.shape[0], self.family.n_actions
        if h.shape != (n, a):
            raise ValueError(
                f"family.harm_prob returned shape {h.shape}, expected (n_theories, n_actions) = ({n}, {a})"
            )
        return h if actions is None else h[:, actions]


def _keys(family: Any, theories: np.ndarray) -> np.ndarray:
    if hasattr(family, "keys"):
        return family.keys(theories)
    flat = np.ascontiguousarray(theories.reshape(theories.shape[0], -1))
    return flat.view(np.dtype((np.void, flat.dtype.itemsize * flat.shape[1]))).ravel()


@dataclass
class Prepared:
    """What a check needs that depends only on the posterior (and the family's data).

    Attributes:
        live: ``(m,)`` the posterior rows that can matter: positive posterior weight, or (theories from
            search and people) a finite score; theories the prior or the data rule out are left out.
        local: ``(u,)`` position in ``live`` of the first row of each distinct theory; ``first``: its
            posterior row; ``inverse``: ``(m,)`` the distinct theory of each live row.
        log_score: ``(u,)`` exact unnormalised log posterior of the distinct theories, or None (then the
            cautious set is weighted by the posterior's own probabilities).
        harm: harm model of the live rows; ``mc``: harm model of the Monte Carlo rows.
        mc_rows, mc_kind, mc_log_weights: the rows (positions in ``live``) averaged for the
            posterior-predictive harm.
        exact: the posterior is exact and so is every theory's harm (no Monte Carlo anywhere).
    """

    live: np.ndarray
    local: np.ndarray
    first: np.ndarray
    inverse: np.ndarray
    log_score: np.ndarray | None
    harm: Any
    mc: Any
    mc_rows: np.ndarray
    mc_kind: str
    mc_log_weights: np.ndarray | None
    exact: bool
    sampler: SamplerError = field(default_factory=SamplerError)


def prepare(family: Any, posterior: Posterior, n_mc: int, rng: np.random.Generator) -> Prepared:
    """Distinct theories, their scores and the harm models of a posterior."""
    th = posterior.theories
    drawn = posterior.from_posterior
    live = drawn & np.isfinite(posterior.log_weights)
    added = np.flatnonzero(~drawn)  # search finds and people's theories: kept unless ruled out
    if added.size:
        scorable = hasattr(family, "log_score")
        live[added] = np.isfinite(family.log_score(th[added])) if scorable else True
    live = np.flatnonzero(live)
    tl = th[live]
    _, local, inverse = np.unique(_keys(family, tl), return_index=True, return_inverse=True)
    order = np.argsort(local, kind="stable")  # distinct theories in listing order (ties="order")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    local, inverse = local[order], rank[inverse.ravel()]
    score = family.log_score(tl[local]) if hasattr(family, "log_score") else None
    harm = family.harm_model(tl) if hasattr(family, "harm_model") else _HarmAdapter(family, tl)
    rows = np.flatnonzero(drawn[live])
    harm_exact = bool(getattr(family, "harm_exact", True))
    kind, lw = posterior.kind, None
    post_lw = posterior.log_weights[live][rows]
    if posterior.is_exact and harm_exact:
        kind, lw = "exact", post_lw
    elif posterior.is_exact:  # exact weights, approximate per-theory harm: i.i.d. draws, fresh parameters
        p = np.exp(post_lw - logsumexp(post_lw))
        rows, kind = rng.choice(rows, size=n_mc, p=p), "samples"
    elif posterior.kind == "samples" and rows.size > n_mc:
        rows = np.sort(rng.choice(rows, size=n_mc, replace=False))
    elif posterior.kind == "weighted":
        lw = post_lw
    if kind == "exact" or not hasattr(family, "predictive_model"):
        mc = harm if kind == "exact" else _Rows(harm, rows)
    else:
        mc = family.predictive_model(tl[rows], rng)
    exact = posterior.is_exact and harm_exact
    return Prepared(live, local, live[local], inverse, score, harm, mc, rows, kind, lw, exact)


class _Rows:
    """The rows ``rows`` of a harm model."""

    def __init__(self, model: Any, rows: np.ndarray) -> None:
        self.model, self.rows = model, rows

    def harm(self, context: Any, actions: list[int] | None = None) -> np.ndarray:
        return self.model.harm(context, actions)[self.rows]


class Evaluation(NamedTuple):
    """Every action's numbers in one context: arrays ``(n_actions,)`` unless noted.

    ``refused`` maps actions whose harm the family refuses to compute (and why); their numbers are
    placeholders and the guard rejects them.
    """

    estimate: np.ndarray
    rule_estimate: np.ndarray
    mean: np.ndarray
    upper: np.ndarray
    low: np.ndarray | None
    high: np.ndarray | None
    witness: np.ndarray  # distinct-theory index per action (-1: none)
    cautious_probs: np.ndarray  # (u,)
    epistemic: np.ndarray
    aleatoric: np.ndarray
    harm_distinct: np.ndarray  # (u, n_actions)
    refused: dict[int, str]


def harm_columns(model: Any, context: Any, n_actions: int, refused: dict[int, str]) -> np.ndarray:
    """``model.harm(context)`` ``(n, A)``; when some actions are refused (a ValueError for them), only
    those fail: their columns are zero and ``refused[action]`` says why."""
    try:
        return model.harm(context)
    except ValueError as first:
        cols: dict[int, np.ndarray] = {}
        for a in range(n_actions):  # only after a refusal: which actions are refused
            try:
                cols[a] = model.harm(context, [a])[:, 0]
            except ValueError as exc:
                refused.setdefault(a, str(exc))
        if not cols or len(refused) == 0:
            raise first
        n = next(iter(cols.values())).size
        return np.stack([cols.get(a, np.zeros(n)) for a in range(n_actions)], axis=1)


def evaluate(guard: Any, prep: Prepared, context: Any) -> Evaluation:
    """The numbers of every action in ``context`` (see :class:`Evaluation`)."""
    post, fam, n_a = guard.posterior, guard.family, guard.family.n_actions
    refused: dict[int, str] = {}
    harm = harm_columns(prep.harm, context, n_a, refused)  # (m, A) over the live rows
    hd = harm[prep.local]
    if prep.log_score is not None:
        pc = np.exp(prep.log_score - logsumexp(prep.log_score))
    else:
        pc = np.bincount(prep.inverse, weights=post.probs[prep.live], minlength=prep.first.size)
        pc = pc / pc.sum()
    true_harm = None
    if guard.rule is Rule.ORACLE:
        true_harm = np.asarray(fam.harm_prob(np.asarray(guard.true_theory)[None], context), dtype=np.float64)[
            0
        ]
    tie_rank = guard._rng.permutation(pc.size) if guard.ties == "random" else None
    rule = harm_estimate(
        guard.rule, pc, hd, alpha=guard.alpha, true_harm=true_harm, ties=guard.ties, tie_rank=tie_rank
    )
    low = high = None
    if guard.rule is Rule.CAUTIOUS:
        inside = cautious_members(pc, guard.alpha, guard.ties, tie_rank)
        low, high = np.where(inside[:, None], hd, np.inf).min(axis=0), rule.estimate
    if prep.mc is prep.harm:
        values = harm[prep.mc_rows]
    else:
        values = harm_columns(prep.mc, context, n_a, refused)
    amortised = guard.bound.amortised
    if amortised is not None:
        mean = np.asarray(amortised.predict(context), dtype=np.float64)
        upper = np.clip(mean + amortised.error_margin, 0.0, 1.0)
    else:
        eps = prep.sampler.tv if prep.sampler.known else 0.0
        est = monte_carlo_harm(
            values,
            kind=prep.mc_kind,
            log_weights=prep.mc_log_weights,
            delta=guard.bound.delta,
            sampler_error=eps,
        )
        mean, upper = est.mean, est.upper
    if prep.mc_log_weights is not None:  # exact or weighted
        w = np.exp(prep.mc_log_weights - logsumexp(prep.mc_log_weights))
    else:
        w = np.full(values.shape[0], 1.0 / values.shape[0])
    _, epistemic, aleatoric = uncertainty_split(w, values)
    if guard.rule in (Rule.NONE, Rule.ORACLE) or (prep.exact and amortised is None):
        estimate = rule.estimate
    else:  # a sampled posterior: the rule over the sample, never below the bound on the predictive harm
        estimate = np.maximum(rule.estimate, upper)
    return Evaluation(
        estimate, rule.estimate, mean, upper, low, high, rule.witness, pc, epistemic, aleatoric, hd, refused
    )
