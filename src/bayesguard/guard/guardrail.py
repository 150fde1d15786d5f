"""The :class:`Guardrail`: a family, a posterior, a rule and a threshold that answer ``check``."""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import action_index, positive_int, unit_interval
from ..posterior import Posterior
from ..theories.base import TheoryFamily
from .audit import read_audit_log, record
from .rules import Rule, cautious_members, check_ties, decide, harm_estimate
from .verdict import Decision, Verdict

#: Verdicts kept in :attr:`Guardrail.history` by default (the audit log keeps all of them).
HISTORY_SIZE = 1000


def rule_guarantee(rule: Rule, posterior: Posterior, alpha: float | None) -> tuple[bool, tuple[str, ...]]:
    """Whether a rule's estimate over ``posterior`` carries a stated guarantee, and what it assumes.

    The guard's number is exact (given the family and prior) only over an exact posterior; over a
    sampled one the rule is applied to the sample as if it were the posterior, with no finite-sample
    bound, so it is never called guaranteed here (the causal guard adds Monte Carlo bounds).
    """
    if rule is Rule.NONE:
        return False, ("no guard: every action is allowed",)
    if rule is Rule.ORACLE:
        return True, ("the true theory is known (evaluation only)",)
    if not posterior.is_exact:
        return False, (
            f"the rule is applied to a {posterior.kind} posterior from {posterior.method} as if it were the "
            f"posterior, with no finite-sample bound ({posterior.sampler_error})",
        )
    family = "the true theory is in the family and the prior gives it mass p(t*) > 0"
    if rule is Rule.POSTERIOR:
        return True, (family, "the estimate is the exact posterior-predictive harm, not a bound on the truth")
    if rule is Rule.CAUTIOUS:
        return True, (
            family,
            f"with probability >= 1 - alpha/p(t*) (alpha={alpha:g}) over the data, at every step, the "
            "estimate is at least the true theory's harm (Ville's inequality)",
        )
    return False, ("cautious-iid: no finite-sample guarantee for non-i.i.d. data",)


