"""Structure MCMC over DAGs (Madigan & York 1995): the edge-flip kernel on the structure posterior, run
by the chain driver.

The chain moves on the space of DAGs by changing the state of one unordered pair of variables
``{i, j}`` at a time among three states: no edge, ``i -> j``, ``j -> i`` (:mod:`.kernels`, the one
copy of the move, shared with the harm-seeking search and the SMC moves). The target is the
decomposable posterior, so a step re-scores the two nodes of the pair only: two local-score lookups
per chain and one reachability test. :func:`~.driver.run_chains` runs the chains in lockstep.

Diagnostics over the chains after burn-in (:mod:`.driver`): the split-R-hat of Gelman et al. (2013)
and the bulk effective sample size (Geyer's initial monotone sequence on the split, rank-normalised
chains) of every edge indicator and of the log score; R-hat near 1 (say < 1.1) means the chains agree.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .._validate import positive_int
from ..graphs.markov import edge_marginals
from ..posterior import Posterior, SamplerError
from .driver import ChainRun, chain_diagnostics, effective_sample_size, run_chains, split_r_hat
from .kernels import DecomposableTarget, LocalScore, edge_flip

__all__ = ["LocalScore", "MCMCResult", "effective_sample_size", "split_r_hat", "structure_mcmc"]


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
        ess_edges: ``(d, d)`` bulk effective sample size of each edge indicator, over all chains (NaN where
            every draw agrees).
        ess_score: bulk effective sample size of the log score.
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
    ess_edges: np.ndarray | None = None
    ess_score: float = float("nan")

    @classmethod
    def from_run(cls, run: ChainRun, all_run: ChainRun | None = None) -> MCMCResult:
        """The result of a driver run of the structure kernel (``all_run``: before burn-in was dropped)."""
        samples, log_scores = run.positions, run.log_density
        d = samples.shape[-1]
        diag = chain_diagnostics(samples, log_scores)
        return cls(
            samples,
            log_scores,
            run.acceptance,
            diag["r_hat"].reshape(d, d),
            float(diag["r_hat_log_density"]),
            run.n_steps,
            run.seconds,
            run.kept_seconds,
            None if all_run is None else all_run.positions,
            None if all_run is None else all_run.log_density,
            None if all_run is None else all_run.kept_seconds,
            diag["ess"].reshape(d, d),
            float(diag["ess_log_density"]),
        )

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
        cut = ChainRun(
            self.all_samples[:, half:n],
            self.all_log_scores[:, half:n],
            self.all_seconds[half:n],
            self.acceptance * self.n_steps,
            self.n_steps,
            float(min(seconds, self.seconds)),
            None,
        )
        return replace(MCMCResult.from_run(cut), acceptance=self.acceptance)

    @property
    def min_ess(self) -> float:
        """Smallest bulk ESS over edges and the score (NaNs ignored)."""
        edges = np.asarray(self.ess_edges if self.ess_edges is not None else [], dtype=np.float64)
        vals = np.append(edges[np.isfinite(edges)], self.ess_score)
        return float(np.nanmin(vals)) if np.isfinite(vals).any() else float("nan")

    def diagnostics(self) -> dict[str, float]:
        """Summary of the run's convergence diagnostics (over all chains after burn-in)."""
        return {
            "n_chains": float(self.samples.shape[0]),
            "n_kept": float(self.samples.shape[1]),
            "n_steps": float(self.n_steps),
            "acceptance": float(np.mean(self.acceptance)),
            "max_r_hat": self.max_r_hat,
            "r_hat_score": self.r_hat_score,
            "min_ess": self.min_ess,
            "ess_score": self.ess_score,
            "seconds": self.seconds,
        }

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
    if burn_in is not None and (
        isinstance(burn_in, bool) or not isinstance(burn_in, int | np.integer) or not 0 <= burn_in < n_steps
    ):
        raise ValueError(f"burn_in: expected an integer in [0, {n_steps}), got {burn_in!r}")
    if d < 2:
        raise ValueError("score.d: structure MCMC needs at least 2 variables")
    adj = np.zeros((k, d, d), dtype=bool)
    if init is not None:
        given = np.asarray(init)
        if given.shape not in ((d, d), (k, d, d)):
            raise ValueError(f"init: expected shape ({d}, {d}) or ({k}, {d}, {d}), got {given.shape}")
        adj[:] = given.astype(bool)
    kernel = edge_flip(DecomposableTarget(score))
    state = kernel.init(adj, field="init")
    if not np.all(np.isfinite(state.log_density)):
        raise ValueError(
            "init: the starting graphs have zero posterior mass (check required/forbidden edges)"
        )
    run = run_chains(
        kernel,
        state,
        n_steps=n_steps,
        burn_in=0 if burn_in is None else burn_in,
        thin=thin,
        seed=seed,
        time_budget=time_budget,
        progress=progress,
        desc="structure MCMC",
    )
    all_run = None
    if burn_in is None:  # drop the first half of what was kept
        all_run, run = run, run.drop_first_half()
    if run.positions.shape[1] == 0:
        raise ValueError("n_steps/time_budget: no draws kept after burn-in; run longer or thin less")
    return MCMCResult.from_run(run, all_run)
