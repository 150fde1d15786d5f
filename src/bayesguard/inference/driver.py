"""One driver for the chains of any kernel, and the diagnostics of what they kept.

A *kernel* has ``step(rng, state) -> (state, info)`` (see :mod:`.kernels`); its states carry ``position``
``(K, ...)`` and ``log_density`` ``(K,)``, its infos ``accepted`` ``(K,)``. :func:`run_chains` runs the ``K``
chains in lockstep with burn-in, thinning, a time budget and an optional progress bar; :func:`advance`
is the bare loop (no draws kept), for callers that only need the final states or the infos.

Diagnostics over ``>= 2`` chains, each split in two halves (Gelman et al. 2013; Vehtari et al. 2021):

- :func:`split_r_hat`: the potential scale reduction; near 1 (say < 1.1) when the chains agree;
- :func:`effective_sample_size`: bulk ESS, ``S / tau`` with ``tau = -1 + 2 sum_t P_t`` from the
  autocorrelations of the split chains summed in pairs ``P_t = rho_2t + rho_2t+1`` while positive and
  made monotone (Geyer's initial monotone sequence), on rank-normalised draws by default.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import numpy as np
import scipy.fft
from scipy.special import ndtri
from scipy.stats import rankdata
from tqdm.auto import tqdm

from .._validate import positive_int

_BLOCK = 1 << 22  # floats per block of quantities in the ESS computation


class Kernel(Protocol):
    """Anything with ``step(rng, state) -> (state, info)``."""

    def step(self, rng: np.random.Generator, state: Any) -> tuple[Any, Any]: ...


class ChainRun(NamedTuple):
    """Draws kept by :func:`run_chains`.

    Attributes:
        positions: ``(K, n_kept, ...)`` kept positions.
        log_density: ``(K, n_kept)`` their log-density.
        kept_seconds: ``(n_kept,)`` time since the start at which each draw was kept.
        accepted: ``(K,)`` number of accepted proposals per chain.
        n_steps: steps run per chain (fewer than asked when the time budget ran out).
        seconds: wall-clock time of the run.
        state: the final state.
    """

    positions: np.ndarray
    log_density: np.ndarray
    kept_seconds: np.ndarray
    accepted: np.ndarray
    n_steps: int
    seconds: float
    state: Any

    @property
    def acceptance(self) -> np.ndarray:
        """``(K,)`` fraction of steps accepted."""
        return self.accepted / max(self.n_steps, 1)

    def drop_first_half(self) -> ChainRun:
        """The run with the first half of its kept draws discarded as burn-in."""
        half = self.positions.shape[1] // 2
        return self._replace(
            positions=self.positions[:, half:],
            log_density=self.log_density[:, half:],
            kept_seconds=self.kept_seconds[half:],
        )

    def diagnostics(self) -> dict[str, np.ndarray]:
        """Split-R-hat and bulk ESS of every coordinate of the positions and of the log-density."""
        return chain_diagnostics(self.positions, self.log_density)


def run_chains(
    kernel: Kernel,
    state: Any,
    *,
    n_steps: int,
    burn_in: int = 0,
    thin: int = 1,
    seed: int | np.random.Generator = 0,
    time_budget: float | None = None,
    progress: bool = False,
    desc: str = "MCMC",
    on_step: Callable[[Any, Any], None] | None = None,
) -> ChainRun:
    """Run the chains of ``kernel`` from ``state`` and keep every ``thin``-th state after burn-in.

    The state after step ``s`` (counting from 0) is kept when ``s >= burn_in`` and ``(s - burn_in) % thin
    == 0``.

    Args:
        kernel: has ``step(rng, state) -> (state, info)``.
        state: initial state of the ``K`` chains (with ``position`` and ``log_density``).
        n_steps: steps per chain, burn-in included.
        burn_in: steps discarded at the start, in ``[0, n_steps]``.
        thin: keep every ``thin``-th step after burn-in.
        seed: int seed or generator, drawn from by every step.
        time_budget: stop after about this many seconds (checked every 64 steps).
        progress: show a tqdm progress bar.
        desc: the progress bar's label.
        on_step: called as ``on_step(state, info)`` after every step.
    """
    n_steps = positive_int(n_steps, "n_steps")
    thin = positive_int(thin, "thin")
    if isinstance(burn_in, bool) or not isinstance(burn_in, int | np.integer) or not 0 <= burn_in <= n_steps:
        raise ValueError(f"burn_in: expected an integer in [0, {n_steps}], got {burn_in!r}")
    if time_budget is not None and (
        isinstance(time_budget, bool)
        or not isinstance(time_budget, int | float | np.integer | np.floating)
        or not time_budget > 0
    ):
        raise ValueError(f"time_budget: expected a positive number of seconds, got {time_budget!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    accepted = np.zeros(np.shape(state.log_density)[0], dtype=np.int64)
    kept_pos: list[np.ndarray] = []
    kept_ld: list[np.ndarray] = []
    kept_time: list[float] = []
    t0 = time.perf_counter()
    done = 0
    bar = tqdm(total=n_steps, desc=desc, disable=not progress, unit="step", mininterval=0.5)
    for s in range(n_steps):
        if time_budget is not None and s % 64 == 0 and time.perf_counter() - t0 > time_budget:
            break
        state, info = kernel.step(rng, state)
        accepted += info.accepted
        if on_step is not None:
            on_step(state, info)
        done = s + 1
        if s >= burn_in and (s - burn_in) % thin == 0:
            kept_pos.append(state.position)
            kept_ld.append(state.log_density)
            kept_time.append(time.perf_counter() - t0)
        if s % 256 == 255:
            bar.update(256)
    bar.close()
    seconds = time.perf_counter() - t0
    k = accepted.size
    pos_shape = np.shape(state.position)[1:]
    return ChainRun(
        np.stack(kept_pos, axis=1)
        if kept_pos
        else np.zeros((k, 0, *pos_shape), np.asarray(state.position).dtype),
        np.stack(kept_ld, axis=1) if kept_ld else np.zeros((k, 0)),
        np.asarray(kept_time, dtype=np.float64),
        accepted,
        done,
        seconds,
        state,
    )


def advance(
    kernel: Kernel,
    state: Any,
    rng: np.random.Generator,
    n_steps: int,
    on_step: Callable[[Any, Any], None] | None = None,
) -> tuple[Any, np.ndarray]:
    """``n_steps`` steps of every chain, keeping nothing; returns the final state and ``(K,)`` accepted
    counts. ``on_step(state, info)`` is called after every step."""
    n_steps = positive_int(n_steps, "n_steps")
    accepted = np.zeros(np.shape(state.log_density)[0], dtype=np.int64)
    for _ in range(n_steps):
        state, info = kernel.step(rng, state)
        accepted += info.accepted
        if on_step is not None:
            on_step(state, info)
    return state, accepted


# --------------------------------------------------------------------------------------------------
# Diagnostics


def _split(x: np.ndarray) -> np.ndarray:
    """``(m, n, q)`` -> ``(2m, n // 2, q)``: each chain cut into its two halves (a middle draw dropped)."""
    h = x.shape[1] // 2
    return np.concatenate([x[:, :h], x[:, x.shape[1] - h :]], axis=0)


def split_r_hat(draws: np.ndarray) -> np.ndarray:
    """Split-R-hat of ``(n_chains, n, ...)`` draws -> ``(...)``; NaN where the within-chain variance is 0."""
    x = np.asarray(draws, dtype=np.float64)
    n = x.shape[1] // 2
    if n < 2:
        return np.full(x.shape[2:], np.nan)
    halves = np.concatenate([x[:, :n], x[:, n : 2 * n]], axis=0)  # (2 * n_chains, n, ...)
    chain_means = halves.mean(axis=1)
    w = halves.var(axis=1, ddof=1).mean(axis=0)
    b = n * chain_means.var(axis=0, ddof=1)
    var_plus = (n - 1) / n * w + b / n
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt(var_plus / w)
    return np.where(w > 0, r, np.nan)


def _rank_normalise(x: np.ndarray) -> np.ndarray:
    """``(c, h, q)`` -> normal scores of the pooled ranks (ties get their average rank)."""
    c, h, q = x.shape
    ranks = rankdata(x.reshape(c * h, q), axis=0)
    return ndtri((ranks - 0.375) / (c * h + 0.25)).reshape(c, h, q)


def _ess_block(halves: np.ndarray) -> np.ndarray:
    """ESS of ``(c, h, q)`` split chains -> ``(q,)`` (NaN where the within-chain variance is 0)."""
    c, h, q = halves.shape
    centred = halves - halves.mean(axis=1, keepdims=True)
    size = scipy.fft.next_fast_len(2 * h, real=True)
    spec = scipy.fft.rfft(centred, n=size, axis=1)
    acov = scipy.fft.irfft(spec * np.conj(spec), n=size, axis=1)[:, :h] / h  # (c, h, q), biased
    w = acov[:, 0].mean(axis=0) * h / (h - 1)  # mean within-chain variance
    between = halves.mean(axis=1).var(axis=0, ddof=1) if c > 1 else np.zeros(q)
    var_plus = w * (h - 1) / h + between
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (w - acov.mean(axis=0)) / var_plus  # (h, q)
    rho[0] = 1.0
    n_pairs = h // 2
    pairs = rho[0 : 2 * n_pairs : 2] + rho[1 : 2 * n_pairs : 2]  # (n_pairs, q)
    positive = np.logical_and.accumulate(pairs > 0, axis=0)
    monotone = np.minimum.accumulate(pairs, axis=0)
    tau = -1.0 + 2.0 * np.where(positive, monotone, 0.0).sum(axis=0)
    tau = np.maximum(tau, 1.0 / math.log10(c * h))
    return np.where(w > 0, c * h / tau, np.nan)


def effective_sample_size(draws: np.ndarray, *, rank_normalise: bool = True) -> np.ndarray:
    """Bulk effective sample size of ``(n_chains, n, ...)`` draws -> ``(...)``.

    The chains are split in halves; ``rank_normalise`` replaces the draws by the normal scores of their
    pooled ranks (Vehtari et al. 2021), which leaves a binary indicator's ESS unchanged. NaN where every
    half-chain is constant, or with fewer than 4 draws per half.
    """
    x = np.asarray(draws, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"draws: expected shape (n_chains, n, ...), got {x.shape}")
    rest = x.shape[2:]
    x = x.reshape(x.shape[0], x.shape[1], -1)
    halves = _split(x)
    c, h, q = halves.shape
    out = np.full(q, np.nan)
    if h < 4 or q == 0:
        return out.reshape(rest)
    varies = halves.var(axis=1).max(axis=0) > 0
    cols = np.flatnonzero(varies)
    block = max(1, _BLOCK // (c * h))
    for start in range(0, cols.size, block):
        sel = cols[start : start + block]
        chunk = halves[:, :, sel]
        out[sel] = _ess_block(_rank_normalise(chunk) if rank_normalise else chunk)
    return out.reshape(rest)


def chain_diagnostics(positions: np.ndarray, log_density: np.ndarray) -> dict[str, np.ndarray]:
    """Split-R-hat and bulk ESS of ``(K, n, ...)`` positions (each coordinate) and ``(K, n)`` log-density.

    Returns:
        ``{"r_hat": (...), "ess": (...), "r_hat_log_density": (), "ess_log_density": ()}``.
    """
    pos = np.asarray(positions)
    k, n = pos.shape[:2]
    flat = pos.reshape(k, n, -1)
    ld = np.asarray(log_density, dtype=np.float64)[:, :, None]
    return {
        "r_hat": split_r_hat(flat).reshape(pos.shape[2:]),
        "ess": effective_sample_size(flat).reshape(pos.shape[2:]),
        "r_hat_log_density": split_r_hat(ld)[0],
        "ess_log_density": effective_sample_size(ld)[0],
    }
