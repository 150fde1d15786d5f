"""The one :class:`Guard`: any :class:`~bayesguard.theories.base.TheoryFamily`, a posterior over its
theories, a rule and a threshold, answering ALLOW / REJECT / ASK.

``check(context, action)``, ``check_all(context)`` and ``observe(data)`` work the same way for every
family (a finite table, a bandit, a causal network, and the families later issues add). A family may
offer more, and the guard uses it when it does:

- ``log_score(theories)`` (exact unnormalised log posterior): the cautious set is weighted by it, so
  theories added by the harm-seeking search or by people join ``M_alpha`` exactly when their posterior
  mass qualifies; ``conditioned(data)`` (a family that holds its data): ``observe`` reweights by the
  change of the score, and resamples and moves (``move``) a sampled posterior when its ESS falls;
- ``harm_model`` / ``predictive_model`` / ``harm_exact``: batched harm of fixed theories, and unbiased
  per-draw values for the Monte Carlo bound when per-theory harm is itself approximate;
- ``search`` (harm-seeking search), ``human`` (people's theories), ``information_gain`` (a richer
  experiment than the harm event itself), ``explain`` (a causal path).
- ``support_data`` / ``support_features`` / ``support_contexts`` (training contexts and a context's
  features): a context outside what the data support is ASKed, never ALLOWed
  (:mod:`~bayesguard.guard.support`).

Any error inside a check gives REJECT with the error as its reason (fail closed); bad configuration
raises at construction, naming the argument.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import action_index, positive_int, unit_interval
from ..posterior import Posterior, SamplerError
from ..theories.base import TheoryFamily
from .audit import record
from .configs import BoundConfig, SearchConfig, SuggestConfig, UpdateConfig
from .evaluation import Evaluation, Prepared, evaluate, prepare
from .guarantees import bound_guarantee, rule_guarantee
from .rules import Rule, check_ties, decide
from .support import SupportConfig, SupportState, annotate, restrict
from .verdict import Decision, Verdict

#: Verdicts kept in :attr:`Guard.history` by default (the audit log keeps all of them).
HISTORY_SIZE = 1000


class Guard:
    """Decide ALLOW / REJECT / ASK for an agent's proposed action under a posterior over theories.

    Args:
        family: the theory family.
        posterior: the posterior over the family's theories (exact, sampled or weighted); when it names a
            family, it must be this one (or one the family accepts, ``family.posterior_families``).
        rule: a :class:`Rule` or its name; default ``"cautious"``.
        threshold: the harm threshold C in [0, 1]; an action is allowed only when the guard's estimate is
            at most C.
        alpha: the cautious rule's alpha in (0, 1] (default 0.01).
        ties: ``"worst"`` (default), ``"order"`` (listing order) or ``"random"`` (a fresh random
            tie-break per check, from ``seed``) for theories tied at the edge of ``M_alpha``.
        ask: answer ASK when plausible theories disagree (default True); False makes those REJECT.
        bound: :class:`BoundConfig` (sampled posteriors: the Monte Carlo bound and the sampler error).
        search: :class:`SearchConfig` (the harm-seeking search; needs ``family.search``).
        suggest: :class:`SuggestConfig` (what an ASK suggests).
        update: :class:`UpdateConfig` (how ``observe`` follows data with a sampled posterior).
        support: :class:`~bayesguard.guard.support.SupportConfig` (ASK, never ALLOW, in a context outside
            what the data support; on by default when there are training contexts).
        human_theories: people's theories (``family.human`` turns each into a theory of the family).
        seed: seeds every random choice of the guard (a non-negative integer).
        true_theory: needed only by the evaluation-only ``oracle`` rule.
        audit_path: append every verdict to this JSON-lines file (fsynced before it is returned).
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
        bound: BoundConfig | None = None,
        search: SearchConfig | None = None,
        suggest: SuggestConfig | None = None,
        update: UpdateConfig | None = None,
        support: SupportConfig | None = None,
        human_theories: Sequence[Any] = (),
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
        accepted = tuple(getattr(family, "posterior_families", ())) + (family.name,)
        if posterior.family is not None and posterior.family not in accepted:
            raise ValueError(
                f"posterior: it belongs to family {posterior.family!r}, but the guard's family is "
                f"{family.name!r}"
            )
        self.family = family
        self.rule = Rule.parse(rule)
        self.threshold = unit_interval(threshold, "threshold")
        self.alpha: float | None = None
        if self.rule is Rule.CAUTIOUS:
            self.alpha = unit_interval(0.01 if alpha is None else alpha, "alpha", open_left=True)
        self.ties = check_ties(ties, np.zeros(0, np.int64))
        if not isinstance(ask, bool):
            raise TypeError(f"ask: expected True or False, got {ask!r}")
        self.ask = ask
        self.bound = _config(bound, BoundConfig, "bound")
        self.search = _config(search, SearchConfig, "search")
        self.suggest = _config(suggest, SuggestConfig, "suggest")
        self.update = _config(update, UpdateConfig, "update")
        self.support = _config(support, SupportConfig, "support")
        self._support = SupportState(self.support, family)
        if self.search.enabled and not hasattr(family, "search"):
            raise ValueError(f"search: family {family.name!r} offers no harm-seeking search")
        self.seed = positive_int(seed, "seed", minimum=0)
        self._rng = np.random.default_rng(self.seed)
        if self.rule is Rule.ORACLE and true_theory is None:
            raise ValueError("true_theory: the oracle rule needs the true theory")
        self.true_theory = true_theory
        if audit_path is not None and not isinstance(audit_path, str | Path):
            raise TypeError(f"audit_path: expected a file path (str or Path) or None, got {audit_path!r}")
        self.audit_path = Path(audit_path) if audit_path is not None else None
        self.history: deque[Verdict] = deque(maxlen=positive_int(history_size, "history_size"))
        self.n_updates = 0
        if hasattr(family, "as_theories"):
            posterior = replace(posterior, theories=family.as_theories(posterior.theories))
        self._check_exact(posterior)
        for k, person in enumerate(human_theories):
            if not hasattr(family, "human"):
                raise TypeError(f"human_theories[{k}]: family {family.name!r} takes no people's theories")
            posterior = self._merge(
                posterior, family.human(person), "human", [getattr(person, "name", "human")]
            )
        self.posterior = posterior

    # ------------------------------------------------------------------ public API
    @property
    def n_actions(self) -> int:
        return int(self.family.n_actions)

    @property
    def posterior(self) -> Posterior:
        return self._posterior

    @posterior.setter
    def posterior(self, value: Posterior) -> None:
        if not isinstance(value, Posterior):
            raise TypeError(f"posterior: expected a Posterior, got {type(value).__name__}")
        self._posterior = value
        self._prep: Prepared | None = None

    @property
    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.alpha is None else {"alpha": self.alpha, "ties": self.ties}
        if not self.posterior.is_exact or self.bound.amortised is not None:
            out["delta"] = self.bound.delta
            out["marginaliser"] = "amortised" if self.bound.amortised is not None else "monte-carlo"
        if self.search.enabled:
            out["search"] = True
        return out

    def check(self, context: Any, action: int) -> Verdict:
        """Verdict on ``action`` in ``context``; never raises, never ALLOWs after an error or in a context
        outside the data's support."""
        try:
            action = action_index(action, self.n_actions)
            return self._record(self._check_all(context, action)[0])
        except Exception as exc:  # fail closed
            return self._record(self.error_verdict(action, exc))

    def check_all(self, context: Any) -> list[Verdict]:
        """Verdicts for every action, from one batched evaluation."""
        try:
            verdicts = self._check_all(context, None)
        except Exception as exc:  # fail closed
            verdicts = [self.error_verdict(a, exc) for a in range(self.n_actions)]
        return [self._record(v) for v in verdicts]

    def allowed_actions(self, context: Any) -> np.ndarray:
        """``(n_actions,)`` booleans: True where the verdict is ALLOW."""
        return np.array([v.allowed for v in self.check_all(context)])

    def fail_closed(self, action: int | None, exc: Exception) -> Verdict:
        """Record and return the REJECT verdict for an error raised around the guard (e.g. a wrapper)."""
        return self._record(self.error_verdict(action, exc))

    def observe(self, data: Any) -> None:
        """Condition on new data: exactly for an enumerated posterior; by reweighting, and resampling and
        moving when the effective sample size falls (sequential Monte Carlo), for a sampled one."""
        from .observe import observe

        observe(self, data)
        self._support.observed(self.family, data)

    def theories_from(self, source: str) -> np.ndarray:
        """The theories the posterior holds from ``source`` (``"posterior"``, ``"search"``, ``"human"``)."""
        return self.posterior.theories[self.posterior.source == source]

    # ------------------------------------------------------------------ internals
    def _check_exact(self, posterior: Posterior) -> None:
        """An exact posterior must be this family's posterior on its data (when the family can say)."""
        if not (posterior.is_exact and hasattr(self.family, "log_score")):
            return
        rows = posterior.from_posterior
        lp = self.family.log_score(posterior.theories[rows])
        lw = posterior.log_weights[rows]
        if not np.allclose(lp - lp.max(), lw - lw.max(), atol=1e-6):
            raise ValueError(
                "posterior: its weights are not this data's posterior under this family's prior and score "
                "(pass the prior, and for discrete data the ess, the posterior was computed with)"
            )

    def _merge(self, posterior: Posterior, theories: np.ndarray, source: str, labels: list[str]) -> Posterior:
        """Append the theories the posterior does not already hold."""
        from .evaluation import _keys

        have = set(_keys(self.family, posterior.theories).tolist())
        keys = _keys(self.family, theories)
        _, first = np.unique(keys, return_index=True)
        new = [i for i in sorted(first) if keys[i] not in have]
        if not new:
            return posterior
        return posterior.with_added(theories[new], source, [labels[i % len(labels)] for i in new])

    def _prepared(self) -> Prepared:
        if self._prep is None:
            prep = prepare(self.family, self.posterior, self.bound.n_theories, self._rng)
            err = self.bound.sampler_error
            prep.sampler = (
                self.posterior.sampler_error if err is None else SamplerError(err, "stated by the user", True)
            )
            self._prep = prep
        return self._prep

    def _guarantee(self, prep: Prepared) -> tuple[bool, tuple[str, ...]]:
        if prep.exact and self.bound.amortised is None or self.rule in (Rule.NONE, Rule.ORACLE):
            return rule_guarantee(self.rule, self.alpha)
        return bound_guarantee(
            self.posterior,
            prep.sampler,
            self.bound.delta,
            amortised=self.bound.amortised is not None,
            monte_carlo=prep.mc_kind != "exact",
        )

    def _challenge(self, ev: Evaluation, prep: Prepared, context: Any, actions: list[int]) -> bool:
        """Harm-seeking search for every action that would be allowed; True when it found theories."""
        found = False
        for a in actions:
            if a in ev.refused or ev.estimate[a] > self.threshold:
                continue
            start = prep.first[
                self._rng.choice(ev.cautious_probs.size, self.search.chains, p=ev.cautious_probs)
            ]
            new = self.family.search(  # type: ignore[attr-defined]
                self.posterior.theories[start],
                context,
                a,
                steps=self.search.steps,
                beta=self.search.beta,
                keep=self.search.keep,
                seed=int(self._rng.integers(2**31)),
            )
            before = self.posterior.n_theories
            self.posterior = self._merge(self.posterior, new, "search", ["search"])
            found |= self.posterior.n_theories > before
        return found

    def _check_all(self, context: Any, action: int | None) -> list[Verdict]:
        from .explain_verdict import build_verdicts

        actions = list(range(self.n_actions)) if action is None else [action_index(action, self.n_actions)]
        support = self._support.check(self.family, context, self.n_actions)  # raises on NaN / inf
        prep = self._prepared()
        ev = evaluate(self, prep, context)
        if self.search.enabled and self._challenge(ev, prep, context, actions):
            prep = self._prepared()
            ev = evaluate(self, prep, context)
        posterior = None if self.rule in (Rule.NONE, Rule.ORACLE) else ev.mean
        decisions = decide(
            ev.estimate,
            self.threshold,
            posterior=posterior,
            member_low=ev.low,
            member_high=ev.high,
            ask=self.ask,
        )
        decision = decisions.decision.copy()
        decision[list(ev.refused)] = Decision.REJECT.value  # their placeholder numbers never read as safe
        if self.rule not in (Rule.NONE, Rule.ORACLE):  # out of the data's support: ASK, never ALLOW
            decision = restrict(decision, support, self.ask)
        guaranteed, assumptions = self._guarantee(prep)
        verdicts = build_verdicts(
            self, prep, ev, decision, decisions.why, actions, context, guaranteed, assumptions
        )
        return annotate(verdicts, support)

    def reseed(self, *keys: int) -> None:
        """Reset the guard's random stream to one derived from ``(seed, *keys)``: a service that resets
        it per posterior version and per check makes every verdict a function of (version, request)."""
        self._rng = np.random.default_rng([self.seed, *(int(k) for k in keys)])

    @property
    def prepared(self) -> bool:
        """Whether the current posterior's tables (distinct theories, Monte Carlo draws) are built."""
        return self._prep is not None

    def prepare(self) -> None:
        """Build the current posterior's tables now (else the first check does), from the current stream."""
        self._prepared()

    def error_verdict(self, action: Any, exc: Exception) -> Verdict:
        """The fail-closed REJECT for ``exc`` on ``action`` (not recorded; :meth:`fail_closed` records)."""
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
        verdict = record(verdict, self.audit_path, self.error_verdict)
        self.history.append(verdict)
        return verdict


def _config(value: Any, cls: type, field: str) -> Any:
    if value is None:
        return cls()
    if not isinstance(value, cls):
        raise TypeError(f"{field}: expected a {cls.__name__}, got {type(value).__name__}")
    return value