class Guardrail:
    """Decide ALLOW / REJECT / ASK for an agent's proposed action under a posterior over theories.

    The guard fails closed: any exception raised while checking becomes a REJECT verdict whose reason
    names the error. Configuration errors raise at construction, naming the argument.

    Args:
        family: the theory family (gives ``harm_prob``, ``log_likelihood`` and ``describe``).
        posterior: the current posterior over the family's theories; when it names a family, it must be
            this one.
        rule: a :class:`Rule` or its name; default ``"cautious"``.
        threshold: the harm threshold C in [0, 1]; an action is allowed only when the rule's estimate
            is at most C.
        alpha: the cautious rule's alpha in (0, 1] (default 0.01).
        ties: how the cautious rule treats theories tied in probability at the edge of ``M_alpha``:
            ``"worst"`` (default, order-free and most cautious), ``"order"`` (the family's listing
            order) or ``"random"`` (a fresh random tie-break per check, from ``seed``).
        ask: answer ASK when plausible theories disagree (default True); False makes those REJECT.
        seed: seed of the random tie-break (a non-negative integer).
        true_theory: ``(1, ...)``-able theory, needed only by the evaluation-only ``oracle`` rule.
        audit_path: if given, every verdict is appended to this JSON-lines file (flushed and fsynced
            before it is returned).
        history_size: how many recent verdicts :attr:`history` keeps.
    """

    def __init__(
        self,
        family: TheoryFamily,
        posterior: Posterior,
        rule: str | Rule = Rule.CAUTIOUS,
        threshold: float = 0.01,
        *,
        alpha: float | None = None,
        ties: str = "worst",
        ask: bool = True,
        seed: int = 0,
        true_theory: Any = None,
        audit_path: str | Path | None = None,
        history_size: int = HISTORY_SIZE,
    ) -> None:
        if family is None or not isinstance(family, TheoryFamily):
            raise TypeError(
                "family: expected a TheoryFamily (log_prior, log_likelihood, harm_prob, describe, name, "
                f"n_actions), got {type(family).__name__}"
            )
        if not isinstance(posterior, Posterior):
            raise TypeError(f"posterior: expected a Posterior, got {type(posterior).__name__}")
        if posterior.family is not None and posterior.family != family.name:
            raise ValueError(
                f"posterior: it belongs to family {posterior.family!r}, but the guard's family is "
                f"{family.name!r}"
            )
        self.family = family
        self.posterior = posterior
        self.rule = Rule.parse(rule)
        self.threshold = unit_interval(threshold, "threshold")
        if self.rule is Rule.CAUTIOUS:
            self.alpha: float | None = unit_interval(
                0.01 if alpha is None else alpha, "alpha", open_left=True
            )
        else:
            self.alpha = None
        self.ties = check_ties(ties, np.zeros(0, np.int64))
        if not isinstance(ask, bool):
            raise TypeError(f"ask: expected True or False, got {ask!r}")
        self.ask = ask
        self.seed = positive_int(seed, "seed", minimum=0)
        self._rng = np.random.default_rng(self.seed)
        if self.rule is Rule.ORACLE and true_theory is None:
            raise ValueError("true_theory: the oracle rule needs the true theory")
        self.true_theory = true_theory
        if audit_path is not None and not isinstance(audit_path, str | Path):
            raise TypeError(f"audit_path: expected a file path (str or Path) or None, got {audit_path!r}")
        self.audit_path = Path(audit_path) if audit_path is not None else None
        self.history: deque[Verdict] = deque(maxlen=positive_int(history_size, "history_size"))

    @property
    def params(self) -> dict[str, Any]:
        return {} if self.alpha is None else {"alpha": self.alpha, "ties": self.ties}

    def observe(self, data: Any) -> None:
        """Condition the posterior on new data (exact for enumerated posteriors)."""
        self.posterior = self.posterior.update(self.family, data)

    def check(self, context: Any, action: int) -> Verdict:
        """Verdict on ``action`` in ``context``; never raises, never ALLOWs after an error."""
        try:
            action = action_index(action, self.family.n_actions)
            return self._record(self._check_all(context, action)[0])
        except Exception as exc:  # fail closed
            return self._record(self._error_verdict(action, exc))

    def check_all(self, context: Any) -> list[Verdict]:
        """Verdicts for every action, from one batched evaluation of the harm model."""
        try:
            verdicts = self._check_all(context, None)
        except Exception as exc:  # fail closed
            verdicts = [self._error_verdict(a, exc) for a in range(self.family.n_actions)]
        return [self._record(v) for v in verdicts]

    def fail_closed(self, action: int | None, exc: Exception) -> Verdict:
        """Record and return the REJECT verdict for an error raised around the guard (e.g. by a wrapper)."""
        return self._record(self._error_verdict(action, exc))

    def allowed_actions(self, context: Any) -> np.ndarray:
        """``(n_actions,)`` booleans: True where the verdict is ALLOW."""
        return np.array([v.allowed for v in self.check_all(context)])

    # ------------------------------------------------------------------ internals
    def _check_all(self, context: Any, action: int | None) -> list[Verdict]:
        n_actions = self.family.n_actions
        actions = list(range(n_actions)) if action is None else [action_index(action, n_actions)]
        theories = self.posterior.theories
        harm = np.asarray(self.family.harm_prob(theories, context), dtype=np.float64)
        if harm.shape != (self.posterior.n_theories, n_actions):
            raise ValueError(
                f"family.harm_prob returned shape {harm.shape}, expected "
                f"(n_theories, n_actions) = ({self.posterior.n_theories}, {n_actions})"
            )
        probs = self.posterior.probs
        true_harm = None
        if self.rule is Rule.ORACLE:
            true_th = np.asarray(self.true_theory)[None]
            true_harm = np.asarray(self.family.harm_prob(true_th, context), dtype=np.float64)[0]
        tie_rank = self._rng.permutation(probs.size) if self.ties == "random" else None
        result = harm_estimate(
            self.rule, probs, harm, alpha=self.alpha, true_harm=true_harm, ties=self.ties, tie_rank=tie_rank
        )
        posterior_harm = probs @ harm  # (n_actions,)
        low = high = None
        if self.rule is Rule.CAUTIOUS:
            inside = cautious_members(probs, self.alpha, self.ties, tie_rank)  # type: ignore[arg-type]
            low = np.where(inside[:, None], harm, np.inf).min(axis=0)
            high = result.estimate
        if not np.all(np.isfinite(result.estimate)):
            bad = int(np.flatnonzero(~np.isfinite(result.estimate))[0])
            raise FloatingPointError(f"harm estimate for action {bad} is {result.estimate[bad]}")
        decisions = decide(
            result.estimate,
            self.threshold,
            posterior=None if self.rule in (Rule.NONE, Rule.ORACLE) else posterior_harm,
            member_low=low,
            member_high=high,
            ask=self.ask,
        )
        guaranteed, assumptions = rule_guarantee(self.rule, self.posterior, self.alpha)
        verdicts = []
        for a in actions:  # the actions asked about; every theory-level computation above is batched
            est = float(result.estimate[a])
            w = int(result.witness[a])
            verdicts.append(
                Verdict(
                    decision=Decision(str(decisions.decision[a])),
                    action=a,
                    harm_estimate=est,
                    posterior_harm=float(posterior_harm[a]),
                    threshold=self.threshold,
                    rule=self.rule.value,
                    params=self.params,
                    witness=None if w < 0 else w,
                    witness_theory=None if w < 0 else str(self.family.describe(theories[w])),
                    witness_prob=None if w < 0 else float(probs[w]),
                    reason=self._reason(str(decisions.why[a]), est, low, a),
                    guaranteed=guaranteed,
                    assumptions=assumptions,
                )
            )
        return verdicts

    def _reason(self, why: str, est: float, low: np.ndarray | None, a: int) -> str:
        name = {
            Rule.NONE: "no guard (every action allowed)",
            Rule.ORACLE: "true theory's harm",
            Rule.POSTERIOR: "posterior-predictive harm",
            Rule.CAUTIOUS_IID: "harm of the most probable harmful theory",
            Rule.CAUTIOUS: f"max harm over plausible theories (alpha={self.alpha:g})"
            if self.alpha is not None
            else "",
        }[self.rule]
        c = self.threshold
        if why == "below":
            return f"{name} {est:.3g} <= C={c:g}"
        if why == "posterior":
            return f"{name} {est:.3g} > C={c:g}, and the posterior-predictive harm exceeds C too"
        if why == "disagree" and low is not None:
            return f"plausible theories disagree: their harm spans C={c:g} ({low[a]:.3g} to {est:.3g})"
        return f"{name} {est:.3g} > C={c:g}"

    def _error_verdict(self, action: Any, exc: Exception) -> Verdict:
        act = int(action) if isinstance(action, int | np.integer) and not isinstance(action, bool) else None
        return Verdict(
            decision=Decision.REJECT,
            action=act,
            harm_estimate=math.nan,
            posterior_harm=math.nan,
            threshold=self.threshold,
            rule=self.rule.value,
            params=self.params,
            reason=f"guard error, failing closed: {type(exc).__name__}: {exc}",
        )

    def _record(self, verdict: Verdict) -> Verdict:
        verdict = record(verdict, self.audit_path, self._error_verdict)
        self.history.append(verdict)
        return verdict


__all__ = ["Guardrail", "read_audit_log", "rule_guarantee"]
