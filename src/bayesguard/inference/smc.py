"""Following the posterior as data arrive: reweight, resample, move (sequential Monte Carlo on graphs).

Particles ``G_i`` with log-weights ``w_i`` approximate ``p(G | D_t)``. When rows arrive, the exact
update is a reweighting, ``w_i += log p(G_i | D_{t+1}) - log p(G_i | D_t)`` (the structure score is
exact; no sampler is involved). When the effective sample size falls below ``ess_frac * n``, the
particles are resampled (systematic resampling) and each is moved by a few structure-MCMC steps that
leave ``p(G | D_{t+1})`` invariant, so the set recovers diversity without retraining any sampler.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp

from ..theories.causal.structure import StructureScore
from .mcmc import structure_mcmc


class SMCState(NamedTuple):
    """Particles ``(n, d, d)`` with normalised log-weights ``(n,)`` and the score they target."""

    particles: np.ndarray
    log_weights: np.ndarray
    score: StructureScore

    @property
    def ess(self) -> float:
        w = np.exp(self.log_weights - logsumexp(self.log_weights))
        return float(1.0 / np.sum(w * w))


def systematic_resample(log_weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices ``(n,)`` of a systematic resample of ``n`` particles with these log-weights."""
    n = log_weights.shape[0]
    w = np.exp(log_weights - logsumexp(log_weights))
    positions = (rng.random() + np.arange(n)) / n
    return np.minimum(np.searchsorted(np.cumsum(w), positions), n - 1)


def smc_update(
    state: SMCState,
    score: StructureScore,
    rng: np.random.Generator,
    *,
    ess_frac: float = 0.5,
    move_steps: int = 20,
    force_move: bool = False,
) -> tuple[SMCState, bool]:
    """Move the particles from ``state.score`` to ``score``; returns the new state and whether it
    resampled and moved (when the ESS fell below ``ess_frac * n``, or always with ``force_move``:
    periodic rejuvenation lets the particles reach graphs that none of them held)."""
    lw = state.log_weights + score.log_posterior(state.particles) - state.score.log_posterior(state.particles)
    lw = lw - logsumexp(lw)
    new = SMCState(state.particles, lw, score)
    if new.ess >= ess_frac * lw.shape[0] and not force_move:
        return new, False
    idx = systematic_resample(lw, rng)
    run = structure_mcmc(
        score,
        n_chains=idx.size,
        n_steps=move_steps,
        burn_in=move_steps - 1,
        thin=1,
        seed=int(rng.integers(2**31)),
        init=state.particles[idx],
        progress=False,
    )
    moved = run.samples[:, -1]
    return SMCState(moved, np.full(idx.size, -np.log(idx.size)), score), True
