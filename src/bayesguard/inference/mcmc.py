"""Structure MCMC over DAGs (Madigan & York 1995), vectorised over chains.

The chain moves on the space of DAGs by changing the state of one unordered pair of variables
``{i, j}`` at a time among three states: no edge, ``i -> j``, ``j -> i``. A step picks the pair
uniformly and one of the two other states uniformly, so the proposal is symmetric and covers the add,
delete and reverse moves; proposals that create a cycle are rejected (their target mass is 0), the rest
are accepted with the Metropolis probability ``min(1, p(G'|D) / p(G|D))``. Only the two nodes of the
pair can change parent set, so a step costs two local-score lookups per chain and one reachability test.

Diagnostics: the split-R-hat of Gelman et al. (2013) for every edge indicator and for the log score,
across chains after burn-in; values near 1 (say < 1.1) mean the chains agree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from .._validate import positive_int
from ..graphs.dag import is_acyclic, parent_masks, reaches
from ..graphs.markov import edge_marginals
from ..posterior import Posterior, SamplerError


class LocalScore(Protocol):
    """A decomposable log posterior score over DAGs on ``d`` nodes (score plus prior)."""

    d: int

    def local_many(self, nodes: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """``(m,)`` node indices and ``(m,)`` int64 parent bitmasks -> ``(m,)`` local log scores."""
        ...


@dataclass(frozen=True)
class MCMCResult:
    """Kept draws of a structure-MCMC run.

    Attributes:
        samples: ``(n_chains, n_kept, d, d)`` bool adjacency matrices.
        log_scores: ``(n_chains, n_kept)`` unnormalised log posterior of each kept graph.
        acceptance: ``(n_chains,)`` fraction of proposals accepted.
        r_hat_edges: ``(d, d)`` split-R-hat of each edge indicator (NaN where every draw agrees).
        r_hat_score: split-R-hat of the log score.
        n_steps: steps run per chain (including burn-in); may be fewer than asked under a time budget.
        seconds: wall-clock time of the run.
        kept_seconds: ``(n_kept,)`` time since the start at which each kept draw was taken.
        all_samples, all_log_scores, all_seconds: every kept draw *before* burn-in was discarded (used by
            :meth:`until`); same layouts as above.
    """

    samples: np.ndarray
    log_scores: np.ndarray
    acceptance: np.ndarray
    r_hat_edges: np.ndarray
    r_hat_score: float
    n_steps: int
    seconds: float
    kept_seconds: np.ndarray | None = None
    all_samples: np.ndarray | None = None
    all_log_scores: np.ndarray | None = None
    all_seconds: np.ndarray | None = None

    def until(self, seconds: float) -> MCMCResult:
        """The run as if stopped after ``seconds``: draws kept by then, the first half dropped as burn-in.

        Only for runs started with ``burn_in=None`` (the default), whose draws are all recorded.
        """
        if self.all_samples is None or self.all_seconds is None or self.all_log_scores is None:
            raise ValueError("until: the run kept no draws before burn-in (it was started with burn_in set)")
        n = int(np.searchsorted(self.all_seconds, seconds, side="right"))
        if n < 4:
            raise ValueError(f"seconds: fewer than 4 draws were kept in the first {seconds:g} s")
        half = n // 2
        s, ls = self.all_samples[:, half:n], self.all_log_scores[:, half:n]
        k, m, d = s.shape[0], s.shape[1], s.shape[-1]
        return MCMCResult(
            s,
            ls,
            self.acceptance,
            split_r_hat(s.reshape(k, m, d * d)).reshape(d, d),
            float(split_r_hat(ls[:, :, None])[0]),
            self.n_steps,
            float(min(seconds, self.seconds)),
            self.all_seconds[half:n],
        )

    @property
    def max_r_hat(self) -> float:
        """Largest R-hat over edges and the score (NaNs ignored)."""
        vals = np.append(self.r_hat_edges[np.isfinite(self.r_hat_edges)], self.r_hat_score)
        return float(np.nanmax(vals))

    def posterior(self, family: str | None = "causal-dag") -> Posterior:
        """All chains' kept draws pooled as an equal-weight :class:`Posterior`.

        It records that it came from MCMC (correlated draws) and carries :meth:`sampler_error`, an
        estimate of its error from the disagreement between chains, which is not a bound.
        """
        d = self.samples.shape[-1]
        return Posterior.from_samples(
            self.samples.reshape(-1, d, d),
            family,
            method="mcmc",
            sampler_error=self.sampler_error(),
            independent=False,
        )

    def sampler_error(self) -> SamplerError:
        """Between-chain estimate of the error: the largest difference, over edges, between one chain's
        edge frequency and the pooled frequency of the other chains.

        For any edge, ``|P_q(edge) - P_p(edge)| <= TV(q, p)``, so the disagreement of two estimates of
        one edge marginal shows how far the chains are from each other; when every chain targets the
        same law and mixes, it shrinks like the Monte Carlo noise. It is an estimate from finite,
        correlated draws, blind to mass that no chain has visited: never a bound.
        """
        k = self.samples.shape[0]
        if k < 2:
            return SamplerError.unknown("a single chain: no between-chain estimate")
        per_chain = self.samples.mean(axis=1)  # (k, d, d)
        total = per_chain.sum(axis=0)
        others = (total[None] - per_chain) / (k - 1)
        gap = float(np.abs(per_chain - others).max())
        return SamplerError(min(gap, 1.0), f"between-chain edge-marginal disagreement over {k} chains", False)

    def edge_marginals(self) -> np.ndarray:
        """``(d, d)`` fraction of kept draws containing each edge."""
        d = self.samples.shape[-1]
        return edge_marginals(self.samples.reshape(-1, d, d))


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


def structure_mcmc(
    score: LocalScore,
    *,
    n_chains: int = 4,
    n_steps: int = 20_000,
    burn_in: int | None = None,
    thin: int = 10,
    seed: int = 0,
    init: np.ndarray | None = None,
    time_budget: float | None = None,
    progress: bool = True,
) -> MCMCResult:
    """Run ``n_chains`` structure-MCMC chains in lockstep.

    Args:
        score: decomposable log posterior (local scores plus structure prior).
        n_chains: independent chains (>= 2 for R-hat).
        n_steps: steps per chain, burn-in included.
        burn_in: steps discarded at the start (default: half of ``n_steps``).
        thin: keep every ``thin``-th step after burn-in.
        seed: random seed.
        init: ``(d, d)`` or ``(n_chains, d, d)`` acyclic starting graphs (default: empty graphs).
        time_budget: stop early after this many seconds (burn-in is then half the steps done).
        progress: show a progress bar.
    """
    d = int(score.d)
    k = positive_int(n_chains, "n_chains")
    n_steps = positive_int(n_steps, "n_steps")
    thin = positive_int(thin, "thin")
    if burn_in is not None and not 0 <= burn_in < n_steps:
        raise ValueError(f"burn_in: expected an integer in [0, {n_steps}), got {burn_in!r}")
    if d < 2:
        raise ValueError("score.d: structure MCMC needs at least 2 variables")
    rng = np.random.default_rng(seed)
    adj = np.zeros((k, d, d), dtype=bool)
    if init is not None:
        adj[:] = np.asarray(init, dtype=bool)
        if not is_acyclic(adj).all():
            raise ValueError("init: starting graphs must be acyclic")
    bits = np.int64(1) << np.arange(d, dtype=np.int64)
    masks = parent_masks(adj)  # (K, d) parent bitmask of node j
    node_scores = score.local_many(np.tile(np.arange(d), k), masks.ravel()).reshape(k, d)
    if not np.all(np.isfinite(node_scores)):
        raise ValueError(
            "init: the starting graphs have zero posterior mass (check required/forbidden edges)"
        )
    iu, ju = np.triu_indices(d, 1)
    rows = np.arange(k)
    accepted = np.zeros(k)
    kept_adj: list[np.ndarray] = []
    kept_score: list[np.ndarray] = []
    kept_time: list[float] = []
    keep_from = 0 if burn_in is None else burn_in  # burn_in None: drop the first half at the end
    t0 = time.perf_counter()
    done = 0
    bar = tqdm(total=n_steps, desc="structure MCMC", disable=not progress, unit="step", mininterval=0.5)
    for step in range(n_steps):
        if time_budget is not None and step % 64 == 0 and time.perf_counter() - t0 > time_budget:
            break
        p = rng.integers(0, iu.size, k)
        i, j = iu[p], ju[p]
        state = adj[rows, i, j] * 1 + adj[rows, j, i] * 2  # 0 none, 1 i->j, 2 j->i
        new = (state + 1 + rng.integers(0, 2, k)) % 3
        cleared = adj.copy()
        cleared[rows, i, j] = False
        cleared[rows, j, i] = False
        adding = new != 0
        src = np.where(new == 1, j, i)  # i->j closes a cycle iff j already reaches i
        dst = np.where(new == 1, i, j)
        cyclic = np.zeros(k, dtype=bool)
        if adding.any():
            cyclic[adding] = reaches(cleared[adding], src[adding], dst[adding])
        mask_i = (masks[rows, i] & ~bits[j]) | np.where(new == 2, bits[j], 0)
        mask_j = (masks[rows, j] & ~bits[i]) | np.where(new == 1, bits[i], 0)
        new_scores = score.local_many(np.concatenate([i, j]), np.concatenate([mask_i, mask_j])).reshape(2, k)
        delta = new_scores.sum(axis=0) - node_scores[rows, i] - node_scores[rows, j]
        with np.errstate(invalid="ignore"):
            accept = ~cyclic & np.isfinite(delta) & (np.log(rng.random(k)) < delta)
        if accept.any():
            a = np.flatnonzero(accept)
            adj[a] = cleared[a]
            adj[a, i[a], j[a]] = new[a] == 1
            adj[a, j[a], i[a]] = new[a] == 2
            masks[a, i[a]] = mask_i[a]
            masks[a, j[a]] = mask_j[a]
            node_scores[a, i[a]] = new_scores[0, a]
            node_scores[a, j[a]] = new_scores[1, a]
            accepted += accept
        done = step + 1
        if step >= keep_from and (step - keep_from) % thin == 0:
            kept_adj.append(adj.copy())
            kept_score.append(node_scores.sum(axis=1))
            kept_time.append(time.perf_counter() - t0)
        if step % 256 == 255:
            bar.update(256)
    bar.close()
    seconds = time.perf_counter() - t0
    samples = np.stack(kept_adj, axis=1) if kept_adj else np.zeros((k, 0, d, d), dtype=bool)
    log_scores = np.stack(kept_score, axis=1) if kept_score else np.zeros((k, 0))
    times = np.asarray(kept_time)
    all_samples = all_scores = all_times = None
    if burn_in is None:  # drop the first half of what was kept
        all_samples, all_scores, all_times = samples, log_scores, times
        half = samples.shape[1] // 2
        samples, log_scores, times = samples[:, half:], log_scores[:, half:], times[half:]
    if samples.shape[1] == 0:
        raise ValueError("n_steps/time_budget: no draws kept after burn-in; run longer or thin less")
    r_edges = split_r_hat(samples.reshape(k, samples.shape[1], d * d)).reshape(d, d)
    r_score = float(split_r_hat(log_scores[:, :, None])[0])
    return MCMCResult(
        samples,
        log_scores,
        accepted / max(done, 1),
        r_edges,
        r_score,
        done,
        seconds,
        times,
        all_samples,
        all_scores,
        all_times,
    )
