"""The :class:`Verdict` record: what the guard decided about one action, and why."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np


class Decision(StrEnum):
    """ALLOW the action, REJECT it, or ASK a human / gather more information first."""

    ALLOW = "ALLOW"
    REJECT = "REJECT"
    ASK = "ASK"


@dataclass(frozen=True)
class Verdict:
    """An immutable record of one guardrail decision.

    Attributes:
        decision: ALLOW, REJECT or ASK.
        action: the action index checked (None when the check failed before reading it).
        harm_estimate: the number the rule compared with the threshold (NaN after an internal error).
        posterior_harm: the posterior-predictive harm ``sum_t p(t|D) P(H|a,t)`` (NaN if unavailable).
        threshold: the harm threshold C; the rule rejects when ``harm_estimate > threshold``.
        rule: the rule's name (see :class:`bayesguard.guard.rules.Rule`).
        params: the rule's parameters (e.g. ``{"alpha": 0.01}``).
        witness: index of the theory whose prediction gives ``harm_estimate`` (None if no single one).
        witness_theory: that theory rendered by the family's ``describe``.
        witness_prob: posterior probability of the witness theory.
        reason: one line a person can read.
        posterior_upper: an upper confidence bound on ``posterior_harm`` (NaN if not computed).
        epistemic: bits of the harm event's entropy due to disagreement between theories (mutual
            information), or None.
        aleatoric: bits of expected per-theory entropy (the world's own noise), or None.
        witness_source: where the witness came from: ``"posterior"``, ``"search"`` or ``"human"``.
        suggestion: for ASK, the safe action or experiment that best separates the theories in play.
        explanation: the witness theory's causal path from the action to harm, edges with their
            posterior probabilities.
        guaranteed: True only when ``harm_estimate`` carries a stated guarantee: the posterior is
            exact, or sampled with a sampler error that is a known bound (and independent draws). A
            bound over an approximate posterior whose error is unknown is never guaranteed.
        assumptions: what the number assumes, in words (e.g. "the true theory is in the family").
        support: whether the context lies inside what the data support
            (:mod:`~bayesguard.guard.support`): ``in_support``, the out-of-distribution ``score`` and its
            ``threshold``, ``kind``, ``fpr``, the features ``outside``, ``n_train`` and ``reason``; None
            when not checked (no training contexts, or a context without features).
    """

    decision: Decision
    action: int | None
    harm_estimate: float
    posterior_harm: float
    threshold: float
    rule: str
    params: dict[str, Any] = field(default_factory=dict)
    witness: int | None = None
    witness_theory: str | None = None
    witness_prob: float | None = None
    reason: str = ""
    posterior_upper: float = math.nan
    epistemic: float | None = None
    aleatoric: float | None = None
    witness_source: str | None = None
    suggestion: str | None = None
    explanation: str | None = None
    guaranteed: bool = False
    assumptions: tuple[str, ...] = ()
    support: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "guaranteed", bool(self.guaranteed))
        object.__setattr__(self, "assumptions", tuple(str(a) for a in self.assumptions))
        try:
            object.__setattr__(self, "decision", Decision(self.decision))
        except ValueError:
            raise ValueError(
                f"decision: expected one of {[d.value for d in Decision]}, got {self.decision!r}"
            ) from None

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes None)."""
        out = asdict(self)
        out["decision"] = self.decision.value
        out["assumptions"] = list(self.assumptions)
        for key in _FLOAT_FIELDS:
            if isinstance(out[key], float) and math.isnan(out[key]):
                out[key] = None
        return out

    def to_json(self) -> str:
        """One line of JSON; NumPy scalars (e.g. an ``np.int64`` from a family's ``describe``) become
        plain numbers and anything else unserialisable becomes its ``str``."""
        return json.dumps(self.to_dict(), sort_keys=True, default=_plain)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        """Inverse of :meth:`to_dict`, for replaying an audit log."""
        d = dict(data)
        d["decision"] = Decision(d["decision"])
        for key in _FLOAT_FIELDS:
            d[key] = math.nan if d.get(key) is None else float(d[key])
        d["assumptions"] = tuple(d.get("assumptions", ()))
        return cls(**d)

    def __str__(self) -> str:
        parts = [f"{self.decision.value:6s} action={self.action}"]
        if not math.isnan(self.harm_estimate):
            parts.append(f"harm_est={self.harm_estimate:.4g} (C={self.threshold:g}, {self.rule})")
        if not math.isnan(self.posterior_harm):
            parts.append(f"posterior_harm={self.posterior_harm:.4g}")
        parts.append(self.reason)
        parts.append("[guaranteed]" if self.guaranteed else "[not guaranteed]")
        return "  ".join(parts)

    def explain(self) -> str:
        """A few lines a person can read: the decision, the numbers, the witness and its causal path."""
        lines = [str(self)]
        if not math.isnan(self.posterior_upper):
            lines.append(
                f"  posterior-predictive harm {self.posterior_harm:.4g}, "
                f"upper bound {self.posterior_upper:.4g}"
            )
        if self.epistemic is not None and self.aleatoric is not None:
            lines.append(
                f"  uncertainty: epistemic {self.epistemic:.3f} bits (theories disagree), "
                f"aleatoric {self.aleatoric:.3f} bits (noise)"
            )
        if self.witness_theory is not None:
            src = f" ({self.witness_source})" if self.witness_source else ""
            prob = f", posterior mass {self.witness_prob:.3g}" if self.witness_prob is not None else ""
            lines.append(f"  witness{src}{prob}: {self.witness_theory}")
        if self.explanation:
            lines.append(f"  causal path: {self.explanation}")
        if self.suggestion:
            lines.append(f"  suggestion: {self.suggestion}")
        if self.support is not None:
            sup = self.support
            where = "inside" if sup.get("in_support") else "OUTSIDE"
            lines.append(
                f"  support: context {where} the data's support ({sup.get('kind')} score "
                f"{sup.get('score')}, threshold {sup.get('threshold')}, "
                f"{sup.get('n_train')} training contexts)"
            )
        status = "guaranteed" if self.guaranteed else "NOT guaranteed"
        lines.append(
            f"  bound {status}" + (f"; assumes: {'; '.join(self.assumptions)}" if self.assumptions else "")
        )
        return "\n".join(lines)


_FLOAT_FIELDS = ("harm_estimate", "posterior_harm", "posterior_upper")


def _plain(value: Any) -> Any:
    """JSON fallback: NumPy scalars and arrays as Python values, anything else as its text."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
