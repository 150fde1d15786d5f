"""``Guard.observe``: the posterior follows new data.

- A family without state (a finite table, a bandit): ``log w += log p(data | theory)``, the exact update
  of an enumerated posterior (an importance reweighting of a sampled one).
- A family that holds its data (causal theories, whose parameters are learned from it):
  ``family.conditioned(data)`` gives the family after the new rows, and every theory is reweighted by the
  exact change of its score, ``log p(G | D_new) - log p(G | D_old)``. An enumerated posterior stays exact.
  A sampled one becomes importance-weighted; when its effective sample size falls below
  ``update.ess_frac`` of its draws (or every ``update.move_every`` updates), its draws are resampled
  (systematic resampling) and moved by ``update.move_steps`` kernel steps that leave the new posterior
  invariant (``family.move``), so the set recovers diversity without retraining any sampler. Theories
  from search and people stay, re-scored by the new family.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..inference.smc import systematic_resample
from ..posterior import Posterior, SamplerError


def observe(guard: Any, data: Any) -> None:
    """Condition ``guard``'s posterior (and family) on ``data``."""
    fam, post = guard.family, guard.posterior
    guard.n_updates += 1
    if not hasattr(fam, "conditioned"):
        guard.posterior = post.update(fam, data)
        return
    new = fam.conditioned(data)
    rows = np.flatnonzero(post.from_posterior)
    th = post.theories
    inc = np.zeros(post.n_theories)
    old = fam.log_score(th[rows])
    live = np.isfinite(old)  # a theory the prior or the data ruled out stays out (and -inf - -inf is NaN)
    inc[rows[live]] = new.log_score(th[rows[live]]) - old[live]
    if post.is_exact:
        guard.family, guard.posterior = new, replace(post, log_weights=post.log_weights + inc)
        return
    weighted = replace(
        post,
        log_weights=post.log_weights + inc,
        kind="weighted",
        method="smc" if post.method in ("smc", "given") else f"{post.method}+smc",
        sampler_error=SamplerError.unknown("importance-reweighted after new data; not measured"),
    )
    cfg = guard.update
    p = np.exp(weighted.log_weights[rows] - weighted.log_weights[rows].max())
    ess = p.sum() ** 2 / np.sum(p * p)
    due = cfg.move_every is not None and guard.n_updates % cfg.move_every == 0
    guard.family = new
    if ess >= cfg.ess_frac * rows.size and not due:
        guard.posterior = weighted
        return
    idx = rows[systematic_resample(weighted.log_weights[rows], guard._rng)]
    moved = new.move(th[idx], cfg.move_steps, int(guard._rng.integers(2**31)))
    extra = np.flatnonzero(~post.from_posterior)
    guard.posterior = Posterior(
        np.concatenate([moved, th[extra]]),
        np.concatenate([np.zeros(idx.size), np.full(extra.size, -np.inf)]),
        "samples",
        post.family,
        "smc",
        SamplerError.unknown("resampled and moved (SMC); not measured"),
        False,
        np.concatenate([np.full(idx.size, "posterior"), post.source[extra]]),  # type: ignore[index]
        np.concatenate([np.full(idx.size, "posterior"), post.labels[extra]]),  # type: ignore[index]
    )
