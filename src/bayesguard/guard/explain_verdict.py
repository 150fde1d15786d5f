"""From the numbers of a check to readable verdicts: the reason, the witness, the suggestion for an ASK
and the witness's causal path (when the family can draw one)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..marginal.information import uncertainty_split
from ..marginal.questions import Question, all_pairs, next_question
from .evaluation import Evaluation, Prepared
from .rules import Rule
from .verdict import Decision, Verdict


def _name(guard: Any) -> str:
    return {
        Rule.NONE: "no guard (every action allowed)",
        Rule.ORACLE: "true theory's harm",
        Rule.POSTERIOR: "posterior-predictive harm",
        Rule.CAUTIOUS_IID: "harm of the most probable harmful theory",
        Rule.CAUTIOUS: f"max harm over plausible theories (alpha={guard.alpha:g})" if guard.alpha else "",
    }[guard.rule]


def reason(guard: Any, prep: Prepared, ev: Evaluation, why: str, a: int) -> str:
    """One line: why this decision, with the numbers that made it."""
    c, est = guard.threshold, float(ev.estimate[a])
    bound = (
        "" if prep.exact or guard.rule in (Rule.NONE, Rule.ORACLE) else f", posterior bound {ev.upper[a]:.3g}"
    )
    if why == "below":
        return f"{_name(guard)} {ev.rule_estimate[a]:.3g}{bound}: {est:.3g} <= C={c:g}"
    if why == "posterior":
        return (
            f"posterior-predictive harm {ev.mean[a]:.3g} > C={c:g} ({_name(guard)} {ev.rule_estimate[a]:.3g})"
        )
    if why == "disagree" and ev.low is not None:
        return (
            f"plausible theories disagree: their harm spans C={c:g} ({ev.low[a]:.3g} to {ev.high[a]:.3g}), "  # type: ignore[index]
            f"posterior-predictive {ev.mean[a]:.3g}"
        )
    if not prep.exact and ev.rule_estimate[a] <= c:
        return (
            f"theories agree, but the upper bound {ev.upper[a]:.3g} on the posterior-predictive harm "
            f"does not clear C={c:g}; more theories would decide"
        )
    return f"{_name(guard)} {ev.rule_estimate[a]:.3g}{bound}: {est:.3g} > C={c:g}"


def reward_question(guard: Any, context: Any, strategy: str = "eig") -> Question | None:
    """The next question for a guard over reward theories, or None for any other family.

    The candidate questions are the pairs of options in the context (``(n_actions, n_features)``
    features): "which of these two do you prefer?". They are scored over the whole posterior (every
    theory with positive weight) with the answer probabilities of the family's human model given its
    data, and the best one by ``strategy`` is returned
    (:func:`~bayesguard.marginal.questions.next_question`, ties broken by a generator seeded with the
    guard's seed, so the guard's own random stream is left alone). Its answer is a
    :class:`~bayesguard.theories.reward.Preferences` record of the two options, for ``guard.observe``.
    """
    from ..theories.reward import answer_probs
    from ..theories.reward._base import RewardFamilyBase

    fam = guard.family
    if not isinstance(fam, RewardFamilyBase):
        return None
    phi = np.asarray(context, dtype=np.float64)
    if phi.ndim != 2 or phi.shape[0] < 2:
        return None
    post = guard.posterior
    keep = np.isfinite(post.log_weights)
    pairs = all_pairs(phi.shape[0])
    probs = answer_probs(post.theories[keep], phi[pairs[:, 0]], phi[pairs[:, 1]], fam.model, given=fam.data)
    names = [_action_label(guard, a) for a in range(phi.shape[0])]
    rng = np.random.default_rng(guard.seed)
    return next_question(
        strategy, post.log_weights[keep], probs, pairs, rng, descriptions=names, features=phi
    )


def suggestion(guard: Any, prep: Prepared, ev: Evaluation, decision: np.ndarray, context: Any) -> str:
    """For a reward family, the next question to put to the human (:func:`reward_question`); otherwise
    the allowed action whose outcome best separates the most probable plausible theories."""
    question = reward_question(guard, context)
    if question is not None:
        return str(question)
    safe = [e for e in range(guard.n_actions) if decision[e] == Decision.ALLOW.value]
    if not safe:
        return "no action is safe to try; ask a person, or observe passively"
    top = np.argsort(-ev.cautious_probs, kind="stable")[: guard.suggest.top]
    w = ev.cautious_probs[top] / ev.cautious_probs[top].sum()
    fam = guard.family
    if hasattr(fam, "information_gain"):
        theories = guard.posterior.theories[prep.first[top]]
        n = guard.suggest.eig_samples
        gains = [fam.information_gain(theories, w, e, context, guard._rng, n_samples=n) for e in safe]
        what = "its outcome"
    else:  # the harm event itself is the observation: I(H; theory) under this action
        _, epistemic, _ = uncertainty_split(w, ev.harm_distinct[top])
        gains = [float(epistemic[e]) for e in safe]
        what = "whether it harms"
    best = int(np.argmax(gains))
    label = _action_label(guard, safe[best])
    return (
        f"try {label} first: expected information gain {gains[best]:.3f} bits ({what}) about which of the "
        f"{top.size} plausible theories holds"
    )


def _action_label(guard: Any, a: int) -> str:
    spec = getattr(guard.family, "spec", None)
    names = getattr(spec, "action_names", None)
    return str(names[a]) if names is not None else f"action {a}"


def build_verdicts(
    guard: Any,
    prep: Prepared,
    ev: Evaluation,
    decision: np.ndarray,
    why: np.ndarray,
    actions: list[int],
    context: Any,
    guaranteed: bool,
    assumptions: tuple[str, ...],
) -> list[Verdict]:
    """One :class:`Verdict` per action asked about."""
    post, fam = guard.posterior, guard.family
    note = "" if guaranteed else f" [not guaranteed: {assumptions[-1]}]"
    verdicts = []
    for a in actions:  # the actions asked about; every theory-level computation is batched upstream
        if a in ev.refused:
            verdicts.append(guard.error_verdict(a, ValueError(ev.refused[a])))
            continue
        d = Decision(str(decision[a]))
        w = int(ev.witness[a])
        row = int(prep.first[w]) if w >= 0 else None
        theory, source, explanation = None, None, None
        if row is not None:
            theory = str(fam.describe(post.theories[row]))
            source = str(post.source[row])
            if source == "human":
                theory = f"{post.labels[row]}: {theory}"
            if hasattr(fam, "explain"):
                explanation = fam.explain(post.theories[prep.first], ev.cautious_probs, w, a)
        verdicts.append(
            Verdict(
                decision=d,
                action=a,
                harm_estimate=float(ev.estimate[a]),
                posterior_harm=float(ev.mean[a]),
                threshold=guard.threshold,
                rule=guard.rule.value,
                params=guard.params,
                witness=row,
                witness_theory=theory,
                witness_prob=None if w < 0 else float(ev.cautious_probs[w]),
                reason=reason(guard, prep, ev, str(why[a]), a) + note,
                posterior_upper=float(ev.upper[a]),
                epistemic=float(ev.epistemic[a]),
                aleatoric=float(ev.aleatoric[a]),
                witness_source=source,
                suggestion=suggestion(guard, prep, ev, decision, context) if d is Decision.ASK else None,
                explanation=explanation,
                guaranteed=guaranteed,
                assumptions=assumptions,
            )
        )
    return verdicts
