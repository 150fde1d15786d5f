"""Online update of a reward posterior when new feedback arrives: the guard's own update, as a function.

:func:`update` runs :func:`bayesguard.guard.observe.observe` (the code behind ``Guard.observe``) on a
posterior and a reward family that holds its data, without a guard: every draw is reweighted by the
exact change of the family's score (the new answers' predictive likelihood, ``family.conditioned``
semantics), and when the ESS falls below ``UpdateConfig.ess_frac`` of the draws the draws are resampled
and moved by the family's Metropolis kernel (``family.move``) on the new posterior.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from scipy.special import logsumexp

from .._validate import positive_int
from ..posterior import Posterior, SamplerError
from ..theories.reward._base import RewardFamilyBase

if TYPE_CHECKING:
    from ..guard.configs import UpdateConfig


def _reweighted_ess(posterior: Posterior, old: Any, new: Any) -> float:
    """Kish ESS of the posterior's draws reweighted from ``old``'s score to ``new``'s."""
    th = posterior.theories[posterior.from_posterior]
    lw = posterior.log_weights[posterior.from_posterior].copy()
    before = old.log_score(th)
    live = np.isfinite(before) & np.isfinite(lw)
    lw[~live] = -np.inf
    lw[live] += new.log_score(th[live]) - before[live]
    p = np.exp(lw - logsumexp(lw))
    return float(1.0 / np.sum(p * p))


class RewardUpdate(NamedTuple):
    """What :func:`update` returns.

    Attributes:
        posterior: the posterior given the old and the new feedback.
        family: the family holding the old and the new feedback (``family.conditioned(new)``).
        resampled: the draws were resampled and moved (their weights are equal again).
        ess: Kish ESS of the reweighted draws before any resampling.
    """

    posterior: Posterior
    family: RewardFamilyBase
    resampled: bool
    ess: float


@dataclass
class _Holder:
    """What :func:`~bayesguard.guard.observe.observe` reads and writes on a guard."""

    family: Any
    posterior: Posterior
    update: Any
    _rng: np.random.Generator
    n_updates: int = 0


def update(
    posterior: Posterior,
    family: RewardFamilyBase,
    new_feedback: Any,
    *,
    config: UpdateConfig | None = None,
    seed: int | np.random.Generator = 0,
    n_updates: int = 0,
) -> RewardUpdate:
    """Condition ``posterior`` (over ``family`` and the data it holds) on ``new_feedback``, online.

    Exactly what ``Guard.observe`` does (the same code): each draw's log-weight grows by
    ``log p(new | w, D)`` (the exact change of the family's score; with an uncertain ``beta`` the old
    answers inform it). An exact posterior stays exact; for draws this is importance reweighting, so the
    weights equal those of the batch posterior on the same draws. When the Kish ESS falls below
    ``config.ess_frac`` of the draws (or every ``config.move_every`` updates, counting ``n_updates`` done
    before), the draws are resampled (systematic) and each moved by ``config.move_steps`` random-walk
    Metropolis steps that leave the new posterior invariant (``family.move``). The new posterior's
    ``sampler_error.how`` says which happened and the ESS.

    Args:
        posterior: the posterior given ``family.data``.
        family: a reward family holding the old data (linear or finite).
        new_feedback: a :class:`~bayesguard.theories.reward.FeedbackData` or one feedback record.
        config: a :class:`~bayesguard.guard.configs.UpdateConfig` (``ess_frac`` 0.5, ``move_steps`` 20,
            ``move_every`` None by default), the guard's own settings.
        seed: seeds the resampling and the moves.
        n_updates: how many updates this posterior has had (for ``move_every``).
    """
    from ..guard.configs import UpdateConfig
    from ..guard.observe import observe

    if not isinstance(posterior, Posterior):
        raise TypeError(f"posterior: expected a Posterior, got {type(posterior).__name__}")
    if not isinstance(family, RewardFamilyBase):
        raise TypeError(f"family: expected a reward family, got {type(family).__name__}")
    cfg = UpdateConfig() if config is None else config
    if not isinstance(cfg, UpdateConfig):
        raise TypeError(f"config: expected an UpdateConfig, got {type(cfg).__name__}")
    rng = (
        seed
        if isinstance(seed, np.random.Generator)
        else np.random.default_rng(positive_int(seed, "seed", minimum=0))
    )
    holder = _Holder(
        family,
        posterior,
        cfg,
        rng,
        positive_int(n_updates, "n_updates", minimum=0),
    )
    observe(holder, new_feedback)
    new = holder.posterior
    resampled = not posterior.is_exact and new.kind == "samples"
    ess = _reweighted_ess(posterior, family, holder.family) if resampled else new.ess
    if resampled:
        how = (
            f"reweighted by new feedback (ESS {ess:.0f} of {int(posterior.from_posterior.sum())}), "
            "resampled and moved by "
            f"{cfg.move_steps} random-walk Metropolis steps on the new posterior; not measured"
        )
        new = new.with_provenance(sampler_error=SamplerError.unknown(how))
    elif not new.is_exact:
        how = (
            f"{posterior.sampler_error.how.split('; then reweighted')[0]}; then reweighted by new "
            "feedback's predictive likelihood "
            f"(Kish ESS {new.ess:.0f} of {new.n_theories})"
        )
        new = new.with_provenance(sampler_error=SamplerError.unknown(how))
    return RewardUpdate(new, holder.family, resampled, ess)
