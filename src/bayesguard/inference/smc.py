"""Following the posterior as data arrive: reweight, resample, move (sequential Monte Carlo on graphs).

Particles ``G_i`` with log-weights ``w_i`` approximate ``p(G | D_t)``. When rows arrive, the exact
update is a reweighting, ``w_i += log p(G_i | D_{t+1}) - log p(G_i | D_t)`` (the structure score is
exact; no sampler is involved). When the effective sample size falls below ``ess_frac * n``, the
particles are resampled (systematic resampling) and each is moved by a few steps of the edge-flip kernel
of structure MCMC (:mod:`.kernels`) on ``p(G | D_{t+1})``, which leave it invariant, so the set recovers
diversity without retraining any sampler.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp

from .._validate import positive_int
from ..theories.causal.structure import StructureScore
from .driver import advance
from .kernels import DecomposableTarget, LocalScore, edge_flip


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


def move_particles(
    score: LocalScore, particles: np.ndarray, n_steps: int, seed: int | np.random.Generator
) -> np.ndarray:
    """``(n, d, d)`` acyclic graphs, each moved by ``n_steps`` steps of the edge-flip kernel on the
    decomposable posterior ``score`` (which they leave invariant) -> ``(n, d, d)``.

    A particle of posterior mass 0 moves to the first finite proposal it meets.
    """
    n_steps = positive_int(n_steps, "move_steps")
    kernel = edge_flip(DecomposableTarget(score))
    start = kernel.init(particles, field="particles")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    moved, _ = advance(kernel, start, rng, n_steps)
    return moved.adj


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
    move_steps = positive_int(move_steps, "move_steps")
    idx = systematic_resample(lw, rng)
    moved = move_particles(score, state.particles[idx], move_steps, int(rng.integers(2**31)))
    return SMCState(moved, np.full(idx.size, -np.log(idx.size)), score), True
