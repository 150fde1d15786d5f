"""Structure-learning benchmark at ``d = 5``: samplers against the exact posterior over all 29,281 DAGs.

For each seed: a linear-Gaussian SCM on an Erdős–Rényi DAG (``expected_edges`` edges), ``n`` samples,
the BGe score with a uniform prior, and the exact posterior by enumeration. Then, for each wall-clock
budget, the DAG-GFlowNet (trained cumulatively: its state at 60 s continues to 300 s) and structure MCMC
(4 chains; one run cut at each budget) are compared with the exact posterior:

- GFlowNet: Jensen–Shannon divergence of its *exact* sampling distribution (dynamic programming, no
  sampling noise; ``jsd``) and of 10,000 samples (``jsd_samples``), edge-marginal RMSE and Pearson r;
- MCMC: the same measures on its kept draws (sampling noise included: that is what a user gets).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from ..datasets import sample_linear_gaussian_scm
from ..graphs.compare import compare_to_exact, jensen_shannon
from ..inference.gflownet import DAGGFlowNet, GFlowNetConfig, sampler_distribution
from ..inference.mcmc import structure_mcmc
from ..posterior import Posterior
from ..theories.causal.scores import BGeScore
from ..theories.causal.structure import StructureScore, exact_structure_posterior
from .backends import run_tasks

#: MCMC steps per chain per second on the reference machine, used only to choose the thinning.
_MCMC_RATE = 11_000


def _gfn_row(model: DAGGFlowNet, exact: Posterior, seed: int) -> dict:
    q = sampler_distribution(model)
    dist = Posterior.from_log_weights(exact.theories, np.log(np.maximum(q, 1e-300)))
    exact_m = compare_to_exact(exact, dist)
    samples = compare_to_exact(exact, Posterior.from_samples(model.sample(10_000, seed=seed)))
    return {
        "jsd": jensen_shannon(exact.probs, q),
        "edge_rmse": exact_m["edge_rmse"],
        "edge_pearson": exact_m["edge_pearson"],
        "jsd_samples": samples["jsd"],
        "steps": model.steps,
    }


def _problem(
    seed: int, d: int, n_samples: int, expected_edges: float
) -> tuple[StructureScore, Posterior, dict]:
    scm = sample_linear_gaussian_scm(d, n_samples, expected_edges, seed=seed)
    score = StructureScore(BGeScore(scm.data))
    t0 = time.perf_counter()
    exact = exact_structure_posterior(score)
    base = {"seed": seed, "d": d, "n": n_samples, "true_edges": int(scm.adj.sum()), "exact_ess": exact.ess}
    base["exact_seconds"] = time.perf_counter() - t0
    return score, exact, base


def _task(args: tuple) -> list[dict]:
    """One (seed, sampler) pair on one core: every budget, cumulatively."""
    seed, sampler, budgets, d, n_samples, expected_edges, progress = args
    torch.set_num_threads(1)
    with threadpool_limits(1):
        score, exact, base = _problem(seed, d, n_samples, expected_edges)
        rows = []
        if sampler == "gflownet":
            model = DAGGFlowNet(score, GFlowNetConfig(seed=seed))
            for b in budgets:
                model.train(seconds=b - model.train_seconds, progress=progress)
                rows.append({**base, "sampler": "gflownet", "budget_s": b, **_gfn_row(model, exact, seed)})
            return rows
        thin = max(1, round(budgets[-1] * _MCMC_RATE / 5_000))
        run = structure_mcmc(
            score,
            n_chains=4,
            n_steps=10**12,
            thin=thin,
            seed=seed,
            time_budget=budgets[-1],
            progress=progress,
        )
        for b in budgets:
            part = run.until(b)
            m = compare_to_exact(exact, part.posterior())
            rows.append(
                {
                    **base,
                    "sampler": "mcmc",
                    "budget_s": b,
                    "jsd": m["jsd"],
                    "edge_rmse": m["edge_rmse"],
                    "edge_pearson": m["edge_pearson"],
                    "jsd_samples": m["jsd"],
                    "steps": int(round(run.n_steps * min(b, run.seconds) / run.seconds)),
                    "r_hat": part.max_r_hat,
                }
            )
        return rows


def run_structure_small(
    seeds: Sequence[int],
    budgets: Sequence[float],
    *,
    d: int = 5,
    n_samples: int = 100,
    expected_edges: float = 5.0,
    samplers: Sequence[str] = ("gflownet", "mcmc"),
    workers: int = 2,
    progress: bool = True,
    backend: str = "local",
    address: str | None = None,
) -> list[dict]:
    """One row per (seed, sampler, budget): see the module docstring for the columns.

    Every (seed, sampler) pair runs in its own process on one core (``workers`` at a time, default 2 on
    a 2-core machine; or as Ray tasks, ``backend="ray"``: :func:`~.backends.run_tasks`), so a GFlowNet
    and an MCMC run share the machine side by side. Budgets are
    cumulative: the GFlowNet keeps training from one budget to the next (evaluation time excluded), and
    one MCMC run of the largest budget is cut at each smaller one (:meth:`MCMCResult.until`).
    """
    budgets = sorted(float(b) for b in budgets)
    if not budgets or budgets[0] <= 0:
        raise ValueError("budgets: expected positive numbers of seconds")
    unknown = set(samplers) - {"gflownet", "mcmc"}
    if unknown:
        raise ValueError(f"samplers: unknown {sorted(unknown)}; expected 'gflownet' and/or 'mcmc'")
    tasks = [(s, m, budgets, d, n_samples, expected_edges, False) for s in seeds for m in samplers]
    parts = run_tasks(
        _task, tasks, backend=backend, workers=workers, address=address, progress=progress,
        desc="structure bench",
    )  # fmt: skip
    return [row for part in parts for row in part]


def summarise(rows: Sequence[dict]) -> list[dict]:
    """Mean and standard error over seeds of each measure, per (sampler, budget)."""
    out = []
    for key in sorted({(r["sampler"], r["budget_s"]) for r in rows}):
        sel = [r for r in rows if (r["sampler"], r["budget_s"]) == key]
        rec = {"sampler": key[0], "budget_s": key[1], "seeds": len(sel)}
        for m in ("jsd", "jsd_samples", "edge_rmse", "edge_pearson"):
            v = np.array([r[m] for r in sel], dtype=float)
            rec[m] = float(v.mean())
            rec[m + "_se"] = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")
        out.append(rec)
    return out
