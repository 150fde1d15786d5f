"""Mixing of order MCMC (Metropolis-coupled, pruned candidate parents) against edge-flip structure MCMC
at d = 20 and 50 (up to 62), at the same wall-clock budget, one thread each.

Problem (as the structure-scale experiment): a linear-Gaussian SCM on an Erdős–Rényi DAG with ``2 d``
expected edges ("ER-2"), ``N = 100`` rows, BGe score (default hyperparameters) with an ER prior of ``2 d``
expected edges.

Per (d, seed, sampler) row: the largest split-R-hat over the edge indicators and of the log-score, the
smallest bulk ESS, ``E[SHD(G, G*)]`` of the drawn DAGs against the true graph, the edge AUROC of the edge
marginals (Rao-Blackwellised for order MCMC), the number of true parents outside the final candidate
sets, steps per second, and the wall-clock and CPU time. Both samplers run 4 chains; thinning is set
from a short calibration run so that about ``--keep`` draws per chain are kept.

Exact truth (``d <= 20``): the order-modular edge marginals by a dynamic programme over all ``2^d``
subsets (Koivisto & Sood 2004), written here independently of ``bayesguard.inference.dp_order`` and
checked against brute force over all orders at ``d = 6`` on every run (and against ``order_dp`` where
that module imports). It uses every other node as a candidate and the same in-degree bound as order
MCMC, so ``edge_max_error`` includes the error of the pruning. Structure MCMC targets the
structure-modular posterior, whose exact marginals are not computable at ``d = 20``: its error columns
are empty.

    python benchmarks/order_mcmc_mixing.py --dims 20 --seeds 0 1 2 3 4 --budget 120 --tag d20
    python benchmarks/order_mcmc_mixing.py --dims 20 --seeds 0 1 2 3 4 --budget 600 \
        --samplers order-mcmc --tag d20_long
    python benchmarks/order_mcmc_mixing.py --dims 50 --seeds 0 --budget 300 --tag d50

``d = 100`` is out of reach: parent sets are int64 bitmasks throughout the package (the BGe scorer and
the parent-set table refuse ``d > 62``). The budget is wall-clock per run; ``cpu_seconds`` says how much
CPU each run got (less than the budget on a shared machine).

Writes ``benchmarks/results/order_mcmc_mixing[_TAG].csv`` (one row per run) and ``.json`` (the rows,
the arguments, the machine and the commit).
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing as mp
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from bayesguard.datasets import sample_linear_gaussian_scm
from bayesguard.experiments.results import git_commit, machine, write_csv, write_json
from bayesguard.graphs.markov import shd
from bayesguard.inference.mcmc import structure_mcmc
from bayesguard.inference.order_mcmc import OrderMCMCConfig, order_mcmc
from bayesguard.inference.order_table import OrderTable
from bayesguard.inference.parent_sets import ParentSetTable
from bayesguard.theories.causal.prior import StructurePrior
from bayesguard.theories.causal.scores import BGeScore
from bayesguard.theories.causal.structure import StructureScore

try:
    from bayesguard.graphs.compare import edge_auroc
except ImportError:  # older layout
    from bayesguard.experiments.structure_scale import edge_auroc

DEFAULT_BUDGET = {20: 120.0, 50: 300.0, 62: 600.0}


def problem(seed: int, d: int, n_samples: int) -> tuple[StructureScore, np.ndarray]:
    """ER-2 linear-Gaussian data, BGe with an ER prior of ``2 d`` expected edges, and the true graph."""
    scm = sample_linear_gaussian_scm(d, n_samples, 2.0 * d, seed=seed)
    prior = StructurePrior.make(d, kind="erdos-renyi", expected_edges=2.0 * d)
    return StructureScore(BGeScore(scm.data), prior), scm.adj


# ------------------------------------------------------------------------------------- exact truth
def exact_order_edges(table: ParentSetTable) -> np.ndarray:
    """``(d, d)`` exact order-modular edge marginals of a table with every other node a candidate.

    ``alpha_j`` over every subset of the other nodes comes from the lookup of :class:`OrderTable`;
    forward ``L(S) = lse_{j in S} L(S - j) + alpha_j(S - j)``, backward ``R(S) = lse_{j not in S}
    alpha_j(S) + R(S + j)``; ``P(pred_j = S) = exp(L(S) + alpha_j(S) + R(S + j) - Z)`` and
    ``P(i -> j) = sum_{S holding i} P(pred_j = S) (1 - alpha_j(S - i) / alpha_j(S))``.
    """
    d = table.d
    if not np.array_equal(table.candidates, ~np.eye(d, dtype=bool)):
        raise ValueError("table: the exact programme needs every other node as a candidate")
    alpha = OrderTable(table, lookup=True).core  # (d, 2^(d-1))
    full = 1 << d
    sets = np.arange(full, dtype=np.int64)
    size = sum((sets >> b) & 1 for b in range(d))
    layers = [sets[size == k] for k in range(d + 1)]

    def index(j: int, s: np.ndarray) -> np.ndarray:  # drop bit j: the compressed index of alpha_j
        return (s & ((1 << j) - 1)) | ((s >> (j + 1)) << j)

    fwd = np.full(full, -np.inf)
    fwd[0] = 0.0
    for k in range(1, d + 1):
        s, acc = layers[k], np.full(layers[k].size, -np.inf)
        for j in range(d):
            has = ((s >> j) & 1).astype(bool)
            sub = s[has] ^ (1 << j)
            acc[has] = np.logaddexp(acc[has], fwd[sub] + alpha[j, index(j, sub)])
        fwd[s] = acc
    bwd = np.full(full, -np.inf)
    bwd[full - 1] = 0.0
    for k in range(d - 1, -1, -1):
        s, acc = layers[k], np.full(layers[k].size, -np.inf)
        for j in range(d):
            out = ((s >> j) & 1) == 0
            acc[out] = np.logaddexp(acc[out], alpha[j, index(j, s[out])] + bwd[s[out] | (1 << j)])
        bwd[s] = acc
    log_z = fwd[full - 1]
    if not np.isclose(bwd[0], log_z, rtol=0, atol=1e-8 * max(1.0, abs(log_z))):
        raise RuntimeError(f"forward and backward normalisers differ: {log_z} vs {bwd[0]}")
    probs = np.zeros((d, d))
    for j in range(d):
        s = sets[((sets >> j) & 1) == 0]
        a = alpha[j, index(j, s)]
        w = np.exp(fwd[s] + a + bwd[s | (1 << j)] - log_z)
        for i in range(d):
            if i != j:
                has = ((s >> i) & 1).astype(bool)
                probs[i, j] = np.sum(w[has] * -np.expm1(alpha[j, index(j, s[has] ^ (1 << i))] - a[has]))
    return probs


def check_exact(d: int = 6) -> float:
    """Largest difference between :func:`exact_order_edges` and brute force over all ``d!`` orders."""
    score, _ = problem(0, d, 50)
    table = ParentSetTable.build(score, max_parents=3)
    perms = np.array(list(itertools.permutations(range(d))))
    tab = OrderTable(table, lookup=False)
    logs = tab.order_scores(perms)
    w = np.exp(logs - logs.max())
    brute = np.einsum("o,oij->ij", w / w.sum(), tab.edge_probs(perms))
    return float(np.abs(exact_order_edges(table) - brute).max())


# ------------------------------------------------------------------------------------------ runs
def _order(score: StructureScore, args: argparse.Namespace, budget: float, seed: int) -> dict:
    d = score.d
    cfg = OrderMCMCConfig(max_parents=args.max_parents, thin=1, n_rungs=args.rungs, beta_min=args.beta_min)
    cal = order_mcmc(
        score, cfg, n_steps=400, seed=seed, progress=False, candidates=args.candidates, time_budget=30.0
    )
    rate = cal.n_steps / cal.seconds
    thin = max(1, int(0.8 * budget * rate / args.keep))
    cfg = OrderMCMCConfig(max_parents=args.max_parents, thin=thin, n_rungs=args.rungs, beta_min=args.beta_min)
    t0, c0 = time.perf_counter(), time.process_time()
    run = order_mcmc(
        score, cfg, n_steps=10**12, time_budget=budget, seed=seed, progress=False, candidates=args.candidates
    )
    diag = run.diagnostics()
    return {
        "graphs": run.samples.reshape(-1, d, d),
        "marginals": run.edge_marginals(),
        "freq_marginals": run.edge_marginals(rao_blackwell=False),
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
        "steps": run.n_steps,
        "steps_per_s": diag["steps_per_s"],
        "thin": thin,
        "n_kept": run.samples.shape[1],
        "max_r_hat_edges": diag["max_r_hat_edges"],
        "r_hat_score": run.r_hat_score,
        "max_r_hat": run.max_r_hat,
        "min_ess_edges": float(np.nanmin(run.ess_edges)) if np.isfinite(run.ess_edges).any() else np.nan,
        "ess_score": run.ess_score,
        "acceptance": diag["acceptance"],
        "swap_acceptance_min": diag["swap_acceptance_min"],
        "between_chain_tv": run.sampler_error().tv,
        "candidates": run.space.candidates,
        "max_candidates": int(run.space.candidates.sum(axis=0).max()),
        "candidates_added": int(sum(run.expansion)),
        "plus_one": run.space.plus_one,
        "n_parent_sets": run.space.n_sets,
        "pilot_seconds": run.pilot_seconds,
        "post_seconds": run.post_seconds,
    }


def _structure(score: StructureScore, args: argparse.Namespace, budget: float, seed: int) -> dict:
    d = score.d
    cal = structure_mcmc(score, n_chains=4, n_steps=2000, thin=1, seed=seed, progress=False)
    rate = cal.n_steps / cal.seconds
    thin = max(1, int(0.8 * budget * rate / args.keep))
    t0, c0 = time.perf_counter(), time.process_time()
    run = structure_mcmc(
        score, n_chains=4, n_steps=10**12, thin=thin, seed=seed, time_budget=budget, progress=False
    )
    graphs = run.samples.reshape(-1, d, d)
    return {
        "graphs": graphs,
        "marginals": graphs.mean(axis=0),
        "freq_marginals": graphs.mean(axis=0),
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
        "steps": run.n_steps,
        "steps_per_s": run.n_steps / run.seconds,
        "thin": thin,
        "n_kept": run.samples.shape[1],
        "max_r_hat_edges": float(np.nanmax(run.r_hat_edges)),
        "r_hat_score": run.r_hat_score,
        "max_r_hat": run.max_r_hat,
        "min_ess_edges": float(np.nanmin(run.ess_edges)),
        "ess_score": run.ess_score,
        "acceptance": float(np.mean(run.acceptance)),
        "swap_acceptance_min": np.nan,
        "between_chain_tv": run.sampler_error().tv,
        "candidates": ~np.eye(d, dtype=bool),
        "max_candidates": d - 1,
        "candidates_added": 0,
        "plus_one": False,
        "n_parent_sets": np.nan,
        "pilot_seconds": 0.0,
        "post_seconds": 0.0,
    }


def task(job: tuple) -> dict:
    """One (d, seed, sampler) run in a worker process with one thread."""
    d, seed, sampler, budget, args = job
    with threadpool_limits(1):
        score, truth = problem(seed, d, args.n_samples)
        out = (_order if sampler == "order-mcmc" else _structure)(score, args, budget, seed)
        off = ~np.eye(d, dtype=bool)
        dist = shd(out["graphs"], truth[None])
        row = {
            "d": d,
            "seed": seed,
            "sampler": sampler,
            "target": "order-modular" if sampler == "order-mcmc" else "structure-modular",
            "budget_s": budget,
            "true_edges": int(truth.sum()),
            "max_parents": args.max_parents if sampler == "order-mcmc" else None,
            "expected_shd": float(dist.mean()),
            "edge_auroc": edge_auroc(out["marginals"], truth),
            "mean_edges": float(out["graphs"].sum(axis=(1, 2)).mean()),
            "true_parents_pruned": int((truth & ~out["candidates"]).sum()),
            **{
                k: v
                for k, v in out.items()
                if k not in ("graphs", "marginals", "freq_marginals", "candidates")
            },
            "edge_max_error": np.nan,
            "edge_max_error_freq": np.nan,
            "edge_rmse": np.nan,
            "exact_seconds": np.nan,
            "exact_vs_order_dp": np.nan,
        }
        if sampler == "order-mcmc" and d <= args.exact_up_to:
            t0 = time.perf_counter()
            table = ParentSetTable.build(score, max_parents=args.max_parents)
            exact = exact_order_edges(table)
            row["exact_seconds"] = time.perf_counter() - t0
            err = (out["marginals"] - exact)[off]
            row["edge_max_error"] = float(np.abs(err).max())
            row["edge_rmse"] = float(np.sqrt(np.mean(err**2)))
            row["edge_max_error_freq"] = float(np.abs(out["freq_marginals"] - exact)[off].max())
            try:
                from bayesguard.inference.dp_order import order_dp

                row["exact_vs_order_dp"] = float(
                    np.abs(order_dp(score, table=table).edge_marginals - exact).max()
                )
            except ImportError:
                pass
        row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[20])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--budget", type=float, default=None, help="seconds per run (default by d)")
    parser.add_argument("--samplers", nargs="+", default=["order-mcmc", "structure-mcmc"])
    parser.add_argument("--candidates", default="auto", help="order MCMC: auto, all or pruned")
    parser.add_argument("--max-parents", type=int, default=3)
    parser.add_argument("--rungs", type=int, default=4)
    parser.add_argument("--beta-min", type=float, default=0.3)
    parser.add_argument("--keep", type=int, default=1500, help="draws kept per chain (sets the thinning)")
    parser.add_argument("--n-samples", type=int, default=100)
    parser.add_argument("--exact-up-to", type=int, default=20, help="largest d with the exact programme")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    if any(not 6 <= d <= 62 for d in args.dims):
        parser.error("--dims: each d must lie in [6, 62] (int64 parent bitmasks; ER-2 needs 2 d < d(d-1)/2)")
    check = check_exact()
    if check > 1e-10:
        raise SystemExit(f"exact programme disagrees with brute force at d = 6: {check:.3g}")
    jobs = [
        (d, s, m, args.budget or DEFAULT_BUDGET.get(d, 120.0), args)
        for d in args.dims
        for s in args.seeds
        for m in args.samplers
    ]
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=ctx) as pool:
        rows = list(pool.map(task, jobs))
    name = "order_mcmc_mixing" + (f"_{args.tag}" if args.tag else "")
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, args.out / f"{name}.csv")
    record = {
        "benchmark": name,
        "args": {k: str(v) for k, v in vars(args).items()},
        "exact_check_d6": check,
        "machine": machine(),
        "commit": git_commit(),
        "rows": rows,
    }
    write_json(record, args.out / f"{name}.json")
    cols = ["d", "seed", "sampler", "max_r_hat_edges", "r_hat_score", "min_ess_edges", "expected_shd"]
    cols += ["edge_auroc", "edge_max_error", "true_parents_pruned", "steps_per_s"]
    print("  ".join(cols))
    for r in rows:
        print("  ".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in cols))


if __name__ == "__main__":
    main()
