"""The :class:`Guardrail`: a family, a posterior, a rule and a threshold that answer ``check``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import action_index, unit_interval
from ..posterior import Posterior
from ..theories.base import TheoryFamily
from .audit import read_audit_log, record
from .rules import Rule, harm_estimate
from .verdict import Decision, Verdict


class Guardrail:
    """Decide ALLOW / REJECT for an agent's proposed action under a posterior over theories.

    The guard fails closed: any exception raised while checking becomes a REJECT verdict whose reason
    names the error. Configuration errors (unknown rule, C or alpha out of range) raise at construction.

    Args:
        family: the theory family (gives ``harm_prob``, ``log_likelihood`` and ``describe``).
        posterior: the current posterior over the family's theories.
        rule: a :class:`Rule` or its name; default ``"cautious"``.
        threshold: the harm threshold C in [0, 1]; reject when the rule's estimate exceeds it.
        alpha: the cautious rule's alpha in (0, 1] (default 0.01).
        ties: how the cautious rule treats theories tied in probability at the edge of ``M_alpha``:
            ``"worst"`` (default, order-free and most cautious) or ``"order"``.
        true_theory: ``(1, ...)``-able theory, needed only by the evaluation-only ``oracle`` rule.
        audit_path: if given, every verdict is appended to this file as one JSON line.
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
        true_theory: Any = None,
        audit_path: str | Path | None = None,
    ) -> None:
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
        if ties not in ("worst", "order"):
            raise ValueError(f"ties: expected 'worst' or 'order', got {ties!r}")
        self.ties = ties
        if self.rule is Rule.ORACLE and true_theory is None:
            raise ValueError("true_theory: the oracle rule needs the true theory")
        self.true_theory = true_theory
        self.audit_path = Path(audit_path) if audit_path is not None else None
        self.history: list[Verdict] = []

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
        result = harm_estimate(self.rule, probs, harm, alpha=self.alpha, true_harm=true_harm, ties=self.ties)
        posterior_harm = probs @ harm  # (n_actions,)
        verdicts = []
        for a in actions:
            est = float(result.estimate[a])
            if not math.isfinite(est):
                raise FloatingPointError(f"harm estimate for action {a} is {est}")
            w = int(result.witness[a])
            rejected = est > self.threshold
            verdicts.append(
                Verdict(
                    decision=Decision.REJECT if rejected else Decision.ALLOW,
                    action=a,
                    harm_estimate=est,
                    posterior_harm=float(posterior_harm[a]),
                    threshold=self.threshold,
                    rule=self.rule.value,
                    params=self.params,
                    witness=None if w < 0 else w,
                    witness_theory=None if w < 0 else self.family.describe(theories[w]),
                    witness_prob=None if w < 0 else float(probs[w]),
                    reason=self._reason(rejected, est),
                )
            )
        return verdicts

    def _reason(self, rejected: bool, est: float) -> str:
        rel = ">" if rejected else "<="
        name = {
            Rule.NONE: "no guard (every action allowed)",
            Rule.ORACLE: "true theory's harm",
            Rule.POSTERIOR: "posterior-predictive harm",
            Rule.CAUTIOUS_IID: "harm of the most probable harmful theory",
            Rule.CAUTIOUS: f"max harm over plausible theories (alpha={self.alpha:g})"
            if self.alpha is not None
            else "",
        }[self.rule]
        return f"{name} {est:.3g} {rel} C={self.threshold:g}"

    def _error_verdict(self, action: Any, exc: Exception) -> Verdict:
        act = int(action) if isinstance(action, int | np.integer) else None
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


__all__ = ["Guardrail", "read_audit_log"]
