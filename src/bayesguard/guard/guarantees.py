"""What a guard's number promises, written once: ``guaranteed`` and the assumptions behind it.

- Over an **exact** posterior (and exact per-theory harm) the rules mean what :mod:`.rules` says: the
  cautious estimate is at least the true theory's harm at every step with probability at least
  ``1 - alpha / p(t*)``, if the true theory is in the family.
- Over a **sampled** posterior the guard's number is the larger of the rule over the sample and a
  ``1 - delta`` upper bound on the posterior-predictive harm. That bound is guaranteed only when the
  draws are independent and the sampler's total-variation error is *known to be bounded* (an exact
  measurement against an enumerated posterior, or a bound you state). An unknown or estimated error,
  correlated (MCMC) draws, importance weights, or an amortised network's empirical margin: never
  guaranteed, and the verdict says which.
"""

from __future__ import annotations

from ..posterior import Posterior, SamplerError
from .rules import Rule

MODEL = "the true theory is in the family and the prior gives it mass p(t*) > 0"


def rule_guarantee(rule: Rule, alpha: float | None) -> tuple[bool, tuple[str, ...]]:
    """The guarantee of a rule applied to an exact posterior with exact per-theory harm."""
    if rule is Rule.NONE:
        return False, ("no guard: every action is allowed",)
    if rule is Rule.ORACLE:
        return True, ("the true theory is known (evaluation only)",)
    if rule is Rule.POSTERIOR:
        return True, (MODEL, "the estimate is the exact posterior-predictive harm, not a bound on the truth")
    if rule is Rule.CAUTIOUS:
        return True, (
            MODEL,
            f"with probability >= 1 - alpha/p(t*) (alpha={alpha:g}) over the data, at every step, the "
            "estimate is at least the true theory's harm (Ville's inequality)",
        )
    return False, ("cautious-iid: no finite-sample guarantee for non-i.i.d. data",)


def bound_guarantee(
    posterior: Posterior, sampler: SamplerError, delta: float, *, amortised: bool, monte_carlo: bool
) -> tuple[bool, tuple[str, ...]]:
    """The guarantee of a ``1 - delta`` upper bound on the posterior-predictive harm.

    Args:
        posterior: where the theories came from.
        sampler: the sampler error used in the bound.
        delta: the bound's failure probability.
        amortised: the bound comes from an amortised network.
        monte_carlo: the bound averages Monte Carlo draws (False: an exact sum).
    """
    model = "the model class and prior are right (a bound on the posterior-predictive harm)"
    if amortised:
        return False, (
            model,
            "the amortised network's error margin is empirical (valid near its validation contexts)",
        )
    if posterior.kind == "weighted":
        return False, (model, "importance-weighted theories: the width uses the Kish ESS, no guarantee")
    if posterior.is_exact:
        if not monte_carlo:
            return True, (model, "an exact sum over the exact posterior")
        return True, (model, f"i.i.d. draws from the exact posterior; fails with probability <= {delta:g}")
    if not posterior.independent:
        return False, (model, f"{posterior.method} draws are correlated; the bound assumes independent draws")
    if not sampler.known or not sampler.is_bound:
        return False, (
            model,
            f"{sampler}: the bound adds TV = {sampler.tv or 0:g} and would need a known bound",
        )
    return True, (
        model,
        f"independent draws from {posterior.method}, {sampler}; fails with probability <= {delta:g}",
    )
